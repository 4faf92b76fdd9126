; Row softmax of X (64 x 256 f32): y = exp(x - rowmax) / rowsum, all on the VPU.
; Within one unit instructions take effect in order, so only the DMA <-> VPU hand-offs
; need tokens.

.isa moe-asic 2
.region x 0x0 f32 [64, 256]
.region y 0x10000 f32 [64, 256]

.equ X 0x0              ; SRAM: the tile
.equ M 0x10000          ; row maxima, then row sums (64 x 1)
.equ E 0x0              ; exp(x - max), in place of x

    li r2, y
    dma.ld sram[r0 + X], hbm[r0 + x], rows=64, row_bytes=1024, sstride=1024, dstride=1024 signal(t1)
    vpu.rmax sram[r0 + M], sram[r0 + X], rows=64, cols=256, dtype=f32 wait(t1)
    vpu.sub sram[r0 + E], sram[r0 + X], sram[r0 + M], rows=64, cols=256, dtype=f32, bcast=col
    vpu.exp sram[r0 + E], sram[r0 + E], rows=64, cols=256, dtype=f32
    vpu.rsum sram[r0 + M], sram[r0 + E], rows=64, cols=256, dtype=f32
    vpu.rcp sram[r0 + M], sram[r0 + M], rows=64, cols=1, dtype=f32
    vpu.mul sram[r0 + E], sram[r0 + E], sram[r0 + M], rows=64, cols=256, dtype=f32, bcast=col signal(t2)
    dma.st hbm[r2], sram[r0 + E], rows=64, row_bytes=1024, sstride=1024, dstride=1024 wait(t2)
    halt
