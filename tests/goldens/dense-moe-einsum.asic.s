; ----- program segment 0 (steps 0..3)
.isa moe-asic 1
.region hidden_states 0x0 f32 [2, 16, 64]
.region output 0x2000 f32 [2, 16, 64]
.region _Einsum_output_0_probs 0x69000 f32 [32, 4]
.region _Einsum_output_0_route_weight 0x68800 f32 [32, 2]
.region _Einsum_output_0_route_expert 0x4000 i32 [32, 2]
.region router.weight 0x4140 f32 [64, 4]
.region _Einsum_output_0_tokens_per_expert 0x4100 i32 [4, 1]
.region _Einsum_output_0_tiles_per_expert 0x6ee00 i32 [4, 1]
.region _Einsum_output_0_rows_per_tile 0x68900 i32 [4, 1]
.region _Einsum_output_0_tile_starts 0x4540 i32 [1, 1]
.region _Einsum_output_0_slot_token 0x6ea00 i32 [128, 1]
.region _Einsum_output_0_slot_weight 0x6ec00 f32 [128, 1]
.region _Einsum_output_0_token_of 0x4580 i32 [64, 1]
.region _Einsum_output_0_expert_ids 0x4680 f32 [1, 4]
.region _Einsum_output_0_slot_bases 0x46c0 f32 [1, 4]
.region _Einsum_output_0_earlier 0x4700 f32 [64, 64]
.region _Einsum_output_0_ones 0x8700 f32 [1, 64]
.region _Einsum_output_0_onehot 0x68800 f32 [64, 4]
.region _Einsum_output_0_rank 0x68c00 f32 [64, 4]
.region _Einsum_output_0_slot_f 0x69300 f32 [64, 1]
.region _Einsum_output_0_slot 0x69200 i32 [64, 1]
.region _Einsum_output_0_x_padded 0x6a900 f32 [33, 64]
.region _Einsum_output_0_combined 0x68800 f32 [33, 64]
.region _Einsum_output_0 0x6ca00 f32 [32, 64]
.region transpose 0x8800 f32 [4, 64, 128]
.region transpose_12 0x28800 f32 [4, 64, 128]
.region experts.w_down 0x48800 f32 [4, 128, 64]
; kernel _Einsum_output_0_route (/Einsum)
    dma.ld sram[r0 + 0x580], hbm[r0 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256         ; _Einsum_output_0_route (/Einsum): load hidden_states -> t0_f32_32x64
    dma.ld sram[r0 + 0x2580], hbm[r0 + 0x4140], rows=64, row_bytes=16, sstride=16, dstride=16 signal(t1) ; _Einsum_output_0_route (/Einsum): load router.weight -> t1_f32_64x4
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x580], sram[r0 + 0x2580], m=32, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t1) signal(t2) ; _Einsum_output_0_route (/Einsum): matmul acc = t0_f32_32x64 @ t1_f32_64x4
    vpu.mov sram[r0 + 0x0], acc[r0 + 0x0], rows=1, cols=64, dtype=f32, bcast=none wait(t2)           ; _Einsum_output_0_route (/Einsum): mov -> _Einsum_output_0_probs [_blk=0]
    vpu.rmax sram[r0 + 0x400], sram[r0 + 0x0], rows=16, cols=4, dtype=f32                            ; _Einsum_output_0_route (/Einsum): rmax -> row_max.b16 [_blk=0]
    vpu.sub sram[r0 + 0x29c0], sram[r0 + 0x0], sram[r0 + 0x400], rows=16, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): sub -> t3_f32_16x4 [_blk=0]
    vpu.exp sram[r0 + 0x200], sram[r0 + 0x29c0], rows=16, cols=4, dtype=f32, bcast=none              ; _Einsum_output_0_route (/Einsum): exp -> exps.b16 [_blk=0]
    vpu.rsum sram[r0 + 0x480], sram[r0 + 0x200], rows=16, cols=4, dtype=f32                          ; _Einsum_output_0_route (/Einsum): rsum -> row_sum.b16 [_blk=0]
    vpu.div sram[r0 + 0x0], sram[r0 + 0x200], sram[r0 + 0x480], rows=16, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): div -> _Einsum_output_0_probs [_blk=0]
    vpu.mov sram[r0 + 0x100], acc[r0 + 0x100], rows=1, cols=64, dtype=f32, bcast=none                ; _Einsum_output_0_route (/Einsum): mov -> _Einsum_output_0_probs [_blk=0]
    vpu.rmax sram[r0 + 0x440], sram[r0 + 0x100], rows=16, cols=4, dtype=f32                          ; _Einsum_output_0_route (/Einsum): rmax -> row_max.b16 [_blk=0]
    vpu.sub sram[r0 + 0x2ac0], sram[r0 + 0x100], sram[r0 + 0x440], rows=16, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): sub -> t3_f32_16x4 [_blk=0]
    vpu.exp sram[r0 + 0x300], sram[r0 + 0x2ac0], rows=16, cols=4, dtype=f32, bcast=none              ; _Einsum_output_0_route (/Einsum): exp -> exps.b16 [_blk=0]
    vpu.rsum sram[r0 + 0x4c0], sram[r0 + 0x300], rows=16, cols=4, dtype=f32                          ; _Einsum_output_0_route (/Einsum): rsum -> row_sum.b16 [_blk=0]
    vpu.div sram[r0 + 0x100], sram[r0 + 0x300], sram[r0 + 0x4c0], rows=16, cols=4, dtype=f32, bcast=col ; _Einsum_output_0_route (/Einsum): div -> _Einsum_output_0_probs [_blk=0]
    vpu.topk sram[r0 + 0x2e00], sram[r0 + 0x0], sram[r0 + 0x2f00], rows=32, cols=4, dtype=f32, k=2 signal(t3) ; _Einsum_output_0_route (/Einsum): topk -> t7_f32_32x2
    li r1, 425984                                                                                    ; _Einsum_output_0_route (/Einsum): store t7_f32_32x2 -> _Einsum_output_0_route_weight
    dma.st hbm[r1 + 0x800], sram[r0 + 0x2e00], rows=32, row_bytes=8, sstride=8, dstride=8 wait(t3) signal(t4) ; _Einsum_output_0_route (/Einsum): store t7_f32_32x2 -> _Einsum_output_0_route_weight
    dma.st hbm[r0 + 0x4000], sram[r0 + 0x2f00], rows=32, row_bytes=8, sstride=8, dstride=8 signal(t11) ; _Einsum_output_0_route (/Einsum): store t8_i32_32x2 -> _Einsum_output_0_route_expert
    dma.ld sram[r0 + 0x3000], hbm[r1 + 0x800], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t4) signal(t5) ; _Einsum_output_0_route (/Einsum): load _Einsum_output_0_route_weight -> t9_f32_16x2 [_blk1=0]
    vpu.rsum sram[r0 + 0x500], sram[r0 + 0x3000], rows=16, cols=2, dtype=f32 wait(t5) signal(t6)     ; _Einsum_output_0_route (/Einsum): rsum -> top_sum.b16 [_blk1=0]
    vpu.div sram[r0 + 0x3100], sram[r0 + 0x3000], sram[r0 + 0x500], rows=16, cols=2, dtype=f32, bcast=col signal(t7) ; _Einsum_output_0_route (/Einsum): div -> t10_f32_16x2 [_blk1=0]
    dma.st hbm[r1 + 0x800], sram[r0 + 0x3100], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t6, t7) ; _Einsum_output_0_route (/Einsum): store t10_f32_16x2 -> _Einsum_output_0_route_weight [_blk1=0]
    dma.ld sram[r0 + 0x3080], hbm[r1 + 0x880], rows=16, row_bytes=8, sstride=8, dstride=8 signal(t8) ; _Einsum_output_0_route (/Einsum): load _Einsum_output_0_route_weight -> t9_f32_16x2 [_blk1=0]
    vpu.rsum sram[r0 + 0x540], sram[r0 + 0x3080], rows=16, cols=2, dtype=f32 wait(t8) signal(t9)     ; _Einsum_output_0_route (/Einsum): rsum -> top_sum.b16 [_blk1=0]
    vpu.div sram[r0 + 0x3180], sram[r0 + 0x3080], sram[r0 + 0x540], rows=16, cols=2, dtype=f32, bcast=col signal(t10) ; _Einsum_output_0_route (/Einsum): div -> t10_f32_16x2 [_blk1=0]
    dma.st hbm[r1 + 0x880], sram[r0 + 0x3180], rows=16, row_bytes=8, sstride=8, dstride=8 wait(t9, t10) signal(t29) ; _Einsum_output_0_route (/Einsum): store t10_f32_16x2 -> _Einsum_output_0_route_weight [_blk1=0]
; kernel _Einsum_output_0_route_dispatch (/Einsum)
    dma.ld sram[r0 + 0x3800], hbm[r0 + 0x4000], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t11) signal(t12) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_route_expert -> t0_i32_1x64
    vpu.cvt sram[r0 + 0x3900], sram[r0 + 0x3800], rows=64, cols=1, dtype=i32, odt=f32, bcast=none wait(t12) ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> t1_f32_64x1
    dma.ld sram[r0 + 0x3a00], hbm[r0 + 0x4680], rows=1, row_bytes=16, sstride=0, dstride=0 signal(t13) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_expert_ids -> t2_f32_1x4
    vpu.mov sram[r0 + 0x3a40], sram[r0 + 0x3900], rows=64, cols=4, dtype=f32, bcast=col              ; _Einsum_output_0_route_dispatch (/Einsum): mov -> t3_f32_64x4
    vpu.cmpeq sram[r0 + 0x3200], sram[r0 + 0x3a40], sram[r0 + 0x3a00], rows=64, cols=4, dtype=f32, bcast=row wait(t13) signal(t14) ; _Einsum_output_0_route_dispatch (/Einsum): cmpeq -> _Einsum_output_0_onehot
    vpu.fill acc[r0 + 0x200], rows=1, cols=4, dtype=f32, imm=0.0                                     ; _Einsum_output_0_route_dispatch (/Einsum): fill -> expert_running_count
    dma.ld sram[r0 + 0x4240], hbm[r0 + 0x4700], rows=64, row_bytes=256, sstride=256, dstride=256 signal(t15) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_earlier -> t5_f32_64x64
    mxu.mm acc[r0 + 0x240], sram[r0 + 0x4240], sram[r0 + 0x3200], m=64, k=64, n=4, dtype=f32, acc=0, tw=0 wait(t14, t15) signal(t16) ; _Einsum_output_0_route_dispatch (/Einsum): matmul _Einsum_output_0_rank = t5_f32_64x64 @ _Einsum_output_0_onehot
    vpu.add acc[r0 + 0x240], acc[r0 + 0x240], acc[r0 + 0x200], rows=64, cols=4, dtype=f32, bcast=row wait(t16) signal(t17) ; _Einsum_output_0_route_dispatch (/Einsum): add -> _Einsum_output_0_rank
    dma.ld sram[r0 + 0x8240], hbm[r0 + 0x8700], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t18) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_ones -> t6_f32_1x64
    mxu.mm acc[r0 + 0x200], sram[r0 + 0x8240], sram[r0 + 0x3200], m=1, k=64, n=4, dtype=f32, acc=1, tw=0 wait(t17, t18) signal(t19) ; _Einsum_output_0_route_dispatch (/Einsum): matmul expert_running_count += t6_f32_1x64 @ _Einsum_output_0_onehot
    dma.ld sram[r0 + 0x3a00], hbm[r0 + 0x46c0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t19) signal(t20) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_slot_bases -> t2_f32_1x4
    vpu.add sram[r0 + 0x3a40], acc[r0 + 0x240], sram[r0 + 0x3a00], rows=64, cols=4, dtype=f32, bcast=row wait(t20) ; _Einsum_output_0_route_dispatch (/Einsum): add -> t3_f32_64x4
    vpu.mul acc[r0 + 0x240], sram[r0 + 0x3200], sram[r0 + 0x3a40], rows=64, cols=4, dtype=f32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): mul -> _Einsum_output_0_rank
    vpu.rsum sram[r0 + 0x3600], acc[r0 + 0x240], rows=64, cols=4, dtype=f32                          ; _Einsum_output_0_route_dispatch (/Einsum): rsum -> _Einsum_output_0_slot_f
    vpu.cvt sram[r0 + 0x3700], sram[r0 + 0x3600], rows=1, cols=64, dtype=f32, odt=i32, bcast=none    ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> _Einsum_output_0_slot
    vpu.cvt sram[r0 + 0x8340], acc[r0 + 0x200], rows=1, cols=4, dtype=f32, odt=i32, bcast=none signal(t21) ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> t7_i32_1x4
    dma.st hbm[r0 + 0x4100], sram[r0 + 0x8340], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t21) signal(t22) ; _Einsum_output_0_route_dispatch (/Einsum): store t7_i32_1x4 -> _Einsum_output_0_tokens_per_expert
    vpu.muls sram[r0 + 0x3a00], acc[r0 + 0x200], rows=1, cols=4, dtype=f32, imm=0.03125              ; _Einsum_output_0_route_dispatch (/Einsum): muls -> t2_f32_1x4
    vpu.cvt sram[r0 + 0x8340], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, odt=i32, bcast=none wait(t22) signal(t1) ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> t7_i32_1x4
    vpu.cvt sram[r0 + 0x8380], sram[r0 + 0x8340], rows=1, cols=4, dtype=i32, odt=f32, bcast=none signal(t2) ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> t8_f32_1x4
    vpu.cmpgt sram[r0 + 0x83c0], sram[r0 + 0x3a00], sram[r0 + 0x8380], rows=1, cols=4, dtype=f32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): cmpgt -> t9_f32_1x4
    vpu.add sram[r0 + 0x8400], sram[r0 + 0x8380], sram[r0 + 0x83c0], rows=1, cols=4, dtype=f32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): add -> t10_f32_1x4
    vpu.abs sram[r0 + 0x8480], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, bcast=none              ; _Einsum_output_0_route_dispatch (/Einsum): abs -> t12_f32_1x4
    vpu.neg sram[r0 + 0x8440], sram[r0 + 0x8480], rows=1, cols=4, dtype=f32, bcast=none              ; _Einsum_output_0_route_dispatch (/Einsum): neg -> t11_f32_1x4
    vpu.fill sram[r0 + 0x84c0], rows=1, cols=1, dtype=f32, imm=-8388608.0                            ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t13_f32_1x1
    vpu.cmpgt sram[r0 + 0x8500], sram[r0 + 0x8440], sram[r0 + 0x84c0], rows=1, cols=4, dtype=f32, bcast=scalar ; _Einsum_output_0_route_dispatch (/Einsum): cmpgt -> t14_f32_1x4
    vpu.muls sram[r0 + 0x8580], sram[r0 + 0x8500], rows=1, cols=4, dtype=f32, imm=-1.0               ; _Einsum_output_0_route_dispatch (/Einsum): muls -> t16_f32_1x4
    vpu.adds sram[r0 + 0x8540], sram[r0 + 0x8580], rows=1, cols=4, dtype=f32, imm=1.0                ; _Einsum_output_0_route_dispatch (/Einsum): adds -> t15_f32_1x4
    vpu.sel sram[r0 + 0x8400], sram[r0 + 0x8540], sram[r0 + 0x3a00], rows=1, cols=4, dtype=f32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): sel -> t10_f32_1x4
    vpu.cvt sram[r0 + 0x85c0], sram[r0 + 0x8400], rows=1, cols=4, dtype=f32, odt=i32, bcast=none signal(t23) ; _Einsum_output_0_route_dispatch (/Einsum): cvt -> t17_i32_1x4
    dma.st hbm[r1 + 0x6e00], sram[r0 + 0x85c0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t23) signal(t8) ; _Einsum_output_0_route_dispatch (/Einsum): store t17_i32_1x4 -> _Einsum_output_0_tiles_per_expert
    vpu.fill sram[r0 + 0x8600], rows=1, cols=128, dtype=i32, imm=32.0 signal(t24)                    ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t18_i32_1x128
    dma.st hbm[r1 + 0x6a00], sram[r0 + 0x8600], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t24) ; _Einsum_output_0_route_dispatch (/Einsum): store t18_i32_1x128 -> _Einsum_output_0_slot_token
    vpu.fill sram[r0 + 0x8800], rows=1, cols=128, dtype=f32, imm=0.0 signal(t25)                     ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t19_f32_1x128
    dma.st hbm[r1 + 0x6c00], sram[r0 + 0x8800], rows=1, row_bytes=512, sstride=0, dstride=0 wait(t25) ; _Einsum_output_0_route_dispatch (/Einsum): store t19_f32_1x128 -> _Einsum_output_0_slot_weight
    vpu.fill sram[r0 + 0x8a00], rows=1, cols=1, dtype=i32, imm=0.0                                   ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a04], rows=1, cols=1, dtype=i32, imm=128.0                                 ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a08], rows=1, cols=1, dtype=i32, imm=-1.0                                  ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x3700], sram[r0 + 0x8a00], rows=64, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_route_dispatch (/Einsum): cmpge -> t21_i32_64x1
    vpu.adds sram[r0 + 0x8b40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, imm=128.0             ; _Einsum_output_0_route_dispatch (/Einsum): adds -> t22_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): sel -> t22_i32_64x1
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x8b40], sram[r0 + 0x8a04], rows=64, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_route_dispatch (/Einsum): cmpge -> t21_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x8a08], rows=64, cols=1, dtype=i32, bcast=scalar signal(t26) ; _Einsum_output_0_route_dispatch (/Einsum): sel -> t22_i32_64x1
    dma.ld sram[r0 + 0x3800], hbm[r0 + 0x4580], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t27) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_token_of -> t0_i32_1x64
    li r2, 64                                                                                        ; _Einsum_output_0_route_dispatch (/Einsum): scatter t0_i32_1x64 rows by t22_i32_64x1 -> _Einsum_output_0_slot_token
    dma.scatter hbm[r1 + 0x6a00], sram[r0 + 0x3800], idx=sram[r0 + 0x8b40], n=r2, row_bytes=4, stride=4 wait(t26, t27) signal(t28) ; _Einsum_output_0_route_dispatch (/Einsum): scatter t0_i32_1x64 rows by t22_i32_64x1 -> _Einsum_output_0_slot_token
    vpu.fill sram[r0 + 0x8a00], rows=1, cols=1, dtype=i32, imm=0.0                                   ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a04], rows=1, cols=1, dtype=i32, imm=128.0                                 ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.fill sram[r0 + 0x8a08], rows=1, cols=1, dtype=i32, imm=-1.0                                  ; _Einsum_output_0_route_dispatch (/Einsum): fill -> t20_i32_1x3
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x3700], sram[r0 + 0x8a00], rows=64, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_route_dispatch (/Einsum): cmpge -> t21_i32_64x1
    vpu.adds sram[r0 + 0x8b40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, imm=128.0 wait(t28)   ; _Einsum_output_0_route_dispatch (/Einsum): adds -> t22_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x3700], rows=64, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_route_dispatch (/Einsum): sel -> t22_i32_64x1
    vpu.cmpge sram[r0 + 0x8a40], sram[r0 + 0x8b40], sram[r0 + 0x8a04], rows=64, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_route_dispatch (/Einsum): cmpge -> t21_i32_64x1
    vpu.sel sram[r0 + 0x8b40], sram[r0 + 0x8a40], sram[r0 + 0x8a08], rows=64, cols=1, dtype=i32, bcast=scalar signal(t30) ; _Einsum_output_0_route_dispatch (/Einsum): sel -> t22_i32_64x1
    dma.ld sram[r0 + 0x8c40], hbm[r1 + 0x800], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t29) signal(t31) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_route_weight -> t23_f32_1x64
    dma.scatter hbm[r1 + 0x6c00], sram[r0 + 0x8c40], idx=sram[r0 + 0x8b40], n=r2, row_bytes=4, stride=4 wait(t30, t31) ; _Einsum_output_0_route_dispatch (/Einsum): scatter t23_f32_1x64 rows by t22_i32_64x1 -> _Einsum_output_0_slot_weight
    dma.ld sram[r0 + 0x8340], hbm[r0 + 0x4100], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t1, t2) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_tokens_per_expert -> t7_i32_1x4
    dma.ld sram[r0 + 0x8d40], hbm[r0 + 0x4540], rows=1, row_bytes=4, sstride=0, dstride=0 signal(t3) ; _Einsum_output_0_route_dispatch (/Einsum): load _Einsum_output_0_tile_starts -> t24_i32_1x1
    vpu.sub sram[r0 + 0x85c0], sram[r0 + 0x8340], sram[r0 + 0x8d40], rows=1, cols=4, dtype=i32, bcast=scalar wait(t3) ; _Einsum_output_0_route_dispatch (/Einsum): sub -> t17_i32_1x4
    vpu.maxs sram[r0 + 0x8d80], sram[r0 + 0x85c0], rows=1, cols=4, dtype=i32, imm=0.0                ; _Einsum_output_0_route_dispatch (/Einsum): maxs -> t25_i32_1x4
    vpu.mins sram[r0 + 0x8dc0], sram[r0 + 0x8d80], rows=1, cols=4, dtype=i32, imm=32.0 signal(t4)    ; _Einsum_output_0_route_dispatch (/Einsum): mins -> t26_i32_1x4
    dma.st hbm[r1 + 0x900], sram[r0 + 0x8dc0], rows=1, row_bytes=16, sstride=0, dstride=0 wait(t4)   ; _Einsum_output_0_route_dispatch (/Einsum): store t26_i32_1x4 -> _Einsum_output_0_rows_per_tile
; kernel _Einsum_output_0_experts (/Einsum)
    li r3, 65536                                                                                     ; _Einsum_output_0_experts (/Einsum): load hidden_states -> t0_f32_1x2048
    dma.ld sram[r3 + 0xf00], hbm[r0 + 0x0], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t5)  ; _Einsum_output_0_experts (/Einsum): load hidden_states -> t0_f32_1x2048
    dma.st hbm[r1 + 0x2900], sram[r3 + 0xf00], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t5) ; _Einsum_output_0_experts (/Einsum): store t0_f32_1x2048 -> _Einsum_output_0_x_padded
    vpu.fill sram[r0 + 0x12f00], rows=1, cols=64, dtype=f32, imm=0.0 signal(t6)                      ; _Einsum_output_0_experts (/Einsum): fill -> t1_f32_1x64
    dma.st hbm[r1 + 0x4900], sram[r3 + 0x2f00], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t6) ; _Einsum_output_0_experts (/Einsum): store t1_f32_1x64 -> _Einsum_output_0_x_padded
    vpu.fill sram[r0 + 0x13000], rows=1, cols=2112, dtype=f32, imm=0.0 signal(t7)                    ; _Einsum_output_0_experts (/Einsum): fill -> t2_f32_1x2112
    dma.st hbm[r1 + 0x800], sram[r3 + 0x3000], rows=1, row_bytes=8448, sstride=0, dstride=0 wait(t7) ; _Einsum_output_0_experts (/Einsum): store t2_f32_1x2112 -> _Einsum_output_0_combined
    dma.ld sram[r3 + 0x5100], hbm[r1 + 0x6e00], rows=1, row_bytes=4, sstride=0, dstride=0 wait(t8)   ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=0]
    dma.ld sram[r3 + 0x7380], hbm[r0 + 0x8800], rows=64, row_bytes=512, sstride=512, dstride=512     ; _Einsum_output_0_experts (/Einsum): load transpose -> t10_f32_64x128 [_l0=0]
    li r4, 163840                                                                                    ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=0]
    dma.ld sram[r3 + 0xf380], hbm[r4 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=0]
    li r5, 229376                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=0]
    li r6, 294912                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=0]
    dma.ld sram[r5 + 0x3380], hbm[r6 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=0]
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=0]
    lds r30, sram[r0 + 0x15100]                                                                      ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=0]
    li r31, 1                                                                                        ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=0 _l1=0]
    blt r30, r31, L138                                                                               ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=0 _l1=0]
    dma.ld sram[r3 + 0xe00], hbm[r1 + 0x6a00], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t9) ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_token -> tile_token_ids [_l0=0 _l1=0]
    dma.ld sram[r3 + 0xe80], hbm[r1 + 0x6c00], rows=1, row_bytes=128, sstride=0, dstride=0           ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_weight -> tile_weights [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t9) ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=0 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t8_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=0 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t10) ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=0 _l1=0]
    li r7, 32                                                                                        ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=0 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r1 + 0x2900], idx=sram[r3 + 0x5300], n=r7, row_bytes=256, stride=256 wait(t10) signal(t11) ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=0 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t11) signal(t12) ; _Einsum_output_0_experts (/Einsum): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=0 _l1=0]
    mxu.mm acc[r0 + 0x6640], sram[r0 + 0x8e00], sram[r0 + 0x1f380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t13) ; _Einsum_output_0_experts (/Einsum): matmul expert_up = expert_tokens @ t11_f32_64x128 [_l0=0 _l1=0]
    vpu.neg sram[r0 + 0x27380], acc[r0 + 0x2640], rows=32, cols=128, dtype=f32, bcast=none wait(t12) ; _Einsum_output_0_experts (/Einsum): neg -> t12_f32_32x128 [_l0=0 _l1=0]
    vpu.exp sram[r0 + 0x2b380], sram[r0 + 0x27380], rows=32, cols=128, dtype=f32, bcast=none         ; _Einsum_output_0_experts (/Einsum): exp -> t13_f32_32x128 [_l0=0 _l1=0]
    vpu.adds sram[r0 + 0x2f380], sram[r0 + 0x2b380], rows=32, cols=128, dtype=f32, imm=1.0           ; _Einsum_output_0_experts (/Einsum): adds -> t14_f32_32x128 [_l0=0 _l1=0]
    vpu.div sram[r0 + 0x33380], acc[r0 + 0x2640], sram[r0 + 0x2f380], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0_experts (/Einsum): div -> t15_f32_32x128 [_l0=0 _l1=0]
    vpu.mul sram[r0 + 0xae00], sram[r0 + 0x33380], acc[r0 + 0x6640], rows=32, cols=128, dtype=f32, bcast=none wait(t13) signal(t14) ; _Einsum_output_0_experts (/Einsum): mul -> expert_act [_l0=0 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r4 + 0x13380], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t14) signal(t15) ; _Einsum_output_0_experts (/Einsum): matmul expert_out = expert_act @ t17_f32_128x64 [_l0=0 _l1=0]
    vpu.mul sram[r0 + 0xee00], acc[r0 + 0x640], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col wait(t15) ; _Einsum_output_0_experts (/Einsum): mul -> expert_scaled [_l0=0 _l1=0]
    vpu.fill sram[r5 + 0xd380], rows=1, cols=1, dtype=i32, imm=0.0                                   ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r3 + 0x35384], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=0 _l1=0]
    vpu.fill sram[r4 + 0x1d388], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=0 _l1=0]
    vpu.cmpge sram[r5 + 0xd3c0], sram[r0 + 0x10e00], sram[r3 + 0x35380], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=0 _l1=0]
    vpu.adds sram[r4 + 0x1d440], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t21_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r5 + 0xd440], sram[r3 + 0x353c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=0 _l1=0]
    vpu.cmpge sram[r4 + 0x1d3c0], sram[r5 + 0xd440], sram[r3 + 0x35384], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=0 _l1=0]
    vpu.sel sram[r4 + 0x1d440], sram[r5 + 0xd3c0], sram[r3 + 0x35388], rows=32, cols=1, dtype=i32, bcast=scalar signal(t16) ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=0 _l1=0]
    dma.scatter_add hbm[r1 + 0x800], sram[r0 + 0xee00], idx=sram[r5 + 0xd440], n=r7, row_bytes=256, stride=256, dtype=f32 wait(t16) ; _Einsum_output_0_experts (/Einsum): scatter_add expert_scaled rows by t21_i32_32x1 -> _Einsum_output_0_combined [_l0=0 _l1=0]
L138:
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): end of for _l1 < t3_i32_1x1[0] [_l0=0]
    li r1, 65536                                                                                     ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    li r2, 425984                                                                                    ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x6e04], rows=1, row_bytes=4, sstride=0, dstride=0            ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=1]
    dma.ld sram[r1 + 0x7380], hbm[r1 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose -> t10_f32_64x128 [_l0=1]
    li r3, 196608                                                                                    ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=1]
    dma.ld sram[r1 + 0xf380], hbm[r3 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=1]
    li r4, 327680                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=1]
    dma.ld sram[r3 + 0xb380], hbm[r4 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=1]
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=1]
    lds r30, sram[r0 + 0x15100]                                                                      ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=1]
    li r31, 1                                                                                        ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=1 _l1=0]
    blt r30, r31, L182                                                                               ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=1 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r2 + 0x6a80], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t17) ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_token -> tile_token_ids [_l0=1 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r2 + 0x6c80], rows=1, row_bytes=128, sstride=0, dstride=0           ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_weight -> tile_weights [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t17) ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=1 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t8_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=1 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t18) ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=1 _l1=0]
    li r5, 32                                                                                        ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=1 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r2 + 0x2900], idx=sram[r1 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t18) signal(t19) ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=1 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t19) signal(t20) ; _Einsum_output_0_experts (/Einsum): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=1 _l1=0]
    mxu.mm acc[r0 + 0x6640], sram[r0 + 0x8e00], sram[r0 + 0x1f380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t21) ; _Einsum_output_0_experts (/Einsum): matmul expert_up = expert_tokens @ t11_f32_64x128 [_l0=1 _l1=0]
    vpu.neg sram[r0 + 0x27380], acc[r0 + 0x2640], rows=32, cols=128, dtype=f32, bcast=none wait(t20) ; _Einsum_output_0_experts (/Einsum): neg -> t12_f32_32x128 [_l0=1 _l1=0]
    vpu.exp sram[r0 + 0x2b380], sram[r0 + 0x27380], rows=32, cols=128, dtype=f32, bcast=none         ; _Einsum_output_0_experts (/Einsum): exp -> t13_f32_32x128 [_l0=1 _l1=0]
    vpu.adds sram[r0 + 0x2f380], sram[r0 + 0x2b380], rows=32, cols=128, dtype=f32, imm=1.0           ; _Einsum_output_0_experts (/Einsum): adds -> t14_f32_32x128 [_l0=1 _l1=0]
    vpu.div sram[r0 + 0x33380], acc[r0 + 0x2640], sram[r0 + 0x2f380], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0_experts (/Einsum): div -> t15_f32_32x128 [_l0=1 _l1=0]
    vpu.mul sram[r0 + 0xae00], sram[r0 + 0x33380], acc[r0 + 0x6640], rows=32, cols=128, dtype=f32, bcast=none wait(t21) signal(t22) ; _Einsum_output_0_experts (/Einsum): mul -> expert_act [_l0=1 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0xb380], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t22) signal(t23) ; _Einsum_output_0_experts (/Einsum): matmul expert_out = expert_act @ t17_f32_128x64 [_l0=1 _l1=0]
    vpu.mul sram[r0 + 0xee00], acc[r0 + 0x640], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col wait(t23) ; _Einsum_output_0_experts (/Einsum): mul -> expert_scaled [_l0=1 _l1=0]
    vpu.fill sram[r1 + 0x35380], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r3 + 0x15384], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=1 _l1=0]
    vpu.fill sram[r1 + 0x35388], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=1 _l1=0]
    vpu.cmpge sram[r3 + 0x153c0], sram[r0 + 0x10e00], sram[r1 + 0x35380], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=1 _l1=0]
    vpu.adds sram[r3 + 0x15440], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t21_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r1 + 0x35440], sram[r3 + 0x153c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=1 _l1=0]
    vpu.cmpge sram[r1 + 0x353c0], sram[r3 + 0x15440], sram[r1 + 0x35384], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=1 _l1=0]
    vpu.sel sram[r3 + 0x15440], sram[r1 + 0x353c0], sram[r3 + 0x15388], rows=32, cols=1, dtype=i32, bcast=scalar signal(t24) ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=1 _l1=0]
    li r6, 262144                                                                                    ; _Einsum_output_0_experts (/Einsum): scatter_add expert_scaled rows by t21_i32_32x1 -> _Einsum_output_0_combined [_l0=1 _l1=0]
    dma.scatter_add hbm[r2 + 0x800], sram[r0 + 0xee00], idx=sram[r6 + 0x5440], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t24) ; _Einsum_output_0_experts (/Einsum): scatter_add expert_scaled rows by t21_i32_32x1 -> _Einsum_output_0_combined [_l0=1 _l1=0]
L182:
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): end of for _l1 < t3_i32_1x1[0] [_l0=1]
    li r1, 65536                                                                                     ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    li r2, 425984                                                                                    ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x6e08], rows=1, row_bytes=4, sstride=0, dstride=0            ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=2]
    dma.ld sram[r1 + 0x7380], hbm[r1 + 0x8800], rows=64, row_bytes=512, sstride=512, dstride=512     ; _Einsum_output_0_experts (/Einsum): load transpose -> t10_f32_64x128 [_l0=2]
    li r3, 229376                                                                                    ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=2]
    dma.ld sram[r1 + 0xf380], hbm[r3 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=2]
    li r4, 360448                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=2]
    dma.ld sram[r3 + 0x3380], hbm[r4 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=2]
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=2]
    lds r30, sram[r0 + 0x15100]                                                                      ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=2]
    li r31, 1                                                                                        ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=2 _l1=0]
    blt r30, r31, L225                                                                               ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=2 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r2 + 0x6b00], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t25) ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_token -> tile_token_ids [_l0=2 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r2 + 0x6d00], rows=1, row_bytes=128, sstride=0, dstride=0           ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_weight -> tile_weights [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t25) ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=2 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t8_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=2 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t26) ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=2 _l1=0]
    li r5, 32                                                                                        ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=2 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r2 + 0x2900], idx=sram[r1 + 0x5300], n=r5, row_bytes=256, stride=256 wait(t26) signal(t27) ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=2 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t27) signal(t28) ; _Einsum_output_0_experts (/Einsum): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=2 _l1=0]
    mxu.mm acc[r0 + 0x6640], sram[r0 + 0x8e00], sram[r0 + 0x1f380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t29) ; _Einsum_output_0_experts (/Einsum): matmul expert_up = expert_tokens @ t11_f32_64x128 [_l0=2 _l1=0]
    vpu.neg sram[r0 + 0x27380], acc[r0 + 0x2640], rows=32, cols=128, dtype=f32, bcast=none wait(t28) ; _Einsum_output_0_experts (/Einsum): neg -> t12_f32_32x128 [_l0=2 _l1=0]
    vpu.exp sram[r0 + 0x2b380], sram[r0 + 0x27380], rows=32, cols=128, dtype=f32, bcast=none         ; _Einsum_output_0_experts (/Einsum): exp -> t13_f32_32x128 [_l0=2 _l1=0]
    vpu.adds sram[r0 + 0x2f380], sram[r0 + 0x2b380], rows=32, cols=128, dtype=f32, imm=1.0           ; _Einsum_output_0_experts (/Einsum): adds -> t14_f32_32x128 [_l0=2 _l1=0]
    vpu.div sram[r0 + 0x33380], acc[r0 + 0x2640], sram[r0 + 0x2f380], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0_experts (/Einsum): div -> t15_f32_32x128 [_l0=2 _l1=0]
    vpu.mul sram[r0 + 0xae00], sram[r0 + 0x33380], acc[r0 + 0x6640], rows=32, cols=128, dtype=f32, bcast=none wait(t29) signal(t30) ; _Einsum_output_0_experts (/Einsum): mul -> expert_act [_l0=2 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0x3380], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t30) signal(t31) ; _Einsum_output_0_experts (/Einsum): matmul expert_out = expert_act @ t17_f32_128x64 [_l0=2 _l1=0]
    vpu.mul sram[r0 + 0xee00], acc[r0 + 0x640], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col wait(t31) ; _Einsum_output_0_experts (/Einsum): mul -> expert_scaled [_l0=2 _l1=0]
    vpu.fill sram[r1 + 0x35380], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r3 + 0xd384], rows=1, cols=1, dtype=i32, imm=33.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=2 _l1=0]
    vpu.fill sram[r1 + 0x35388], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=2 _l1=0]
    vpu.cmpge sram[r3 + 0xd3c0], sram[r0 + 0x10e00], sram[r1 + 0x35380], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=2 _l1=0]
    vpu.adds sram[r3 + 0xd440], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0             ; _Einsum_output_0_experts (/Einsum): adds -> t21_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r1 + 0x35440], sram[r3 + 0xd3c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=2 _l1=0]
    vpu.cmpge sram[r1 + 0x353c0], sram[r3 + 0xd440], sram[r1 + 0x35384], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=2 _l1=0]
    vpu.sel sram[r3 + 0xd440], sram[r1 + 0x353c0], sram[r3 + 0xd388], rows=32, cols=1, dtype=i32, bcast=scalar signal(t1) ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=2 _l1=0]
    dma.scatter_add hbm[r2 + 0x800], sram[r0 + 0xee00], idx=sram[r3 + 0xd440], n=r5, row_bytes=256, stride=256, dtype=f32 wait(t1) ; _Einsum_output_0_experts (/Einsum): scatter_add expert_scaled rows by t21_i32_32x1 -> _Einsum_output_0_combined [_l0=2 _l1=0]
L225:
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): end of for _l1 < t3_i32_1x1[0] [_l0=2]
    li r1, 65536                                                                                     ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    li r2, 425984                                                                                    ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x6e0c], rows=1, row_bytes=4, sstride=0, dstride=0            ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_tiles_per_expert -> t3_i32_1x1 [_l0=3]
    li r3, 131072                                                                                    ; _Einsum_output_0_experts (/Einsum): load transpose -> t10_f32_64x128 [_l0=3]
    dma.ld sram[r1 + 0x7380], hbm[r3 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose -> t10_f32_64x128 [_l0=3]
    li r4, 262144                                                                                    ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=3]
    dma.ld sram[r1 + 0xf380], hbm[r4 + 0x800], rows=64, row_bytes=512, sstride=512, dstride=512      ; _Einsum_output_0_experts (/Einsum): load transpose_12 -> t11_f32_64x128 [_l0=3]
    li r5, 229376                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=3]
    li r6, 393216                                                                                    ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=3]
    dma.ld sram[r5 + 0x3380], hbm[r6 + 0x800], rows=128, row_bytes=256, sstride=256, dstride=256     ; _Einsum_output_0_experts (/Einsum): load experts.w_down -> t17_f32_128x64 [_l0=3]
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=3]
    lds r30, sram[r0 + 0x15100]                                                                      ; _Einsum_output_0_experts (/Einsum): for _l1 < t3_i32_1x1[0] (max 1) [_l0=3]
    li r31, 1                                                                                        ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=3 _l1=0]
    blt r30, r31, L270                                                                               ; _Einsum_output_0_experts (/Einsum): iteration 0 of for _l1 < t3_i32_1x1[0] [_l0=3 _l1=0]
    dma.ld sram[r1 + 0xe00], hbm[r2 + 0x6b80], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t2) ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_token -> tile_token_ids [_l0=3 _l1=0]
    dma.ld sram[r1 + 0xe80], hbm[r6 + 0xed80], rows=1, row_bytes=128, sstride=0, dstride=0           ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_slot_weight -> tile_weights [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15240], rows=1, cols=1, dtype=i32, imm=0.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15244], rows=1, cols=1, dtype=i32, imm=33.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r0 + 0x15248], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t6_i32_1x3 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x10e00], sram[r0 + 0x15240], rows=32, cols=1, dtype=i32, bcast=scalar wait(t2) ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=3 _l1=0]
    vpu.adds sram[r0 + 0x15300], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0            ; _Einsum_output_0_experts (/Einsum): adds -> t8_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=3 _l1=0]
    vpu.cmpge sram[r0 + 0x15280], sram[r0 + 0x15300], sram[r0 + 0x15244], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t7_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r0 + 0x15300], sram[r0 + 0x15280], sram[r0 + 0x15248], rows=32, cols=1, dtype=i32, bcast=scalar signal(t3) ; _Einsum_output_0_experts (/Einsum): sel -> t8_i32_32x1 [_l0=3 _l1=0]
    li r7, 32                                                                                        ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=3 _l1=0]
    dma.gather sram[r0 + 0x8e00], hbm[r2 + 0x2900], idx=sram[r1 + 0x5300], n=r7, row_bytes=256, stride=256 wait(t3) signal(t4) ; _Einsum_output_0_experts (/Einsum): gather _Einsum_output_0_x_padded rows by t8_i32_32x1 -> expert_tokens [_l0=3 _l1=0]
    mxu.mm acc[r0 + 0x2640], sram[r0 + 0x8e00], sram[r0 + 0x17380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t4) signal(t5) ; _Einsum_output_0_experts (/Einsum): matmul expert_gate = expert_tokens @ t10_f32_64x128 [_l0=3 _l1=0]
    mxu.mm acc[r0 + 0x6640], sram[r0 + 0x8e00], sram[r0 + 0x1f380], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t6) ; _Einsum_output_0_experts (/Einsum): matmul expert_up = expert_tokens @ t11_f32_64x128 [_l0=3 _l1=0]
    vpu.neg sram[r0 + 0x27380], acc[r0 + 0x2640], rows=32, cols=128, dtype=f32, bcast=none wait(t5)  ; _Einsum_output_0_experts (/Einsum): neg -> t12_f32_32x128 [_l0=3 _l1=0]
    vpu.exp sram[r0 + 0x2b380], sram[r0 + 0x27380], rows=32, cols=128, dtype=f32, bcast=none         ; _Einsum_output_0_experts (/Einsum): exp -> t13_f32_32x128 [_l0=3 _l1=0]
    vpu.adds sram[r0 + 0x2f380], sram[r0 + 0x2b380], rows=32, cols=128, dtype=f32, imm=1.0           ; _Einsum_output_0_experts (/Einsum): adds -> t14_f32_32x128 [_l0=3 _l1=0]
    vpu.div sram[r0 + 0x33380], acc[r0 + 0x2640], sram[r0 + 0x2f380], rows=32, cols=128, dtype=f32, bcast=none ; _Einsum_output_0_experts (/Einsum): div -> t15_f32_32x128 [_l0=3 _l1=0]
    vpu.mul sram[r0 + 0xae00], sram[r0 + 0x33380], acc[r0 + 0x6640], rows=32, cols=128, dtype=f32, bcast=none wait(t6) signal(t7) ; _Einsum_output_0_experts (/Einsum): mul -> expert_act [_l0=3 _l1=0]
    mxu.mm acc[r0 + 0x640], sram[r0 + 0xae00], sram[r3 + 0x1b380], m=32, k=128, n=64, dtype=f32, acc=0, tw=0 wait(t7) signal(t8) ; _Einsum_output_0_experts (/Einsum): matmul expert_out = expert_act @ t17_f32_128x64 [_l0=3 _l1=0]
    vpu.mul sram[r0 + 0xee00], acc[r0 + 0x640], sram[r0 + 0x10e80], rows=32, cols=64, dtype=f32, bcast=col wait(t8) ; _Einsum_output_0_experts (/Einsum): mul -> expert_scaled [_l0=3 _l1=0]
    vpu.fill sram[r4 + 0x5380], rows=1, cols=1, dtype=i32, imm=0.0                                   ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r5 + 0xd384], rows=1, cols=1, dtype=i32, imm=33.0                                  ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=3 _l1=0]
    vpu.fill sram[r1 + 0x35388], rows=1, cols=1, dtype=i32, imm=-1.0                                 ; _Einsum_output_0_experts (/Einsum): fill -> t19_i32_1x3 [_l0=3 _l1=0]
    vpu.cmpge sram[r3 + 0x253c0], sram[r0 + 0x10e00], sram[r4 + 0x5380], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=3 _l1=0]
    vpu.adds sram[r5 + 0xd440], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, imm=33.0             ; _Einsum_output_0_experts (/Einsum): adds -> t21_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r1 + 0x35440], sram[r3 + 0x253c0], sram[r0 + 0x10e00], rows=32, cols=1, dtype=i32, bcast=none ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=3 _l1=0]
    vpu.cmpge sram[r4 + 0x53c0], sram[r5 + 0xd440], sram[r1 + 0x35384], rows=32, cols=1, dtype=i32, bcast=scalar ; _Einsum_output_0_experts (/Einsum): cmpge -> t20_i32_32x1 [_l0=3 _l1=0]
    vpu.sel sram[r3 + 0x25440], sram[r4 + 0x53c0], sram[r5 + 0xd388], rows=32, cols=1, dtype=i32, bcast=scalar signal(t9) ; _Einsum_output_0_experts (/Einsum): sel -> t21_i32_32x1 [_l0=3 _l1=0]
    dma.scatter_add hbm[r6 + 0x8800], sram[r0 + 0xee00], idx=sram[r4 + 0x5440], n=r7, row_bytes=256, stride=256, dtype=f32 wait(t9) ; _Einsum_output_0_experts (/Einsum): scatter_add expert_scaled rows by t21_i32_32x1 -> _Einsum_output_0_combined [_l0=3 _l1=0]
L270:
    barrier                                                                                          ; _Einsum_output_0_experts (/Einsum): end of for _l1 < t3_i32_1x1[0] [_l0=3]
    li r1, 65536                                                                                     ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_combined -> t0_f32_1x2048
    li r2, 425984                                                                                    ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_combined -> t0_f32_1x2048
    dma.ld sram[r1 + 0xf00], hbm[r2 + 0x800], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t10) ; _Einsum_output_0_experts (/Einsum): load _Einsum_output_0_combined -> t0_f32_1x2048
    dma.st hbm[r2 + 0x4a00], sram[r1 + 0xf00], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t10) signal(t11) ; _Einsum_output_0_experts (/Einsum): store t0_f32_1x2048 -> _Einsum_output_0
; kernel output_output (/Reshape_1)
    li r3, 262144                                                                                    ; output_output (/Reshape_1): load _Einsum_output_0 -> t0_f32_1x2048
    dma.ld sram[r3 + 0x54c0], hbm[r2 + 0x4a00], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t11) signal(t12) ; output_output (/Reshape_1): load _Einsum_output_0 -> t0_f32_1x2048
    dma.st hbm[r0 + 0x2000], sram[r3 + 0x54c0], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t12) ; output_output (/Reshape_1): store t0_f32_1x2048 -> output
    halt                                                                                             ; end of program: wait for every unit
