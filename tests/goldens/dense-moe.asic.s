; ----- program segment 0 (steps 0..3)
.isa moe-asic 2
.region hidden_states 0x0 f32 [2, 16, 64]
.region output 0x2000 f32 [2, 16, 64]
.region moe_probs 0x51140 f32 [32, 4]
.region moe_top 0xc02200 f32 [32, 2]
.region moe_expert 0x4000 i32 [32, 2]
.region moe_gates 0xc02000 f32 [32, 4]
.region moe_gate 0x45140 f32 [32, 128]
.region moe_up 0x49140 f32 [32, 128]
.region moe_expert_out 0x4f140 f32 [32, 64]
.region moe_acc 0x4d140 f32 [32, 64]
.region moe_iota 0x44d00 i32 [4]
.region moe 0xc00000 f32 [32, 64]
.region gate.weight 0x44d40 f32 [64, 4]
.region concat 0x4d00 f32 [4, 64, 128]
.region concat_8 0x24d00 f32 [4, 128, 64]
.region b_gate 0x4500 f32 [4, 128]
.region b_down 0x4100 f32 [4, 64]
.region b_down.home 0xc02300 f32 [4, 64]
.region b_gate.home 0xc02700 f32 [4, 128]
.region concat.home 0xc02f00 f32 [4, 64, 128]
.region concat_8.home 0xc22f00 f32 [4, 128, 64]
.region moe_iota.home 0xc42f00 i32 [4]
; kernel fill_weights_0 (/ReduceSum_1)
    li r1, 12582912                                                                                  ; fill_weights_0 (/ReduceSum_1): load b_down, b_gate, concat, concat_8, moe_iota -> their homes (one DMA)
    dma.ld sram[r1 + 0x2300], hbm[r0 + 0x4100], rows=5, row_bytes=53056, sstride=53056, dstride=53056 ; fill_weights_0 (/ReduceSum_1): load b_down, b_gate, concat, concat_8, moe_iota -> their homes (one DMA)
; kernel moe_route (/ReduceSum_1)
    li r2, 262144                                                                                    ; moe_route (/ReduceSum_1): load gate.weight -> t1_f32_64x4
    dma.ld sram[r0 + 0x2580], hbm[r2 + 0x4d40], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t27) ; moe_route (/ReduceSum_1): load gate.weight -> t1_f32_64x4
    dma.ld sram[r0 + 0x580], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t28) ; moe_route (/ReduceSum_1): load hidden_states -> t0_f32_32x64
    mxu.wpre sram[r0 + 0x2580], k=64, n=4, dtype=f32, tw=0 wait(t27)                                 ; moe_route (/ReduceSum_1): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x580], sram[r0 + 0x2580], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; moe_route (/ReduceSum_1): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    vpu.mov sram[r0 + 0x0], acc[r0 + 0x0], rows=1, cols=128, dtype=f32, bcast=none wait(t29)         ; moe_route (/ReduceSum_1): mov -> moe_probs
    vpu.rmax sram[r0 + 0x400], sram[r0 + 0x0], rows=32, cols=4, dtype=f32                            ; moe_route (/ReduceSum_1): rmax -> row_max.b32
    vpu.sub sram[r0 + 0x2a00], sram[r0 + 0x0], sram[r0 + 0x400], rows=32, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): sub -> t3_f32_32x4
    vpu.exp sram[r0 + 0x200], sram[r0 + 0x2a00], rows=32, cols=4, dtype=f32, bcast=none              ; moe_route (/ReduceSum_1): exp -> exps.b32
    vpu.rsum sram[r0 + 0x480], sram[r0 + 0x200], rows=32, cols=4, dtype=f32                          ; moe_route (/ReduceSum_1): rsum -> row_sum.b32
    vpu.div sram[r0 + 0x0], sram[r0 + 0x200], sram[r0 + 0x480], rows=32, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): div -> moe_probs
    vpu.topk sram[r0 + 0x2e00], sram[r0 + 0x0], sram[r0 + 0x2f00], rows=32, cols=4, dtype=f32, k=2 signal(t30) ; moe_route (/ReduceSum_1): topk -> t5_f32_32x2
    dma.st.sram sram[r1 + 0x2200], sram[r0 + 0x2e00], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t30) signal(t1) ; moe_route (/ReduceSum_1): store t5_f32_32x2 -> moe_top
    dma.st hbm[r0 + 0x4000], sram[r0 + 0x2f00], rows=32, row_bytes=8, sstride=8, dstride=8           ; moe_route (/ReduceSum_1): store t6_i32_32x2 -> moe_expert
    dma.ld.sram sram[r0 + 0x2e00], sram[r1 + 0x2200], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t1) signal(t27) ; moe_route (/ReduceSum_1): load moe_top -> t5_f32_32x2
    vpu.rsum sram[r0 + 0x500], sram[r0 + 0x2e00], rows=32, cols=2, dtype=f32 wait(t27) signal(t28)   ; moe_route (/ReduceSum_1): rsum -> top_sum.b32
    dma.ld.sram sram[r0 + 0x2e00], sram[r1 + 0x2200], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t28) signal(t29) ; moe_route (/ReduceSum_1): load moe_top -> t5_f32_32x2
    vpu.div sram[r0 + 0x3000], sram[r0 + 0x2e00], sram[r0 + 0x500], rows=32, cols=2, dtype=f32, bcast=col wait(t29) signal(t30) ; moe_route (/ReduceSum_1): div -> t7_f32_32x2
    dma.st.sram sram[r1 + 0x2200], sram[r0 + 0x3000], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t30) ; moe_route (/ReduceSum_1): store t7_f32_32x2 -> moe_top
; kernel moe (/ReduceSum_1)
    vpu.fill sram[r0 + 0x1d100], rows=1, cols=128, dtype=f32, imm=0.0 signal(t27)                    ; moe (/ReduceSum_1): fill -> t0_f32_1x128
    li r3, 98304                                                                                     ; moe (/ReduceSum_1): store t0_f32_1x128 -> moe_gates
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x5100], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t27) signal(t28) ; moe (/ReduceSum_1): store t0_f32_1x128 -> moe_gates
    li r4, 12845056                                                                                  ; moe (/ReduceSum_1): load moe_iota.home -> t3_i32_1x4
    dma.ld.sram sram[r3 + 0x5e00], sram[r4 + 0x2f00], rows=1, row_bytes=16, sstride=0, dstride=0     ; moe (/ReduceSum_1): load moe_iota.home -> t3_i32_1x4
    dma.ld.sram sram[r3 + 0x5900], sram[r1 + 0x2000], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t28) signal(t27) ; moe (/ReduceSum_1): load moe_gates -> t1_f32_32x4 [_l0=0]
    dma.ld sram[r3 + 0x5d00], hbm[r0 + 0x4000], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t29) ; moe (/ReduceSum_1): load moe_expert -> t2_i32_1x32 [_l0=0]
    vpu.mov sram[r0 + 0x1de40], sram[r0 + 0x1dd00], rows=32, cols=4, dtype=i32, bcast=col wait(t29)  ; moe (/ReduceSum_1): mov -> t4_i32_32x4 [_l0=0]
    vpu.cmpeq sram[r0 + 0x1e240], sram[r0 + 0x1de40], sram[r0 + 0x1de00], rows=32, cols=4, dtype=i32, bcast=row ; moe (/ReduceSum_1): cmpeq -> t5_i32_32x4 [_l0=0]
    vpu.cvt sram[r0 + 0x1e640], sram[r0 + 0x1e240], rows=32, cols=4, dtype=i32, odt=f32, bcast=none  ; moe (/ReduceSum_1): cvt -> t6_f32_32x4 [_l0=0]
    dma.ld.sram sram[r3 + 0x6a40], sram[r1 + 0x2200], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t30) ; moe (/ReduceSum_1): load moe_top -> t7_f32_1x32 [_l0=0]
    vpu.fill sram[r0 + 0x1ec40], rows=32, cols=4, dtype=f32, imm=0.0                                 ; moe (/ReduceSum_1): fill -> t8_f32_32x4 [_l0=0]
    vpu.sel sram[r0 + 0x1ec40], sram[r0 + 0x1e640], sram[r0 + 0x1ea40], rows=32, cols=4, dtype=f32, bcast=col wait(t30) ; moe (/ReduceSum_1): sel -> t8_f32_32x4 [_l0=0]
    vpu.add sram[r0 + 0x1f040], sram[r0 + 0x1d900], sram[r0 + 0x1ec40], rows=32, cols=4, dtype=f32, bcast=none signal(t2) ; moe (/ReduceSum_1): add -> t9_f32_32x4 [_l0=0]
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x7040], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t27, t2) signal(t28) ; moe (/ReduceSum_1): store t9_f32_32x4 -> moe_gates [_l0=0]
    dma.ld.sram sram[r3 + 0x5b00], sram[r1 + 0x2000], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t28) signal(t27) ; moe (/ReduceSum_1): load moe_gates -> t1_f32_32x4 [_l0=0]
    dma.ld sram[r3 + 0x5d80], hbm[r0 + 0x4004], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t29) ; moe (/ReduceSum_1): load moe_expert -> t2_i32_1x32 [_l0=0]
    vpu.mov sram[r0 + 0x1e040], sram[r0 + 0x1dd80], rows=32, cols=4, dtype=i32, bcast=col wait(t29)  ; moe (/ReduceSum_1): mov -> t4_i32_32x4 [_l0=0]
    vpu.cmpeq sram[r0 + 0x1e440], sram[r0 + 0x1e040], sram[r0 + 0x1de00], rows=32, cols=4, dtype=i32, bcast=row ; moe (/ReduceSum_1): cmpeq -> t5_i32_32x4 [_l0=0]
    vpu.cvt sram[r0 + 0x1e840], sram[r0 + 0x1e440], rows=32, cols=4, dtype=i32, odt=f32, bcast=none  ; moe (/ReduceSum_1): cvt -> t6_f32_32x4 [_l0=0]
    dma.ld.sram sram[r3 + 0x6ac0], sram[r1 + 0x2204], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t30) ; moe (/ReduceSum_1): load moe_top -> t7_f32_1x32 [_l0=0]
    vpu.fill sram[r0 + 0x1ee40], rows=32, cols=4, dtype=f32, imm=0.0                                 ; moe (/ReduceSum_1): fill -> t8_f32_32x4 [_l0=0]
    vpu.sel sram[r0 + 0x1ee40], sram[r0 + 0x1e840], sram[r0 + 0x1eac0], rows=32, cols=4, dtype=f32, bcast=col wait(t30) ; moe (/ReduceSum_1): sel -> t8_f32_32x4 [_l0=0]
    vpu.add sram[r0 + 0x1f240], sram[r0 + 0x1db00], sram[r0 + 0x1ee40], rows=32, cols=4, dtype=f32, bcast=none signal(t3) ; moe (/ReduceSum_1): add -> t9_f32_32x4 [_l0=0]
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x7240], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t27, t3) signal(t9) ; moe (/ReduceSum_1): store t9_f32_32x4 -> moe_gates [_l0=0]
    vpu.fill sram[r0 + 0x1b100], rows=1, cols=2048, dtype=f32, imm=0.0                               ; moe (/ReduceSum_1): fill -> moe_acc
    dma.ld sram[r3 + 0x9440], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; moe (/ReduceSum_1): load hidden_states -> t11_f32_32x64
    dma.ld.sram sram[r3 + 0xb440], sram[r1 + 0x2f00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t4) ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r3 + 0xb440], k=64, n=128, dtype=f32, tw=0 wait(t4)                                ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x200], sram[r3 + 0x9440], sram[r3 + 0xb440], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t28) ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x3100], acc[r0 + 0x200], rows=32, cols=128, dtype=f32, bcast=none wait(t28)   ; moe (/ReduceSum_1): mov -> moe_gate [_l1=0]
    dma.ld.sram sram[r3 + 0x5100], sram[r1 + 0x2700], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t5) ; moe (/ReduceSum_1): load b_gate.home -> t0_f32_1x128 [_l1=0]
    vpu.add sram[r0 + 0x3100], sram[r0 + 0x3100], sram[r0 + 0x1d100], rows=32, cols=128, dtype=f32, bcast=row wait(t5) ; moe (/ReduceSum_1): add -> moe_gate [_l1=0]
    vpu.maxs sram[r0 + 0x3100], sram[r0 + 0x3100], rows=32, cols=128, dtype=f32, imm=0.0 signal(t7)  ; moe (/ReduceSum_1): maxs -> moe_gate [_l1=0]
    li r5, 12713984                                                                                  ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    dma.ld.sram sram[r2 + 0xb440], sram[r5 + 0x2f00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t6) ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    mxu.wpre sram[r2 + 0xb440], k=128, n=64, dtype=f32, tw=0 wait(t6)                                ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    mxu.mm acc[r0 + 0x10200], sram[r0 + 0x3100], sram[r2 + 0xb440], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t7) signal(t29) ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x13100], acc[r0 + 0x10200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; moe (/ReduceSum_1): mov -> moe_expert_out [_l1=0]
    li r6, 425984                                                                                    ; moe (/ReduceSum_1): load b_down.home -> t16_f32_1x64 [_l1=0]
    dma.ld.sram sram[r6 + 0x3440], sram[r1 + 0x2300], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t8) ; moe (/ReduceSum_1): load b_down.home -> t16_f32_1x64 [_l1=0]
    vpu.add sram[r0 + 0x13100], sram[r0 + 0x13100], sram[r2 + 0x2b440], rows=32, cols=64, dtype=f32, bcast=row wait(t8) ; moe (/ReduceSum_1): add -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6a40], sram[r1 + 0x2000], rows=32, row_bytes=4, sstride=16, dstride=4 wait(t9) signal(t30) ; moe (/ReduceSum_1): load moe_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r6 + 0x5840], sram[r0 + 0x13100], sram[r0 + 0x1ea40], rows=32, cols=64, dtype=f32, bcast=col wait(t30) ; moe (/ReduceSum_1): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x1b100], sram[r0 + 0x1b100], sram[r2 + 0x2d840], rows=32, cols=64, dtype=f32, bcast=none ; moe (/ReduceSum_1): add -> moe_acc [_l1=0]
    li r7, 163840                                                                                    ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r7 + 0x3440], sram[r1 + 0xaf00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t10) ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r3 + 0x13440], k=64, n=128, dtype=f32, tw=0 wait(t10)                              ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x4200], sram[r3 + 0x9440], sram[r7 + 0x3440], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t27) ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x7100], acc[r0 + 0x4200], rows=32, cols=128, dtype=f32, bcast=none wait(t27)  ; moe (/ReduceSum_1): mov -> moe_gate [_l1=0]
    dma.ld.sram sram[r3 + 0x5300], sram[r1 + 0x2900], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t11) ; moe (/ReduceSum_1): load b_gate.home -> t0_f32_1x128 [_l1=0]
    vpu.add sram[r0 + 0x7100], sram[r0 + 0x7100], sram[r0 + 0x1d300], rows=32, cols=128, dtype=f32, bcast=row wait(t11) ; moe (/ReduceSum_1): add -> moe_gate [_l1=0]
    vpu.maxs sram[r0 + 0x7100], sram[r0 + 0x7100], rows=32, cols=128, dtype=f32, imm=0.0 signal(t28) ; moe (/ReduceSum_1): maxs -> moe_gate [_l1=0]
    li r8, 327680                                                                                    ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    dma.ld.sram sram[r8 + 0x3440], sram[r5 + 0xaf00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t12) ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    mxu.wpre sram[r2 + 0x13440], k=128, n=64, dtype=f32, tw=0 wait(t12)                              ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    mxu.mm acc[r0 + 0x12200], sram[r0 + 0x7100], sram[r8 + 0x3440], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x15100], acc[r0 + 0x12200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; moe (/ReduceSum_1): mov -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r6 + 0x3540], sram[r1 + 0x2400], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t13) ; moe (/ReduceSum_1): load b_down.home -> t16_f32_1x64 [_l1=0]
    vpu.add sram[r0 + 0x15100], sram[r0 + 0x15100], sram[r2 + 0x2b540], rows=32, cols=64, dtype=f32, bcast=row wait(t13) ; moe (/ReduceSum_1): add -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6ac0], sram[r1 + 0x2004], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t14) ; moe (/ReduceSum_1): load moe_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r8 + 0x1f840], sram[r0 + 0x15100], sram[r0 + 0x1eac0], rows=32, cols=64, dtype=f32, bcast=col wait(t14) ; moe (/ReduceSum_1): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x1b100], sram[r0 + 0x1b100], sram[r6 + 0x7840], rows=32, cols=64, dtype=f32, bcast=none ; moe (/ReduceSum_1): add -> moe_acc [_l1=0]
    li r9, 12648448                                                                                  ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r7 + 0xb440], sram[r9 + 0x2f00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t15) ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r3 + 0x1b440], k=64, n=128, dtype=f32, tw=0 wait(t15)                              ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x8200], sram[r3 + 0x9440], sram[r7 + 0xb440], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t30) ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0xb100], acc[r0 + 0x8200], rows=32, cols=128, dtype=f32, bcast=none wait(t30)  ; moe (/ReduceSum_1): mov -> moe_gate [_l1=0]
    dma.ld.sram sram[r3 + 0x5500], sram[r1 + 0x2b00], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t16) ; moe (/ReduceSum_1): load b_gate.home -> t0_f32_1x128 [_l1=0]
    vpu.add sram[r0 + 0xb100], sram[r0 + 0xb100], sram[r0 + 0x1d500], rows=32, cols=128, dtype=f32, bcast=row wait(t16) ; moe (/ReduceSum_1): add -> moe_gate [_l1=0]
    vpu.maxs sram[r0 + 0xb100], sram[r0 + 0xb100], rows=32, cols=128, dtype=f32, imm=0.0 signal(t27) ; moe (/ReduceSum_1): maxs -> moe_gate [_l1=0]
    li r10, 12779520                                                                                 ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    dma.ld.sram sram[r8 + 0xb440], sram[r10 + 0x2f00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t17) ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    mxu.wpre sram[r2 + 0x1b440], k=128, n=64, dtype=f32, tw=0 wait(t17)                              ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    mxu.mm acc[r0 + 0x14200], sram[r0 + 0xb100], sram[r8 + 0xb440], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t27) signal(t28) ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x17100], acc[r0 + 0x14200], rows=1, cols=2048, dtype=f32, bcast=none wait(t28) ; moe (/ReduceSum_1): mov -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r6 + 0x3640], sram[r1 + 0x2500], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t18) ; moe (/ReduceSum_1): load b_down.home -> t16_f32_1x64 [_l1=0]
    vpu.add sram[r0 + 0x17100], sram[r0 + 0x17100], sram[r2 + 0x2b640], rows=32, cols=64, dtype=f32, bcast=row wait(t18) ; moe (/ReduceSum_1): add -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6b40], sram[r1 + 0x2008], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t19) ; moe (/ReduceSum_1): load moe_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r8 + 0x21840], sram[r0 + 0x17100], sram[r0 + 0x1eb40], rows=32, cols=64, dtype=f32, bcast=col wait(t19) ; moe (/ReduceSum_1): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x1b100], sram[r0 + 0x1b100], sram[r6 + 0x9840], rows=32, cols=64, dtype=f32, bcast=none ; moe (/ReduceSum_1): add -> moe_acc [_l1=0]
    li r11, 229376                                                                                   ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r11 + 0x3440], sram[r9 + 0xaf00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t20) ; moe (/ReduceSum_1): load concat.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r7 + 0x13440], k=64, n=128, dtype=f32, tw=0 wait(t20)                              ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0xc200], sram[r3 + 0x9440], sram[r11 + 0x3440], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t29) ; moe (/ReduceSum_1): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0xf100], acc[r0 + 0xc200], rows=32, cols=128, dtype=f32, bcast=none wait(t29)  ; moe (/ReduceSum_1): mov -> moe_gate [_l1=0]
    dma.ld.sram sram[r3 + 0x5700], sram[r1 + 0x2d00], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t21) ; moe (/ReduceSum_1): load b_gate.home -> t0_f32_1x128 [_l1=0]
    vpu.add sram[r0 + 0xf100], sram[r0 + 0xf100], sram[r0 + 0x1d700], rows=32, cols=128, dtype=f32, bcast=row wait(t21) ; moe (/ReduceSum_1): add -> moe_gate [_l1=0]
    vpu.maxs sram[r0 + 0xf100], sram[r0 + 0xf100], rows=32, cols=128, dtype=f32, imm=0.0 signal(t30) ; moe (/ReduceSum_1): maxs -> moe_gate [_l1=0]
    li r12, 393216                                                                                   ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    dma.ld.sram sram[r12 + 0x3440], sram[r10 + 0xaf00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t22) ; moe (/ReduceSum_1): load concat_8.home -> t15_f32_128x64 [_l1=0]
    mxu.wpre sram[r8 + 0x13440], k=128, n=64, dtype=f32, tw=0 wait(t22)                              ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    mxu.mm acc[r0 + 0x16200], sram[r0 + 0xf100], sram[r12 + 0x3440], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t30) signal(t27) ; moe (/ReduceSum_1): matmul acc_2 = moe_gate @ t15_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x19100], acc[r0 + 0x16200], rows=1, cols=2048, dtype=f32, bcast=none wait(t27) ; moe (/ReduceSum_1): mov -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r6 + 0x3740], sram[r1 + 0x2600], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t23) ; moe (/ReduceSum_1): load b_down.home -> t16_f32_1x64 [_l1=0]
    vpu.add sram[r0 + 0x19100], sram[r0 + 0x19100], sram[r2 + 0x2b740], rows=32, cols=64, dtype=f32, bcast=row wait(t23) ; moe (/ReduceSum_1): add -> moe_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6bc0], sram[r1 + 0x200c], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t24) ; moe (/ReduceSum_1): load moe_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r11 + 0x3b840], sram[r0 + 0x19100], sram[r0 + 0x1ebc0], rows=32, cols=64, dtype=f32, bcast=col wait(t24) ; moe (/ReduceSum_1): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x1b100], sram[r0 + 0x1b100], sram[r8 + 0x23840], rows=32, cols=64, dtype=f32, bcast=none signal(t25) ; moe (/ReduceSum_1): add -> moe_acc [_l1=0]
    dma.st.sram sram[r1 + 0x0], sram[r3 + 0x3100], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t25) signal(t26) ; moe (/ReduceSum_1): store moe_acc -> moe
; kernel output_output (/ReduceSum_1)
    dma.ld.sram sram[r6 + 0xf840], sram[r1 + 0x0], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t26) signal(t28) ; output_output (/ReduceSum_1): load moe -> t0_f32_1x2048
    dma.st hbm[r0 + 0x2000], sram[r6 + 0xf840], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t28) ; output_output (/ReduceSum_1): store t0_f32_1x2048 -> output
    halt                                                                                             ; end of program: wait for every unit
