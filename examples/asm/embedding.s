; Embedding lookup: out[i] = table[ids[i]] for 48 token ids over a 1000 x 64 f32 table,
; by one DMA gather whose row count comes from a register.

.isa moe-asic 2
.region table 0x0 f32 [1000, 64]
.region ids 0x40000 i32 [48]
.region out 0x41000 f32 [48, 64]

.equ IDS 0x0
.equ ROWS 0x1000

    li r5, 48
    li r1, ids
    li r2, out
    dma.ld sram[r0 + IDS], hbm[r1], rows=1, row_bytes=192, sstride=192, dstride=192 signal(t1)
    nop wait(t1)            ; the gather reads the id list in SRAM: dispatch it once it landed
    dma.gather sram[r0 + ROWS], hbm[r0 + table], idx=sram[r0 + IDS], n=r5, row_bytes=256, stride=256 signal(t2)
    dma.st hbm[r2], sram[r0 + ROWS], rows=48, row_bytes=256, sstride=256, dstride=256 wait(t2)
    halt
