; Sequential tiled GEMM: the same C = A @ B as gemm_db.s, with no overlap at all.
; Every step (load A's column block and the weight tile, multiply, drain, store) waits for
; the previous one with a barrier, and A's block is reloaded for every tile: the baseline
; the double-buffered version is measured against.

.isa moe-asic 2
.region a 0x0 bf16 [1024, 512]
.region b 0x100000 bf16 [512, 512]
.region c 0x180000 f32 [1024, 512]

    li r1, a                ; A column block i (HBM)
    li r2, b                ; B tile (i, j) (HBM)
    li r3, c                ; C column block j (HBM)
    li r6, 0x100000         ; SRAM weight tile
    li r5, 0x200000         ; SRAM output buffer
    loopi 4, column_end
    loopi 4, ktile_end
    dma.ld sram[r0], hbm[r1], rows=1024, row_bytes=256, sstride=1024, dstride=256
    dma.ld sram[r6], hbm[r2], rows=128, row_bytes=256, sstride=1024, dstride=256
    barrier
    mxu.mm acc[r0], sram[r0], sram[r6], m=1024, k=128, n=128, dtype=bf16, acc=1
    barrier
    addi r1, r1, 256        ; next k-block of A
    addi r2, r2, 0x20000    ; next k-block of B
ktile_end:
    vpu.mov sram[r5], acc[r0], rows=256, cols=128, dtype=f32
    vpu.mov sram[r5 + 0x20000], acc[r0 + 0x20000], rows=768, cols=128, dtype=f32
    vpu.fill acc[r0], rows=256, cols=128, dtype=f32, imm=0.0
    vpu.fill acc[r0 + 0x20000], rows=768, cols=128, dtype=f32, imm=0.0
    barrier
    dma.st hbm[r3], sram[r5], rows=1024, row_bytes=512, sstride=512, dstride=2048
    barrier
    addi r1, r1, -1024      ; back to A's first block
    addi r2, r2, -0x7ff00   ; back to B's first k-block, next 128 columns (+256 bytes)
    addi r3, r3, 512
column_end:
    halt
