; ----- program segment 0 (steps 0..3)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region output 0x2000 f32 [2, 16, 64]
.region moe_probs 0x49c00 f32 [32, 4]
.region moe_route_weight 0x49400 f32 [32, 2]
.region moe_route_expert 0x4000 i32 [32, 2]
.region gate.weight 0x4140 f32 [64, 4]
.region moe_tokens_per_expert 0x4100 i32 [4, 1]
.region moe_tiles_per_expert 0x4fa00 i32 [4, 1]
.region moe_rows_per_tile 0x49500 i32 [4, 1]
.region moe_tile_starts 0x4540 i32 [1, 1]
.region moe_slot_token 0x4f600 i32 [128, 1]
.region moe_slot_weight 0x4f800 f32 [128, 1]
.region moe_token_of 0x4580 i32 [64, 1]
.region moe_expert_ids 0x4680 f32 [1, 4]
.region moe_slot_bases 0x46c0 f32 [1, 4]
.region moe_earlier 0x4700 f32 [64, 64]
.region moe_ones 0x8700 f32 [1, 64]
.region moe_onehot 0x49400 f32 [64, 4]
.region moe_rank 0x49800 f32 [64, 4]
.region moe_slot_f 0x49f00 f32 [64, 1]
.region moe_slot 0x49e00 i32 [64, 1]
.region moe_x_padded 0x4b500 f32 [33, 64]
.region moe_combined 0x49400 f32 [33, 64]
.region moe 0x4d600 f32 [32, 64]
.region concat 0x8800 f32 [4, 64, 128]
.region concat_8 0x28800 f32 [4, 128, 64]
.region b_gate 0x48800 f32 [4, 128]
.region b_down 0x49000 f32 [4, 64]
; kernel moe_route (/ReduceSum_1)
    dma.ld sram[r0 + 0x580], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256         ; moe_route (/ReduceSum_1): load hidden_states -> t0_f32_32x64
    dma.ld sram[r0 + 0x2580], hbm[r0 + 0x4140], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; moe_route (/ReduceSum_1): load gate.weight -> t1_f32_64x4
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x580], sram[r0 + 0x2580], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; moe_route (/ReduceSum_1): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    vpu.mov sram[r0 + 0x0], acc[r0 + 0x0], rows=1, cols=64, dtype=f32, bcast=none wait(t2)           ; moe_route (/ReduceSum_1): mov -> moe_probs [_blk=0]
    vpu.rmax sram[r0 + 0x400], sram[r0 + 0x0], rows=16, cols=4, dtype=f32                            ; moe_route (/ReduceSum_1): rmax -> row_max.b16 [_blk=0]
    vpu.sub sram[r0 + 0x29c0], sram[r0 + 0x0], sram[r0 + 0x400], rows=16, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): sub -> t3_f32_16x4 [_blk=0]
    vpu.exp sram[r0 + 0x200], sram[r0 + 0x29c0], rows=16, cols=4, dtype=f32, bcast=none              ; moe_route (/ReduceSum_1): exp -> exps.b16 [_blk=0]
    vpu.rsum sram[r0 + 0x480], sram[r0 + 0x200], rows=16, cols=4, dtype=f32                          ; moe_route (/ReduceSum_1): rsum -> row_sum.b16 [_blk=0]
    vpu.div sram[r0 + 0x0], sram[r0 + 0x200], sram[r0 + 0x480], rows=16, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): div -> moe_probs [_blk=0]
    vpu.mov sram[r0 + 0x100], acc[r0 + 0x100], rows=1, cols=64, dtype=f32, bcast=none                ; moe_route (/ReduceSum_1): mov -> moe_probs [_blk=0]
    vpu.rmax sram[r0 + 0x440], sram[r0 + 0x100], rows=16, cols=4, dtype=f32                          ; moe_route (/ReduceSum_1): rmax -> row_max.b16 [_blk=0]
    vpu.sub sram[r0 + 0x2ac0], sram[r0 + 0x100], sram[r0 + 0x440], rows=16, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): sub -> t3_f32_16x4 [_blk=0]
    vpu.exp sram[r0 + 0x300], sram[r0 + 0x2ac0], rows=16, cols=4, dtype=f32, bcast=none              ; moe_route (/ReduceSum_1): exp -> exps.b16 [_blk=0]
    vpu.rsum sram[r0 + 0x4c0], sram[r0 + 0x300], rows=16, cols=4, dtype=f32                          ; moe_route (/ReduceSum_1): rsum -> row_sum.b16 [_blk=0]
    vpu.div sram[r0 + 0x100], sram[r0 + 0x300], sram[r0 + 0x4c0], rows=16, cols=4, dtype=f32, bcast=col ; moe_route (/ReduceSum_1): div -> moe_probs [_blk=0]
    vpu.topk sram[r0 + 0x2e00], sram[r0 + 0x0], sram[r0 + 0x2f00], rows=32, cols=4, dtype=f32, k=2 signal(t3) ; moe_route (/ReduceSum_1): topk -> t7_f32_32x2
    li r1, 294912                                                                                    ; moe_route (/ReduceSum_1): store t7_f32_32x2 -> moe_route_weight
    dma.st hbm[r1 + 0x1400], sram[r0 + 0x2e00], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t3) signal(t4) ; moe_route (/ReduceSum_1): store t7_f32_32x2 -> moe_route_weight
    dma.st hbm[r0 + 0x4000], sram[r0 + 0x2f00], rows=32, row_bytes=8, sstride=8, dstride=8 signal(t11) ; moe_route (/ReduceSum_1): store t8_i32_32x2 -> moe_route_expert
    dma.ld sram[r0 + 0x3000], hbm[r1 + 0x1400], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t4) signal(t5) ; moe_route (/ReduceSum_1): load moe_route_weight -> t9_f32_16x2 [_blk1=0]
    vpu.rsum sram[r0 + 0x500], sram[r0 + 0x3000], rows=16, cols=2, dtype=f32 wait(t5) signal(t6)     ; moe_route (/ReduceSum_1): rsum -> top_sum.b16 [_blk1=0]
    vpu.div sram[r0 + 0x3100], sram[r0 + 0x3000], sram[r0 + 0x500], rows=16, cols=2, dtype=f32, bcast=col signal(t7) ; moe_route (/ReduceSum_1): div -> t10_f32_16x2 [_blk1=0]
    dma.st hbm[r1 + 0x1400], sram[r0 + 0x3100], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t6, t7) ; moe_route (/ReduceSum_1): store t10_f32_16x2 -> moe_route_weight [_blk1=0]
    dma.ld sram[r0 + 0x3080], hbm[r1 + 0x1480], rows=16, row_bytes=8, sstride=8, dstride=8 signal(t8) ; moe_route (/ReduceSum_1): load moe_route_weight -> t9_f32_16x2 [_blk1=0]
    vpu.rsum sram[r0 + 0x540], sram[r0 + 0x3080], rows=16, cols=2, dtype=f32 wait(t8) signal(t9)     ; moe_route (/ReduceSum_1): rsum -> top_sum.b16 [_blk1=0]
    vpu.div sram[r0 + 0x3180], sram[r0 + 0x3080], sram[r0 + 0x540], rows=16, cols=2, dtype=f32, bcast=col signal(t10) ; moe_route (/ReduceSum_1): div -> t10_f32_16x2 [_blk1=0]
    dma.st hbm[r1 + 0x1480], sram[r0 + 0x3180], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t9, t10) signal(t29) ; moe_route (/ReduceSum_1): store t10_f32_16x2 -> moe_route_weight [_blk1=0]
; kernel moe_route_dispatch (/ReduceSum_1)
    dma.ld sram[r0 + 0x3800], hbm[r0 + 0x4000], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t11) signal(t12) ; moe_route_dispatch (/ReduceSum_1): load moe_route_expert -> t0_i32_1x64
    vpu.cvt sram[r0 + 0x3900], sram[r0 + 0x3800], rows=64, cols=1, dtype=i32, odt=f32, bcast=none wait(t12) ; moe_route_dispatch (/ReduceSum_1): cvt -> t1_f32_64x1
    dma.ld sram[r0 + 0x3a00], hbm[r0 + 0x4680], rows=1, row_bytes=16, sstride=0, dstride=0 signal(t13) ; moe_route_dispatch (/ReduceSum_1): load moe_expert_ids -> t2_f32_1x4
    vpu.mov sram[r0 + 0x3a40], sram[r0 + 0x3900], rows=64, cols=4, dtype=f32, bcast=col              ; moe_route_dispatch (/ReduceSum_1): mov -> t3_f32_64x4
    vpu.cmpeq sram[r0 + 0x3200], sram[r0 + 0x3a40], sram[r0 + 0x3a00], rows=64, cols=4, dtype=f32, bcast=row wait(t13) signal(t14) ; moe_route_dispatch (/ReduceSum_1): cmpeq -> moe_onehot
    vpu.fill acc[r0 + 0x200], rows=1, cols=4, dtype=f32, imm=0.0                                     ; moe_route_dispatch (/ReduceSum_1): fill -> expert_running_count
    dma.ld sram[r0 + 0x4240], hbm[r0 + 0x4700], rows=64, row_bytes=256, sstride=256, dstride=256 signal(t15) ; moe_route_dispatch (/ReduceSum_1): load moe_earlier -> t5_f32_64x64
    mxu.mm acc[r0 + 0x240], sram[r0 + 0x4240], sram[r0 + 0x3200], m=64, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t14, t15) signal(t16) ; moe_route_dispatch (/ReduceSum_1): matmul moe_rank = t5_f32_64x64 @ moe_onehot
    vpu.add acc[r0 + 0x240], acc[r0 + 0x240], acc[r0 + 0x200], rows=64, cols=4, dtype=f32, bcast=row wait(t16) signal(t17) ; moe_route_dispatch (/ReduceSum_1): add -> moe_rank
    dma.ld sram[r0 + 0x8240], hbm[r0 + 0x8700], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t18) ; moe_route_dispatch (/ReduceSum_1): load moe_ones -> t6_f32_1x64
    mxu.mm acc[r0 + 0x200], sram[r0 + 0x8240], sram[r0 + 0x3200], m=1, k=64, n=4, dtype=f32, acc=1, tw=0 wait(t17, t18) signal(t19) ; moe_route_dispatch (/ReduceSum_1): matmul expert_running_count += t6_f32_1x64 @ moe_onehot
    dma.ld sram[r0 + 0x3a00], hbm[r0 + 0x46c0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t19) signal(t20) ; moe_route_dispatch (/ReduceSum_1): load moe_slot_bases -> t2_f32_1x4
    vpu.add sram[r0 + 0x3a40], acc[r0 + 0x240], sram[r0 + 0x3a00], rows=64, cols=4, dtype=f32, bcast=row wait(t20) ; moe_route_dispatch (/ReduceSum_1): add -> t3_f32_64x4
    vpu.mul acc[r0 + 0x240], sram[r0 + 0x3200], sram[r0 + 0x3a40], rows=64, cols=4, dtype=f32, bcast=none ; moe_route_dispatch (/ReduceSum_1): mul -> moe_rank
    vpu.rsum sram[r0 + 0x3600], acc[r0 + 0x240], rows=64, cols=4, dtype=f32                          ; moe_route_dispatch (/ReduceSum_1): rsum -> moe_slot_f
    vpu.cvt sram[r0 + 0x3700], sram[r0 + 0x3600], rows=1, cols=64, dtype=f32, odt=i32, bcast=none    ; moe_route_dispatch (/ReduceSum_1): cvt -> moe_slot
    vpu.cvt sram[r0 + 0x8340], acc[r0 + 0x200], rows=1, cols=4, dtype=f32, odt=i32, bcast=none signal(t21) ; moe_route_dispatch (/ReduceSum_1): cvt -> t7_i32_1x4
    dma.st hbm[r0 + 0x4100], sram[r0 + 0x8340], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t21) signal(t22) ; moe_route_dispatch (/ReduceSum_1): store t7_i32_1x4 -> moe_tokens_per_expert
    vpu.muls sram[r0 + 0x3a00], acc[r0 + 0x200], rows=1, cols=4, dtype=f32, imm=0.03125              ; moe_route_dispatch (/ReduceSum_1): muls -> t2_f32_1x4
    vpu.cvt sram[r0 + 0x8340], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, odt=i32, bcast=none wait(t22) signal(t1) ; moe_route_dispatch (/ReduceSum_1): cvt -> t7_i32_1x4
    vpu.cvt sram[r0 + 0x8380], sram[r0 + 0x8340], rows=1, cols=4, dtype=i32, odt=f32, bcast=none signal(t2) ; moe_route_dispatch (/ReduceSum_1): cvt -> t8_f32_1x4
    vpu.cmpgt sram[r0 + 0x83c0], sram[r0 + 0x3a00], sram[r0 + 0x8380], rows=1, cols=4, dtype=f32, bcast=none ; moe_route_dispatch (/ReduceSum_1): cmpgt -> t9_f32_1x4
    vpu.add sram[r0 + 0x8400], sram[r0 + 0x8380], sram[r0 + 0x83c0], rows=1, cols=4, dtype=f32, bcast=none ; moe_route_dispatch (/ReduceSum_1): add -> t10_f32_1x4
    vpu.abs sram[r0 + 0x8480], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, bcast=none              ; moe_route_dispatch (/ReduceSum_1): abs -> t12_f32_1x4
    vpu.neg sram[r0 + 0x8440], sram[r0 + 0x8480], rows=1, cols=4, dtype=f32, bcast=none              ; moe_route_dispatch (/ReduceSum_1): neg -> t11_f32_1x4
    vpu.fill sram[r0 + 0x84c0], rows=1, cols=1, dtype=f32, imm=-8388608.0                            ; moe_route_dispatch (/ReduceSum_1): fill -> t13_f32_1x1
    vpu.cmpgt sram[r0 + 0x8500], sram[r0 + 0x8440], sram[r0 + 0x84c0], rows=1, cols=4, dtype=f32, bcast=scalar ; moe_route_dispatch (/ReduceSum_1): cmpgt -> t14_f32_1x4
    vpu.muls sram[r0 + 0x8580], sram[r0 + 0x8500], rows=1, cols=4, dtype=f32, imm=-1.0               ; moe_route_dispatch (/ReduceSum_1): muls -> t16_f32_1x4
    vpu.adds sram[r0 + 0x8540], sram[r0 + 0x8580], rows=1, cols=4, dtype=f32, imm=1.0                ; moe_route_dispatch (/ReduceSum_1): adds -> t15_f32_1x4
    vpu.sel sram[r0 + 0x8400], sram[r0 + 0x8540], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, bcast=none ; moe_route_dispatch (/ReduceSum_1): sel -> t10_f32_1x4
    vpu.cvt sram[r0 + 0x85c0], sram[r0 + 0x8400], rows=1, cols=4, dtype=f32, odt=i32, bcast=none signal(t23) ; moe_route_dispatch (/ReduceSum_1): cvt -> t17_i32_1x4
    dma.st hbm[r1 + 0x7a00], sram[r0 + 0x85c0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t23) signal(t8) ; moe_route_dispatch (/ReduceSum_1): store t17_i32_1x4 -> moe_tiles_per_expert
    vpu.fill sram[r0 + 0x8600], rows=1, cols=128, dtype=i32, imm=32.0 signal(t24)                    ; moe_route_dispatch (/ReduceSum_1): fill -> t18_i32_1x128
    dma.st hbm[r1 + 0x7600], sram[r0 + 0x8600], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t24) ; moe_route_dispatch (/ReduceSum_1): store t18_i32_1x128 -> moe_slot_token
    vpu.fill sram[r0 + 0x8800], rows=1, cols=128, dtype=f32, imm=0.0 signal(t25)                     ; moe_route_dispatch (/ReduceSum_1): fill -> t19_f32_1x128
    dma.st hbm[r1 + 0x7800], sram[r0 + 0x8800], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t25) ; moe_route_dispatch (/ReduceSum_1): store t19_f32_1x128 -> moe_slot_weight
    vpu.fill sram[r0 + 0x8a00], rows=1, cols=1, dtype=i32, imm=0.0                                   ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a04], rows=1, cols=1, dtype=i32, imm=128.0                                 ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a08], rows=1, cols=1, dtype=i32, imm=-1.0                                  ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x3700], sram[r0 + 0x8a00], rows=64, cols=1, dtype=i32, bcast=scalar ; moe_route_dispatch (/ReduceSum_1): cmpge -> t21_i32_64x1
    vpu.adds sram[r0 + 0x8b40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, imm=128.0             ; moe_route_dispatch (/ReduceSum_1): adds -> t22_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, bcast=none ; moe_route_dispatch (/ReduceSum_1): sel -> t22_i32_64x1
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x8b40], sram[r0 + 0x8a04], rows=64, cols=1, dtype=i32, bcast=scalar ; moe_route_dispatch (/ReduceSum_1): cmpge -> t21_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x8a08], rows=64, cols=1, dtype=i32, bcast=scalar signal(t26) ; moe_route_dispatch (/ReduceSum_1): sel -> t22_i32_64x1
    dma.ld sram[r0 + 0x3800], hbm[r0 + 0x4580], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t27) ; moe_route_dispatch (/ReduceSum_1): load moe_token_of -> t0_i32_1x64
    li r2, 64                                                                                        ; moe_route_dispatch (/ReduceSum_1): scatter t0_i32_1x64 rows by t22_i32_64x1 -> moe_slot_token
    dma.scatter hbm[r1 + 0x7600], sram[r0 + 0x3800], idx=sram[r0 + 0x8b40], n=r2, row_bytes=4, stride=4 wait(t26, t27) signal(t28) ; moe_route_dispatch (/ReduceSum_1): scatter t0_i32_1x64 rows by t22_i32_64x1 -> moe_slot_token
    vpu.fill sram[r0 + 0x8a00], rows=1, cols=1, dtype=i32, imm=0.0                                   ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a04], rows=1, cols=1, dtype=i32, imm=128.0                                 ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a08], rows=1, cols=1, dtype=i32, imm=-1.0                                  ; moe_route_dispatch (/ReduceSum_1): fill -> t20_i32_1x3
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x3700], sram[r0 + 0x8a00], rows=64, cols=1, dtype=i32, bcast=scalar ; moe_route_dispatch (/ReduceSum_1): cmpge -> t21_i32_64x1
    vpu.adds sram[r0 + 0x8b40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, imm=128.0 wait(t28)   ; moe_route_dispatch (/ReduceSum_1): adds -> t22_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, bcast=none ; moe_route_dispatch (/ReduceSum_1): sel -> t22_i32_64x1
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x8b40], sram[r0 + 0x8a04], rows=64, cols=1, dtype=i32, bcast=scalar ; moe_route_dispatch (/ReduceSum_1): cmpge -> t21_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x8a08], rows=64, cols=1, dtype=i32, bcast=scalar signal(t30) ; moe_route_dispatch (/ReduceSum_1): sel -> t22_i32_64x1
    dma.ld sram[r0 + 0x8c40], hbm[r1 + 0x1400], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t29) signal(t31) ; moe_route_dispatch (/ReduceSum_1): load moe_route_weight -> t23_f32_1x64
    dma.scatter hbm[r1 + 0x7800], sram[r0 + 0x8c40], idx=sram[r0 + 0x8b40], n=r2, row_bytes=4, stride=4 wait(t30, t31) ; moe_route_dispatch (/ReduceSum_1): scatter t23_f32_1x64 rows by t22_i32_64x1 -> moe_slot_weight
    dma.ld sram[r0 + 0x8340], hbm[r0 + 0x4100], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t1, t2) ; moe_route_dispatch (/ReduceSum_1): load moe_tokens_per_expert -> t7_i32_1x4
    dma.ld sram[r0 + 0x8d40], hbm[r0 + 0x4540], rows=1, row_bytes=4, sstride=0, dstride=0 signal(t3) ; moe_route_dispatch (/ReduceSum_1): load moe_tile_starts -> t24_i32_1x1
    vpu.sub sram[r0 + 0x85c0], sram[r0 + 0x8340], sram[r0 + 0x8d40], rows=1, cols=4, dtype=i32, bcast=scalar wait(t3) ; moe_route_dispatch (/ReduceSum_1): sub -> t17_i32_1x4
    vpu.maxs sram[r0 + 0x8d80], sram[r0 + 0x85c0], rows=1, cols=4, dtype=i32, imm=0.0                ; moe_route_dispatch (/ReduceSum_1): maxs -> t25_i32_1x4
    vpu.mins sram[r0 + 0x8dc0], sram[r0 + 0x8d80], rows=1, cols=4, dtype=i32, imm=32.0 signal(t4)    ; moe_route_dispatch (/ReduceSum_1): mins -> t26_i32_1x4
    dma.st hbm[r1 + 0x1500], sram[r0 + 0x8dc0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t4)  ; moe_route_dispatch (/ReduceSum_1): store t26_i32_1x4 -> moe_rows_per_tile
; kernel moe_experts (/ReduceSum_1)
    li r3, 65536                                                                                     ; moe_experts (/ReduceSum_1): load hidden_states -> t0_f32_1x2048
    dma.ld sram[r3 + 0xf00], hbm[r0 + 0x0], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t5)  ; moe_experts (/ReduceSum_1): load hidden_states -> t0_f32_1x2048
    dma.st hbm[r1 + 0x3500], sram[r3 + 0xf00], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t5) ; moe_experts (/ReduceSum_1): store t0_f32_1x2048 -> moe_x_padded
    vpu.fill sram[r0 + 0x12f00], rows=1, cols=64, dtype=f32, imm=0.0 signal(t6)                      ; moe_experts (/ReduceSum_1): fill -> t1_f32_1x64
    dma.st hbm[r1 + 0x5500], sram[r3 + 0x2f00], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t6) signal(t9) ; moe_experts (/ReduceSum_1): store t1_f32_1x64 -> moe_x_padded
    vpu.fill sram[r0 + 0x13000], rows=1, cols=2112, dtype=f32, imm=0.0 signal(t7)                    ; moe_experts (/ReduceSum_1): fill -> t2_f32_1x2112
    dma.st hbm[r1 + 0x1400], sram[r3 + 0x3000], rows=1, row_bytes=8448, sstride=0, dstride=0 wait(t7) ; moe_experts (/ReduceSum_1): store t2_f32_1x2112 -> moe_combined
    dma.ld sram[r3 + 0x5100], hbm[r1 + 0x7a00], rows=1, row_bytes=4, sstride=0, dstride=0 wait(t8)   ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=0]
    dma.ld sram[r3 + 0x7380], hbm[r0 + 0x8800], rows=64, row_bytes=512, sstride=512, dstride=512     ; moe_experts (/ReduceSum_1): load concat -> t10_f32_64x128 [_l0=0]
    dma.ld sram[r3 + 0xf380], hbm[r1 + 0x800], rows=1, row_bytes=512, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load b_gate -> t11_f32_1x128 [_l0=0]
    li r4, 131072                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=0]
    dma.ld sram[r4 + 0x7580], hbm[r4 + 0x8800], rows=128, row_bytes=256, sstride=256, dstride=256    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=0]
    dma.ld sram[r3 + 0x2f00], hbm[r1 + 0x1000], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t9) ; moe_experts (/ReduceSum_1): load b_down -> t1_f32_1x64 [_l0=0]
    barrier                                                                                          ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=0]
    lds r30, sram[r0 + 0x15100]                                                                      ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=0]
    li r31, 1                                                                                        ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=0 _l1=0]
    blt r30, r31, L135                                                                               ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=0 _l1=0]
    dma.ld sram[r3 + 0xe00], hbm[r1 + 0x7600], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t10) ; moe_experts (/ReduceSum_1): load moe_slot_token -> tile_token_ids [_l0=0 _l1=0]
    dma.ld sram[r3 + 0xe80], hbm[r1 + 0x7800], rows=1, row_bytes=128, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load moe_slot_weight -> tile_weights [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t10) ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=0 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t8_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t11) ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=0 _l1=0]
    li r5, 32                                                                                        ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=0 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r1 + 0x3500], idx=sram[r3 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t11) signal(t12) ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=0 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t12) signal(t13) ; moe_experts (/ReduceSum_1): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=0 _l1=0]
    vpu.add sram[r0 + 0x1f580], acc[r0 + 0x2640], sram[r0 + 0x1f380], rows=32, cols=128, dtype=f32, bcast=row wait(t13) ; moe_experts (/ReduceSum_1): add -> t12_f32_32x128 [_l0=0 _l1=0]
    vpu.maxs sram[r0 + 0xae00], sram[r0 + 0x1f580], rows=32, cols=128, dtype=f32, imm=0.0 signal(t14) ; moe_experts (/ReduceSum_1): maxs -> expert_act [_l0=0 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r4 + 0x7580], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t14) signal(t15) ; moe_experts (/ReduceSum_1): matmul expert_out = expert_act @ t14_f32_128x64 [_l0=0 _l1=0]
    vpu.add sram[r0 + 0x2f580], acc[r0 + 0x640], sram[r0 + 0x12f00], rows=32, cols=64, dtype=f32, bcast=row wait(t15) ; moe_experts (/ReduceSum_1): add -> t15_f32_32x64 [_l0=0 _l1=0]
    vpu.mul sram[r0 + 0xee00], sram[r0 + 0x2f580], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col ; moe_experts (/ReduceSum_1): mul -> expert_scaled [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x33580], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x33584], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x33588], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x10e00], sram[r0 + 0x33580], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=0 _l1=0]
    vpu.adds sram[r0 + 0x33640], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t19_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x33640], sram[r0 + 0x33584], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x33588], rows=32, cols=1, dtype=i32, bcast=scalar signal(t16) ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=0 _l1=0]
    li r6, 196608                                                                                    ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=0 _l1=0]
    dma.scatter_add hbm[r1 + 0x1400], sram[r0 + 0xee00], idx=sram[r6 + 0x3640], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t16) ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=0 _l1=0]
L135:
    barrier                                                                                          ; moe_experts (/ReduceSum_1): end of for _l1 < t3_i32_1x1[0] [_l0=0]
    li r1, 65536                                                                                     ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    li r2, 294912                                                                                    ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x7a04], rows=1, row_bytes=4, sstride=0, dstride=0            ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    dma.ld sram[r1 + 0x7380], hbm[r1 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; moe_experts (/ReduceSum_1): load concat -> t10_f32_64x128 [_l0=1]
    dma.ld sram[r1 + 0xf380], hbm[r2 + 0xa00], rows=1, row_bytes=512, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load b_gate -> t11_f32_1x128 [_l0=1]
    li r3, 131072                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=1]
    li r4, 196608                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=1]
    dma.ld sram[r3 + 0x7580], hbm[r4 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=1]
    dma.ld sram[r1 + 0x2f00], hbm[r2 + 0x1100], rows=1, row_bytes=256, sstride=0, dstride=0          ; moe_experts (/ReduceSum_1): load b_down -> t1_f32_1x64 [_l0=1]
    barrier                                                                                          ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=1]
    lds r30, sram[r0 + 0x15100]                                                                      ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=1]
    li r31, 1                                                                                        ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=1 _l1=0]
    blt r30, r31, L176                                                                               ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=1 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r2 + 0x7680], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t17) ; moe_experts (/ReduceSum_1): load moe_slot_token -> tile_token_ids [_l0=1 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r2 + 0x7880], rows=1, row_bytes=128, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load moe_slot_weight -> tile_weights [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t17) ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=1 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t8_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t18) ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=1 _l1=0]
    li r5, 32                                                                                        ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=1 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r2 + 0x3500], idx=sram[r1 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t18) signal(t19) ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=1 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t19) signal(t20) ; moe_experts (/ReduceSum_1): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=1 _l1=0]
    vpu.add sram[r0 + 0x1f580], acc[r0 + 0x2640], sram[r0 + 0x1f380], rows=32, cols=128, dtype=f32, bcast=row wait(t20) ; moe_experts (/ReduceSum_1): add -> t12_f32_32x128 [_l0=1 _l1=0]
    vpu.maxs sram[r0 + 0xae00], sram[r0 + 0x1f580], rows=32, cols=128, dtype=f32, imm=0.0 signal(t21) ; moe_experts (/ReduceSum_1): maxs -> expert_act [_l0=1 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0x7580], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t21) signal(t22) ; moe_experts (/ReduceSum_1): matmul expert_out = expert_act @ t14_f32_128x64 [_l0=1 _l1=0]
    vpu.add sram[r0 + 0x2f580], acc[r0 + 0x640], sram[r0 + 0x12f00], rows=32, cols=64, dtype=f32, bcast=row wait(t22) ; moe_experts (/ReduceSum_1): add -> t15_f32_32x64 [_l0=1 _l1=0]
    vpu.mul sram[r0 + 0xee00], sram[r0 + 0x2f580], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col ; moe_experts (/ReduceSum_1): mul -> expert_scaled [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x33580], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x33584], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x33588], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x10e00], sram[r0 + 0x33580], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=1 _l1=0]
    vpu.adds sram[r0 + 0x33640], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t19_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x33640], sram[r0 + 0x33584], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x33588], rows=32, cols=1, dtype=i32, bcast=scalar signal(t23) ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=1 _l1=0]
    dma.scatter_add hbm[r2 + 0x1400], sram[r0 + 0xee00], idx=sram[r4 + 0x3640], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t23) ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=1 _l1=0]
L176:
    barrier                                                                                          ; moe_experts (/ReduceSum_1): end of for _l1 < t3_i32_1x1[0] [_l0=1]
    li r1, 65536                                                                                     ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    li r2, 294912                                                                                    ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x7a08], rows=1, row_bytes=4, sstride=0, dstride=0            ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    dma.ld sram[r1 + 0x7380], hbm[r1 + 0x8800], rows=64, row_bytes=512, sstride=512, dstride=512     ; moe_experts (/ReduceSum_1): load concat -> t10_f32_64x128 [_l0=2]
    dma.ld sram[r1 + 0xf380], hbm[r2 + 0xc00], rows=1, row_bytes=512, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load b_gate -> t11_f32_1x128 [_l0=2]
    li r3, 131072                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=2]
    li r4, 229376                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=2]
    dma.ld sram[r3 + 0x7580], hbm[r4 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=2]
    dma.ld sram[r1 + 0x2f00], hbm[r2 + 0x1200], rows=1, row_bytes=256, sstride=0, dstride=0          ; moe_experts (/ReduceSum_1): load b_down -> t1_f32_1x64 [_l0=2]
    barrier                                                                                          ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=2]
    lds r30, sram[r0 + 0x15100]                                                                      ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=2]
    li r31, 1                                                                                        ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=2 _l1=0]
    blt r30, r31, L218                                                                               ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=2 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r2 + 0x7700], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t24) ; moe_experts (/ReduceSum_1): load moe_slot_token -> tile_token_ids [_l0=2 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r2 + 0x7900], rows=1, row_bytes=128, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load moe_slot_weight -> tile_weights [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t24) ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=2 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t8_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t25) ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=2 _l1=0]
    li r5, 32                                                                                        ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=2 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r2 + 0x3500], idx=sram[r1 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t25) signal(t26) ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=2 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t26) signal(t27) ; moe_experts (/ReduceSum_1): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=2 _l1=0]
    vpu.add sram[r0 + 0x1f580], acc[r0 + 0x2640], sram[r0 + 0x1f380], rows=32, cols=128, dtype=f32, bcast=row wait(t27) ; moe_experts (/ReduceSum_1): add -> t12_f32_32x128 [_l0=2 _l1=0]
    vpu.maxs sram[r0 + 0xae00], sram[r0 + 0x1f580], rows=32, cols=128, dtype=f32, imm=0.0 signal(t28) ; moe_experts (/ReduceSum_1): maxs -> expert_act [_l0=2 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0x7580], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t28) signal(t29) ; moe_experts (/ReduceSum_1): matmul expert_out = expert_act @ t14_f32_128x64 [_l0=2 _l1=0]
    vpu.add sram[r0 + 0x2f580], acc[r0 + 0x640], sram[r0 + 0x12f00], rows=32, cols=64, dtype=f32, bcast=row wait(t29) ; moe_experts (/ReduceSum_1): add -> t15_f32_32x64 [_l0=2 _l1=0]
    vpu.mul sram[r0 + 0xee00], sram[r0 + 0x2f580], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col ; moe_experts (/ReduceSum_1): mul -> expert_scaled [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x33580], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x33584], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x33588], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x10e00], sram[r0 + 0x33580], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=2 _l1=0]
    vpu.adds sram[r0 + 0x33640], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t19_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x33640], sram[r0 + 0x33584], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x33588], rows=32, cols=1, dtype=i32, bcast=scalar signal(t30) ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=2 _l1=0]
    li r6, 196608                                                                                    ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=2 _l1=0]
    dma.scatter_add hbm[r2 + 0x1400], sram[r0 + 0xee00], idx=sram[r6 + 0x3640], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t30) ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=2 _l1=0]
L218:
    barrier                                                                                          ; moe_experts (/ReduceSum_1): end of for _l1 < t3_i32_1x1[0] [_l0=2]
    li r1, 65536                                                                                     ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    li r2, 294912                                                                                    ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x7a0c], rows=1, row_bytes=4, sstride=0, dstride=0            ; moe_experts (/ReduceSum_1): load moe_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    li r3, 131072                                                                                    ; moe_experts (/ReduceSum_1): load concat -> t10_f32_64x128 [_l0=3]
    dma.ld sram[r1 + 0x7380], hbm[r3 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; moe_experts (/ReduceSum_1): load concat -> t10_f32_64x128 [_l0=3]
    dma.ld sram[r1 + 0xf380], hbm[r2 + 0xe00], rows=1, row_bytes=512, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load b_gate -> t11_f32_1x128 [_l0=3]
    li r4, 262144                                                                                    ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=3]
    dma.ld sram[r3 + 0x7580], hbm[r4 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; moe_experts (/ReduceSum_1): load concat_8 -> t14_f32_128x64 [_l0=3]
    dma.ld sram[r1 + 0x2f00], hbm[r2 + 0x1300], rows=1, row_bytes=256, sstride=0, dstride=0          ; moe_experts (/ReduceSum_1): load b_down -> t1_f32_1x64 [_l0=3]
    barrier                                                                                          ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=3]
    lds r30, sram[r0 + 0x15100]                                                                      ; moe_experts (/ReduceSum_1): for _l1 < t3_i32_1x1[0] (max 1) [_l0=3]
    li r31, 1                                                                                        ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=3 _l1=0]
    blt r30, r31, L260                                                                               ; moe_experts (/ReduceSum_1): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=3 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r4 + 0xf780], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t31) ; moe_experts (/ReduceSum_1): load moe_slot_token -> tile_token_ids [_l0=3 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r2 + 0x7980], rows=1, row_bytes=128, sstride=0, dstride=0           ; moe_experts (/ReduceSum_1): load moe_slot_weight -> tile_weights [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t31) ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=3 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t8_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t7_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t1) ; moe_experts (/ReduceSum_1): sel -> t8_i32_32x1 [_l0=3 _l1=0]
    li r5, 32                                                                                        ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=3 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r4 + 0xb500], idx=sram[r1 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t1) signal(t2) ; moe_experts (/ReduceSum_1): gather moe_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=3 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t2) signal(t3) ; moe_experts (/ReduceSum_1): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=3 _l1=0]
    vpu.add sram[r0 + 0x1f580], acc[r0 + 0x2640], sram[r0 + 0x1f380], rows=32, cols=128, dtype=f32, bcast=row wait(t3) ; moe_experts (/ReduceSum_1): add -> t12_f32_32x128 [_l0=3 _l1=0]
    vpu.maxs sram[r0 + 0xae00], sram[r0 + 0x1f580], rows=32, cols=128, dtype=f32, imm=0.0 signal(t4) ; moe_experts (/ReduceSum_1): maxs -> expert_act [_l0=3 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0x7580], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t4) signal(t5) ; moe_experts (/ReduceSum_1): matmul expert_out = expert_act @ t14_f32_128x64 [_l0=3 _l1=0]
    vpu.add sram[r0 + 0x2f580], acc[r0 + 0x640], sram[r0 + 0x12f00], rows=32, cols=64, dtype=f32, bcast=row wait(t5) ; moe_experts (/ReduceSum_1): add -> t15_f32_32x64 [_l0=3 _l1=0]
    vpu.mul sram[r0 + 0xee00], sram[r0 + 0x2f580], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col ; moe_experts (/ReduceSum_1): mul -> expert_scaled [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x33580], rows=1, cols=1, dtype=i32, imm=0.0                                  ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x33584], rows=1, cols=1, dtype=i32, imm=33.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x33588], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; moe_experts (/ReduceSum_1): fill -> t17_i32_1x3 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x10e00], sram[r0 + 0x33580], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=3 _l1=0]
    vpu.adds sram[r0 + 0x33640], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; moe_experts (/ReduceSum_1): adds -> t19_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x335c0], sram[r0 + 0x33640], sram[r0 + 0x33584], rows=32, cols=1, dtype=i32, bcast=scalar ; moe_experts (/ReduceSum_1): cmpge -> t18_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x33640], sram[r0 + 0x335c0], sram[r0 + 0x33588], rows=32, cols=1, dtype=i32, bcast=scalar signal(t6) ; moe_experts (/ReduceSum_1): sel -> t19_i32_32x1 [_l0=3 _l1=0]
    li r6, 196608                                                                                    ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=3 _l1=0]
    dma.scatter_add hbm[r2 + 0x1400], sram[r0 + 0xee00], idx=sram[r6 + 0x3640], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t6) ; moe_experts (/ReduceSum_1): scatter_add expert_scaled rows by t19_i32_32x1 -> moe_combined [_l0=3 _l1=0]
L260:
    barrier                                                                                          ; moe_experts (/ReduceSum_1): end of for _l1 < t3_i32_1x1[0] [_l0=3]
    li r1, 65536                                                                                     ; moe_experts (/ReduceSum_1): load moe_combined -> t0_f32_1x2048
    li r2, 294912                                                                                    ; moe_experts (/ReduceSum_1): load moe_combined -> t0_f32_1x2048
    dma.ld sram[r1 + 0xf00], hbm[r2 + 0x1400], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t7) ; moe_experts (/ReduceSum_1): load moe_combined -> t0_f32_1x2048
    dma.st hbm[r2 + 0x5600], sram[r1 + 0xf00], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t7) signal(t8) ; moe_experts (/ReduceSum_1): store t0_f32_1x2048 -> moe
; kernel output_output (/ReduceSum_1)
    li r3, 196608                                                                                    ; output_output (/ReduceSum_1): load moe -> t0_f32_1x2048
    dma.ld sram[r3 + 0x36c0], hbm[r2 + 0x5600], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t8) signal(t9) ; output_output (/ReduceSum_1): load moe -> t0_f32_1x2048
    dma.st hbm[r0 + 0x2000], sram[r3 + 0x36c0], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t9) ; output_output (/ReduceSum_1): store t0_f32_1x2048 -> output
    halt                                                                                             ; end of program: wait for every unit
