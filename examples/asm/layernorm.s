; Layer norm over rows of X (64 x 256 f32) with gamma and beta (256 each), eps = 1e-5:
;   y = (x - mean) * rsqrt(mean((x - mean)^2) + eps) * gamma + beta
; Column broadcasts apply per-row statistics, row broadcasts apply gamma and beta.

.isa moe-asic 2
.region x 0x0 f32 [64, 256]
.region gamma 0x10000 f32 [256]
.region beta 0x10400 f32 [256]
.region y 0x20000 f32 [64, 256]

.equ X 0x0
.equ G 0x10000
.equ B 0x10400
.equ STAT 0x10800       ; 64 x 1 row statistics
.equ XC 0x11000         ; centred x
.equ SQ 0x21000         ; squares

    li r1, gamma
    li r2, y
    li r3, XC
    li r4, G
    dma.ld sram[r4], hbm[r1], rows=1, row_bytes=1024, sstride=1024, dstride=1024
    dma.ld sram[r4 + 0x400], hbm[r1 + 0x400], rows=1, row_bytes=1024, sstride=1024, dstride=1024
    dma.ld sram[r0 + X], hbm[r0 + x], rows=64, row_bytes=1024, sstride=1024, dstride=1024 signal(t1)
    ; the ld queue completes in order, so the last load's token covers all three
    vpu.rsum sram[r0 + STAT], sram[r0 + X], rows=64, cols=256, dtype=f32 wait(t1)
    vpu.muls sram[r0 + STAT], sram[r0 + STAT], rows=64, cols=1, dtype=f32, imm=0.00390625
    vpu.sub sram[r0 + XC], sram[r0 + X], sram[r0 + STAT], rows=64, cols=256, dtype=f32, bcast=col
    vpu.mul sram[r0 + SQ], sram[r0 + XC], sram[r0 + XC], rows=64, cols=256, dtype=f32
    vpu.rsum sram[r0 + STAT], sram[r0 + SQ], rows=64, cols=256, dtype=f32
    vpu.muls sram[r0 + STAT], sram[r0 + STAT], rows=64, cols=1, dtype=f32, imm=0.00390625
    vpu.adds sram[r0 + STAT], sram[r0 + STAT], rows=64, cols=1, dtype=f32, imm=1e-5
    vpu.rsqrt sram[r0 + STAT], sram[r0 + STAT], rows=64, cols=1, dtype=f32
    vpu.mul sram[r0 + XC], sram[r0 + XC], sram[r0 + STAT], rows=64, cols=256, dtype=f32, bcast=col
    vpu.mul sram[r0 + XC], sram[r0 + XC], sram[r0 + G], rows=64, cols=256, dtype=f32, bcast=row
    vpu.add sram[r0 + XC], sram[r0 + XC], sram[r0 + B], rows=64, cols=256, dtype=f32, bcast=row signal(t2)
    dma.st hbm[r2], sram[r3], rows=64, row_bytes=1024, sstride=1024, dstride=1024 wait(t2)
    halt
