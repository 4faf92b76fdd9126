; ----- program segment 0 (steps 0..3)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region router.weight 0x4000 f32 [64, 4]
.region _router_MatMul_output_0 0x64400 f32 [32, 4]
.region _Softmax_output_0 0x64600 f32 [32, 4]
.region _TopK_output_0 0x64400 f32 [32, 2]
.region _TopK_output_0_0 0x64500 i32 [32, 2]
.region _Div_output_0 0x64600 f32 [32, 2]
.region _ScatterElements_output_0 0x94400 f32 [32, 4]
.region reshape 0x4400 f32 [64, 512]
.region matmul 0x64400 f32 [32, 512]
.region reshape_3 0x24400 f32 [64, 512]
.region matmul_4 0x74400 f32 [32, 512]
.region _experts_Mul_1_output_0 0x84400 f32 [32, 4, 128]
.region transpose_6 0x64400 f32 [4, 32, 128]
.region experts.w_down 0x44400 f32 [4, 128, 64]
.region matmul_7 0x74400 f32 [4, 32, 64]
.region _experts_Einsum_2_output_0 0x64400 f32 [32, 4, 64]
.region mul 0x6c400 f32 [32, 4, 64]
.region _Einsum_output_0 0x2000 f32 [32, 64]
; kernel k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul))
    dma.ld sram[r0 + 0x0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256           ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): load hidden_states -> a0
    dma.ld sram[r0 + 0x4000], hbm[r0 + 0x4000], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): load router.weight -> bres1
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x0], sram[r0 + 0x4000], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x4400], acc[r0 + 0x0], rows=32, cols=4, dtype=f32, bcast=none wait(t2) signal(t3) ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): mov -> o3
    li r1, 393216                                                                                    ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): store o3 -> _router_MatMul_output_0
    dma.st hbm[r1 + 0x4400], sram[r0 + 0x4400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t3) signal(t4) ; k0_matmul (matmul %_router_MatMul_output_0 (/router/MatMul)): store o3 -> _router_MatMul_output_0
; kernel k1_softmax (softmax %_Softmax_output_0 (/Softmax))
    vpu.fill sram[r0 + 0x5100], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): fill -> count3
    dma.ld sram[r0 + 0x4800], hbm[r1 + 0x4400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t4) signal(t5) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): load _router_MatMul_output_0 -> x0
    vpu.rmax sram[r0 + 0x5000], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32 wait(t5)               ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rmax -> stat2
    vpu.sub sram[r0 + 0x4800], sram[r0 + 0x4800], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): sub -> x0
    vpu.exp sram[r0 + 0x4c00], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32, bcast=none             ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): exp -> out1
    vpu.rsum sram[r0 + 0x5000], sram[r0 + 0x4c00], rows=32, cols=4, dtype=f32                        ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rsum -> stat2
    vpu.rcp sram[r0 + 0x5000], sram[r0 + 0x5000], rows=32, cols=1, dtype=f32, bcast=none             ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): rcp -> stat2
    vpu.mul sram[r0 + 0x4c00], sram[r0 + 0x4c00], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col signal(t6) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): mul -> out1
    dma.st hbm[r1 + 0x4600], sram[r0 + 0x4c00], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t6) signal(t7) ; k1_softmax (softmax %_Softmax_output_0 (/Softmax)): store out1 -> _Softmax_output_0
; kernel k2_top_k (top_k %_TopK_output_0 (/TopK))
    vpu.fill sram[r0 + 0x5940], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k2_top_k (top_k %_TopK_output_0 (/TopK)): fill -> count3
    dma.ld sram[r0 + 0x5140], hbm[r1 + 0x4600], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t7) signal(t8) ; k2_top_k (top_k %_TopK_output_0 (/TopK)): load _Softmax_output_0 -> x0
    vpu.topk sram[r0 + 0x5540], sram[r0 + 0x5140], sram[r0 + 0x5740], rows=32, cols=4, dtype=f32, k=2 wait(t8) signal(t9) ; k2_top_k (top_k %_TopK_output_0 (/TopK)): topk -> out1
    dma.st hbm[r1 + 0x4400], sram[r0 + 0x5540], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t9) signal(t10) ; k2_top_k (top_k %_TopK_output_0 (/TopK)): store out1 -> _TopK_output_0
    dma.st hbm[r1 + 0x4500], sram[r0 + 0x5740], rows=32, row_bytes=8, sstride=8, dstride=8           ; k2_top_k (top_k %_TopK_output_0 (/TopK)): store out2 -> _TopK_output_0_0
; kernel k3_fused_reduce_sum_div (reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div))
    dma.ld sram[r0 + 0x5980], hbm[r1 + 0x4400], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t10) signal(t11) ; k3_fused_reduce_sum_div (reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): load _TopK_output_0 -> in0
    vpu.rsum sram[r0 + 0x5b80], sram[r0 + 0x5980], rows=32, cols=2, dtype=f32 wait(t11)              ; k3_fused_reduce_sum_div (reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): rsum -> v1
    vpu.div sram[r0 + 0x5c80], sram[r0 + 0x5980], sram[r0 + 0x5b80], rows=32, cols=2, dtype=f32, bcast=col signal(t12) ; k3_fused_reduce_sum_div (reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): div -> out2
    dma.st hbm[r1 + 0x4600], sram[r0 + 0x5c80], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t12) ; k3_fused_reduce_sum_div (reduce_sum %_ReduceSum_output_0 (/ReduceSum), div %_Div_output_0 (/Div)): store out2 -> _Div_output_0
    halt                                                                                             ; end of program: wait for every unit
; ----- program segment 1 (steps 5..12)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region router.weight 0x4000 f32 [64, 4]
.region _router_MatMul_output_0 0x64400 f32 [32, 4]
.region _Softmax_output_0 0x64600 f32 [32, 4]
.region _TopK_output_0 0x64400 f32 [32, 2]
.region _TopK_output_0_0 0x64500 i32 [32, 2]
.region _Div_output_0 0x64600 f32 [32, 2]
.region _ScatterElements_output_0 0x94400 f32 [32, 4]
.region reshape 0x4400 f32 [64, 512]
.region matmul 0x64400 f32 [32, 512]
.region reshape_3 0x24400 f32 [64, 512]
.region matmul_4 0x74400 f32 [32, 512]
.region _experts_Mul_1_output_0 0x84400 f32 [32, 4, 128]
.region transpose_6 0x64400 f32 [4, 32, 128]
.region experts.w_down 0x44400 f32 [4, 128, 64]
.region matmul_7 0x74400 f32 [4, 32, 64]
.region _experts_Einsum_2_output_0 0x64400 f32 [32, 4, 64]
.region mul 0x6c400 f32 [32, 4, 64]
.region _Einsum_output_0 0x2000 f32 [32, 64]
; kernel k5_matmul (matmul %matmul (/experts/Einsum))
    dma.ld sram[r0 + 0x6080], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k5_matmul (matmul %matmul (/experts/Einsum)): load hidden_states -> a0
    dma.ld sram[r0 + 0xa080], hbm[r0 + 0x4400], rows=64, row_bytes=2048, sstride=2048, dstride=2048 signal(t1) ; k5_matmul (matmul %matmul (/experts/Einsum)): load reshape -> bres1
    mxu.mm acc[r0 + 0x400], sram[r0 + 0x6080], sram[r0 + 0xa080], m=32, k=64, n=512, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k5_matmul (matmul %matmul (/experts/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x2a080], acc[r0 + 0x400], rows=32, cols=512, dtype=f32, bcast=none wait(t2) signal(t3) ; k5_matmul (matmul %matmul (/experts/Einsum)): mov -> o3
    li r1, 393216                                                                                    ; k5_matmul (matmul %matmul (/experts/Einsum)): store o3 -> matmul
    li r2, 163840                                                                                    ; k5_matmul (matmul %matmul (/experts/Einsum)): store o3 -> matmul
    dma.st hbm[r1 + 0x4400], sram[r2 + 0x2080], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t3) signal(t7) ; k5_matmul (matmul %matmul (/experts/Einsum)): store o3 -> matmul
; kernel k6_matmul (matmul %matmul_4 (/experts/Einsum_1))
    li r3, 294912                                                                                    ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): load hidden_states -> a0
    dma.ld sram[r3 + 0x2080], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): load hidden_states -> a0
    li r4, 131072                                                                                    ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): load reshape_3 -> bres1
    dma.ld sram[r3 + 0x6080], hbm[r4 + 0x4400], rows=64, row_bytes=2048, sstride=2048, dstride=2048 signal(t4) ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): load reshape_3 -> bres1
    mxu.mm acc[r4 + 0x400], sram[r3 + 0x2080], sram[r3 + 0x6080], m=32, k=64, n=512, dtype=f32, acc=0, tw=0 wait(t4) signal(t5) ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r1 + 0xe080], acc[r0 + 0x20400], rows=32, cols=512, dtype=f32, bcast=none wait(t5) signal(t6) ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): mov -> o3
    li r5, 458752                                                                                    ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): store o3 -> matmul_4
    dma.st hbm[r5 + 0x4400], sram[r1 + 0xe080], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t6) signal(t8) ; k6_matmul (matmul %matmul_4 (/experts/Einsum_1)): store o3 -> matmul_4
; kernel k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1))
    li r6, 557056                                                                                    ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): load matmul -> in0
    dma.ld sram[r6 + 0x6080], hbm[r1 + 0x4400], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t7) signal(t9) ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): load matmul -> in0
    li r7, 688128                                                                                    ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): load matmul_4 -> in1
    dma.ld sram[r7 + 0x6080], hbm[r5 + 0x4400], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t8) signal(t10) ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): load matmul_4 -> in1
    vpu.sigmoid sram[r7 + 0x26080], sram[r6 + 0x6080], rows=8, cols=2048, dtype=f32, bcast=none wait(t9) ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): sigmoid -> v2
    li r8, 917504                                                                                    ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): mul -> v3
    vpu.mul sram[r8 + 0xe080], sram[r1 + 0x2e080], sram[r7 + 0x26080], rows=8, cols=2048, dtype=f32, bcast=none ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): mul -> v3
    vpu.mul sram[r8 + 0x2e080], sram[r8 + 0xe080], sram[r5 + 0x3e080], rows=8, cols=2048, dtype=f32, bcast=none wait(t10) signal(t11) ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): mul -> out4
    li r9, 524288                                                                                    ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): store out4 -> _experts_Mul_1_output_0
    li r10, 1081344                                                                                  ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): store out4 -> _experts_Mul_1_output_0
    dma.st hbm[r9 + 0x4400], sram[r10 + 0x6080], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t11) signal(t12) ; k7_fused_sigmoid_mul (sigmoid %_experts_Sigmoid_output_0 (/experts/Sigmoid), mul %_experts_Mul_output_0 (/experts/Mul), mul %_experts_Mul_1_output_0 (/experts/Mul_1)): store out4 -> _experts_Mul_1_output_0
; kernel k8_transpose (transpose %transpose_6 (/experts/Einsum_2))
    li r11, 1212416                                                                                  ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.ld sram[r11 + 0x6080], hbm[r9 + 0x4400], rows=32, row_bytes=512, sstride=2048, dstride=512 wait(t12) signal(t13) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.st hbm[r1 + 0x4400], sram[r11 + 0x6080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t13) signal(t17) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): store tile0 -> transpose_6
    dma.ld sram[r11 + 0xa080], hbm[r9 + 0x4600], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t14) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.st hbm[r1 + 0x8400], sram[r11 + 0xa080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t14) signal(t21) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): store tile0 -> transpose_6
    dma.ld sram[r11 + 0xe080], hbm[r9 + 0x4800], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t15) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.st hbm[r1 + 0xc400], sram[r11 + 0xe080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t15) signal(t25) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): store tile0 -> transpose_6
    li r12, 1277952                                                                                  ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.ld sram[r12 + 0x2080], hbm[r9 + 0x4a00], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t16) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): load _experts_Mul_1_output_0 -> tile0
    dma.st hbm[r5 + 0x400], sram[r12 + 0x2080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t16) ; k8_transpose (transpose %transpose_6 (/experts/Einsum_2)): store tile0 -> transpose_6
; kernel k9_matmul (matmul %matmul_7 (/experts/Einsum_2))
    dma.ld sram[r12 + 0x6080], hbm[r1 + 0x4400], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t17) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load transpose_6 -> a0
    li r13, 262144                                                                                   ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    dma.ld sram[r12 + 0xe080], hbm[r13 + 0x4400], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t18) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    mxu.mm acc[r2 + 0x18400], sram[r11 + 0x16080], sram[r12 + 0xe080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t18) signal(t19) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r11 + 0x2e080], acc[r4 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t19) signal(t20) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): mov -> o3
    li r14, 1376256                                                                                  ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): store o3 -> matmul_7
    dma.st hbm[r5 + 0x4400], sram[r14 + 0x6080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t20) signal(t26) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): store o3 -> matmul_7
    dma.ld sram[r12 + 0xa080], hbm[r1 + 0x8400], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t21) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load transpose_6 -> a0
    li r15, 1343488                                                                                  ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    dma.ld sram[r15 + 0x6080], hbm[r3 + 0x4400], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t22) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    mxu.mm acc[r13 + 0x2400], sram[r11 + 0x1a080], sram[r12 + 0x16080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t22) signal(t23) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r14 + 0x8080], acc[r2 + 0x1a400], rows=32, cols=64, dtype=f32, bcast=none wait(t23) signal(t24) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): mov -> o3
    dma.st hbm[r5 + 0x6400], sram[r14 + 0x8080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t24) signal(t31) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): store o3 -> matmul_7
    dma.ld sram[r12 + 0x6080], hbm[r1 + 0xc400], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t25, t26) signal(t27) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load transpose_6 -> a0
    dma.ld sram[r12 + 0xe080], hbm[r3 + 0xc400], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t28) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    mxu.mm acc[r13 + 0x400], sram[r11 + 0x16080], sram[r12 + 0xe080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t27, t28) signal(t29) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r15 + 0xe080], acc[r4 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t29) signal(t30) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): mov -> o3
    dma.st hbm[r5 + 0x8400], sram[r14 + 0x6080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t30) signal(t7) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): store o3 -> matmul_7
    dma.ld sram[r12 + 0xa080], hbm[r5 + 0x400], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t31) signal(t1) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load transpose_6 -> a0
    li r16, 360448                                                                                   ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    dma.ld sram[r15 + 0x6080], hbm[r16 + 0x4400], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t2) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): load experts.w_down -> bres1
    mxu.mm acc[r2 + 0x1a400], sram[r11 + 0x1a080], sram[r12 + 0x16080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t1, t2) signal(t3) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r14 + 0x8080], acc[r13 + 0x2400], rows=32, cols=64, dtype=f32, bcast=none wait(t3) signal(t4) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): mov -> o3
    dma.st hbm[r5 + 0xa400], sram[r14 + 0x8080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t4) signal(t9) ; k9_matmul (matmul %matmul_7 (/experts/Einsum_2)): store o3 -> matmul_7
; kernel k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2))
    dma.ld sram[r14 + 0xa080], hbm[r5 + 0x4400], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t5) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): load matmul_7 -> tile0
    dma.st hbm[r1 + 0x4400], sram[r14 + 0xa080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t5) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): store tile0 -> _experts_Einsum_2_output_0
    dma.ld sram[r14 + 0xc080], hbm[r5 + 0x6400], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t6) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): load matmul_7 -> tile0
    dma.st hbm[r16 + 0xc500], sram[r14 + 0xc080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t6) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): store tile0 -> _experts_Einsum_2_output_0
    dma.ld sram[r14 + 0xe080], hbm[r5 + 0x8400], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t7) signal(t8) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): load matmul_7 -> tile0
    dma.st hbm[r1 + 0x4600], sram[r14 + 0xe080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t8) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): store tile0 -> _experts_Einsum_2_output_0
    li r17, 1441792                                                                                  ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): load matmul_7 -> tile0
    dma.ld sram[r17 + 0x80], hbm[r5 + 0xa400], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t9) signal(t10) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): load matmul_7 -> tile0
    dma.st hbm[r16 + 0xc700], sram[r17 + 0x80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t10) signal(t11) ; k10_transpose (transpose %_experts_Einsum_2_output_0 (/experts/Einsum_2)): store tile0 -> _experts_Einsum_2_output_0
; kernel k11_mul (mul %mul (/Einsum))
    dma.ld sram[r17 + 0x2080], hbm[r6 + 0xc400], rows=1, row_bytes=512, sstride=0, dstride=0         ; k11_mul (mul %mul (/Einsum)): load _ScatterElements_output_0 -> in0
    dma.ld sram[r17 + 0x2480], hbm[r1 + 0x4400], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t11) signal(t12) ; k11_mul (mul %mul (/Einsum)): load _experts_Einsum_2_output_0 -> in1
    vpu.mul sram[r15 + 0x2a480], sram[r11 + 0x3a480], sram[r12 + 0x2a080], rows=128, cols=64, dtype=f32, bcast=col wait(t12) signal(t13) ; k11_mul (mul %mul (/Einsum)): mul -> out2
    li r18, 1507328                                                                                  ; k11_mul (mul %mul (/Einsum)): store out2 -> mul
    dma.st hbm[r1 + 0xc400], sram[r18 + 0x2480], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t13) signal(t14) ; k11_mul (mul %mul (/Einsum)): store out2 -> mul
; kernel k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum))
    li r19, 1572864                                                                                  ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load mul -> acc0
    dma.ld sram[r19 + 0x2480], hbm[r1 + 0xc400], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t14) signal(t19) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load mul -> acc0
    dma.ld sram[r19 + 0x6480], hbm[r1 + 0xc500], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t15) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load mul -> plane1
    vpu.add sram[r14 + 0x32480], sram[r17 + 0x22480], sram[r15 + 0x3e480], rows=32, cols=64, dtype=f32, bcast=none wait(t15) signal(t17) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.ld sram[r19 + 0x8480], hbm[r1 + 0xc600], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t16) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load mul -> plane1
    vpu.add sram[r18 + 0x12480], sram[r14 + 0x32480], sram[r17 + 0x28480], rows=32, cols=64, dtype=f32, bcast=none wait(t16) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.ld sram[r19 + 0x6480], hbm[r1 + 0xc700], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t17) signal(t18) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load mul -> plane1
    vpu.add sram[r15 + 0x3a480], sram[r18 + 0x12480], sram[r14 + 0x36480], rows=32, cols=64, dtype=f32, bcast=none wait(t18) signal(t20) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.st hbm[r0 + 0x2000], sram[r19 + 0x2480], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t19, t20) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): store acc0 -> _Einsum_output_0
    halt                                                                                             ; end of program: wait for every unit
