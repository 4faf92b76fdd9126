; ----- program segment 0 (steps 0..3)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region router.weight 0x4100 f32 [64, 4]
.region moe_logits 0x64500 f32 [32, 4]
.region moe_probs 0x64700 f32 [32, 4]
.region moe_top 0x64500 f32 [32, 2]
.region moe_top_13 0x2000 i32 [32, 2]
.region moe_top_14 0x64600 f32 [32, 2]
.region moe_gates 0x94500 f32 [32, 4]
.region reshape 0x4500 f32 [64, 512]
.region moe_w_gate 0x64500 f32 [32, 512]
.region reshape_17 0x24500 f32 [64, 512]
.region moe_w_up 0x74500 f32 [32, 512]
.region moe_hidden 0x84500 f32 [32, 512]
.region transpose_19 0x64500 f32 [4, 32, 128]
.region experts.w_down 0x44500 f32 [4, 128, 64]
.region moe_experts 0x74500 f32 [4, 32, 64]
.region transpose_20 0x64500 f32 [32, 4, 64]
.region moe_weighted 0x6c500 f32 [32, 4, 64]
.region _Einsum_output_0 0x2100 f32 [32, 64]
; kernel k0_matmul (matmul %moe_logits (/Einsum))
    dma.ld sram[r0 + 0x0], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256           ; k0_matmul (matmul %moe_logits (/Einsum)): load hidden_states -> a0
    dma.ld sram[r0 + 0x4000], hbm[r0 + 0x4100], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; k0_matmul (matmul %moe_logits (/Einsum)): load router.weight -> bres1
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x0], sram[r0 + 0x4000], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k0_matmul (matmul %moe_logits (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x4400], acc[r0 + 0x0], rows=32, cols=4, dtype=f32, bcast=none wait(t2) signal(t3) ; k0_matmul (matmul %moe_logits (/Einsum)): mov -> o3
    li r1, 393216                                                                                    ; k0_matmul (matmul %moe_logits (/Einsum)): store o3 -> moe_logits
    dma.st hbm[r1 + 0x4500], sram[r0 + 0x4400], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t3) signal(t4) ; k0_matmul (matmul %moe_logits (/Einsum)): store o3 -> moe_logits
; kernel k1_softmax (softmax %moe_probs (/Einsum))
    vpu.fill sram[r0 + 0x5100], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k1_softmax (softmax %moe_probs (/Einsum)): fill -> count3
    dma.ld sram[r0 + 0x4800], hbm[r1 + 0x4500], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t4) signal(t5) ; k1_softmax (softmax %moe_probs (/Einsum)): load moe_logits -> x0
    vpu.rmax sram[r0 + 0x5000], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32 wait(t5)               ; k1_softmax (softmax %moe_probs (/Einsum)): rmax -> stat2
    vpu.sub sram[r0 + 0x4800], sram[r0 + 0x4800], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col ; k1_softmax (softmax %moe_probs (/Einsum)): sub -> x0
    vpu.exp sram[r0 + 0x4c00], sram[r0 + 0x4800], rows=32, cols=4, dtype=f32, bcast=none             ; k1_softmax (softmax %moe_probs (/Einsum)): exp -> out1
    vpu.rsum sram[r0 + 0x5000], sram[r0 + 0x4c00], rows=32, cols=4, dtype=f32                        ; k1_softmax (softmax %moe_probs (/Einsum)): rsum -> stat2
    vpu.rcp sram[r0 + 0x5000], sram[r0 + 0x5000], rows=32, cols=1, dtype=f32, bcast=none             ; k1_softmax (softmax %moe_probs (/Einsum)): rcp -> stat2
    vpu.mul sram[r0 + 0x4c00], sram[r0 + 0x4c00], sram[r0 + 0x5000], rows=32, cols=4, dtype=f32, bcast=col signal(t6) ; k1_softmax (softmax %moe_probs (/Einsum)): mul -> out1
    dma.st hbm[r1 + 0x4700], sram[r0 + 0x4c00], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t6) signal(t7) ; k1_softmax (softmax %moe_probs (/Einsum)): store out1 -> moe_probs
; kernel k2_top_k (top_k %moe_top (/Einsum))
    vpu.fill sram[r0 + 0x5940], rows=1, cols=1, dtype=f32, imm=4.0                                   ; k2_top_k (top_k %moe_top (/Einsum)): fill -> count3
    dma.ld sram[r0 + 0x5140], hbm[r1 + 0x4700], rows=32, row_bytes=16, sstride=16, dstride=16 wait(t7) signal(t8) ; k2_top_k (top_k %moe_top (/Einsum)): load moe_probs -> x0
    vpu.topk sram[r0 + 0x5540], sram[r0 + 0x5140], sram[r0 + 0x5740], rows=32, cols=4, dtype=f32, k=2 wait(t8) signal(t9) ; k2_top_k (top_k %moe_top (/Einsum)): topk -> out1
    dma.st hbm[r1 + 0x4500], sram[r0 + 0x5540], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t9) signal(t10) ; k2_top_k (top_k %moe_top (/Einsum)): store out1 -> moe_top
    dma.st hbm[r0 + 0x2000], sram[r0 + 0x5740], rows=32, row_bytes=8, sstride=8, dstride=8           ; k2_top_k (top_k %moe_top (/Einsum)): store out2 -> moe_top_13
; kernel k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/Einsum), div %moe_top_14 (/Einsum))
    dma.ld sram[r0 + 0x5980], hbm[r1 + 0x4500], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t10) signal(t11) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/Einsum), div %moe_top_14 (/Einsum)): load moe_top -> in0
    vpu.rsum sram[r0 + 0x5b80], sram[r0 + 0x5980], rows=32, cols=2, dtype=f32 wait(t11)              ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/Einsum), div %moe_top_14 (/Einsum)): rsum -> v1
    vpu.div sram[r0 + 0x5c80], sram[r0 + 0x5980], sram[r0 + 0x5b80], rows=32, cols=2, dtype=f32, bcast=col signal(t12) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/Einsum), div %moe_top_14 (/Einsum)): div -> out2
    dma.st hbm[r1 + 0x4600], sram[r0 + 0x5c80], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t12) ; k3_fused_reduce_sum_div (reduce_sum %moe_top_sum (/Einsum), div %moe_top_14 (/Einsum)): store out2 -> moe_top_14
    halt                                                                                             ; end of program: wait for every unit
; ----- program segment 1 (steps 5..12)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region router.weight 0x4100 f32 [64, 4]
.region moe_logits 0x64500 f32 [32, 4]
.region moe_probs 0x64700 f32 [32, 4]
.region moe_top 0x64500 f32 [32, 2]
.region moe_top_13 0x2000 i32 [32, 2]
.region moe_top_14 0x64600 f32 [32, 2]
.region moe_gates 0x94500 f32 [32, 4]
.region reshape 0x4500 f32 [64, 512]
.region moe_w_gate 0x64500 f32 [32, 512]
.region reshape_17 0x24500 f32 [64, 512]
.region moe_w_up 0x74500 f32 [32, 512]
.region moe_hidden 0x84500 f32 [32, 512]
.region transpose_19 0x64500 f32 [4, 32, 128]
.region experts.w_down 0x44500 f32 [4, 128, 64]
.region moe_experts 0x74500 f32 [4, 32, 64]
.region transpose_20 0x64500 f32 [32, 4, 64]
.region moe_weighted 0x6c500 f32 [32, 4, 64]
.region _Einsum_output_0 0x2100 f32 [32, 64]
; kernel k5_matmul (matmul %moe_w_gate (/Einsum))
    dma.ld sram[r0 + 0x6080], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k5_matmul (matmul %moe_w_gate (/Einsum)): load hidden_states -> a0
    dma.ld sram[r0 + 0xa080], hbm[r0 + 0x4500], rows=64, row_bytes=2048, sstride=2048, dstride=2048 signal(t1) ; k5_matmul (matmul %moe_w_gate (/Einsum)): load reshape -> bres1
    mxu.mm acc[r0 + 0x400], sram[r0 + 0x6080], sram[r0 + 0xa080], m=32, k=64, n=512, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; k5_matmul (matmul %moe_w_gate (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r0 + 0x2a080], acc[r0 + 0x400], rows=32, cols=512, dtype=f32, bcast=none wait(t2) signal(t3) ; k5_matmul (matmul %moe_w_gate (/Einsum)): mov -> o3
    li r1, 393216                                                                                    ; k5_matmul (matmul %moe_w_gate (/Einsum)): store o3 -> moe_w_gate
    li r2, 163840                                                                                    ; k5_matmul (matmul %moe_w_gate (/Einsum)): store o3 -> moe_w_gate
    dma.st hbm[r1 + 0x4500], sram[r2 + 0x2080], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t3) signal(t7) ; k5_matmul (matmul %moe_w_gate (/Einsum)): store o3 -> moe_w_gate
; kernel k6_matmul (matmul %moe_w_up (/Einsum))
    li r3, 294912                                                                                    ; k6_matmul (matmul %moe_w_up (/Einsum)): load hidden_states -> a0
    dma.ld sram[r3 + 0x2080], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256        ; k6_matmul (matmul %moe_w_up (/Einsum)): load hidden_states -> a0
    li r4, 131072                                                                                    ; k6_matmul (matmul %moe_w_up (/Einsum)): load reshape_17 -> bres1
    dma.ld sram[r3 + 0x6080], hbm[r4 + 0x4500], rows=64, row_bytes=2048, sstride=2048, dstride=2048 signal(t4) ; k6_matmul (matmul %moe_w_up (/Einsum)): load reshape_17 -> bres1
    mxu.mm acc[r4 + 0x400], sram[r3 + 0x2080], sram[r3 + 0x6080], m=32, k=64, n=512, dtype=f32, acc=0, tw=0 wait(t4) signal(t5) ; k6_matmul (matmul %moe_w_up (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r1 + 0xe080], acc[r0 + 0x20400], rows=32, cols=512, dtype=f32, bcast=none wait(t5) signal(t6) ; k6_matmul (matmul %moe_w_up (/Einsum)): mov -> o3
    li r5, 458752                                                                                    ; k6_matmul (matmul %moe_w_up (/Einsum)): store o3 -> moe_w_up
    dma.st hbm[r5 + 0x4500], sram[r1 + 0xe080], rows=32, row_bytes=2048, sstride=2048, dstride=2048 wait(t6) signal(t8) ; k6_matmul (matmul %moe_w_up (/Einsum)): store o3 -> moe_w_up
; kernel k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum))
    li r6, 557056                                                                                    ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): load moe_w_gate -> in0
    dma.ld sram[r6 + 0x6080], hbm[r1 + 0x4500], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t7) signal(t9) ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): load moe_w_gate -> in0
    li r7, 688128                                                                                    ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): load moe_w_up -> in1
    dma.ld sram[r7 + 0x6080], hbm[r5 + 0x4500], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t8) signal(t10) ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): load moe_w_up -> in1
    vpu.sigmoid sram[r7 + 0x26080], sram[r6 + 0x6080], rows=8, cols=2048, dtype=f32, bcast=none wait(t9) ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): sigmoid -> v2
    li r8, 917504                                                                                    ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): mul -> v3
    vpu.mul sram[r8 + 0xe080], sram[r1 + 0x2e080], sram[r7 + 0x26080], rows=8, cols=2048, dtype=f32, bcast=none ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): mul -> v3
    vpu.mul sram[r8 + 0x2e080], sram[r8 + 0xe080], sram[r5 + 0x3e080], rows=8, cols=2048, dtype=f32, bcast=none wait(t10) signal(t11) ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): mul -> out4
    li r9, 524288                                                                                    ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): store out4 -> moe_hidden
    li r10, 1081344                                                                                  ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): store out4 -> moe_hidden
    dma.st hbm[r9 + 0x4500], sram[r10 + 0x6080], rows=8, row_bytes=8192, sstride=8192, dstride=8192 wait(t11) signal(t12) ; k7_fused_sigmoid_mul (sigmoid %sigmoid (/Einsum), mul %moe_act (/Einsum), mul %moe_hidden (/Einsum)): store out4 -> moe_hidden
; kernel k8_transpose (transpose %transpose_19 (/Einsum))
    li r11, 1212416                                                                                  ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.ld sram[r11 + 0x6080], hbm[r9 + 0x4500], rows=32, row_bytes=512, sstride=2048, dstride=512 wait(t12) signal(t13) ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.st hbm[r1 + 0x4500], sram[r11 + 0x6080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t13) signal(t17) ; k8_transpose (transpose %transpose_19 (/Einsum)): store tile0 -> transpose_19
    dma.ld sram[r11 + 0xa080], hbm[r9 + 0x4700], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t14) ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.st hbm[r1 + 0x8500], sram[r11 + 0xa080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t14) signal(t21) ; k8_transpose (transpose %transpose_19 (/Einsum)): store tile0 -> transpose_19
    dma.ld sram[r11 + 0xe080], hbm[r9 + 0x4900], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t15) ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.st hbm[r1 + 0xc500], sram[r11 + 0xe080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t15) signal(t25) ; k8_transpose (transpose %transpose_19 (/Einsum)): store tile0 -> transpose_19
    li r12, 1277952                                                                                  ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.ld sram[r12 + 0x2080], hbm[r9 + 0x4b00], rows=32, row_bytes=512, sstride=2048, dstride=512 signal(t16) ; k8_transpose (transpose %transpose_19 (/Einsum)): load moe_hidden -> tile0
    dma.st hbm[r5 + 0x500], sram[r12 + 0x2080], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t16) ; k8_transpose (transpose %transpose_19 (/Einsum)): store tile0 -> transpose_19
; kernel k9_matmul (matmul %moe_experts (/Einsum))
    dma.ld sram[r12 + 0x6080], hbm[r1 + 0x4500], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t17) ; k9_matmul (matmul %moe_experts (/Einsum)): load transpose_19 -> a0
    li r13, 262144                                                                                   ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    dma.ld sram[r12 + 0xe080], hbm[r13 + 0x4500], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t18) ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    mxu.mm acc[r2 + 0x18400], sram[r11 + 0x16080], sram[r12 + 0xe080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t18) signal(t19) ; k9_matmul (matmul %moe_experts (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r11 + 0x2e080], acc[r4 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t19) signal(t20) ; k9_matmul (matmul %moe_experts (/Einsum)): mov -> o3
    li r14, 1376256                                                                                  ; k9_matmul (matmul %moe_experts (/Einsum)): store o3 -> moe_experts
    dma.st hbm[r5 + 0x4500], sram[r14 + 0x6080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t20) signal(t26) ; k9_matmul (matmul %moe_experts (/Einsum)): store o3 -> moe_experts
    dma.ld sram[r12 + 0xa080], hbm[r1 + 0x8500], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t21) ; k9_matmul (matmul %moe_experts (/Einsum)): load transpose_19 -> a0
    li r15, 1343488                                                                                  ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    dma.ld sram[r15 + 0x6080], hbm[r3 + 0x4500], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t22) ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    mxu.mm acc[r13 + 0x2400], sram[r11 + 0x1a080], sram[r12 + 0x16080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t22) signal(t23) ; k9_matmul (matmul %moe_experts (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r14 + 0x8080], acc[r2 + 0x1a400], rows=32, cols=64, dtype=f32, bcast=none wait(t23) signal(t24) ; k9_matmul (matmul %moe_experts (/Einsum)): mov -> o3
    dma.st hbm[r5 + 0x6500], sram[r14 + 0x8080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t24) signal(t31) ; k9_matmul (matmul %moe_experts (/Einsum)): store o3 -> moe_experts
    dma.ld sram[r12 + 0x6080], hbm[r1 + 0xc500], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t25, t26) signal(t27) ; k9_matmul (matmul %moe_experts (/Einsum)): load transpose_19 -> a0
    dma.ld sram[r12 + 0xe080], hbm[r3 + 0xc500], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t28) ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    mxu.mm acc[r13 + 0x400], sram[r11 + 0x16080], sram[r12 + 0xe080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t27, t28) signal(t29) ; k9_matmul (matmul %moe_experts (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r15 + 0xe080], acc[r4 + 0x20400], rows=32, cols=64, dtype=f32, bcast=none wait(t29) signal(t30) ; k9_matmul (matmul %moe_experts (/Einsum)): mov -> o3
    dma.st hbm[r5 + 0x8500], sram[r14 + 0x6080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t30) signal(t7) ; k9_matmul (matmul %moe_experts (/Einsum)): store o3 -> moe_experts
    dma.ld sram[r12 + 0xa080], hbm[r5 + 0x500], rows=32, row_bytes=512, sstride=512, dstride=512 wait(t31) signal(t1) ; k9_matmul (matmul %moe_experts (/Einsum)): load transpose_19 -> a0
    li r16, 360448                                                                                   ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    dma.ld sram[r15 + 0x6080], hbm[r16 + 0x4500], rows=128, row_bytes=256, sstride=256, dstride=256 signal(t2) ; k9_matmul (matmul %moe_experts (/Einsum)): load experts.w_down -> bres1
    mxu.mm acc[r2 + 0x1a400], sram[r11 + 0x1a080], sram[r12 + 0x16080], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t1, t2) signal(t3) ; k9_matmul (matmul %moe_experts (/Einsum)): matmul acc2 = a0 @ bres1
    vpu.mov sram[r14 + 0x8080], acc[r13 + 0x2400], rows=32, cols=64, dtype=f32, bcast=none wait(t3) signal(t4) ; k9_matmul (matmul %moe_experts (/Einsum)): mov -> o3
    dma.st hbm[r5 + 0xa500], sram[r14 + 0x8080], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t4) signal(t9) ; k9_matmul (matmul %moe_experts (/Einsum)): store o3 -> moe_experts
; kernel k10_transpose (transpose %transpose_20 (/Einsum))
    dma.ld sram[r14 + 0xa080], hbm[r5 + 0x4500], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t5) ; k10_transpose (transpose %transpose_20 (/Einsum)): load moe_experts -> tile0
    dma.st hbm[r1 + 0x4500], sram[r14 + 0xa080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t5) ; k10_transpose (transpose %transpose_20 (/Einsum)): store tile0 -> transpose_20
    dma.ld sram[r14 + 0xc080], hbm[r5 + 0x6500], rows=32, row_bytes=256, sstride=256, dstride=256 signal(t6) ; k10_transpose (transpose %transpose_20 (/Einsum)): load moe_experts -> tile0
    dma.st hbm[r16 + 0xc600], sram[r14 + 0xc080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t6) ; k10_transpose (transpose %transpose_20 (/Einsum)): store tile0 -> transpose_20
    dma.ld sram[r14 + 0xe080], hbm[r5 + 0x8500], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t7) signal(t8) ; k10_transpose (transpose %transpose_20 (/Einsum)): load moe_experts -> tile0
    dma.st hbm[r1 + 0x4700], sram[r14 + 0xe080], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t8) ; k10_transpose (transpose %transpose_20 (/Einsum)): store tile0 -> transpose_20
    li r17, 1441792                                                                                  ; k10_transpose (transpose %transpose_20 (/Einsum)): load moe_experts -> tile0
    dma.ld sram[r17 + 0x80], hbm[r5 + 0xa500], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t9) signal(t10) ; k10_transpose (transpose %transpose_20 (/Einsum)): load moe_experts -> tile0
    dma.st hbm[r16 + 0xc800], sram[r17 + 0x80], rows=32, row_bytes=256, sstride=256, dstride=1024 wait(t10) signal(t11) ; k10_transpose (transpose %transpose_20 (/Einsum)): store tile0 -> transpose_20
; kernel k11_mul (mul %moe_weighted (/Einsum))
    dma.ld sram[r17 + 0x2080], hbm[r1 + 0x4500], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t11) ; k11_mul (mul %moe_weighted (/Einsum)): load transpose_20 -> in0
    li r18, 1507328                                                                                  ; k11_mul (mul %moe_weighted (/Einsum)): load moe_gates -> in1
    dma.ld sram[r18 + 0x2080], hbm[r6 + 0xc500], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t12) ; k11_mul (mul %moe_weighted (/Einsum)): load moe_gates -> in1
    vpu.mul sram[r15 + 0x2a480], sram[r11 + 0x3a080], sram[r12 + 0x3a080], rows=128, cols=64, dtype=f32, bcast=col wait(t12) signal(t13) ; k11_mul (mul %moe_weighted (/Einsum)): mul -> out2
    dma.st hbm[r1 + 0xc500], sram[r18 + 0x2480], rows=128, row_bytes=256, sstride=256, dstride=256 wait(t13) signal(t14) ; k11_mul (mul %moe_weighted (/Einsum)): store out2 -> moe_weighted
; kernel k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum))
    li r19, 1572864                                                                                  ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load moe_weighted -> acc0
    dma.ld sram[r19 + 0x2480], hbm[r1 + 0xc500], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t14) signal(t19) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load moe_weighted -> acc0
    dma.ld sram[r19 + 0x6480], hbm[r1 + 0xc600], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t15) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load moe_weighted -> plane1
    vpu.add sram[r14 + 0x32480], sram[r17 + 0x22480], sram[r15 + 0x3e480], rows=32, cols=64, dtype=f32, bcast=none wait(t15) signal(t17) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.ld sram[r19 + 0x8480], hbm[r1 + 0xc700], rows=32, row_bytes=256, sstride=1024, dstride=256 signal(t16) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load moe_weighted -> plane1
    vpu.add sram[r18 + 0x12480], sram[r14 + 0x32480], sram[r17 + 0x28480], rows=32, cols=64, dtype=f32, bcast=none wait(t16) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.ld sram[r19 + 0x6480], hbm[r1 + 0xc800], rows=32, row_bytes=256, sstride=1024, dstride=256 wait(t17) signal(t18) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): load moe_weighted -> plane1
    vpu.add sram[r15 + 0x3a480], sram[r18 + 0x12480], sram[r14 + 0x36480], rows=32, cols=64, dtype=f32, bcast=none wait(t18) signal(t20) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): add -> acc0
    dma.st hbm[r0 + 0x2100], sram[r19 + 0x2480], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t19, t20) ; k12_reduce_sum (reduce_sum %_Einsum_output_0 (/Einsum)): store acc0 -> _Einsum_output_0
    halt                                                                                             ; end of program: wait for every unit
