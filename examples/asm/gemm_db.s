; Double-buffered tiled GEMM on moe-asic-v1: C (1024x512 f32) = A (1024x512 bf16) @ B (512x512 bf16).
;
; Weight-stationary schedule: for each 128-wide column block j of C, the four 128x128 weight
; tiles B[i, j] stream A's column block i (1024 rows) through the array, accumulating into a
; per-column accumulator region. Weight tiles ping-pong between two SRAM slots: the DMA waits
; for a 'wfree' token before refilling a slot and signals 'wfull'; the MXU waits 'wfull' and
; returns 'wfree'. Loads of the next tile, the MXU's weight FIFO and the store of the previous
; column all overlap the current tile's 1024-cycle stream, so the MXU stays busy.
; Column 0 is peeled because it also waits for A's column blocks to arrive.

.isa moe-asic 2
.region a 0x0 bf16 [1024, 512]
.region b 0x100000 bf16 [512, 512]
.region c 0x180000 f32 [1024, 512]

.token wfree 1          ; a weight slot may be refilled
.token wfull 2          ; a weight slot holds its tile
.token col 3            ; a column block's last matmul completed
.token out 4            ; a column block is converted into SRAM
.token a_rdy 5          ; one of A's column blocks is in SRAM

.equ SRAM_W 0x100000    ; two 32 KiB weight slots
.equ SRAM_OUT 0x200000  ; four 512 KiB output buffers (one per column block)
.equ B_KTILE 0x20000    ; 128 rows of B (512 bf16 = 1 KiB per row)

    li r1, a
    li r6, SRAM_W
    li r7, 0x0              ; A column blocks in SRAM: 256 KiB each
    li r8, 0x40000
    li r9, 0x80000
    li r10, 0xc0000
    li r11, b               ; B tile (i, j) pointers, i = 0..3
    li r12, b + B_KTILE
    li r13, b + 2 * B_KTILE
    li r14, b + 3 * B_KTILE
    li r3, c                ; C column block pointer
    li r4, 0                ; accumulator column block (512 KiB each)
    li r5, SRAM_OUT
    nop signal(wfree)       ; both weight slots start free
    nop signal(wfree)

    ; ---- column block 0 (also brings A in, one 256 KiB column block per k-tile) ----
    dma.ld sram[r7], hbm[r1 + 0], rows=1024, row_bytes=256, sstride=1024, dstride=256 signal(a_rdy)
    dma.ld sram[r6], hbm[r11], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r7], sram[r6], m=1024, k=128, n=128, dtype=bf16, acc=0 wait(wfull, a_rdy) signal(wfree)
    dma.ld sram[r8], hbm[r1 + 256], rows=1024, row_bytes=256, sstride=1024, dstride=256 signal(a_rdy)
    dma.ld sram[r6 + 0x8000], hbm[r12], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r8], sram[r6 + 0x8000], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull, a_rdy) signal(wfree)
    dma.ld sram[r9], hbm[r1 + 512], rows=1024, row_bytes=256, sstride=1024, dstride=256 signal(a_rdy)
    dma.ld sram[r6], hbm[r13], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r9], sram[r6], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull, a_rdy) signal(wfree)
    dma.ld sram[r10], hbm[r1 + 768], rows=1024, row_bytes=256, sstride=1024, dstride=256 signal(a_rdy)
    dma.ld sram[r6 + 0x8000], hbm[r14], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r10], sram[r6 + 0x8000], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull, a_rdy) signal(col)
    ; drain the column in two VPU moves: the first hands the last weight slot back, the
    ; second (in-order after it) tells the store the whole block is in SRAM
    vpu.mov sram[r5], acc[r4], rows=256, cols=128, dtype=f32 wait(col) signal(wfree)
    vpu.mov sram[r5 + 0x20000], acc[r4 + 0x20000], rows=768, cols=128, dtype=f32 signal(out)
    dma.st hbm[r3], sram[r5], rows=1024, row_bytes=512, sstride=512, dstride=2048 wait(out)

    ; ---- column blocks 1..3: the steady state ----
    loopi 3, next_column_end
    addi r11, r11, 256      ; next 128 columns of B (bf16)
    addi r12, r12, 256
    addi r13, r13, 256
    addi r14, r14, 256
    addi r3, r3, 512        ; next 128 columns of C (f32)
    addi r4, r4, 0x80000
    addi r5, r5, 0x80000
    dma.ld sram[r6], hbm[r11], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r7], sram[r6], m=1024, k=128, n=128, dtype=bf16, acc=0 wait(wfull) signal(wfree)
    dma.ld sram[r6 + 0x8000], hbm[r12], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r8], sram[r6 + 0x8000], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull) signal(wfree)
    dma.ld sram[r6], hbm[r13], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r9], sram[r6], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull) signal(wfree)
    dma.ld sram[r6 + 0x8000], hbm[r14], rows=128, row_bytes=256, sstride=1024, dstride=256 wait(wfree) signal(wfull)
    mxu.mm acc[r4], sram[r10], sram[r6 + 0x8000], m=1024, k=128, n=128, dtype=bf16, acc=1 wait(wfull) signal(col)
    vpu.mov sram[r5], acc[r4], rows=256, cols=128, dtype=f32 wait(col) signal(wfree)
    vpu.mov sram[r5 + 0x20000], acc[r4 + 0x20000], rows=768, cols=128, dtype=f32 signal(out)
    dma.st hbm[r3], sram[r5], rows=1024, row_bytes=512, sstride=512, dstride=2048 wait(out)
next_column_end:
    halt
