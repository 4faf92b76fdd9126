; ----- program segment 0 (steps 0..2)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4000 f32 [64, 4]
.region _gate_MatMul_output_0 0x45000 f32 [2, 16, 4]
.region _Softmax_output_0 0x45200 f32 [2, 16, 4]
.region _TopK_output_0 0x45000 f32 [2, 16, 2]
.region _TopK_output_0_0 0x45400 i32 [2, 16, 2]
.region _ScatterElements_output_0 0x45000 f32 [2, 16, 4]
.region _Div_output_0 0x55000 f32 [2, 16, 4]
.region experts.0.fc1.weight 0x4400 f32 [64, 128]
.region _experts.0_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.0_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.0.fc1.bias 0xc400 f32 [128]
.region experts.0.fc2.weight 0xc600 f32 [128, 64]
.region _experts.0_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.0_fc2_Add_output_0 0x4d000 f32 [2, 16, 64]
.region experts.0.fc2.bias 0x14600 f32 [64]
.region experts.1.fc1.weight 0x14700 f32 [64, 128]
.region _experts.1_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.1_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.1.fc1.bias 0x1c700 f32 [128]
.region experts.1.fc2.weight 0x1c900 f32 [128, 64]
.region _experts.1_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.1_fc2_Add_output_0 0x4f000 f32 [2, 16, 64]
.region experts.1.fc2.bias 0x24900 f32 [64]
.region experts.2.fc1.weight 0x24a00 f32 [64, 128]
.region _experts.2_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.2_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.2.fc1.bias 0x2ca00 f32 [128]
.region experts.2.fc2.weight 0x2cc00 f32 [128, 64]
.region _experts.2_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.2_fc2_Add_output_0 0x51000 f32 [2, 16, 64]
.region experts.2.fc2.bias 0x34c00 f32 [64]
.region experts.3.fc1.weight 0x34d00 f32 [64, 128]
.region _experts.3_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.3_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.3.fc1.bias 0x3cd00 f32 [128]
.region experts.3.fc2.weight 0x3cf00 f32 [128, 64]
.region _experts.3_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
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
; ----- program segment 1 (steps 4..23)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4000 f32 [64, 4]
.region _gate_MatMul_output_0 0x45000 f32 [2, 16, 4]
.region _Softmax_output_0 0x45200 f32 [2, 16, 4]
.region _TopK_output_0 0x45000 f32 [2, 16, 2]
.region _TopK_output_0_0 0x45400 i32 [2, 16, 2]
.region _ScatterElements_output_0 0x45000 f32 [2, 16, 4]
.region _Div_output_0 0x55000 f32 [2, 16, 4]
.region experts.0.fc1.weight 0x4400 f32 [64, 128]
.region _experts.0_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.0_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.0.fc1.bias 0xc400 f32 [128]
.region experts.0.fc2.weight 0xc600 f32 [128, 64]
.region _experts.0_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.0_fc2_Add_output_0 0x4d000 f32 [2, 16, 64]
.region experts.0.fc2.bias 0x14600 f32 [64]
.region experts.1.fc1.weight 0x14700 f32 [64, 128]
.region _experts.1_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.1_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.1.fc1.bias 0x1c700 f32 [128]
.region experts.1.fc2.weight 0x1c900 f32 [128, 64]
.region _experts.1_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.1_fc2_Add_output_0 0x4f000 f32 [2, 16, 64]
.region experts.1.fc2.bias 0x24900 f32 [64]
.region experts.2.fc1.weight 0x24a00 f32 [64, 128]
.region _experts.2_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.2_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.2.fc1.bias 0x2ca00 f32 [128]
.region experts.2.fc2.weight 0x2cc00 f32 [128, 64]
.region _experts.2_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.2_fc2_Add_output_0 0x51000 f32 [2, 16, 64]
.region experts.2.fc2.bias 0x34c00 f32 [64]
.region experts.3.fc1.weight 0x34d00 f32 [64, 128]
.region _experts.3_fc1_MatMul_output_0 0x45000 f32 [2, 16, 128]
.region _experts.3_Relu_output_0 0x49000 f32 [2, 16, 128]
.region experts.3.fc1.bias 0x3cd00 f32 [128]
.region experts.3.fc2.weight 0x3cf00 f32 [128, 64]
.region _experts.3_fc2_MatMul_output_0 0x45000 f32 [2, 16, 64]
.region _experts.3_fc2_Add_output_0 0x53000 f32 [2, 16, 64]
.region experts.3.fc2.bias 0x44f00 f32 [64]
.region _Concat_output_0 0x45000 f32 [2, 16, 4, 64]
.region _Mul_1_output_0 0x4d000 f32 [2, 16, 4, 64]
.region output 0x2000 f32 [2, 16, 64]
; kernel k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div))
    li r1, 262144                                                                                    ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): load _Softmax_output_0 -> in0
    dma.ld sram[r0 + 0x5980], hbm[r1 + 0x5200], rows=32, row_bytes=16, sstride=16, dstride=16        ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): load _Softmax_output_0 -> in0
    dma.ld sram[r0 + 0x5d80], hbm[r1 + 0x5000], rows=32, row_bytes=16, sstride=16, dstride=16 signal(t1) ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): load _ScatterElements_output_0 -> in1
    vpu.mul sram[r0 + 0x6180], sram[r0 + 0x5980], sram[r0 + 0x5d80], rows=32, cols=4, dtype=f32, bcast=none wait(t1) ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): mul -> v2
    vpu.rsum sram[r0 + 0x6580], sram[r0 + 0x6180], rows=32, cols=4, dtype=f32                        ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): rsum -> v3
    vpu.div sram[r0 + 0x6680], sram[r0 + 0x6180], sram[r0 + 0x6580], rows=32, cols=4, dtype=f32, bcast=col signal(t2) ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): div -> out4
    li r2, 327680                                                                                    ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): store out4 -> _Div_output_0
    dma.st hbm[r2 + 0x5000], sram[r0 + 0x6680], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t2) ; k4_fused_mul_div (mul %_Mul_output_0 (/Mul), reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): store out4 -> _Div_output_0
; kernel k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul))
    dma.ld sram[r0 + 0x6e80], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r0 + 0xae80], hbm[r0 + 0x4400], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t3) ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): load experts.0.fc1.weight -> bres1
    mxu.mm acc[r0 + 0x400], sram[r0 + 0x6e80], sram[r0 + 0xae80], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t3) signal(t4) ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x12e80], acc[r0 + 0x400], rows=32, cols=128, dtype=f32, bcast=none wait(t4) signal(t5) ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): mov -> o3
    li r3, 65536                                                                                     ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): store o3 -> _experts.0_fc1_MatMul_output_0
    dma.st hbm[r1 + 0x5000], sram[r3 + 0x2e80], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t5) signal(t6) ; k5_matmul (matmul %_experts.0_fc1_MatMul_output_0 (/experts.0/fc1/MatMul)): store o3 -> _experts.0_fc1_MatMul_output_0
; kernel k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu))
    dma.ld sram[r3 + 0xae80], hbm[r0 + 0xc400], rows=1, row_bytes=512, sstride=0, dstride=0          ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): load experts.0.fc1.bias -> in0
    dma.ld sram[r3 + 0xb080], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t6) signal(t7) ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): load _experts.0_fc1_MatMul_output_0 -> in1
    vpu.add sram[r0 + 0x23080], sram[r0 + 0x1b080], sram[r0 + 0x1ae80], rows=32, cols=128, dtype=f32, bcast=row wait(t7) ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): add -> v2
    vpu.maxs sram[r0 + 0x2b080], sram[r0 + 0x23080], rows=32, cols=128, dtype=f32, imm=0.0 signal(t8) ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): maxs -> out3
    li r4, 163840                                                                                    ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): store out3 -> _experts.0_Relu_output_0
    dma.st hbm[r1 + 0x9000], sram[r4 + 0x3080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t8) signal(t9) ; k6_fused_add_relu (add %_experts.0_fc1_Add_output_0 (/experts.0/fc1/Add), relu %_experts.0_Relu_output_0 (/experts.0/Relu)): store out3 -> _experts.0_Relu_output_0
; kernel k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul))
    dma.ld sram[r4 + 0xb080], hbm[r1 + 0x9000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t9) ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): load _experts.0_Relu_output_0 -> a0
    li r5, 229376                                                                                    ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): load experts.0.fc2.weight -> bres1
    dma.ld sram[r5 + 0x3080], hbm[r0 + 0xc600], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t10) ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): load experts.0.fc2.weight -> bres1
    mxu.mm acc[r0 + 0x8400], sram[r4 + 0xb080], sram[r5 + 0x3080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t10) signal(t11) ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r3 + 0x33080], acc[r0 + 0x8400], rows=32, cols=64, dtype=f32, bcast=none wait(t11) signal(t12) ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x5000], sram[r5 + 0xb080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t12) signal(t13) ; k7_matmul (matmul %_experts.0_fc2_MatMul_output_0 (/experts.0/fc2/MatMul)): store o3 -> _experts.0_fc2_MatMul_output_0
; kernel k8_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add))
    dma.ld sram[r1 + 0x7080], hbm[r3 + 0x4600], rows=1, row_bytes=256, sstride=0, dstride=0          ; k8_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): load experts.0.fc2.bias -> in0
    dma.ld sram[r5 + 0xf180], hbm[r1 + 0x5000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t13) signal(t14) ; k8_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): load _experts.0_fc2_MatMul_output_0 -> in1
    vpu.add sram[r4 + 0x23180], sram[r3 + 0x37180], sram[r5 + 0xf080], rows=32, cols=64, dtype=f32, bcast=row wait(t14) signal(t15) ; k8_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): add -> out2
    dma.st hbm[r1 + 0xd000], sram[r1 + 0xb180], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t15) ; k8_add (add %_experts.0_fc2_Add_output_0 (/experts.0/fc2/Add)): store out2 -> _experts.0_fc2_Add_output_0
; kernel k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul))
    dma.ld sram[r1 + 0xf180], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r2 + 0x3180], hbm[r3 + 0x4700], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t16) ; k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): load experts.1.fc1.weight -> bres1
    mxu.mm acc[r0 + 0xc400], sram[r5 + 0x17180], sram[r1 + 0x13180], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t16) signal(t17) ; k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r4 + 0x33180], acc[r0 + 0xc400], rows=32, cols=128, dtype=f32, bcast=none wait(t17) signal(t18) ; k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): mov -> o3
    dma.st hbm[r5 + 0xd000], sram[r2 + 0xb180], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t18) signal(t19) ; k9_matmul (matmul %_experts.1_fc1_MatMul_output_0 (/experts.1/fc1/MatMul)): store o3 -> _experts.1_fc1_MatMul_output_0
; kernel k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu))
    li r6, 393216                                                                                    ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): load experts.1.fc1.bias -> in0
    dma.ld sram[r6 + 0x3180], hbm[r3 + 0xc700], rows=1, row_bytes=512, sstride=0, dstride=0          ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): load experts.1.fc1.bias -> in0
    dma.ld sram[r6 + 0x3380], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t19) signal(t20) ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): load _experts.1_fc1_MatMul_output_0 -> in1
    vpu.add sram[r5 + 0x33380], sram[r4 + 0x3b380], sram[r2 + 0x13180], rows=32, cols=128, dtype=f32, bcast=row wait(t20) ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): add -> v2
    vpu.maxs sram[r6 + 0x13380], sram[r1 + 0x2b380], rows=32, cols=128, dtype=f32, imm=0.0 signal(t21) ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): maxs -> out3
    li r7, 458752                                                                                    ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): store out3 -> _experts.1_Relu_output_0
    dma.st hbm[r1 + 0x9000], sram[r7 + 0x3380], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t21) signal(t22) ; k10_fused_add_relu (add %_experts.1_fc1_Add_output_0 (/experts.1/fc1/Add), relu %_experts.1_Relu_output_0 (/experts.1/Relu)): store out3 -> _experts.1_Relu_output_0
; kernel k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul))
    dma.ld sram[r7 + 0xb380], hbm[r1 + 0x9000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t22) ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load _experts.1_Relu_output_0 -> a0
    li r8, 524288                                                                                    ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load experts.1.fc2.weight -> bres1
    dma.ld sram[r8 + 0x3380], hbm[r3 + 0xc900], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t23) ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): load experts.1.fc2.weight -> bres1
    mxu.mm acc[r0 + 0x14400], sram[r6 + 0x1b380], sram[r7 + 0x13380], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t23) signal(t24) ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r2 + 0x3b380], acc[r0 + 0x14400], rows=32, cols=64, dtype=f32, bcast=none wait(t24) signal(t25) ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): mov -> o3
    dma.st hbm[r5 + 0xd000], sram[r8 + 0xb380], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t25) signal(t26) ; k11_matmul (matmul %_experts.1_fc2_MatMul_output_0 (/experts.1/fc2/MatMul)): store o3 -> _experts.1_fc2_MatMul_output_0
; kernel k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add))
    li r9, 131072                                                                                    ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): load experts.1.fc2.bias -> in0
    dma.ld sram[r8 + 0xf380], hbm[r9 + 0x4900], rows=1, row_bytes=256, sstride=0, dstride=0          ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): load experts.1.fc2.bias -> in0
    dma.ld sram[r8 + 0xf480], hbm[r1 + 0x5000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t26) signal(t27) ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): load _experts.1_fc2_MatMul_output_0 -> in1
    vpu.add sram[r6 + 0x33480], sram[r7 + 0x1f480], sram[r2 + 0x3f380], rows=32, cols=64, dtype=f32, bcast=row wait(t27) signal(t28) ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): add -> out2
    li r10, 589824                                                                                   ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): store out2 -> _experts.1_fc2_Add_output_0
    dma.st hbm[r1 + 0xf000], sram[r10 + 0x3480], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t28) ; k12_add (add %_experts.1_fc2_Add_output_0 (/experts.1/fc2/Add)): store out2 -> _experts.1_fc2_Add_output_0
; kernel k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul))
    dma.ld sram[r10 + 0x7480], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256       ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r10 + 0xb480], hbm[r9 + 0x4a00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t29) ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): load experts.2.fc1.weight -> bres1
    mxu.mm acc[r0 + 0x18400], sram[r8 + 0x17480], sram[r10 + 0xb480], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t29) signal(t30) ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r7 + 0x33480], acc[r0 + 0x18400], rows=32, cols=128, dtype=f32, bcast=none wait(t30) signal(t31) ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): mov -> o3
    li r11, 655360                                                                                   ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): store o3 -> _experts.2_fc1_MatMul_output_0
    dma.st hbm[r5 + 0xd000], sram[r11 + 0x3480], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t31) signal(t1) ; k13_matmul (matmul %_experts.2_fc1_MatMul_output_0 (/experts.2/fc1/MatMul)): store o3 -> _experts.2_fc1_MatMul_output_0
; kernel k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu))
    dma.ld sram[r11 + 0xb480], hbm[r4 + 0x4a00], rows=1, row_bytes=512, sstride=0, dstride=0         ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): load experts.2.fc1.bias -> in0
    dma.ld sram[r11 + 0xb680], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t1) signal(t2) ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): load _experts.2_fc1_MatMul_output_0 -> in1
    vpu.add sram[r8 + 0x33680], sram[r10 + 0x1b680], sram[r7 + 0x3b480], rows=32, cols=128, dtype=f32, bcast=row wait(t2) ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): add -> v2
    vpu.maxs sram[r11 + 0x1b680], sram[r8 + 0x33680], rows=32, cols=128, dtype=f32, imm=0.0 signal(t3) ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): maxs -> out3
    li r12, 753664                                                                                   ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): store out3 -> _experts.2_Relu_output_0
    dma.st hbm[r1 + 0x9000], sram[r12 + 0x3680], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t3) signal(t4) ; k14_fused_add_relu (add %_experts.2_fc1_Add_output_0 (/experts.2/fc1/Add), relu %_experts.2_Relu_output_0 (/experts.2/Relu)): store out3 -> _experts.2_Relu_output_0
; kernel k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul))
    dma.ld sram[r12 + 0xb680], hbm[r1 + 0x9000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t4) ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load _experts.2_Relu_output_0 -> a0
    li r13, 819200                                                                                   ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load experts.2.fc2.weight -> bres1
    dma.ld sram[r13 + 0x3680], hbm[r9 + 0xcc00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t5) ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): load experts.2.fc2.weight -> bres1
    mxu.mm acc[r3 + 0x10400], sram[r12 + 0xb680], sram[r13 + 0x3680], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t5) signal(t6) ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r11 + 0x33680], acc[r0 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t6) signal(t7) ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): mov -> o3
    dma.st hbm[r5 + 0xd000], sram[r13 + 0xb680], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t7) signal(t8) ; k15_matmul (matmul %_experts.2_fc2_MatMul_output_0 (/experts.2/fc2/MatMul)): store o3 -> _experts.2_fc2_MatMul_output_0
; kernel k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add))
    dma.ld sram[r13 + 0xf680], hbm[r4 + 0xcc00], rows=1, row_bytes=256, sstride=0, dstride=0         ; k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): load experts.2.fc2.bias -> in0
    dma.ld sram[r13 + 0xf780], hbm[r1 + 0x5000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t8) signal(t9) ; k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): load _experts.2_fc2_MatMul_output_0 -> in1
    vpu.add sram[r12 + 0x23780], sram[r11 + 0x37780], sram[r13 + 0xf680], rows=32, cols=64, dtype=f32, bcast=row wait(t9) signal(t10) ; k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): add -> out2
    li r14, 884736                                                                                   ; k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): store out2 -> _experts.2_fc2_Add_output_0
    dma.st hbm[r2 + 0x1000], sram[r14 + 0x3780], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t10) ; k16_add (add %_experts.2_fc2_Add_output_0 (/experts.2/fc2/Add)): store out2 -> _experts.2_fc2_Add_output_0
; kernel k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul))
    dma.ld sram[r14 + 0x7780], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256       ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): load hidden_states -> a0
    dma.ld sram[r14 + 0xb780], hbm[r4 + 0xcd00], rows=64, row_bytes=512, sstride=512, dstride=512 signal(t11) ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): load experts.3.fc1.weight -> bres1
    mxu.mm acc[r9 + 0x4400], sram[r13 + 0x17780], sram[r14 + 0xb780], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t11) signal(t12) ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r12 + 0x33780], acc[r0 + 0x24400], rows=32, cols=128, dtype=f32, bcast=none wait(t12) signal(t13) ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): mov -> o3
    li r15, 950272                                                                                   ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): store o3 -> _experts.3_fc1_MatMul_output_0
    dma.st hbm[r5 + 0xd000], sram[r15 + 0x3780], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t13) signal(t14) ; k17_matmul (matmul %_experts.3_fc1_MatMul_output_0 (/experts.3/fc1/MatMul)): store o3 -> _experts.3_fc1_MatMul_output_0
; kernel k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu))
    dma.ld sram[r15 + 0xb780], hbm[r5 + 0x4d00], rows=1, row_bytes=512, sstride=0, dstride=0         ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): load experts.3.fc1.bias -> in0
    dma.ld sram[r15 + 0xb980], hbm[r1 + 0x5000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t14) signal(t15) ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): load _experts.3_fc1_MatMul_output_0 -> in1
    vpu.add sram[r13 + 0x33980], sram[r14 + 0x1b980], sram[r12 + 0x3b780], rows=32, cols=128, dtype=f32, bcast=row wait(t15) ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): add -> v2
    vpu.maxs sram[r15 + 0x1b980], sram[r13 + 0x33980], rows=32, cols=128, dtype=f32, imm=0.0 signal(t16) ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): maxs -> out3
    li r16, 1048576                                                                                  ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): store out3 -> _experts.3_Relu_output_0
    dma.st hbm[r1 + 0x9000], sram[r16 + 0x3980], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t16) signal(t17) ; k18_fused_add_relu (add %_experts.3_fc1_Add_output_0 (/experts.3/fc1/Add), relu %_experts.3_Relu_output_0 (/experts.3/Relu)): store out3 -> _experts.3_Relu_output_0
; kernel k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul))
    dma.ld sram[r16 + 0xb980], hbm[r1 + 0x9000], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t17) ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load _experts.3_Relu_output_0 -> a0
    li r17, 1114112                                                                                  ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load experts.3.fc2.weight -> bres1
    dma.ld sram[r17 + 0x3980], hbm[r5 + 0x4f00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t18) ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): load experts.3.fc2.weight -> bres1
    mxu.mm acc[r3 + 0x1c400], sram[r16 + 0xb980], sram[r17 + 0x3980], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t18) signal(t19) ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r15 + 0x33980], acc[r0 + 0x2c400], rows=32, cols=64, dtype=f32, bcast=none wait(t19) signal(t20) ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): mov -> o3
    dma.st hbm[r1 + 0x5000], sram[r17 + 0xb980], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t20) signal(t21) ; k19_matmul (matmul %_experts.3_fc2_MatMul_output_0 (/experts.3/fc2/MatMul)): store o3 -> _experts.3_fc2_MatMul_output_0
; kernel k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add))
    dma.ld sram[r17 + 0xf980], hbm[r5 + 0xcf00], rows=1, row_bytes=256, sstride=0, dstride=0         ; k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): load experts.3.fc2.bias -> in0
    dma.ld sram[r17 + 0xfa80], hbm[r1 + 0x5000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t21) signal(t22) ; k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): load _experts.3_fc2_MatMul_output_0 -> in1
    vpu.add sram[r16 + 0x23a80], sram[r15 + 0x37a80], sram[r17 + 0xf980], rows=32, cols=64, dtype=f32, bcast=row wait(t22) signal(t23) ; k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): add -> out2
    li r18, 1179648                                                                                  ; k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): store out2 -> _experts.3_fc2_Add_output_0
    dma.st hbm[r2 + 0x3000], sram[r18 + 0x3a80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t23) ; k20_add (add %_experts.3_fc2_Add_output_0 (/experts.3/fc2/Add)): store out2 -> _experts.3_fc2_Add_output_0
; kernel k21_concat (concat %_Concat_output_0 (/Concat))
    dma.ld sram[r18 + 0x7a80], hbm[r1 + 0xd000], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t24) ; k21_concat (concat %_Concat_output_0 (/Concat)): load _experts.0_fc2_Add_output_0 -> tile0
    dma.st hbm[r5 + 0xd000], sram[r18 + 0x7a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t24) signal(t25) ; k21_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r18 + 0x7a80], hbm[r1 + 0xf000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t25) signal(t26) ; k21_concat (concat %_Concat_output_0 (/Concat)): load _experts.1_fc2_Add_output_0 -> tile0
    dma.st hbm[r5 + 0xd100], sram[r18 + 0x7a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t26) signal(t27) ; k21_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r18 + 0x7a80], hbm[r2 + 0x1000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t27) signal(t28) ; k21_concat (concat %_Concat_output_0 (/Concat)): load _experts.2_fc2_Add_output_0 -> tile0
    dma.st hbm[r1 + 0x5200], sram[r18 + 0x7a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t28) signal(t29) ; k21_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
    dma.ld sram[r18 + 0x7a80], hbm[r2 + 0x3000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t30) ; k21_concat (concat %_Concat_output_0 (/Concat)): load _experts.3_fc2_Add_output_0 -> tile0
    dma.st hbm[r5 + 0xd300], sram[r18 + 0x7a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t30) signal(t31) ; k21_concat (concat %_Concat_output_0 (/Concat)): store tile0 -> _Concat_output_0
; kernel k22_mul (mul %_Mul_1_output_0 (/Mul_1))
    dma.ld sram[r18 + 0x9a80], hbm[r1 + 0x5000], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t31) ; k22_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Concat_output_0 -> in0
    li r19, 1277952                                                                                  ; k22_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Div_output_0 -> in1
    dma.ld sram[r19 + 0x1a80], hbm[r2 + 0x5000], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t1) ; k22_mul (mul %_Mul_1_output_0 (/Mul_1)): load _Div_output_0 -> in1
    vpu.mul sram[r16 + 0x39e80], sram[r17 + 0x19a80], sram[r18 + 0x19a80], rows=128, cols=64, dtype=f32, bcast=col wait(t1) signal(t2) ; k22_mul (mul %_Mul_1_output_0 (/Mul_1)): mul -> out2
    dma.st hbm[r1 + 0xd000], sram[r19 + 0x1e80], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t2) signal(t3) ; k22_mul (mul %_Mul_1_output_0 (/Mul_1)): store out2 -> _Mul_1_output_0
; kernel k23_reduce_sum (reduce_sum %output (/ReduceSum_1))
    li r20, 1343488                                                                                  ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> acc0
    dma.ld sram[r20 + 0x1e80], hbm[r1 + 0xd000], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t3) signal(t8) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> acc0
    dma.ld sram[r20 + 0x5e80], hbm[r1 + 0xd100], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t4) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r17 + 0x39e80], sram[r18 + 0x29e80], sram[r19 + 0x15e80], rows=32, cols=64, dtype=f32, bcast=none wait(t4) signal(t6) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.ld sram[r20 + 0x7e80], hbm[r1 + 0xd200], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t5) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r17 + 0x39e80], sram[r18 + 0x29e80], sram[r19 + 0x17e80], rows=32, cols=64, dtype=f32, bcast=none wait(t5) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.ld sram[r20 + 0x5e80], hbm[r1 + 0xd300], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t6) signal(t7) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): load _Mul_1_output_0 -> plane1
    vpu.add sram[r17 + 0x39e80], sram[r18 + 0x29e80], sram[r19 + 0x15e80], rows=32, cols=64, dtype=f32, bcast=none wait(t7) signal(t9) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): add -> acc0
    dma.st hbm[r0 + 0x2000], sram[r20 + 0x1e80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t8, t9) ; k23_reduce_sum (reduce_sum %output (/ReduceSum_1)): store acc0 -> output
    halt                                                                                             ; end of program: wait for every unit
