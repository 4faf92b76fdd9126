.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4000 f32 [64, 4]
.region _gate_MatMul_output_0 0x45000 f32 [2, 16, 4]
.region _Softmax_output_0 0x45200 f32 [2, 16, 4]
.region _TopK_output_0 0x45000 f32 [2, 16, 2]
.region _TopK_output_0_0 0x45400 i32 [2, 16, 2]
.region _ScatterElements_output_0 0x45000 f32 [2, 16, 4]
.region _Mul_output_0 0x45400 f32 [2, 16, 4]
.region _ReduceSum_output_0 0x45000 f32 [2, 16, 1]
.region _Div_output_0 0x55000 f32 [2, 16, 4]
.region experts.0.fc1.weight 0x4400 f32 [64, 128]
.region _experts.0_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.0_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.0.fc1.bias 0xc400 f32 [128]
.region _experts.0_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.0.fc2.weight 0xc600 f32 [128, 64]
.region _experts.0_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.0_fc2_Add_output_0 0x4d000 f32 [2, 16, 64]
.region experts.0.fc2.bias 0x14600 f32 [64]
.region experts.1.fc1.weight 0x14700 f32 [64, 128]
.region _experts.1_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.1_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.1.fc1.bias 0x1c700 f32 [128]
.region _experts.1_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.1.fc2.weight 0x1c900 f32 [128, 64]
.region _experts.1_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.1_fc2_Add_output_0 0x4f000 f32 [2, 16, 64]
.region experts.1.fc2.bias 0x24900 f32 [64]
.region experts.2.fc1.weight 0x24a00 f32 [64, 128]
.region _experts.2_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.2_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.2.fc1.bias 0x2ca00 f32 [128]
.region _experts.2_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.2.fc2.weight 0x2cc00 f32 [128, 64]
.region _experts.2_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.2_fc2_Add_output_0 0x51000 f32 [2, 16, 64]
.region experts.2.fc2.bias 0x34c00 f32 [64]
.region experts.3.fc1.weight 0x34d00 f32 [64, 128]
.region _experts.3_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.3_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.3.fc1.bias 0x3cd00 f32 [128]
.region _experts.3_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.3.fc2.weight 0x3cf00 f32 [128, 64]
.region _experts.3_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.3_fc2_Add_output_0 0x53000 f32 [2, 16, 64]
.region experts.3.fc2.bias 0x44f00 f32 [64]
.region _Concat_output_0 0x45000 f32 [2, 16, 4, 64]
.region _Mul_1_output_0 0x4d000 f32 [2, 16, 4, 64]
.region output 0x2000 f32 [2, 16, 64]
; kernel k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul))
    dma.ld sram[r0 + 0x0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256           ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): load hidden_states -> a0
    dma.ld sram[r0 + 0x4000], hbm[r0 + 0x4000], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): load gate.weight -> bres1
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x0], sram[r0 + 0x4000], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x4400], acc[r0 + 0x0], rows=32, cols=4, dtype=f32, bcast=none wait(t2) signal(t3) ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): mov -> o3
    li r1, 262144                                                                                    ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): store o3 -> _gate_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r0 + 0x4400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t3) signal(t4) ; k0_matmul (matmul %_gate_MatMul_output_0 (/gate/MatMul)): store o3 -> _gate_MatMul_output_0
; kernel k1_softmax (softmax %_Softmax_output_0 (/Softmax))
    vpu.fill sram[r0 + 0x5100], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): fill -> count3
    dma.ld sram[r0 + 0x4800], hbm[r1 + 0x5000], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t4) signal(t5) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): load _gate_MatMul_output_0 -> x0
    vpu.rmax sram[r0 + 0x5000], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32 wait(t5)               ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rmax -> stat2
    vpu.sub sram[r0 + 0x4800], sram[r0 + 0x4800], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): sub -> x0
    vpu.exp sram[r0 + 0x4c00], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32, bcast=none             ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): exp -> out1
    vpu.rsum sram[r0 + 0x5000], sram[r0 + 0x4c00], rows=32, cols=4, dtype=f32                        ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rsum -> stat2
    vpu.rcp sram[r0 + 0x5000], sram[r0 + 0x5000], rows=32, cols=1, dtype=f32, bcast=none             ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rcp -> stat2
    vpu.mul sram[r0 + 0x4c00], sram[r0 + 0x4c00], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col signal(t6) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): mul -> out1
    dma.st hbm[r1 + 0x5200], sram[r0 + 0x4c00], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t6) signal(t7) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): store out1 -> _Softmax_output_0
; kernel k2_top_k (top_k %_TopK_output_0 (/TopK))
    vpu.fill sram[r0 + 0x5940], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k2_top_k (top_k %_TopK_output_0 (/TopK)): fill -> count3
    dma.ld sram[r0 + 0x5140], hbm[r1 + 0x5200], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t7) signal(t8) ; k2_top_k (top_k %_TopK_output_0 (/TopK)): load _Softmax_output_0 -> x0
    vpu.topk sram[r0 + 0x5540], sram[r0 + 0x5140], sram[r0 + 0x5740], rows=32, cols=4, dtype=f32, k=2 wait(t8) signal(t9) ; k2_top_k (top_k %_TopK_output_0 (/TopK)): topk -> out1
    dma.st hbm[r1 + 0x5000], sram[r0 + 0x5540], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t9)  ; k2_top_k (top_k %_TopK_output_0 (/TopK)): store out1 -> _TopK_output_0
    dma.st hbm[r1 + 0x5400], sram[r0 + 0x5740], rows=32, row_bytes=8, sstride=8, dstride=8           ; k2_top_k (top_k %_TopK_output_0 (/TopK)): store out2 -> _TopK_output_0_0
    halt                                                                                             ; end of program: wait for every unit
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4000 f32 [64, 4]
.region _gate_MatMul_output_0 0x45000 f32 [2, 16, 4]
.region _Softmax_output_0 0x45200 f32 [2, 16, 4]
.region _TopK_output_0 0x45000 f32 [2, 16, 2]
.region _TopK_output_0_0 0x45400 i32 [2, 16, 2]
.region _ScatterElements_output_0 0x45000 f32 [2, 16, 4]
.region _Mul_output_0 0x45400 f32 [2, 16, 4]
.region _ReduceSum_output_0 0x45000 f32 [2, 16, 1]
.region _Div_output_0 0x55000 f32 [2, 16, 4]
.region experts.0.fc1.weight 0x4400 f32 [64, 128]
.region _experts.0_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.0_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.0.fc1.bias 0xc400 f32 [128]
.region _experts.0_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.0.fc2.weight 0xc600 f32 [128, 64]
.region _experts.0_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.0_fc2_Add_output_0 0x4d000 f32 [2, 16, 64]
.region experts.0.fc2.bias 0x14600 f32 [64]
.region experts.1.fc1.weight 0x14700 f32 [64, 128]
.region _experts.1_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.1_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.1.fc1.bias 0x1c700 f32 [128]
.region _experts.1_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.1.fc2.weight 0x1c900 f32 [128, 64]
.region _experts.1_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.1_fc2_Add_output_0 0x4f000 f32 [2, 16, 64]
.region experts.1.fc2.bias 0x24900 f32 [64]
.region experts.2.fc1.weight 0x24a00 f32 [64, 128]
.region _experts.2_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.2_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.2.fc1.bias 0x2ca00 f32 [128]
.region _experts.2_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.2.fc2.weight 0x2cc00 f32 [128, 64]
.region _experts.2_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.2_fc2_Add_output_0 0x51000 f32 [2, 16, 64]
.region experts.2.fc2.bias 0x34c00 f32 [64]
.region experts.3.fc1.weight 0x34d00 f32 [64, 128]
.region _experts.3_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.3_fc1_Add_output_0 0x49000 f32 [2, 16, 128]
.region experts.3.fc1.bias 0x3cd00 f32 [128]
.region _experts.3_Relu_output_0 0x45000 f32 [2, 16, 128]
.region experts.3.fc2.weight 0x3cf00 f32 [128, 64]
.region _experts.3_fc2_MatMul_output_0 0x49000 f32 [2, 16, 64]
.region _experts.3_fc2_Add_output_0 0x53000 f32 [2, 16, 64]
.region experts.3.fc2.bias 0x44f00 f32 [64]
.region _Concat_output_0 0x45000 f32 [2, 16, 4, 64]
.region _Mul_1_output_0 0x4d000 f32 [2, 16, 4, 64]
.region output 0x2000 f32 [2, 16, 64]
; kernel k4_mul (mul %_Mul_output_0 (/Mul))
    li r1, 262144                                                                                    ; k4_mul (mul %_Mul_output_0 (/Mul)): load _Softmax_output_0 -> in0
    dma.ld sram[r0 + 0x5980], hbm[r1 + 0x5200], rows=1, row_bytes=512, sstride=0, dstride=0          ; k4_mul (mul %_Mul_output_0 (/Mul)): load _Softmax_output_0 -> in0
    dma.ld sram[r0 + 0x5d80], hbm[r1 + 0x5000], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t1) ; k4_mul (mul %_Mul_output_0 (/Mul)): load _ScatterElements_output_0 -> in1
    vpu.mul sram[r0 + 0x6180], sram[r0 + 0x5980], sram[r0 + 0x5d80], rows=1, cols=128, dtype=f32, bcast=none wait(t1) signal(t2) ; k4_mul (mul %_Mul_output_0 (/Mul)): mul -> out2
    dma.st hbm[r1 + 0x5400], sram[r0 + 0x6180], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t2) signal(t3) ; k4_mul (mul %_Mul_output_0 (/Mul)): store out2 -> _Mul_output_0
; kernel k5_reduce_sum (reduce_sum %_ReduceSum_output_0 (/ReduceSum))
    vpu.fill sram[r0 + 0x6a80], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k5_reduce_sum (reduce_sum %_ReduceSum_output_0 (/ReduceSum)): fill -> count2
    dma.ld sram[r0 + 0x6580], hbm[r1 + 0x5400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t3) signal(t4) ; k5_reduce_sum (reduce_sum %_ReduceSum_output_0 (/ReduceSum)): load _Mul_output_0 -> x0
    vpu.rsum sram[r0 + 0x6980], sram[r0 + 0x6580], rows=32, cols=4, dtype=f32 wait(t4) signal(t5)    ; k5_reduce_sum (reduce_sum %_ReduceSum_output_0 (/ReduceSum)): rsum -> out1
    dma.st hbm[r1 + 0x5000], sram[r0 + 0x6980], rows=1, row_bytes=128, sstride=0, dstride=0 wait(t5) signal(t6) ; k5_reduce_sum (reduce_sum %_ReduceSum_output_0 (/ReduceSum)): store out1 -> _ReduceSum_output_0
; kernel k6_div (div %_Div_output_0 (/Div))
    dma.ld sram[r0 + 0x6ac0], hbm[r1 + 0x5400], rows=32, row_bytes=16, sstride=16, dstride=16        ; k6_div (div %_Div_output_0 (/Div)): load _Mul_output_0 -> in0
    dma.ld sram[r0 + 0x6ec0], hbm[r1 + 0x5000], rows=1, row_bytes=128, sstride=0, dstride=0 wait(t6) signal(t7) ; k6_div (div %_Div_output_0 (/Div)): load _ReduceSum_output_0 -> in1
    vpu.div sram[r0 + 0x6fc0], sram[r0 + 0x6ac0], sram[r0 + 0x6ec0], rows=32, cols=4, dtype=f32, bcast=col wait(t7) signal(t8) ; k6_div (div %_Div_output_0 (/Div)): div -> out2
    li r2, 327680                                                                                    ; k6_div (div %_Div_output_0 (/Div)): store out2 -> _Div_output_0
    dma.st hbm[r2 + 0x5000], sram[r0 + 0x6fc0], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t8) ; k6_div (div %_Div_output_0 (/Div)): store out2 -> _Div_output_0
; kernel k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul))
    dma.ld sram[r0 + 0x73c0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r0 + 0xb3c0], hbm[r0 + 0x4400], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t9) ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): load experts.0.fc1.weight -> bres1
    mxu.mm acc[r0 + 0x400], sram[r0 + 0x73c0], sram[r0 + 0xb3c0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t9) signal(t10) ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x133c0], acc[r0 + 0x400], rows=32, cols=128, dtype=f32, bcast=none wait(t10) signal(t11) ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): mov -> o3
    li r3, 65536                                                                                     ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): store o3 -> _experts.0_fc1_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r3 + 0x33c0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t11) signal(t12) ; k7_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): store o3 -> _experts.0_fc1_MatMul_output_0
; kernel k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add))
    dma.ld sram[r3 + 0xb3c0], hbm[r0 + 0xc400], rows=1, row_bytes=512, sstride=0, dstride=0          ; k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add)): load experts.0.fc1.bias -> in0
    dma.ld sram[r3 + 0xb5c0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t12) signal(t13) ; k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add)): load _experts.0_fc1_MatMul_output_0 -> in1
    vpu.add sram[r0 + 0x235c0], sram[r0 + 0x1b5c0], sram[r0 + 0x1b3c0], rows=32, cols=128, dtype=f32, bcast=row wait(t13) signal(t14) ; k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add)): add -> out2
    li r4, 131072                                                                                    ; k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add)): store out2 -> _experts.0_fc1_Add_output_0
    dma.st hbm[r1 + 0x9000], sram[r4 + 0x35c0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t14) signal(t15) ; k8_add (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add)): store out2 -> _experts.0_fc1_Add_output_0
; kernel k9_relu (relu %_experts.0_Relu_output_0 (/experts.0/Relu))
    dma.ld sram[r4 + 0xb5c0], hbm[r1 + 0x9000], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t15) signal(t16) ; k9_relu (relu %_experts.0_Relu_output_0 (/experts.0/Relu)): load _experts.0_fc1_Add_output_0 -> in0
    vpu.maxs sram[r0 + 0x335c0], sram[r0 + 0x2b5c0], rows=2, cols=2048, dtype=f32, imm=0.0 wait(t16) signal(t17) ; k9_relu (relu %_experts.0_Relu_output_0 (/experts.0/Relu)): maxs -> out1
    li r5, 196608                                                                                    ; k9_relu (relu %_experts.0_Relu_output_0 (/experts.0/Relu)): store out1 -> _experts.0_Relu_output_0
    dma.st hbm[r1 + 0x5000], sram[r5 + 0x35c0], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t17) signal(t18) ; k9_relu (relu %_experts.0_Relu_output_0 (/experts.0/Relu)): store out1 -> _experts.0_Relu_output_0
; kernel k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul))
    dma.ld sram[r5 + 0xb5c0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t18) ; k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): load _experts.0_Relu_output_0 -> a0
    dma.ld sram[r1 + 0x35c0], hbm[r0 + 0xc600], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t19) ; k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): load experts.0.fc2.weight -> bres1
    mxu.mm acc[r0 + 0x8400], sram[r4 + 0x1b5c0], sram[r5 + 0x135c0], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t19) signal(t20) ; k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r3 + 0x3b5c0], acc[r0 + 0x8400], rows=32, cols=64, dtype=f32, bcast=none wait(t20) signal(t21) ; k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x9000], sram[r1 + 0xb5c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t21) signal(t22) ; k10_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): store o3 -> _experts.0_fc2_MatMul_output_0
; kernel k11_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add))
    dma.ld sram[r1 + 0xf5c0], hbm[r3 + 0x4600], rows=1, row_bytes=256, sstride=0, dstride=0          ; k11_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): load experts.0.fc2.bias -> in0
    dma.ld sram[r1 + 0xf6c0], hbm[r1 + 0x9000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t22) signal(t23) ; k11_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): load _experts.0_fc2_MatMul_output_0 -> in1
    vpu.add sram[r2 + 0x36c0], sram[r4 + 0x2f6c0], sram[r5 + 0x1f5c0], rows=32, cols=64, dtype=f32, bcast=row wait(t23) signal(t24) ; k11_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): add -> out2
    dma.st hbm[r1 + 0xd000], sram[r2 + 0x36c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t24) ; k11_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): store out2 -> _experts.0_fc2_Add_output_0
; kernel k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul))
    dma.ld sram[r2 + 0x76c0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r2 + 0xb6c0], hbm[r3 + 0x4700], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t25) ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): load experts.1.fc1.weight -> bres1
    mxu.mm acc[r0 + 0xc400], sram[r1 + 0x176c0], sram[r2 + 0xb6c0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t25) signal(t26) ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r5 + 0x336c0], acc[r0 + 0xc400], rows=32, cols=128, dtype=f32, bcast=none wait(t26) signal(t27) ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): mov -> o3
    li r6, 393216                                                                                    ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): store o3 -> _experts.1_fc1_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r6 + 0x36c0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t27) signal(t28) ; k12_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): store o3 -> _experts.1_fc1_MatMul_output_0
; kernel k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add))
    dma.ld sram[r6 + 0xb6c0], hbm[r3 + 0xc700], rows=1, row_bytes=512, sstride=0, dstride=0          ; k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add)): load experts.1.fc1.bias -> in0
    dma.ld sram[r6 + 0xb8c0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t28) signal(t29) ; k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add)): load _experts.1_fc1_MatMul_output_0 -> in1
    vpu.add sram[r2 + 0x238c0], sram[r5 + 0x3b8c0], sram[r6 + 0xb6c0], rows=32, cols=128, dtype=f32, bcast=row wait(t29) signal(t30) ; k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add)): add -> out2
    li r7, 458752                                                                                    ; k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add)): store out2 -> _experts.1_fc1_Add_output_0
    dma.st hbm[r1 + 0x9000], sram[r7 + 0x38c0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t30) signal(t31) ; k13_add (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add)): store out2 -> _experts.1_fc1_Add_output_0
; kernel k14_relu (relu %_experts.1_Relu_output_0 (/experts.1/Relu))
    dma.ld sram[r7 + 0xb8c0], hbm[r1 + 0x9000], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t31) signal(t1) ; k14_relu (relu %_experts.1_Relu_output_0 (/experts.1/Relu)): load _experts.1_fc1_Add_output_0 -> in0
    vpu.maxs sram[r2 + 0x338c0], sram[r6 + 0x1b8c0], rows=2, cols=2048, dtype=f32, imm=0.0 wait(t1) signal(t2) ; k14_relu (relu %_experts.1_Relu_output_0 (/experts.1/Relu)): maxs -> out1
    li r8, 524288                                                                                    ; k14_relu (relu %_experts.1_Relu_output_0 (/experts.1/Relu)): store out1 -> _experts.1_Relu_output_0
    dma.st hbm[r1 + 0x5000], sram[r8 + 0x38c0], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t2) signal(t3) ; k14_relu (relu %_experts.1_Relu_output_0 (/experts.1/Relu)): store out1 -> _experts.1_Relu_output_0
; kernel k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul))
    dma.ld sram[r8 + 0xb8c0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t3) ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load _experts.1_Relu_output_0 -> a0
    li r9, 589824                                                                                    ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load experts.1.fc2.weight -> bres1
    dma.ld sram[r9 + 0x38c0], hbm[r3 + 0xc900], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t4) ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load experts.1.fc2.weight -> bres1
    mxu.mm acc[r0 + 0x14400], sram[r7 + 0x1b8c0], sram[r8 + 0x138c0], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t4) signal(t5) ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r6 + 0x3b8c0], acc[r0 + 0x14400], rows=32, cols=64, dtype=f32, bcast=none wait(t5) signal(t6) ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x9000], sram[r9 + 0xb8c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t6) signal(t7) ; k15_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): store o3 -> _experts.1_fc2_MatMul_output_0
; kernel k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add))
    dma.ld sram[r9 + 0xf8c0], hbm[r4 + 0x4900], rows=1, row_bytes=256, sstride=0, dstride=0          ; k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): load experts.1.fc2.bias -> in0
    dma.ld sram[r9 + 0xf9c0], hbm[r1 + 0x9000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t7) signal(t8) ; k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): load _experts.1_fc2_MatMul_output_0 -> in1
    vpu.add sram[r7 + 0x339c0], sram[r8 + 0x1f9c0], sram[r6 + 0x3f8c0], rows=32, cols=64, dtype=f32, bcast=row wait(t8) signal(t9) ; k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): add -> out2
    li r10, 655360                                                                                   ; k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): store out2 -> _experts.1_fc2_Add_output_0
    dma.st hbm[r1 + 0xf000], sram[r10 + 0x39c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t9) ; k16_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): store out2 -> _experts.1_fc2_Add_output_0
; kernel k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul))
    dma.ld sram[r10 + 0x79c0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256       ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r10 + 0xb9c0], hbm[r4 + 0x4a00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t10) ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): load experts.2.fc1.weight -> bres1
    mxu.mm acc[r0 + 0x18400], sram[r9 + 0x179c0], sram[r10 + 0xb9c0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t10) signal(t11) ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r8 + 0x339c0], acc[r0 + 0x18400], rows=32, cols=128, dtype=f32, bcast=none wait(t11) signal(t12) ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): mov -> o3
    li r11, 720896                                                                                   ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): store o3 -> _experts.2_fc1_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r11 + 0x39c0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t12) signal(t13) ; k17_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): store o3 -> _experts.2_fc1_MatMul_output_0
; kernel k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add))
    dma.ld sram[r11 + 0xb9c0], hbm[r4 + 0xca00], rows=1, row_bytes=512, sstride=0, dstride=0         ; k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add)): load experts.2.fc1.bias -> in0
    dma.ld sram[r11 + 0xbbc0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t13) signal(t14) ; k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add)): load _experts.2_fc1_MatMul_output_0 -> in1
    vpu.add sram[r9 + 0x33bc0], sram[r10 + 0x1bbc0], sram[r8 + 0x3b9c0], rows=32, cols=128, dtype=f32, bcast=row wait(t14) signal(t15) ; k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add)): add -> out2
    li r12, 786432                                                                                   ; k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add)): store out2 -> _experts.2_fc1_Add_output_0
    dma.st hbm[r1 + 0x9000], sram[r12 + 0x3bc0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t15) signal(t16) ; k18_add (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add)): store out2 -> _experts.2_fc1_Add_output_0
; kernel k19_relu (relu %_experts.2_Relu_output_0 (/experts.2/Relu))
    dma.ld sram[r12 + 0xbbc0], hbm[r1 + 0x9000], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t16) signal(t17) ; k19_relu (relu %_experts.2_Relu_output_0 (/experts.2/Relu)): load _experts.2_fc1_Add_output_0 -> in0
    vpu.maxs sram[r11 + 0x23bc0], sram[r9 + 0x3bbc0], rows=2, cols=2048, dtype=f32, imm=0.0 wait(t17) signal(t18) ; k19_relu (relu %_experts.2_Relu_output_0 (/experts.2/Relu)): maxs -> out1
    li r13, 851968                                                                                   ; k19_relu (relu %_experts.2_Relu_output_0 (/experts.2/Relu)): store out1 -> _experts.2_Relu_output_0
    dma.st hbm[r1 + 0x5000], sram[r13 + 0x3bc0], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t18) signal(t19) ; k19_relu (relu %_experts.2_Relu_output_0 (/experts.2/Relu)): store out1 -> _experts.2_Relu_output_0
; kernel k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul))
    dma.ld sram[r13 + 0xbbc0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t19) ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load _experts.2_Relu_output_0 -> a0
    li r14, 917504                                                                                   ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load experts.2.fc2.weight -> bres1
    dma.ld sram[r14 + 0x3bc0], hbm[r4 + 0xcc00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t20) ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load experts.2.fc2.weight -> bres1
    mxu.mm acc[r3 + 0x10400], sram[r12 + 0x1bbc0], sram[r13 + 0x13bc0], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t20) signal(t21) ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r11 + 0x3bbc0], acc[r0 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t21) signal(t22) ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x9000], sram[r14 + 0xbbc0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t22) signal(t23) ; k20_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): store o3 -> _experts.2_fc2_MatMul_output_0
; kernel k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add))
    dma.ld sram[r14 + 0xfbc0], hbm[r5 + 0x4c00], rows=1, row_bytes=256, sstride=0, dstride=0         ; k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): load experts.2.fc2.bias -> in0
    dma.ld sram[r14 + 0xfcc0], hbm[r1 + 0x9000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t23) signal(t24) ; k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): load _experts.2_fc2_MatMul_output_0 -> in1
    vpu.add sram[r12 + 0x33cc0], sram[r13 + 0x1fcc0], sram[r11 + 0x3fbc0], rows=32, cols=64, dtype=f32, bcast=row wait(t24) signal(t25) ; k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): add -> out2
    li r15, 983040                                                                                   ; k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): store out2 -> _experts.2_fc2_Add_output_0
    dma.st hbm[r2 + 0x1000], sram[r15 + 0x3cc0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t25) ; k21_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): store out2 -> _experts.2_fc2_Add_output_0
; kernel k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul))
    dma.ld sram[r15 + 0x7cc0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256       ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r15 + 0xbcc0], hbm[r5 + 0x4d00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t26) ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): load experts.3.fc1.weight -> bres1
    mxu.mm acc[r4 + 0x4400], sram[r14 + 0x17cc0], sram[r15 + 0xbcc0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t26) signal(t27) ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r13 + 0x33cc0], acc[r0 + 0x24400], rows=32, cols=128, dtype=f32, bcast=none wait(t27) signal(t28) ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): mov -> o3
    li r16, 1048576                                                                                  ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): store o3 -> _experts.3_fc1_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r16 + 0x3cc0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t28) signal(t29) ; k22_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): store o3 -> _experts.3_fc1_MatMul_output_0
; kernel k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add))
    dma.ld sram[r16 + 0xbcc0], hbm[r5 + 0xcd00], rows=1, row_bytes=512, sstride=0, dstride=0         ; k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add)): load experts.3.fc1.bias -> in0
    dma.ld sram[r16 + 0xbec0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t29) signal(t30) ; k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add)): load _experts.3_fc1_MatMul_output_0 -> in1
    vpu.add sram[r14 + 0x33ec0], sram[r15 + 0x1bec0], sram[r13 + 0x3bcc0], rows=32, cols=128, dtype=f32, bcast=row wait(t30) signal(t31) ; k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add)): add -> out2
    li r17, 1114112                                                                                  ; k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add)): store out2 -> _experts.3_fc1_Add_output_0
    dma.st hbm[r1 + 0x9000], sram[r17 + 0x3ec0], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t31) signal(t1) ; k23_add (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add)): store out2 -> _experts.3_fc1_Add_output_0
; kernel k24_relu (relu %_experts.3_Relu_output_0 (/experts.3/Relu))
    dma.ld sram[r17 + 0xbec0], hbm[r1 + 0x9000], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t1) signal(t2) ; k24_relu (relu %_experts.3_Relu_output_0 (/experts.3/Relu)): load _experts.3_fc1_Add_output_0 -> in0
    vpu.maxs sram[r16 + 0x23ec0], sram[r14 + 0x3bec0], rows=2, cols=2048, dtype=f32, imm=0.0 wait(t2) signal(t3) ; k24_relu (relu %_experts.3_Relu_output_0 (/experts.3/Relu)): maxs -> out1
    li r18, 1179648                                                                                  ; k24_relu (relu %_experts.3_Relu_output_0 (/experts.3/Relu)): store out1 -> _experts.3_Relu_output_0
    dma.st hbm[r1 + 0x5000], sram[r18 + 0x3ec0], rows=2, row_bytes=8192, sstride=8192, dstride=8192 wait(t3) signal(t4) ; k24_relu (relu %_experts.3_Relu_output_0 (/experts.3/Relu)): store out1 -> _experts.3_Relu_output_0
; kernel k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul))
    dma.ld sram[r18 + 0xbec0], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t4) ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load _experts.3_Relu_output_0 -> a0
    li r19, 1245184                                                                                  ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load experts.3.fc2.weight -> bres1
    dma.ld sram[r19 + 0x3ec0], hbm[r5 + 0xcf00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t5) ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load experts.3.fc2.weight -> bres1
    mxu.mm acc[r3 + 0x1c400], sram[r17 + 0x1bec0], sram[r18 + 0x13ec0], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t5) signal(t6) ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r16 + 0x3bec0], acc[r0 + 0x2c400], rows=32, cols=64, dtype=f32, bcast=none wait(t6) signal(t7) ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x9000], sram[r19 + 0xbec0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t7) signal(t8) ; k25_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): store o3 -> _experts.3_fc2_MatMul_output_0
; kernel k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add))
    dma.ld sram[r19 + 0xfec0], hbm[r1 + 0x4f00], rows=1, row_bytes=256, sstride=0, dstride=0         ; k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): load experts.3.fc2.bias -> in0
    dma.ld sram[r19 + 0xffc0], hbm[r1 + 0x9000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t8) signal(t9) ; k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): load _experts.3_fc2_MatMul_output_0 -> in1
    vpu.add sram[r17 + 0x33fc0], sram[r18 + 0x1ffc0], sram[r16 + 0x3fec0], rows=32, cols=64, dtype=f32, bcast=row wait(t9) signal(t10) ; k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): add -> out2
    li r20, 1310720                                                                                  ; k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): store out2 -> _experts.3_fc2_Add_output_0
    dma.st hbm[r2 + 0x3000], sram[r20 + 0x3fc0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t10) ; k26_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): store out2 -> _experts.3_fc2_Add_output_0
; kernel k27_concat (concat %_Concat_output_0 (/Concat))
    dma.ld sram[r20 + 0x7fc0], hbm[r1 + 0xd000], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t11) ; k27_concat (concat %_Concat_output_0 (/Concat)): load _experts.0_fc2_Add_output_0 -> tile0
    dma.st hbm[r1 + 0x5000], sram[r20 + 0x7fc0], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t11) signal(t12) ; k27_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r20 + 0x7fc0], hbm[r1 + 0xf000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t12) signal(t13) ; k27_concat (concat %_Concat_output_0 (/Concat)): load _experts.1_fc2_Add_output_0 -> tile0
    dma.st hbm[r1 + 0x5100], sram[r20 + 0x7fc0], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t13) signal(t14) ; k27_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r20 + 0x7fc0], hbm[r2 + 0x1000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t14) signal(t15) ; k27_concat (concat %_Concat_output_0 (/Concat)): load _experts.2_fc2_Add_output_0 -> tile0
    dma.st hbm[r1 + 0x5200], sram[r20 + 0x7fc0], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t15) signal(t16) ; k27_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r20 + 0x7fc0], hbm[r2 + 0x3000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t16) signal(t17) ; k27_concat (concat %_Concat_output_0 (/Concat)): load _experts.3_fc2_Add_output_0 -> tile0
    dma.st hbm[r1 + 0x5300], sram[r20 + 0x7fc0], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t17) signal(t18) ; k27_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
; kernel k28_mul (mul %_Mul_1_output_0 (/Mul_1))
    dma.ld sram[r20 + 0x9fc0], hbm[r1 + 0x5000], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t18) ; k28_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Concat_output_0 -> in0
    li r21, 1409024                                                                                  ; k28_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Div_output_0 -> in1
    dma.ld sram[r21 + 0x1fc0], hbm[r2 + 0x5000], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t19) ; k28_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Div_output_0 -> in1
    vpu.mul sram[r19 + 0x2a3c0], sram[r17 + 0x39fc0], sram[r18 + 0x39fc0], rows=128, cols=64, dtype=f32, bcast=col wait(t19) signal(t20) ; k28_mul (mul %_Mul_1_output_0 (/Mul_1)): mul -> out2
    dma.st hbm[r1 + 0xd000], sram[r21 + 0x23c0], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t20) signal(t21) ; k28_mul (mul %_Mul_1_output_0 (/Mul_1)): store out2 -> _Mul_1_output_0
; kernel k29_reduce_sum (reduce_sum %output (/ReduceSum_1))
    li r22, 1474560                                                                                  ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> acc0
    dma.ld sram[r22 + 0x23c0], hbm[r1 + 0xd000], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t21) signal(t26) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> acc0
    dma.ld sram[r22 + 0x63c0], hbm[r1 + 0xd100], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t22) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r20 + 0x2a3c0], sram[r19 + 0x3a3c0], sram[r21 + 0x163c0], rows=32, cols=64, dtype=f32, bcast=none wait(t22) signal(t24) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.ld sram[r22 + 0x83c0], hbm[r1 + 0xd200], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t23) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r20 + 0x2a3c0], sram[r19 + 0x3a3c0], sram[r21 + 0x183c0], rows=32, cols=64, dtype=f32, bcast=none wait(t23) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.ld sram[r22 + 0x63c0], hbm[r1 + 0xd300], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t24) signal(t25) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r20 + 0x2a3c0], sram[r19 + 0x3a3c0], sram[r21 + 0x163c0], rows=32, cols=64, dtype=f32, bcast=none wait(t25) signal(t27) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.st hbm[r0 + 0x2000], sram[r22 + 0x23c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t26, t27) ; k29_reduce_sum (reduce_sum %output (/ReduceSum_1)): store acc0 -> output
    halt                                                                                             ; end of program: wait for every unit
