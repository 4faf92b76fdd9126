; Bandwidth probe: stream a 4 MiB buffer HBM -> SRAM -> HBM in eight 512 KiB chunks. The ld
; queue keeps several descriptors in flight so the DMA setup latency hides behind transfers;
; each store waits only for its own chunk.

.isa moe-asic 2
.region src 0x0 u8 [4194304]
.region dst 0x400000 u8 [4194304]

    li r1, src
    li r2, dst
    li r3, 0
    loopi 8, chunk_end
    dma.ld sram[r3], hbm[r1], rows=16, row_bytes=32768, sstride=32768, dstride=32768 signal(t1)
    dma.st hbm[r2], sram[r3], rows=16, row_bytes=32768, sstride=32768, dstride=32768 wait(t1)
    addi r1, r1, 0x80000
    addi r2, r2, 0x80000
    addi r3, r3, 0x80000
chunk_end:
    halt
