; ----- program segment 0 (steps 0..3)
.isa moe-asic 2
.region hidden_states 0x0 f32 [2, 16, 64]
.region output 0x2000 f32 [2, 16, 64]
.region _Einsum_output_0_probs 0x70540 f32 [32, 4]
.region _Einsum_output_0_top 0xc02200 f32 [32, 2]
.region _Einsum_output_0_expert 0x4000 i32 [32, 2]
.region _Einsum_output_0_gates 0xc02000 f32 [32, 4]
.region _Einsum_output_0_gate 0x64540 f32 [32, 128]
.region _Einsum_output_0_up 0x68540 f32 [32, 128]
.region _Einsum_output_0_expert_out 0x6e540 f32 [32, 64]
.region _Einsum_output_0_acc 0x6c540 f32 [32, 64]
.region _Einsum_output_0_iota 0x4100 i32 [4]
.region _Einsum_output_0 0xc00000 f32 [32, 64]
.region router.weight 0x64140 f32 [64, 4]
.region transpose 0x24140 f32 [4, 64, 128]
.region transpose_12 0x44140 f32 [4, 64, 128]
.region experts.w_down 0x4140 f32 [4, 128, 64]
.region _Einsum_output_0_iota.home 0xc02300 i32 [4]
.region experts.w_down.home 0xc02340 f32 [4, 128, 64]
.region transpose.home 0xc22340 f32 [4, 64, 128]
.region transpose_12.home 0xc42340 f32 [4, 64, 128]
; kernel fill_weights_0 (/Einsum)
    li r1, 12582912                                                                                  ; fill_weights_0 (/Einsum): load _Einsum_output_0_iota, experts.w_down, transpose, transpose_12 -> their homes (one DMA)
    dma.ld sram[r1 + 0x2300], hbm[r0 + 0x4100], rows=1229, row_bytes=320, sstride=320, dstride=320   ; fill_weights_0 (/Einsum): load _Einsum_output_0_iota, experts.w_down, transpose, transpose_12 -> their homes (one DMA)
; kernel _Einsum_output_0_route (/Einsum)
    li r2, 393216                                                                                    ; _Einsum_output_0_route (/Einsum): load router.weight -> t1_f32_64x4
    dma.ld sram[r0 + 0x2580], hbm[r2 + 0x4140], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t27) ; _Einsum_output_0_route (/Einsum): load router.weight -> t1_f32_64x4
    dma.ld sram[r0 + 0x580], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t28) ; _Einsum_output_0_route (/Einsum): load hidden_states -> t0_f32_32x64
    mxu.wpre sram[r0 + 0x2580], k=64, n=4, dtype=f32, tw=0 wait(t27)                                 ; _Einsum_output_0_route (/Einsum): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x580], sram[r0 + 0x2580], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; _Einsum_output_0_route (/Einsum): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    vpu.mov sram[r0 + 0x0], acc[r0 + 0x0], rows=1, cols=128, dtype=f32, bcast=none wait(t29)         ; _Einsum_output_0_route (/Einsum): mov -> _Einsum_output_0_probs
    vpu.rmax sram[r0 + 0x400], sram[r0 + 0x0], rows=32, cols=4, dtype=f32                            ; _Einsum_output_0_route (/Einsum): rmax -> row_max.b32
    vpu.sub sram[r0 + 0x2a00], sram[r0 + 0x0], sram[r0 + 0x400], rows=32, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): sub -> t3_f32_32x4
    vpu.exp sram[r0 + 0x200], sram[r0 + 0x2a00], rows=32, cols=4, dtype=f32, bcast=none              ; _Einsum_output_0_route (/Einsum): exp -> exps.b32
    vpu.rsum sram[r0 + 0x480], sram[r0 + 0x200], rows=32, cols=4, dtype=f32                          ; _Einsum_output_0_route (/Einsum): rsum -> row_sum.b32
    vpu.div sram[r0 + 0x0], sram[r0 + 0x200], sram[r0 + 0x480], rows=32, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): div -> _Einsum_output_0_probs
    vpu.topk sram[r0 + 0x2e00], sram[r0 + 0x0], sram[r0 + 0x2f00], rows=32, cols=4, dtype=f32, k=2 signal(t30) ; _Einsum_output_0_route (/Einsum): topk -> t5_f32_32x2
    dma.st.sram sram[r1 + 0x2200], sram[r0 + 0x2e00], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t30) signal(t1) ; _Einsum_output_0_route (/Einsum): store t5_f32_32x2 -> _Einsum_output_0_top
    dma.st hbm[r0 + 0x4000], sram[r0 + 0x2f00], rows=32, row_bytes=8, sstride=8, dstride=8           ; _Einsum_output_0_route (/Einsum): store t6_i32_32x2 -> _Einsum_output_0_expert
    dma.ld.sram sram[r0 + 0x2e00], sram[r1 + 0x2200], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t1) signal(t27) ; _Einsum_output_0_route (/Einsum): load _Einsum_output_0_top -> t5_f32_32x2
    vpu.rsum sram[r0 + 0x500], sram[r0 + 0x2e00], rows=32, cols=2, dtype=f32 wait(t27) signal(t28)   ; _Einsum_output_0_route (/Einsum): rsum -> top_sum.b32
    dma.ld.sram sram[r0 + 0x2e00], sram[r1 + 0x2200], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t28) signal(t29) ; _Einsum_output_0_route (/Einsum): load _Einsum_output_0_top -> t5_f32_32x2
    vpu.div sram[r0 + 0x3000], sram[r0 + 0x2e00], sram[r0 + 0x500], rows=32, cols=2, dtype=f32, bcast=col wait(t29) signal(t30) ; _Einsum_output_0_route (/Einsum): div -> t7_f32_32x2
    dma.st.sram sram[r1 + 0x2200], sram[r0 + 0x3000], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t30) ; _Einsum_output_0_route (/Einsum): store t7_f32_32x2 -> _Einsum_output_0_top
; kernel _Einsum_output_0 (/Einsum)
    vpu.fill sram[r0 + 0x2d100], rows=1, cols=128, dtype=f32, imm=0.0 signal(t27)                    ; _Einsum_output_0 (/Einsum): fill -> t0_f32_1x128
    li r3, 163840                                                                                    ; _Einsum_output_0 (/Einsum): store t0_f32_1x128 -> _Einsum_output_0_gates
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x5100], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t27) signal(t28) ; _Einsum_output_0 (/Einsum): store t0_f32_1x128 -> _Einsum_output_0_gates
    dma.ld.sram sram[r3 + 0x5800], sram[r1 + 0x2300], rows=1, row_bytes=16, sstride=0, dstride=0     ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_iota.home -> t3_i32_1x4
    dma.ld.sram sram[r3 + 0x5300], sram[r1 + 0x2000], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t28) signal(t27) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t1_f32_32x4 [_l0=0]
    dma.ld sram[r3 + 0x5700], hbm[r0 + 0x4000], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t29) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_expert -> t2_i32_1x32 [_l0=0]
    vpu.mov sram[r0 + 0x2d840], sram[r0 + 0x2d700], rows=32, cols=4, dtype=i32, bcast=col wait(t29)  ; _Einsum_output_0 (/Einsum): mov -> t4_i32_32x4 [_l0=0]
    vpu.cmpeq sram[r0 + 0x2dc40], sram[r0 + 0x2d840], sram[r0 + 0x2d800], rows=32, cols=4, dtype=i32, bcast=row ; _Einsum_output_0 (/Einsum): cmpeq -> t5_i32_32x4 [_l0=0]
    vpu.cvt sram[r0 + 0x2e040], sram[r0 + 0x2dc40], rows=32, cols=4, dtype=i32, odt=f32, bcast=none  ; _Einsum_output_0 (/Einsum): cvt -> t6_f32_32x4 [_l0=0]
    dma.ld.sram sram[r3 + 0x6440], sram[r1 + 0x2200], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t30) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_top -> t7_f32_1x32 [_l0=0]
    vpu.fill sram[r0 + 0x2e640], rows=32, cols=4, dtype=f32, imm=0.0                                 ; _Einsum_output_0 (/Einsum): fill -> t8_f32_32x4 [_l0=0]
    vpu.sel sram[r0 + 0x2e640], sram[r0 + 0x2e040], sram[r0 + 0x2e440], rows=32, cols=4, dtype=f32, bcast=col wait(t30) ; _Einsum_output_0 (/Einsum): sel -> t8_f32_32x4 [_l0=0]
    vpu.add sram[r0 + 0x2ea40], sram[r0 + 0x2d300], sram[r0 + 0x2e640], rows=32, cols=4, dtype=f32, bcast=none signal(t2) ; _Einsum_output_0 (/Einsum): add -> t9_f32_32x4 [_l0=0]
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x6a40], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t27, t2) signal(t28) ; _Einsum_output_0 (/Einsum): store t9_f32_32x4 -> _Einsum_output_0_gates [_l0=0]
    dma.ld.sram sram[r3 + 0x5500], sram[r1 + 0x2000], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t28) signal(t27) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t1_f32_32x4 [_l0=0]
    dma.ld sram[r3 + 0x5780], hbm[r0 + 0x4004], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t29) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_expert -> t2_i32_1x32 [_l0=0]
    vpu.mov sram[r0 + 0x2da40], sram[r0 + 0x2d780], rows=32, cols=4, dtype=i32, bcast=col wait(t29)  ; _Einsum_output_0 (/Einsum): mov -> t4_i32_32x4 [_l0=0]
    vpu.cmpeq sram[r0 + 0x2de40], sram[r0 + 0x2da40], sram[r0 + 0x2d800], rows=32, cols=4, dtype=i32, bcast=row ; _Einsum_output_0 (/Einsum): cmpeq -> t5_i32_32x4 [_l0=0]
    vpu.cvt sram[r0 + 0x2e240], sram[r0 + 0x2de40], rows=32, cols=4, dtype=i32, odt=f32, bcast=none  ; _Einsum_output_0 (/Einsum): cvt -> t6_f32_32x4 [_l0=0]
    dma.ld.sram sram[r3 + 0x64c0], sram[r1 + 0x2204], rows=32, row_bytes=4, sstride=8, dstride=4 signal(t30) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_top -> t7_f32_1x32 [_l0=0]
    vpu.fill sram[r0 + 0x2e840], rows=32, cols=4, dtype=f32, imm=0.0                                 ; _Einsum_output_0 (/Einsum): fill -> t8_f32_32x4 [_l0=0]
    vpu.sel sram[r0 + 0x2e840], sram[r0 + 0x2e240], sram[r0 + 0x2e4c0], rows=32, cols=4, dtype=f32, bcast=col wait(t30) ; _Einsum_output_0 (/Einsum): sel -> t8_f32_32x4 [_l0=0]
    vpu.add sram[r0 + 0x2ec40], sram[r0 + 0x2d500], sram[r0 + 0x2e840], rows=32, cols=4, dtype=f32, bcast=none signal(t3) ; _Einsum_output_0 (/Einsum): add -> t9_f32_32x4 [_l0=0]
    dma.st.sram sram[r1 + 0x2000], sram[r3 + 0x6c40], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t27, t3) signal(t9) ; _Einsum_output_0 (/Einsum): store t9_f32_32x4 -> _Einsum_output_0_gates [_l0=0]
    vpu.fill sram[r0 + 0x2b100], rows=1, cols=2048, dtype=f32, imm=0.0                               ; _Einsum_output_0 (/Einsum): fill -> _Einsum_output_0_acc
    dma.ld sram[r3 + 0x8e40], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; _Einsum_output_0 (/Einsum): load hidden_states -> t11_f32_32x64
    li r4, 12713984                                                                                  ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r3 + 0xae40], sram[r4 + 0x2340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t4) ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r3 + 0xae40], k=64, n=128, dtype=f32, tw=0 wait(t4)                                ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x200], sram[r3 + 0x8e40], sram[r3 + 0xae40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t28) ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x3100], acc[r0 + 0x200], rows=32, cols=128, dtype=f32, bcast=none wait(t28)   ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_gate [_l1=0]
    li r5, 327680                                                                                    ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    li r6, 12845056                                                                                  ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    dma.ld.sram sram[r5 + 0x2e40], sram[r6 + 0x2340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t5) ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    mxu.wpre sram[r5 + 0x2e40], k=64, n=128, dtype=f32, tw=0 wait(t5)                                ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x10200], sram[r3 + 0x8e40], sram[r5 + 0x2e40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t6) ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x13100], acc[r0 + 0x10200], rows=32, cols=128, dtype=f32, bcast=none wait(t6) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_up [_l1=0]
    vpu.sigmoid sram[r2 + 0x12e40], sram[r0 + 0x3100], rows=32, cols=128, dtype=f32, bcast=none      ; _Einsum_output_0 (/Einsum): sigmoid -> t14_f32_32x128 [_l1=0]
    vpu.mul sram[r5 + 0x32e40], sram[r0 + 0x3100], sram[r2 + 0x12e40], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): mul -> t15_f32_32x128 [_l1=0]
    vpu.mul sram[r0 + 0x3100], sram[r5 + 0x32e40], sram[r0 + 0x13100], rows=32, cols=128, dtype=f32, bcast=none signal(t8) ; _Einsum_output_0 (/Einsum): mul -> _Einsum_output_0_gate [_l1=0]
    li r7, 589824                                                                                    ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    dma.ld.sram sram[r7 + 0x6e40], sram[r1 + 0x2340], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t7) ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    mxu.wpre sram[r7 + 0x6e40], k=128, n=64, dtype=f32, tw=0 wait(t7)                                ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    li r8, 131072                                                                                    ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    mxu.mm acc[r8 + 0x200], sram[r0 + 0x3100], sram[r7 + 0x6e40], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t8) signal(t29) ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x23100], acc[r0 + 0x20200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6440], sram[r1 + 0x2000], rows=32, row_bytes=4, sstride=16, dstride=4 wait(t9) signal(t30) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r7 + 0x26e40], sram[r0 + 0x23100], sram[r0 + 0x2e440], rows=32, cols=64, dtype=f32, bcast=col wait(t30) ; _Einsum_output_0 (/Einsum): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x2b100], sram[r0 + 0x2b100], sram[r7 + 0x26e40], rows=32, cols=64, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): add -> _Einsum_output_0_acc [_l1=0]
    li r9, 229376                                                                                    ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r9 + 0x2e40], sram[r4 + 0xa340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t10) ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r8 + 0x1ae40], k=64, n=128, dtype=f32, tw=0 wait(t10)                              ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x4200], sram[r3 + 0x8e40], sram[r9 + 0x2e40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t27) ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x7100], acc[r0 + 0x4200], rows=32, cols=128, dtype=f32, bcast=none wait(t27)  ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_gate [_l1=0]
    dma.ld.sram sram[r5 + 0xae40], sram[r6 + 0xa340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t11) ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    mxu.wpre sram[r5 + 0xae40], k=64, n=128, dtype=f32, tw=0 wait(t11)                               ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x14200], sram[r8 + 0x10e40], sram[r5 + 0xae40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t28) ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x17100], acc[r0 + 0x14200], rows=32, cols=128, dtype=f32, bcast=none wait(t28) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_up [_l1=0]
    vpu.sigmoid sram[r2 + 0x16e40], sram[r0 + 0x7100], rows=32, cols=128, dtype=f32, bcast=none      ; _Einsum_output_0 (/Einsum): sigmoid -> t14_f32_32x128 [_l1=0]
    vpu.mul sram[r5 + 0x36e40], sram[r0 + 0x7100], sram[r9 + 0x3ee40], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): mul -> t15_f32_32x128 [_l1=0]
    vpu.mul sram[r0 + 0x7100], sram[r2 + 0x26e40], sram[r0 + 0x17100], rows=32, cols=128, dtype=f32, bcast=none signal(t13) ; _Einsum_output_0 (/Einsum): mul -> _Einsum_output_0_gate [_l1=0]
    dma.ld.sram sram[r7 + 0xee40], sram[r1 + 0xa340], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t12) ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    mxu.wpre sram[r7 + 0xee40], k=128, n=64, dtype=f32, tw=0 wait(t12)                               ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    mxu.mm acc[r8 + 0x2200], sram[r0 + 0x7100], sram[r7 + 0xee40], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t13) signal(t29) ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x25100], acc[r0 + 0x22200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x64c0], sram[r1 + 0x2004], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t14) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r7 + 0x28e40], sram[r0 + 0x25100], sram[r0 + 0x2e4c0], rows=32, cols=64, dtype=f32, bcast=col wait(t14) ; _Einsum_output_0 (/Einsum): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x2b100], sram[r0 + 0x2b100], sram[r7 + 0x28e40], rows=32, cols=64, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): add -> _Einsum_output_0_acc [_l1=0]
    li r10, 12779520                                                                                 ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r9 + 0xae40], sram[r10 + 0x2340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t15) ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r3 + 0x1ae40], k=64, n=128, dtype=f32, tw=0 wait(t15)                              ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x8200], sram[r8 + 0x10e40], sram[r9 + 0xae40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t30) ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0xb100], acc[r0 + 0x8200], rows=32, cols=128, dtype=f32, bcast=none wait(t30)  ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_gate [_l1=0]
    li r11, 12910592                                                                                 ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    dma.ld.sram sram[r2 + 0x2e40], sram[r11 + 0x2340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t16) ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    mxu.wpre sram[r5 + 0x12e40], k=64, n=128, dtype=f32, tw=0 wait(t16)                              ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x18200], sram[r3 + 0x8e40], sram[r2 + 0x2e40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t27) ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x1b100], acc[r0 + 0x18200], rows=32, cols=128, dtype=f32, bcast=none wait(t27) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_up [_l1=0]
    vpu.sigmoid sram[r5 + 0x2ae40], sram[r0 + 0xb100], rows=32, cols=128, dtype=f32, bcast=none      ; _Einsum_output_0 (/Einsum): sigmoid -> t14_f32_32x128 [_l1=0]
    vpu.mul sram[r2 + 0x2ae40], sram[r0 + 0xb100], sram[r5 + 0x2ae40], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): mul -> t15_f32_32x128 [_l1=0]
    vpu.mul sram[r0 + 0xb100], sram[r2 + 0x2ae40], sram[r0 + 0x1b100], rows=32, cols=128, dtype=f32, bcast=none signal(t28) ; _Einsum_output_0 (/Einsum): mul -> _Einsum_output_0_gate [_l1=0]
    li r12, 655360                                                                                   ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    li r13, 12648448                                                                                 ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    dma.ld.sram sram[r12 + 0x6e40], sram[r13 + 0x2340], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t17) ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    mxu.wpre sram[r7 + 0x16e40], k=128, n=64, dtype=f32, tw=0 wait(t17)                              ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    mxu.mm acc[r8 + 0x4200], sram[r0 + 0xb100], sram[r12 + 0x6e40], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x27100], acc[r0 + 0x24200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x6540], sram[r1 + 0x2008], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t18) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r7 + 0x2ae40], sram[r0 + 0x27100], sram[r0 + 0x2e540], rows=32, cols=64, dtype=f32, bcast=col wait(t18) ; _Einsum_output_0 (/Einsum): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x2b100], sram[r0 + 0x2b100], sram[r12 + 0x1ae40], rows=32, cols=64, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): add -> _Einsum_output_0_acc [_l1=0]
    li r14, 294912                                                                                   ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    dma.ld.sram sram[r14 + 0x2e40], sram[r10 + 0xa340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t19) ; _Einsum_output_0 (/Einsum): load transpose.home -> t12_f32_64x128 [_l1=0]
    mxu.wpre sram[r9 + 0x12e40], k=64, n=128, dtype=f32, tw=0 wait(t19)                              ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0xc200], sram[r8 + 0x10e40], sram[r14 + 0x2e40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t30) ; _Einsum_output_0 (/Einsum): matmul acc_1 = t11_f32_32x64 @ t12_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0xf100], acc[r0 + 0xc200], rows=32, cols=128, dtype=f32, bcast=none wait(t30)  ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_gate [_l1=0]
    dma.ld.sram sram[r2 + 0xae40], sram[r11 + 0xa340], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t20) ; _Einsum_output_0 (/Einsum): load transpose_12.home -> t13_f32_64x128 [_l1=0]
    mxu.wpre sram[r5 + 0x1ae40], k=64, n=128, dtype=f32, tw=0 wait(t20)                              ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x1c200], sram[r3 + 0x8e40], sram[r2 + 0xae40], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t27) ; _Einsum_output_0 (/Einsum): matmul acc_2 = t11_f32_32x64 @ t13_f32_64x128 [_l1=0]
    vpu.mov sram[r0 + 0x1f100], acc[r0 + 0x1c200], rows=32, cols=128, dtype=f32, bcast=none wait(t27) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_up [_l1=0]
    vpu.sigmoid sram[r14 + 0x36e40], sram[r0 + 0xf100], rows=32, cols=128, dtype=f32, bcast=none     ; _Einsum_output_0 (/Einsum): sigmoid -> t14_f32_32x128 [_l1=0]
    vpu.mul sram[r5 + 0x3ee40], sram[r0 + 0xf100], sram[r2 + 0x1ee40], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0 (/Einsum): mul -> t15_f32_32x128 [_l1=0]
    vpu.mul sram[r0 + 0xf100], sram[r5 + 0x3ee40], sram[r0 + 0x1f100], rows=32, cols=128, dtype=f32, bcast=none signal(t28) ; _Einsum_output_0 (/Einsum): mul -> _Einsum_output_0_gate [_l1=0]
    dma.ld.sram sram[r12 + 0xee40], sram[r13 + 0xa340], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t21) ; _Einsum_output_0 (/Einsum): load experts.w_down.home -> t17_f32_128x64 [_l1=0]
    mxu.wpre sram[r7 + 0x1ee40], k=128, n=64, dtype=f32, tw=0 wait(t21)                              ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    mxu.mm acc[r8 + 0x6200], sram[r0 + 0xf100], sram[r12 + 0xee40], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; _Einsum_output_0 (/Einsum): matmul acc_3 = _Einsum_output_0_gate @ t17_f32_128x64 [_l1=0]
    vpu.mov sram[r0 + 0x29100], acc[r0 + 0x26200], rows=1, cols=2048, dtype=f32, bcast=none wait(t29) ; _Einsum_output_0 (/Einsum): mov -> _Einsum_output_0_expert_out [_l1=0]
    dma.ld.sram sram[r3 + 0x65c0], sram[r1 + 0x200c], rows=32, row_bytes=4, sstride=16, dstride=4 signal(t22) ; _Einsum_output_0 (/Einsum): load _Einsum_output_0_gates -> t7_f32_1x32 [_l1=0]
    vpu.mul sram[r7 + 0x2ce40], sram[r0 + 0x29100], sram[r0 + 0x2e5c0], rows=32, cols=64, dtype=f32, bcast=col wait(t22) ; _Einsum_output_0 (/Einsum): mul -> t18_f32_32x64 [_l1=0]
    vpu.add sram[r0 + 0x2b100], sram[r0 + 0x2b100], sram[r12 + 0x1ce40], rows=32, cols=64, dtype=f32, bcast=none signal(t23) ; _Einsum_output_0 (/Einsum): add -> _Einsum_output_0_acc [_l1=0]
    dma.st.sram sram[r1 + 0x0], sram[r8 + 0xb100], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t23) signal(t24) ; _Einsum_output_0 (/Einsum): store _Einsum_output_0_acc -> _Einsum_output_0
; kernel output_output (/Reshape_1)
    li r15, 786432                                                                                   ; output_output (/Reshape_1): load _Einsum_output_0 -> t0_f32_1x2048
    dma.ld.sram sram[r15 + 0xe40], sram[r1 + 0x0], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t24) signal(t30) ; output_output (/Reshape_1): load _Einsum_output_0 -> t0_f32_1x2048
    dma.st hbm[r0 + 0x2000], sram[r15 + 0xe40], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t30) ; output_output (/Reshape_1): store t0_f32_1x2048 -> output
    halt                                                                                             ; end of program: wait for every unit
