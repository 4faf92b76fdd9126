; ----- program segment 0 (steps 0..3)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4100 f32 [64, 4]
.region moe_logits 0x45100 f32 [32, 4]
.region moe_probs 0x45300 f32 [32, 4]
.region moe_top 0x45100 f32 [32, 2]
.region moe_top_10 0x2000 i32 [32, 2]
.region moe_top_11 0x45200 f32 [32, 2]
.region moe_gates 0x65100 f32 [32, 4]
.region reshape 0x4500 f32 [64, 512]
.region moe_w_gate 0x45100 f32 [32, 512]
.region moe_act 0x55100 f32 [32, 512]
.region reshape_12 0x24500 f32 [512]
.region transpose_15 0x45100 f32 [4, 32, 128]
.region concat_8 0x24d00 f32 [4, 128, 64]
.region moe_experts 0x55100 f32 [4, 32, 64]
.region moe_experts_17 0x45100 f32 [4, 32, 64]
.region reshape_16 0x44d00 f32 [4, 1, 64]
.region transpose_18 0x4d100 f32 [32, 4, 64]
.region moe_weighted 0x45100 f32 [32, 4, 64]
.region moe 0x2100 f32 [32, 64]
; kernel k0_matmul (matmul %moe_logits (/ReduceSum_1))
    dma.ld sram[r0 + 0x0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256           ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): load hidden_states -> a0
    dma.ld sram[r0 + 0x4000], hbm[r0 + 0x4100], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): load gate.weight -> bres1
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x0], sram[r0 + 0x4000], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x4400], acc[r0 + 0x0], rows=32, cols=4, dtype=f32, bcast=none wait(t2) signal(t3) ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): mov -> o3
    li r1, 262144                                                                                    ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): store o3 -> moe_logits
    dma.st hbm[r1 + 0x5100], sram[r0 + 0x4400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t3) signal(t4) ; k0_matmul (matmul %moe_logits (/ReduceSum_1)): store o3 -> moe_logits
; kernel k1_softmax (softmax %moe_probs (/ReduceSum_1))
    vpu.fill sram[r0 + 0x5100], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): fill -> count3
    dma.ld sram[r0 + 0x4800], hbm[r1 + 0x5100], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t4) signal(t5) ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): load moe_logits -> x0
    vpu.rmax sram[r0 + 0x5000], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32 wait(t5)               ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): rmax -> stat2
    vpu.sub sram[r0 + 0x4800], sram[r0 + 0x4800], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): sub -> x0
    vpu.exp sram[r0 + 0x4c00], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32, bcast=none             ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): exp -> out1
    vpu.rsum sram[r0 + 0x5000], sram[r0 + 0x4c00], rows=32, cols=4, dtype=f32                        ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): rsum -> stat2
    vpu.rcp sram[r0 + 0x5000], sram[r0 + 0x5000], rows=32, cols=1, dtype=f32, bcast=none             ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): rcp -> stat2
    vpu.mul sram[r0 + 0x4c00], sram[r0 + 0x4c00], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col signal(t6) ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): mul -> out1
    dma.st hbm[r1 + 0x5300], sram[r0 + 0x4c00], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t6) signal(t7) ; k1_softmax (softmax %moe_probs (/ReduceSum_1)): store out1 -> moe_probs
; kernel k2_top_k (top_k %moe_top (/ReduceSum_1))
    vpu.fill sram[r0 + 0x5940], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k2_top_k (top_k %moe_top (/ReduceSum_1)): fill -> count3
    dma.ld sram[r0 + 0x5140], hbm[r1 + 0x5300], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t7) signal(t8) ; k2_top_k (top_k %moe_top (/ReduceSum_1)): load moe_probs -> x0
    vpu.topk sram[r0 + 0x5540], sram[r0 + 0x5140], sram[r0 + 0x5740], rows=32, cols=4, dtype=f32, k=2 wait(t8) signal(t9) ; k2_top_k (top_k %moe_top (/ReduceSum_1)): topk -> out1
    dma.st hbm[r1 + 0x5100], sram[r0 + 0x5540], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t9) signal(t10) ; k2_top_k (top_k %moe_top (/ReduceSum_1)): store out1 -> moe_top
    dma.st hbm[r0 + 0x2000], sram[r0 + 0x5740], rows=32, row_bytes=8, sstride=8, dstride=8           ; k2_top_k (top_k %moe_top (/ReduceSum_1)): store out2 -> moe_top_10
; kernel k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/ReduceSum_1), div %moe_top_11 (/ReduceSum_1))
    dma.ld sram[r0 + 0x5980], hbm[r1 + 0x5100], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t10) signal(t11) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/ReduceSum_1), div %moe_top_11 (/ReduceSum_1)): load moe_top -> in0
    vpu.rsum sram[r0 + 0x5b80], sram[r0 + 0x5980], rows=32, cols=2, dtype=f32 wait(t11)              ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/ReduceSum_1), div %moe_top_11 (/ReduceSum_1)): rsum -> v1
    vpu.div sram[r0 + 0x5c80], sram[r0 + 0x5980], sram[r0 + 0x5b80], rows=32, cols=2, dtype=f32, bcast=col signal(t12) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/ReduceSum_1), div %moe_top_11 (/ReduceSum_1)): div -> out2
    dma.st hbm[r1 + 0x5200], sram[r0 + 0x5c80], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t12) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/ReduceSum_1), div %moe_top_11 (/ReduceSum_1)): store out2 -> moe_top_11
    halt                                                                                             ; end of program: wait for every unit
; ----- program segment 1 (steps 5..12)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region gate.weight 0x4100 f32 [64, 4]
.region moe_logits 0x45100 f32 [32, 4]
.region moe_probs 0x45300 f32 [32, 4]
.region moe_top 0x45100 f32 [32, 2]
.region moe_top_10 0x2000 i32 [32, 2]
.region moe_top_11 0x45200 f32 [32, 2]
.region moe_gates 0x65100 f32 [32, 4]
.region reshape 0x4500 f32 [64, 512]
.region moe_w_gate 0x45100 f32 [32, 512]
.region moe_act 0x55100 f32 [32, 512]
.region reshape_12 0x24500 f32 [512]
.region transpose_15 0x45100 f32 [4, 32, 128]
.region concat_8 0x24d00 f32 [4, 128, 64]
.region moe_experts 0x55100 f32 [4, 32, 64]
.region moe_experts_17 0x45100 f32 [4, 32, 64]
.region reshape_16 0x44d00 f32 [4, 1, 64]
.region transpose_18 0x4d100 f32 [32, 4, 64]
.region moe_weighted 0x45100 f32 [32, 4, 64]
.region moe 0x2100 f32 [32, 64]
; kernel k5_matmul (matmul %moe_w_gate (/ReduceSum_1))
    dma.ld sram[r0 + 0x6080], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): load hidden_states -> a0
    dma.ld sram[r0 + 0xa080], hbm[r0 + 0x4500], rows=64, row_bytes=2048, sstride=2048, dstride=2048 signal(t1) ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): load reshape -> bres1
    mxu.mm acc[r0 + 0x400], sram[r0 + 0x6080], sram[r0 + 0xa080], m=32, k=64, n=512, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x2a080], acc[r0 + 0x400], rows=32, cols=512, dtype=f32, bcast=none wait(t2) signal(t3) ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): mov -> o3
    li r1, 262144                                                                                    ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): store o3 -> moe_w_gate
    li r2, 163840                                                                                    ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): store o3 -> moe_w_gate
    dma.st hbm[r1 + 0x5100], sram[r2 + 0x2080], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t3) signal(t4) ; k5_matmul (matmul %moe_w_gate (/ReduceSum_1)): store o3 -> moe_w_gate
; kernel k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1))
    li r3, 425984                                                                                    ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): load reshape_12 -> in1
    li r4, 131072                                                                                    ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): load reshape_12 -> in1
    dma.ld sram[r3 + 0x2080], hbm[r4 + 0x4500], rows=1, row_bytes=2048, sstride=0, dstride=0         ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): load reshape_12 -> in1
    dma.ld sram[r1 + 0xa080], hbm[r1 + 0x5100], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t4) signal(t5) ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): load moe_w_gate -> in0
    vpu.add sram[r3 + 0x2880], sram[r2 + 0x22080], sram[r1 + 0x2a080], rows=32, cols=512, dtype=f32, bcast=row wait(t5) ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): add -> v2
    vpu.maxs sram[r3 + 0x22880], sram[r1 + 0x2a880], rows=32, cols=512, dtype=f32, imm=0.0 signal(t6) ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): maxs -> out3
    li r5, 327680                                                                                    ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): store out3 -> moe_act
    li r6, 557056                                                                                    ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): store out3 -> moe_act
    dma.st hbm[r5 + 0x5100], sram[r6 + 0x2880], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t6) signal(t7) ; k6_fused_add_relu (add %moe_w_gate_13 (/ReduceSum_1), relu %moe_act (/ReduceSum_1)): store out3 -> moe_act
; kernel k7_transpose (transpose %transpose_15 (/ReduceSum_1))
    li r7, 688128                                                                                    ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): load moe_act -> tile0
    dma.ld sram[r7 + 0x2880], hbm[r5 + 0x5100], rows=32, row_bytes=512, sstride=2048, dstride=512 wait(t7) signal(t8) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): load moe_act -> tile0
    dma.st hbm[r1 + 0x5100], sram[r7 + 0x2880], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t8) signal(t12) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): store tile0 -> transpose_15
    dma.ld sram[r7 + 0x6880], hbm[r5 + 0x5300], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t9) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): load moe_act -> tile0
    dma.st hbm[r1 + 0x9100], sram[r7 + 0x6880], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t9) signal(t16) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): store tile0 -> transpose_15
    dma.ld sram[r7 + 0xa880], hbm[r5 + 0x5500], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t10) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): load moe_act -> tile0
    dma.st hbm[r1 + 0xd100], sram[r7 + 0xa880], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t10) signal(t20) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): store tile0 -> transpose_15
    dma.ld sram[r7 + 0xe880], hbm[r5 + 0x5700], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t11) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): load moe_act -> tile0
    dma.st hbm[r5 + 0x1100], sram[r7 + 0xe880], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t11) ; k7_transpose (transpose %transpose_15 (/ReduceSum_1)): store tile0 -> transpose_15
; kernel k8_matmul (matmul %moe_experts (/ReduceSum_1))
    li r8, 753664                                                                                    ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load transpose_15 -> a0
    dma.ld sram[r8 + 0x2880], hbm[r1 + 0x5100], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t12) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load transpose_15 -> a0
    dma.ld sram[r8 + 0xa880], hbm[r4 + 0x4d00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t13) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    mxu.mm acc[r4 + 0x400], sram[r7 + 0x12880], sram[r8 + 0xa880], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t13) signal(t14) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r7 + 0x2a880], acc[r0 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t14) signal(t15) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): mov -> o3
    li r9, 851968                                                                                    ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): store o3 -> moe_experts
    dma.st hbm[r5 + 0x5100], sram[r9 + 0x2880], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t15) signal(t21) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): store o3 -> moe_experts
    dma.ld sram[r8 + 0x6880], hbm[r1 + 0x9100], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t16) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load transpose_15 -> a0
    li r10, 819200                                                                                   ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    dma.ld sram[r10 + 0x2880], hbm[r2 + 0x4d00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t17) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    mxu.mm acc[r4 + 0x2400], sram[r7 + 0x16880], sram[r8 + 0x12880], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t17) signal(t18) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r9 + 0x4880], acc[r0 + 0x22400], rows=32, cols=64, dtype=f32, bcast=none wait(t18) signal(t19) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): mov -> o3
    dma.st hbm[r5 + 0x7100], sram[r10 + 0xc880], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t19) signal(t26) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): store o3 -> moe_experts
    dma.ld sram[r8 + 0x2880], hbm[r1 + 0xd100], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t20, t21) signal(t22) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load transpose_15 -> a0
    dma.ld sram[r8 + 0xa880], hbm[r2 + 0xcd00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t23) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    mxu.mm acc[r4 + 0x400], sram[r7 + 0x12880], sram[r8 + 0xa880], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t22, t23) signal(t24) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r9 + 0x2880], acc[r0 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t24) signal(t25) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): mov -> o3
    dma.st hbm[r5 + 0x9100], sram[r10 + 0xa880], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t25) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): store o3 -> moe_experts
    dma.ld sram[r8 + 0x6880], hbm[r5 + 0x1100], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t26) signal(t27) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load transpose_15 -> a0
    li r11, 229376                                                                                   ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    dma.ld sram[r10 + 0x2880], hbm[r11 + 0x4d00], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t28) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): load concat_8 -> bres1
    mxu.mm acc[r4 + 0x2400], sram[r7 + 0x16880], sram[r8 + 0x12880], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t27, t28) signal(t29) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r9 + 0x4880], acc[r0 + 0x22400], rows=32, cols=64, dtype=f32, bcast=none wait(t29) signal(t30) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): mov -> o3
    dma.st hbm[r5 + 0xb100], sram[r10 + 0xc880], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t30) ; k8_matmul (matmul %moe_experts (/ReduceSum_1)): store o3 -> moe_experts
; kernel k9_add (add %moe_experts_17 (/ReduceSum_1))
    dma.ld sram[r9 + 0x6880], hbm[r5 + 0x5100], rows=32, row_bytes=256, sstride=256, dstride=256     ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load moe_experts -> in0 [o3=0]
    dma.ld sram[r9 + 0xa880], hbm[r1 + 0x4d00], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t31) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load reshape_16 -> in1 [o3=0]
    vpu.add sram[r7 + 0x32a80], sram[r8 + 0x1e880], sram[r10 + 0x12880], rows=32, cols=64, dtype=f32, bcast=row wait(t31) signal(t1) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): add -> out2 [o3=0]
    dma.st hbm[r11 + 0xd100], sram[r9 + 0xaa80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t1) signal(t2) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): store out2 -> moe_experts_17 [o3=0]
    dma.ld sram[r10 + 0xe880], hbm[r5 + 0x7100], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t2) signal(t3) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load moe_experts -> in0 [o3=1]
    dma.ld sram[r9 + 0xa880], hbm[r1 + 0x4e00], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t4) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load reshape_16 -> in1 [o3=1]
    vpu.add sram[r7 + 0x32a80], sram[r8 + 0x1e880], sram[r10 + 0x12880], rows=32, cols=64, dtype=f32, bcast=row wait(t3, t4) signal(t5) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): add -> out2 [o3=1]
    dma.st hbm[r11 + 0xf100], sram[r9 + 0xaa80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t5) signal(t6) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): store out2 -> moe_experts_17 [o3=1]
    dma.ld sram[r10 + 0xe880], hbm[r5 + 0x9100], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t6) signal(t7) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load moe_experts -> in0 [o3=2]
    dma.ld sram[r9 + 0xa880], hbm[r1 + 0x4f00], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t8) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load reshape_16 -> in1 [o3=2]
    vpu.add sram[r7 + 0x32a80], sram[r8 + 0x1e880], sram[r10 + 0x12880], rows=32, cols=64, dtype=f32, bcast=row wait(t7, t8) signal(t9) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): add -> out2 [o3=2]
    dma.st hbm[r1 + 0x9100], sram[r9 + 0xaa80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t9) signal(t10) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): store out2 -> moe_experts_17 [o3=2]
    dma.ld sram[r10 + 0xe880], hbm[r5 + 0xb100], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t10) signal(t11) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load moe_experts -> in0 [o3=3]
    dma.ld sram[r9 + 0xa880], hbm[r11 + 0xd000], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t12) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): load reshape_16 -> in1 [o3=3]
    vpu.add sram[r7 + 0x32a80], sram[r8 + 0x1e880], sram[r10 + 0x12880], rows=32, cols=64, dtype=f32, bcast=row wait(t11, t12) signal(t13) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): add -> out2 [o3=3]
    dma.st hbm[r1 + 0xb100], sram[r9 + 0xaa80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t13) signal(t17) ; k9_add (add %moe_experts_17 (/ReduceSum_1)): store out2 -> moe_experts_17 [o3=3]
; kernel k10_transpose (transpose %transpose_18 (/ReduceSum_1))
    dma.ld sram[r9 + 0xea80], hbm[r11 + 0xd100], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t14) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): load moe_experts_17 -> tile0
    dma.st hbm[r1 + 0xd100], sram[r9 + 0xea80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t14) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): store tile0 -> transpose_18
    li r12, 917504                                                                                   ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): load moe_experts_17 -> tile0
    dma.ld sram[r12 + 0xa80], hbm[r11 + 0xf100], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t15) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): load moe_experts_17 -> tile0
    dma.st hbm[r1 + 0xd200], sram[r12 + 0xa80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t15) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): store tile0 -> transpose_18
    dma.ld sram[r12 + 0x2a80], hbm[r1 + 0x9100], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t16) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): load moe_experts_17 -> tile0
    dma.st hbm[r1 + 0xd300], sram[r12 + 0x2a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t16) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): store tile0 -> transpose_18
    dma.ld sram[r12 + 0x4a80], hbm[r1 + 0xb100], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t17) signal(t18) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): load moe_experts_17 -> tile0
    dma.st hbm[r1 + 0xd400], sram[r12 + 0x4a80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t18) signal(t19) ; k10_transpose (transpose %transpose_18 (/ReduceSum_1)): store tile0 -> transpose_18
; kernel k11_mul (mul %moe_weighted (/ReduceSum_1))
    dma.ld sram[r12 + 0x6a80], hbm[r1 + 0xd100], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t19) ; k11_mul (mul %moe_weighted (/ReduceSum_1)): load transpose_18 -> in0
    li r13, 983040                                                                                   ; k11_mul (mul %moe_weighted (/ReduceSum_1)): load moe_gates -> in1
    li r14, 393216                                                                                   ; k11_mul (mul %moe_weighted (/ReduceSum_1)): load moe_gates -> in1
    dma.ld sram[r13 + 0x6a80], hbm[r14 + 0x5100], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t20) ; k11_mul (mul %moe_weighted (/ReduceSum_1)): load moe_gates -> in1
    vpu.mul sram[r8 + 0x3ee80], sram[r7 + 0x3ea80], sram[r10 + 0x2ea80], rows=128, cols=64, dtype=f32, bcast=col wait(t20) signal(t21) ; k11_mul (mul %moe_weighted (/ReduceSum_1)): mul -> out2
    dma.st hbm[r11 + 0xd100], sram[r13 + 0x6e80], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t21) signal(t22) ; k11_mul (mul %moe_weighted (/ReduceSum_1)): store out2 -> moe_weighted
; kernel k12_reduce_sum (reduce_sum %moe (/ReduceSum_1))
    li r15, 1048576                                                                                  ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): load moe_weighted -> acc0
    dma.ld sram[r15 + 0x6e80], hbm[r1 + 0x5100], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t22) signal(t27) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): load moe_weighted -> acc0
    dma.ld sram[r15 + 0xae80], hbm[r11 + 0xd200], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t23) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): load moe_weighted -> plane1
    vpu.add sram[r9 + 0x36e80], sram[r12 + 0x26e80], sram[r13 + 0x1ae80], rows=32, cols=64, dtype=f32, bcast=none wait(t23) signal(t25) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): add -> acc0
    dma.ld sram[r15 + 0xce80], hbm[r1 + 0x5300], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t24) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): load moe_weighted -> plane1
    vpu.add sram[r10 + 0x3ee80], sram[r9 + 0x36e80], sram[r12 + 0x2ce80], rows=32, cols=64, dtype=f32, bcast=none wait(t24) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): add -> acc0
    dma.ld sram[r15 + 0xae80], hbm[r11 + 0xd400], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t25) signal(t26) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): load moe_weighted -> plane1
    vpu.add sram[r13 + 0x16e80], sram[r10 + 0x3ee80], sram[r9 + 0x3ae80], rows=32, cols=64, dtype=f32, bcast=none wait(t26) signal(t28) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): add -> acc0
    dma.st hbm[r0 + 0x2100], sram[r15 + 0x6e80], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t27, t28) ; k12_reduce_sum (reduce_sum %moe (/ReduceSum_1)): store acc0 -> moe
    halt                                                                                             ; end of program: wait for every unit
