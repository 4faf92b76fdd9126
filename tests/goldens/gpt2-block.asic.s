; ----- program segment 0 (steps 0..13)
.isa moe-asic 1
.region input_ids 0x0 i32 [2, 16]
.region logits 0x80 f32 [2, 16, 256]
.region transformer.wte.weight 0x8080 f32 [256, 64]
.region _transformer_wte_Gather_output_0 0xc00000 f32 [2, 16, 64]
.region _transformer_Add_output_0 0xc0c000 f32 [2, 16, 64]
.region _transformer_wpe_Gather_1_output_0 0x18080 f32 [1, 16, 64]
.region transformer.h.0.ln_1.weight 0x19080 f32 [64]
.region transformer.h.0.ln_1.bias 0x19180 f32 [64]
.region _transformer_h.0_ln_1_LayerNormalization_output_0 0xc0e000 f32 [2, 16, 64]
.region transformer.h.0.attn.c_attn.weight 0x19280 f32 [64, 192]
.region matmul 0xc06000 f32 [32, 192]
.region _transformer_h.0_attn_c_attn_Gemm_output_0 0xc00000 f32 [32, 192]
.region transformer.h.0.attn.c_attn.bias 0x25280 f32 [192]
.region attention_8 0xc06000 f32 [2, 16, 4, 16]
.region attention_8_causal_packed 0x25580 f32 [64, 16]
.region attention_8_key_blocks 0x26580 u8 [4, 4]
.region attention_8_value_blocks 0x265c0 u8 [4, 4]
.region transformer.h.0.attn.c_proj.weight 0x26600 f32 [64, 64]
.region matmul_2 0x69000 f32 [32, 64]
.region _transformer_h.0_attn_c_proj_Gemm_output_0 0x65000 f32 [32, 64]
.region transformer.h.0.attn.c_proj.bias 0x2a600 f32 [64]
.region _transformer_h.0_Add_output_0 0xc10000 f32 [2, 16, 64]
.region transformer.h.0.ln_2.weight 0x2a700 f32 [64]
.region transformer.h.0.ln_2.bias 0x2a800 f32 [64]
.region _transformer_h.0_ln_2_LayerNormalization_output_0 0xc12000 f32 [2, 16, 64]
.region transformer.h.0.mlp.c_fc.weight 0x2a900 f32 [64, 256]
.region matmul_3 0x5b000 f32 [32, 256]
.region _transformer_h.0_mlp_c_fc_Gemm_output_0 0xc00000 f32 [32, 256]
.region transformer.h.0.mlp.c_fc.bias 0x3a900 f32 [256]
.region gelu_tanh 0xc08000 f32 [2, 16, 256]
.region transformer.h.0.mlp.c_proj.weight 0x3ad00 f32 [256, 64]
.region matmul_4 0x6b000 f32 [32, 64]
.region _transformer_h.0_mlp_c_proj_Gemm_output_0 0x67000 f32 [32, 64]
.region transformer.h.0.mlp.c_proj.bias 0x4ad00 f32 [64]
.region _transformer_h.0_Add_1_output_0 0x63000 f32 [2, 16, 64]
.region transformer.ln_f.weight 0x4ae00 f32 [64]
.region transformer.ln_f.bias 0x4af00 f32 [64]
.region _transformer_ln_f_LayerNormalization_output_0 0xc00000 f32 [2, 16, 64]
.region _lm_head_Transpose_output_0 0x4b000 f32 [64, 256]
.region _transformer_wpe_Gather_1_output_0.home 0xc14000 f32 [1, 16, 64]
.region transformer.h.0.ln_1.bias.home 0xc15000 f32 [64]
.region transformer.h.0.ln_1.weight.home 0xc15100 f32 [64]
.region transformer.h.0.attn.c_attn.bias.home 0xc15200 f32 [192]
.region transformer.h.0.attn.c_attn.weight.home 0xc15500 f32 [64, 192]
.region attention_8_causal_packed.home 0xc21500 f32 [64, 16]
.region attention_8_key_blocks.home 0xc22500 u8 [4, 4]
.region attention_8_value_blocks.home 0xc22540 u8 [4, 4]
.region transformer.h.0.attn.c_proj.bias.home 0xc22580 f32 [64]
.region transformer.h.0.attn.c_proj.weight.home 0xc22680 f32 [64, 64]
.region transformer.h.0.ln_2.bias.home 0xc26680 f32 [64]
.region transformer.h.0.ln_2.weight.home 0xc26780 f32 [64]
.region transformer.h.0.mlp.c_fc.bias.home 0xc26880 f32 [256]
.region transformer.h.0.mlp.c_fc.weight.home 0xc26c80 f32 [64, 256]
.region transformer.h.0.mlp.c_proj.bias.home 0xc36c80 f32 [64]
.region transformer.h.0.mlp.c_proj.weight.home 0xc36d80 f32 [256, 64]
.region transformer.ln_f.bias.home 0xc46d80 f32 [64]
.region transformer.ln_f.weight.home 0xc46e80 f32 [64]
.region _lm_head_Transpose_output_0.home 0xc46f80 f32 [64, 256]
; kernel fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm)
    li r1, 12648448                                                                                  ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load _transformer_wpe_Gather_1_output_0 -> _transformer_wpe_Gather_1_output_0.fill
    li r2, 98304                                                                                     ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load _transformer_wpe_Gather_1_output_0 -> _transformer_wpe_Gather_1_output_0.fill
    dma.ld sram[r1 + 0x4000], hbm[r2 + 0x80], rows=16, row_bytes=256, sstride=256, dstride=256       ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load _transformer_wpe_Gather_1_output_0 -> _transformer_wpe_Gather_1_output_0.fill
    dma.ld sram[r1 + 0x5000], hbm[r2 + 0x1180], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.ln_1.bias -> transformer.h.0.ln_1.bias.fill
    dma.ld sram[r1 + 0x5100], hbm[r2 + 0x1080], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.ln_1.weight -> transformer.h.0.ln_1.weight.fill
    dma.ld sram[r1 + 0x5200], hbm[r2 + 0xd280], rows=1, row_bytes=768, sstride=0, dstride=0          ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.bias -> transformer.h.0.attn.c_attn.bias.fill
    dma.ld sram[r1 + 0x5500], hbm[r2 + 0x1280], rows=64, row_bytes=768, sstride=768, dstride=768     ; fill_weights_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization, /transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight -> transformer.h.0.attn.c_attn.weight.fill
; kernel fill_weights_1 (/transformer/h.0/attn/Transpose_4)
    li r3, 12713984                                                                                  ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_causal_packed -> attention_8_causal_packed.fill
    dma.ld sram[r3 + 0x1500], hbm[r2 + 0xd580], rows=64, row_bytes=64, sstride=64, dstride=64        ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_causal_packed -> attention_8_causal_packed.fill
; kernel fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization)
    dma.ld.sram sram[r0 + 0x82c0], sram[r1 + 0x4000], rows=1, row_bytes=4096, sstride=0, dstride=0   ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_wpe_Gather_1_output_0.home -> t1_f32_1x1024
    li r4, 65536                                                                                     ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load transformer.h.0.ln_1.weight.home -> t13_f32_1x64
    dma.ld.sram sram[r4 + 0x1540], sram[r1 + 0x5100], rows=1, row_bytes=256, sstride=0, dstride=0    ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load transformer.h.0.ln_1.weight.home -> t13_f32_1x64
    dma.ld.sram sram[r4 + 0x3640], sram[r1 + 0x5000], rows=1, row_bytes=256, sstride=0, dstride=0    ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load transformer.h.0.ln_1.bias.home -> t15_f32_1x64
; kernel _transformer_wte_Gather_output_0 (/transformer/wte/Gather)
    vpu.fill sram[r0 + 0x0], rows=1, cols=1, dtype=i32, imm=0.0                                      ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): fill -> t0_i32_1x3
    vpu.fill sram[r0 + 0x4], rows=1, cols=1, dtype=i32, imm=256.0                                    ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): fill -> t0_i32_1x3
    vpu.fill sram[r0 + 0x8], rows=1, cols=1, dtype=i32, imm=-1.0                                     ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): fill -> t0_i32_1x3
    dma.ld sram[r0 + 0x40], hbm[r0 + 0x0], rows=1, row_bytes=128, sstride=0, dstride=0 signal(t27)   ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): load input_ids -> t1_i32_1x32
    vpu.cmpge sram[r0 + 0xc0], sram[r0 + 0x40], sram[r0 + 0x0], rows=32, cols=1, dtype=i32, bcast=scalar wait(t27) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): cmpge -> t2_i32_32x1
    vpu.adds sram[r0 + 0x140], sram[r0 + 0x40], rows=32, cols=1, dtype=i32, imm=256.0                ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): adds -> t3_i32_32x1
    vpu.sel sram[r0 + 0x140], sram[r0 + 0xc0], sram[r0 + 0x40], rows=32, cols=1, dtype=i32, bcast=none ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): sel -> t3_i32_32x1
    vpu.cmpge sram[r0 + 0xc0], sram[r0 + 0x140], sram[r0 + 0x4], rows=32, cols=1, dtype=i32, bcast=scalar ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): cmpge -> t2_i32_32x1
    vpu.sel sram[r0 + 0x140], sram[r0 + 0xc0], sram[r0 + 0x8], rows=32, cols=1, dtype=i32, bcast=scalar signal(t28) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): sel -> t3_i32_32x1
    li r5, 32                                                                                        ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): gather transformer.wte.weight rows by t3_i32_32x1 -> t4_f32_32x64
    dma.gather sram[r0 + 0x1c0], hbm[r0 + 0x8080], idx=sram[r0 + 0x140], n=r5, row_bytes=256, stride=256 wait(t28) signal(t29) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): gather transformer.wte.weight rows by t3_i32_32x1 -> t4_f32_32x64
    li r6, 12582912                                                                                  ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): store t4_f32_32x64 -> _transformer_wte_Gather_output_0
    dma.st.sram sram[r6 + 0x0], sram[r0 + 0x1c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t30) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): store t4_f32_32x64 -> _transformer_wte_Gather_output_0
; kernel fill_weights_1 (/transformer/h.0/attn/Transpose_4)
    dma.ld sram[r3 + 0x2500], hbm[r2 + 0xe580], rows=4, row_bytes=4, sstride=4, dstride=4            ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_key_blocks -> attention_8_key_blocks.fill
    dma.ld sram[r3 + 0x2540], hbm[r2 + 0xe5c0], rows=4, row_bytes=4, sstride=4, dstride=4            ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks -> attention_8_value_blocks.fill
; kernel fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization)
    dma.ld.sram sram[r0 + 0x62c0], sram[r6 + 0x0], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t30) signal(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_wte_Gather_output_0 -> t0_f32_1x1024 [_blk=0]
; kernel fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    li r7, 163840                                                                                    ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias -> transformer.h.0.attn.c_proj.bias.fill
    dma.ld sram[r3 + 0x2580], hbm[r7 + 0x2600], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias -> transformer.h.0.attn.c_proj.bias.fill
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    dma.ld.sram sram[r4 + 0x7740], sram[r1 + 0x5500], rows=64, row_bytes=512, sstride=768, dstride=512 signal(t2) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight.home -> t1_f32_64x128
; kernel fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization)
    vpu.add sram[r0 + 0x92c0], sram[r0 + 0x62c0], sram[r0 + 0x82c0], rows=1, cols=1024, dtype=f32, bcast=none wait(t27) signal(t28) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> t2_f32_1x1024 [_blk=0]
    dma.st.sram sram[r6 + 0xc000], sram[r0 + 0x92c0], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t28) signal(t29) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store t2_f32_1x1024 -> _transformer_Add_output_0 [_blk=0]
    dma.ld.sram sram[r0 + 0xb300], sram[r6 + 0xc000], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t30) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_Add_output_0 -> t4_f32_16x64 [_blk=0]
    vpu.rsum sram[r0 + 0x41c0], sram[r0 + 0xb300], rows=16, cols=64, dtype=f32 wait(t30)             ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> row_sum.b1 [_blk=0]
    vpu.muls sram[r0 + 0xd300], sram[r0 + 0x41c0], rows=16, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t5_f32_16x1 [_blk=0]
    vpu.sub sram[r0 + 0x21c0], sram[r0 + 0xb300], sram[r0 + 0xd300], rows=16, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): sub -> centred.b1 [_blk=0]
    vpu.mul sram[r0 + 0x42c0], sram[r0 + 0x21c0], sram[r0 + 0x21c0], rows=1, cols=1024, dtype=f32, bcast=none ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> squares.b1 [_blk=0]
    vpu.rsum sram[r0 + 0x4240], sram[r0 + 0x42c0], rows=16, cols=64, dtype=f32                       ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> square_sum.b1 [_blk=0]
    vpu.muls sram[r0 + 0xf3c0], sram[r0 + 0x4240], rows=16, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t9_f32_16x1 [_blk=0]
    vpu.adds sram[r0 + 0xf440], sram[r0 + 0xf3c0], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): adds -> t10_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r0 + 0xf4c0], sram[r0 + 0xf440], rows=16, cols=1, dtype=f32, bcast=none           ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsqrt -> t11_f32_16x1 [_blk=0]
    vpu.mul sram[r0 + 0xf540], sram[r0 + 0x21c0], sram[r0 + 0xf4c0], rows=16, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t12_f32_16x64 [_blk=0]
    vpu.mul sram[r0 + 0x11640], sram[r0 + 0xf540], sram[r0 + 0x11540], rows=16, cols=64, dtype=f32, bcast=row ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t14_f32_16x64 [_blk=0]
    vpu.add sram[r0 + 0x13740], sram[r0 + 0x11640], sram[r0 + 0x13640], rows=16, cols=64, dtype=f32, bcast=row signal(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> t16_f32_16x64 [_blk=0]
    dma.st.sram sram[r6 + 0xe000], sram[r4 + 0x3740], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store t16_f32_16x64 -> _transformer_h.0_ln_1_LayerNormalization_output_0 [_blk=0]
    dma.ld.sram sram[r0 + 0x72c0], sram[r6 + 0x1000], rows=1, row_bytes=4096, sstride=0, dstride=0 signal(t28) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_wte_Gather_output_0 -> t0_f32_1x1024 [_blk=0]
    vpu.add sram[r0 + 0xa2c0], sram[r0 + 0x72c0], sram[r0 + 0x82c0], rows=1, cols=1024, dtype=f32, bcast=none wait(t28) signal(t29) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> t2_f32_1x1024 [_blk=0]
    dma.st.sram sram[r6 + 0xd000], sram[r0 + 0xa2c0], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t29) signal(t1) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store t2_f32_1x1024 -> _transformer_Add_output_0 [_blk=0]
    dma.ld.sram sram[r0 + 0xc300], sram[r6 + 0xd000], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t1) signal(t30) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_Add_output_0 -> t4_f32_16x64 [_blk=0]
    vpu.rsum sram[r0 + 0x4200], sram[r0 + 0xc300], rows=16, cols=64, dtype=f32 wait(t30)             ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> row_sum.b1 [_blk=0]
    vpu.muls sram[r0 + 0xd340], sram[r0 + 0x4200], rows=16, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t5_f32_16x1 [_blk=0]
    vpu.sub sram[r0 + 0x31c0], sram[r0 + 0xc300], sram[r0 + 0xd340], rows=16, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): sub -> centred.b1 [_blk=0]
    vpu.mul sram[r0 + 0x52c0], sram[r0 + 0x31c0], sram[r0 + 0x31c0], rows=1, cols=1024, dtype=f32, bcast=none ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> squares.b1 [_blk=0]
    vpu.rsum sram[r0 + 0x4280], sram[r0 + 0x52c0], rows=16, cols=64, dtype=f32                       ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> square_sum.b1 [_blk=0]
    vpu.muls sram[r0 + 0xf400], sram[r0 + 0x4280], rows=16, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t9_f32_16x1 [_blk=0]
    vpu.adds sram[r0 + 0xf480], sram[r0 + 0xf400], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): adds -> t10_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r0 + 0xf500], sram[r0 + 0xf480], rows=16, cols=1, dtype=f32, bcast=none           ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsqrt -> t11_f32_16x1 [_blk=0]
    vpu.mul sram[r0 + 0x10540], sram[r0 + 0x31c0], sram[r0 + 0xf500], rows=16, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t12_f32_16x64 [_blk=0]
    vpu.mul sram[r0 + 0x12640], sram[r0 + 0x10540], sram[r0 + 0x11540], rows=16, cols=64, dtype=f32, bcast=row ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t14_f32_16x64 [_blk=0]
    vpu.add sram[r0 + 0x14740], sram[r0 + 0x12640], sram[r0 + 0x13640], rows=16, cols=64, dtype=f32, bcast=row signal(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> t16_f32_16x64 [_blk=0]
    dma.st.sram sram[r6 + 0xf000], sram[r4 + 0x4740], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t27) signal(t28) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store t16_f32_16x64 -> _transformer_h.0_ln_1_LayerNormalization_output_0 [_blk=0]
; kernel fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    dma.ld sram[r3 + 0x2680], hbm[r2 + 0xe600], rows=64, row_bytes=256, sstride=256, dstride=256     ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight -> transformer.h.0.attn.c_proj.weight.fill
    dma.ld sram[r3 + 0x6680], hbm[r7 + 0x2800], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.bias -> transformer.h.0.ln_2.bias.fill
    dma.ld sram[r3 + 0x6780], hbm[r7 + 0x2700], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.weight -> transformer.h.0.ln_2.weight.fill
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    dma.ld.sram sram[r4 + 0x5740], sram[r6 + 0xe000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t28) signal(t3) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load _transformer_h.0_ln_1_LayerNormalization_output_0 -> t0_f32_32x64
; kernel fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    li r8, 229376                                                                                    ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias -> transformer.h.0.mlp.c_fc.bias.fill
    dma.ld sram[r3 + 0x6880], hbm[r8 + 0x2900], rows=1, row_bytes=1024, sstride=0, dstride=0         ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias -> transformer.h.0.mlp.c_fc.bias.fill
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    mxu.wpre sram[r0 + 0x17740], k=64, n=128, dtype=f32, tw=0 wait(t2)                               ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc = t0_f32_32x64 @ t1_f32_64x128
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x15740], sram[r0 + 0x17740], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t3) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc = t0_f32_32x64 @ t1_f32_64x128
    vpu.mov sram[r0 + 0x1f740], acc[r0 + 0x0], rows=32, cols=128, dtype=f32, bcast=none wait(t29) signal(t30) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): mov -> t2_f32_32x128
    dma.st.sram sram[r6 + 0x6000], sram[r2 + 0x7740], rows=32, row_bytes=512, sstride=512, dstride=768 wait(t30) signal(t4) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t2_f32_32x128 -> matmul
    dma.ld.sram sram[r2 + 0xb740], sram[r1 + 0x5700], rows=64, row_bytes=256, sstride=768, dstride=256 signal(t27) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight.home -> t3_f32_64x64
    mxu.wpre sram[r4 + 0x13740], k=64, n=64, dtype=f32, tw=0 wait(t27)                               ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc.1 = t0_f32_32x64 @ t3_f32_64x64
    mxu.mm acc[r0 + 0x4000], sram[r0 + 0x15740], sram[r2 + 0xb740], m=32, k=64, n=64, dtype=f32, acc=0, tw=0 signal(t28) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc.1 = t0_f32_32x64 @ t3_f32_64x64
    vpu.mov sram[r0 + 0x27740], acc[r0 + 0x4000], rows=32, cols=64, dtype=f32, bcast=none wait(t28) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): mov -> t4_f32_32x64
    dma.st.sram sram[r6 + 0x6200], sram[r2 + 0xf740], rows=32, row_bytes=256, sstride=256, dstride=768 wait(t29) signal(t6) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t4_f32_32x64 -> matmul
    dma.ld.sram sram[r4 + 0xf740], sram[r6 + 0x6000], rows=32, row_bytes=512, sstride=768, dstride=512 wait(t4) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load matmul -> t2_f32_32x128
    dma.ld.sram sram[r7 + 0x1740], sram[r1 + 0x5200], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t5) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.bias.home -> t5_f32_1x128
    vpu.add sram[r0 + 0x29940], sram[r0 + 0x1f740], sram[r0 + 0x29740], rows=32, cols=128, dtype=f32, bcast=row wait(t5) signal(t30) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): add -> t6_f32_32x128
    dma.st.sram sram[r6 + 0x0], sram[r7 + 0x1940], rows=32, row_bytes=512, sstride=512, dstride=768 wait(t30) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t6_f32_32x128 -> _transformer_h.0_attn_c_attn_Gemm_output_0
    dma.ld.sram sram[r2 + 0xf740], sram[r6 + 0x6200], rows=32, row_bytes=256, sstride=768, dstride=256 wait(t6) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load matmul -> t4_f32_32x64
    dma.ld.sram sram[r7 + 0x5940], sram[r1 + 0x5400], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t27) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.bias.home -> t7_f32_1x64
    vpu.add sram[r0 + 0x2da40], sram[r0 + 0x27740], sram[r0 + 0x2d940], rows=32, cols=64, dtype=f32, bcast=row wait(t27) signal(t28) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): add -> t8_f32_32x64
    dma.st.sram sram[r6 + 0x200], sram[r7 + 0x5a40], rows=32, row_bytes=256, sstride=256, dstride=768 wait(t28) signal(t30) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t8_f32_32x64 -> _transformer_h.0_attn_c_attn_Gemm_output_0
; kernel fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    dma.ld sram[r3 + 0x6c80], hbm[r7 + 0x2900], rows=64, row_bytes=1024, sstride=1024, dstride=1024  ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight -> transformer.h.0.mlp.c_fc.weight.fill
; kernel attention_8 (/transformer/h.0/attn/Transpose_4)
    vpu.fill sram[r0 + 0x33a40], rows=1, cols=2048, dtype=f32, imm=0.0 signal(t7)                    ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> keys_diag_in [_blk=0]
    vpu.fill sram[r0 + 0x37a40], rows=1, cols=2048, dtype=f32, imm=0.0                               ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> values_diag_in [_blk=0]
    vpu.fill sram[r0 + 0x35a40], rows=1, cols=2048, dtype=f32, imm=0.0 signal(t27)                   ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> keys_diag_in [_blk=1]
    vpu.fill sram[r0 + 0x39a40], rows=1, cols=2048, dtype=f32, imm=0.0 signal(t8)                    ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> values_diag_in [_blk=1]
    dma.ld.sram sram[r8 + 0xfe40], sram[r3 + 0x2500], rows=4, row_bytes=4, sstride=4, dstride=4      ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_key_blocks.home -> t12_u8_4x4
    dma.ld.sram sram[r8 + 0xfe80], sram[r3 + 0x1500], rows=1, row_bytes=4096, sstride=0, dstride=0   ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_causal_packed.home -> t13_f32_1x1024
    li r9, 294912                                                                                    ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks.home -> t20_u8_4x4
    dma.ld.sram sram[r9 + 0x6180], sram[r3 + 0x2540], rows=4, row_bytes=4, sstride=4, dstride=4      ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks.home -> t20_u8_4x4
    dma.ld.sram sram[r7 + 0xba40], sram[r6 + 0x100], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t29, t7) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0xca80], sram[r6 + 0x140], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0xdac0], sram[r6 + 0x180], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t27) signal(t10) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0xeb00], sram[r6 + 0x1c0], rows=16, row_bytes=64, sstride=768, dstride=256 signal(t11) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0xfa40], sram[r6 + 0x200], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0xa80], sram[r6 + 0x240], rows=16, row_bytes=64, sstride=768, dstride=256  ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x1ac0], sram[r6 + 0x280], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t8) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x2b00], sram[r6 + 0x2c0], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0x7a40], sram[r6 + 0x0], rows=16, row_bytes=256, sstride=768, dstride=256 signal(t9) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> queries_in [_l0=0]
    vpu.muls sram[r0 + 0x31a40], sram[r0 + 0x2fa40], rows=1, cols=1024, dtype=f32, imm=0.25 wait(t9) signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): muls -> queries [_l0=0]
; kernel fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r10, 12779520                                                                                 ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias -> transformer.h.0.mlp.c_proj.bias.fill
    dma.ld sram[r10 + 0x6c80], hbm[r9 + 0x2d00], rows=1, row_bytes=256, sstride=0, dstride=0         ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias -> transformer.h.0.mlp.c_proj.bias.fill
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    li r11, 360448                                                                                   ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight.home -> t1_f32_64x64
    dma.ld.sram sram[r11 + 0x12c0], sram[r3 + 0x2680], rows=64, row_bytes=256, sstride=256, dstride=256 ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight.home -> t1_f32_64x64
; kernel attention_8 (/transformer/h.0/attn/Transpose_4)
    mxu.wpre sram[r2 + 0x1ba40], k=64, n=64, dtype=f32, tw=1 wait(t10, t11)                          ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r12, 24576                                                                                    ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r13, 196608                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r14, 294464                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    mxu.mmsp acc[r12 + 0x0], sram[r13 + 0x1a40], sram[r13 + 0x3a40], sram[r14], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=1 wait(t29) signal(t28) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    vpu.fill sram[r4 + 0x38e80], rows=1, cols=1024, dtype=f32, imm=0xff800000                        ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> t14_f32_1x1024 [_l0=0]
    vpu.sel sram[r8 + 0x10e80], sram[r7 + 0x1fe80], acc[r0 + 0x6000], rows=1, cols=1024, dtype=f32, bcast=none wait(t28) signal(t13) ; attention_8 (/transformer/h.0/attn/Transpose_4): sel -> t14_f32_1x1024 [_l0=0]
    vpu.mov acc[r0 + 0x6000], sram[r9 + 0xe80], rows=1, cols=1024, dtype=f32, bcast=none             ; attention_8 (/transformer/h.0/attn/Transpose_4): mov -> scores [_l0=0]
    vpu.rmax sram[r0 + 0x3fa40], acc[r0 + 0x6000], rows=64, cols=16, dtype=f32                       ; attention_8 (/transformer/h.0/attn/Transpose_4): rmax -> row_max [_l0=0]
    vpu.sub sram[r2 + 0x32f80], acc[r0 + 0x6000], sram[r0 + 0x3fa40], rows=64, cols=16, dtype=f32, bcast=col ; attention_8 (/transformer/h.0/attn/Transpose_4): sub -> t16_f32_64x16 [_l0=0]
    vpu.exp sram[r0 + 0x3ba40], sram[r13 + 0x1af80], rows=64, cols=16, dtype=f32, bcast=none signal(t27) ; attention_8 (/transformer/h.0/attn/Transpose_4): exp -> weights [_l0=0]
    vpu.rsum sram[r0 + 0x3fc40], sram[r0 + 0x3ba40], rows=64, cols=16, dtype=f32                     ; attention_8 (/transformer/h.0/attn/Transpose_4): rsum -> row_sum_1 [_l0=0]
    vpu.rcp sram[r0 + 0x3fc40], sram[r0 + 0x3fc40], rows=1, cols=64, dtype=f32, bcast=none           ; attention_8 (/transformer/h.0/attn/Transpose_4): rcp -> row_sum_1 [_l0=0]
    mxu.wpre sram[r7 + 0xfa40], k=64, n=64, dtype=f32, tw=0                                          ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r15, 221184                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r16, 319872                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    mxu.mmsp acc[r12 + 0x2000], sram[r8 + 0x3a40], sram[r15 + 0x1a40], sram[r16], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=0 wait(t27) signal(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    vpu.mul sram[r0 + 0x3da40], acc[r0 + 0x8000], sram[r0 + 0x3fc40], rows=64, cols=16, dtype=f32, bcast=col wait(t30) signal(t12) ; attention_8 (/transformer/h.0/attn/Transpose_4): mul -> result [_l0=0]
    dma.st.sram sram[r6 + 0x6000], sram[r13 + 0xda40], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t12) signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): store result -> attention_8 [_l0=0]
    dma.ld.sram sram[r7 + 0xba40], sram[r6 + 0x3100], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t13) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0x4a80], sram[r6 + 0x3140], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0xdac0], sram[r6 + 0x3180], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r15 + 0xb00], sram[r6 + 0x31c0], rows=16, row_bytes=64, sstride=768, dstride=256 signal(t14) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0x7a40], sram[r6 + 0x3200], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0xa80], sram[r6 + 0x3240], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r15 + 0x3ac0], sram[r6 + 0x3280], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0xab00], sram[r6 + 0x32c0], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r7 + 0x8a40], sram[r6 + 0x3000], rows=16, row_bytes=256, sstride=768, dstride=256 signal(t28) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> queries_in [_l0=0]
    vpu.muls sram[r0 + 0x32a40], sram[r0 + 0x30a40], rows=1, cols=1024, dtype=f32, imm=0.25 wait(t28) signal(t27) ; attention_8 (/transformer/h.0/attn/Transpose_4): muls -> queries [_l0=0]
    mxu.wpre sram[r2 + 0x1ba40], k=64, n=64, dtype=f32, tw=1 wait(t14)                               ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    mxu.mmsp acc[r12 + 0x1000], sram[r13 + 0x2a40], sram[r13 + 0x3a40], sram[r14], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=1 wait(t27) signal(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    vpu.fill sram[r4 + 0x39e80], rows=1, cols=1024, dtype=f32, imm=0xff800000                        ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> t14_f32_1x1024 [_l0=0]
    vpu.sel sram[r9 + 0x1e80], sram[r8 + 0xfe80], acc[r0 + 0x7000], rows=1, cols=1024, dtype=f32, bcast=none wait(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): sel -> t14_f32_1x1024 [_l0=0]
    vpu.mov acc[r0 + 0x7000], sram[r15 + 0x13e80], rows=1, cols=1024, dtype=f32, bcast=none          ; attention_8 (/transformer/h.0/attn/Transpose_4): mov -> scores [_l0=0]
    vpu.rmax sram[r0 + 0x3fb40], acc[r0 + 0x7000], rows=64, cols=16, dtype=f32                       ; attention_8 (/transformer/h.0/attn/Transpose_4): rmax -> row_max [_l0=0]
    vpu.sub sram[r7 + 0x23f80], acc[r0 + 0x7000], sram[r0 + 0x3fb40], rows=64, cols=16, dtype=f32, bcast=col ; attention_8 (/transformer/h.0/attn/Transpose_4): sub -> t16_f32_64x16 [_l0=0]
    vpu.exp sram[r0 + 0x3ca40], sram[r2 + 0x33f80], rows=64, cols=16, dtype=f32, bcast=none signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): exp -> weights [_l0=0]
    vpu.rsum sram[r0 + 0x3fd40], sram[r0 + 0x3ca40], rows=64, cols=16, dtype=f32                     ; attention_8 (/transformer/h.0/attn/Transpose_4): rsum -> row_sum_1 [_l0=0]
    vpu.rcp sram[r0 + 0x3fd40], sram[r0 + 0x3fd40], rows=1, cols=64, dtype=f32, bcast=none           ; attention_8 (/transformer/h.0/attn/Transpose_4): rcp -> row_sum_1 [_l0=0]
    mxu.wpre sram[r13 + 0x7a40], k=64, n=64, dtype=f32, tw=0                                         ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r17, 245760                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    mxu.mmsp acc[r12 + 0x3000], sram[r17 + 0xa40], sram[r15 + 0x1a40], sram[r16], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=0 wait(t29) signal(t28) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    vpu.mul sram[r0 + 0x3ea40], acc[r0 + 0x9000], sram[r0 + 0x3fd40], rows=64, cols=16, dtype=f32, bcast=col wait(t28) signal(t15) ; attention_8 (/transformer/h.0/attn/Transpose_4): mul -> result [_l0=0]
    dma.st.sram sram[r6 + 0x7000], sram[r8 + 0x6a40], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t15) signal(t16) ; attention_8 (/transformer/h.0/attn/Transpose_4): store result -> attention_8 [_l0=0]
; kernel fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    dma.ld sram[r10 + 0x6d80], hbm[r13 + 0xad00], rows=256, row_bytes=256, sstride=256, dstride=256  ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight -> transformer.h.0.mlp.c_proj.weight.fill
    li r18, 12845056                                                                                 ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias -> transformer.ln_f.bias.fill
    dma.ld sram[r18 + 0x6d80], hbm[r14 + 0x30c0], rows=1, row_bytes=256, sstride=0, dstride=0        ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias -> transformer.ln_f.bias.fill
    dma.ld sram[r18 + 0x6e80], hbm[r9 + 0x2e00], rows=1, row_bytes=256, sstride=0, dstride=0         ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.weight -> transformer.ln_f.weight.fill
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    dma.ld.sram sram[r16 + 0x9140], sram[r6 + 0x6000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t16) signal(t27) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load attention_8 -> t0_f32_32x64
; kernel fill_weights_5 (/lm_head/MatMul)
    dma.ld sram[r18 + 0x6f80], hbm[r17 + 0xf000], rows=64, row_bytes=1024, sstride=1024, dstride=1024 ; fill_weights_5 (/lm_head/MatMul): load _lm_head_Transpose_output_0 -> _lm_head_Transpose_output_0.fill
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    li r19, 491520                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
    dma.ld.sram sram[r19 + 0x6840], sram[r3 + 0x6c80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t20) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    mxu.wpre sram[r11 + 0x12c0], k=64, n=64, dtype=f32, tw=0                                         ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): matmul acc_1 = t0_f32_32x64 @ t1_f32_64x64
    mxu.mm acc[r0 + 0xa000], sram[r8 + 0x1f2c0], sram[r14 + 0x11480], m=32, k=64, n=64, dtype=f32, acc=0, tw=0 wait(t27) signal(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): matmul acc_1 = t0_f32_32x64 @ t1_f32_64x64
    dma.ld.sram sram[r16 + 0xf140], sram[r3 + 0x2580], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias.home -> t2_f32_1x64
    li r20, 425984                                                                                   ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.weight.home -> t16_f32_1x64
    dma.ld.sram sram[r20 + 0x640], sram[r3 + 0x6780], rows=1, row_bytes=256, sstride=0, dstride=0    ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.weight.home -> t16_f32_1x64
    dma.ld.sram sram[r20 + 0x2740], sram[r3 + 0x6680], rows=1, row_bytes=256, sstride=0, dstride=0   ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.bias.home -> t18_f32_1x64
    vpu.mov sram[r7 + 0x2b1c0], acc[r0 + 0xa000], rows=1, cols=1024, dtype=f32, bcast=none wait(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mov -> matmul_2.b16 [_blk=0]
    vpu.add sram[r4 + 0x3f1c0], sram[r2 + 0x3b1c0], sram[r15 + 0x272c0], rows=16, cols=64, dtype=f32, bcast=row wait(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> _transformer_h.0_attn_c_proj_Gemm_output_0.b16 [_blk=0]
    dma.ld.sram sram[r11 + 0x63c0], sram[r6 + 0xc000], rows=1, row_bytes=4096, sstride=0, dstride=0 signal(t28) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load _transformer_Add_output_0 -> t4_f32_1x1024 [_blk=0]
    vpu.add sram[r13 + 0x303c0], sram[r9 + 0x71c0], sram[r17 + 0x223c0], rows=1, cols=1024, dtype=f32, bcast=none wait(t28) signal(t17) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> t5_f32_1x1024 [_blk=0]
    dma.st.sram sram[r1 + 0x0], sram[r11 + 0x83c0], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t17) signal(t18) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store t5_f32_1x1024 -> _transformer_h.0_Add_output_0 [_blk=0]
    dma.ld.sram sram[r11 + 0xa400], sram[r1 + 0x0], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t18) signal(t27) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load _transformer_h.0_Add_output_0 -> t7_f32_16x64 [_blk=0]
    vpu.rsum sram[r8 + 0x1d1c0], sram[r14 + 0x1a5c0], rows=16, cols=64, dtype=f32 wait(t27)          ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> row_sum_2.b16 [_blk=0]
    vpu.muls sram[r16 + 0x16280], sram[r7 + 0x2d1c0], rows=16, cols=1, dtype=f32, imm=0.015625       ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t8_f32_16x1 [_blk=0]
    vpu.sub sram[r2 + 0x391c0], sram[r15 + 0x2c400], sram[r13 + 0x34400], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): sub -> centred_1.b16 [_blk=0]
    vpu.mul sram[r9 + 0xd2c0], sram[r17 + 0x151c0], sram[r8 + 0x191c0], rows=1, cols=1024, dtype=f32, bcast=none ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> squares_1.b16 [_blk=0]
    vpu.rsum sram[r14 + 0xd400], sram[r16 + 0x7140], rows=16, cols=64, dtype=f32                     ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> square_sum_1.b16 [_blk=0]
    vpu.muls sram[r11 + 0xe4c0], sram[r7 + 0x2d240], rows=16, cols=1, dtype=f32, imm=0.015625        ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t12_f32_16x1 [_blk=0]
    vpu.adds sram[r15 + 0x30540], sram[r13 + 0x364c0], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): adds -> t13_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r9 + 0x1e5c0], sram[r17 + 0x2a540], rows=16, cols=1, dtype=f32, bcast=none        ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsqrt -> t14_f32_16x1 [_blk=0]
    vpu.mul sram[r8 + 0x2e640], sram[r2 + 0x391c0], sram[r14 + 0x1e780], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t15_f32_16x64 [_blk=0]
    vpu.mul sram[r20 + 0x740], sram[r16 + 0x184c0], sram[r11 + 0x10640], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t17_f32_16x64 [_blk=0]
    vpu.add sram[r15 + 0x34840], sram[r13 + 0x38740], sram[r9 + 0x22740], rows=16, cols=64, dtype=f32, bcast=row signal(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> t19_f32_16x64 [_blk=0]
    dma.st.sram sram[r1 + 0x2000], sram[r20 + 0x2840], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store t19_f32_16x64 -> _transformer_h.0_ln_2_LayerNormalization_output_0 [_blk=0]
    vpu.mov sram[r7 + 0x2c1c0], acc[r0 + 0xb000], rows=1, cols=1024, dtype=f32, bcast=none           ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mov -> matmul_2.b16 [_blk=0]
    vpu.add sram[r17 + 0x141c0], sram[r8 + 0x1c1c0], sram[r14 + 0x15480], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> _transformer_h.0_attn_c_proj_Gemm_output_0.b16 [_blk=0]
    dma.ld.sram sram[r11 + 0x73c0], sram[r6 + 0xd000], rows=1, row_bytes=4096, sstride=0, dstride=0 signal(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load _transformer_Add_output_0 -> t4_f32_1x1024 [_blk=0]
    vpu.add sram[r16 + 0x13240], sram[r2 + 0x381c0], sram[r15 + 0x293c0], rows=1, cols=1024, dtype=f32, bcast=none wait(t29) signal(t28) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> t5_f32_1x1024 [_blk=0]
    dma.st.sram sram[r1 + 0x1000], sram[r11 + 0x93c0], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t28) signal(t19) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store t5_f32_1x1024 -> _transformer_h.0_Add_output_0 [_blk=0]
    dma.ld.sram sram[r11 + 0xb400], sram[r1 + 0x1000], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t19) signal(t27) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load _transformer_h.0_Add_output_0 -> t7_f32_16x64 [_blk=0]
    vpu.rsum sram[r13 + 0x25200], sram[r9 + 0x1b400], rows=16, cols=64, dtype=f32 wait(t27)          ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> row_sum_2.b16 [_blk=0]
    vpu.muls sram[r7 + 0x3c440], sram[r17 + 0x19200], rows=16, cols=1, dtype=f32, imm=0.015625       ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t8_f32_16x1 [_blk=0]
    vpu.sub sram[r8 + 0x1a1c0], sram[r14 + 0x1b5c0], sram[r16 + 0x162c0], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): sub -> centred_1.b16 [_blk=0]
    vpu.mul sram[r2 + 0x3e2c0], sram[r15 + 0x1c1c0], sram[r13 + 0x221c0], rows=1, cols=1024, dtype=f32, bcast=none ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> squares_1.b16 [_blk=0]
    vpu.rsum sram[r9 + 0xd280], sram[r7 + 0x2e2c0], rows=16, cols=64, dtype=f32                      ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> square_sum_1.b16 [_blk=0]
    vpu.muls sram[r11 + 0xe500], sram[r17 + 0x19280], rows=16, cols=1, dtype=f32, imm=0.015625       ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t12_f32_16x1 [_blk=0]
    vpu.adds sram[r8 + 0x2e580], sram[r14 + 0x1e6c0], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): adds -> t13_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r16 + 0x18480], sram[r15 + 0x30580], rows=16, cols=1, dtype=f32, bcast=none       ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsqrt -> t14_f32_16x1 [_blk=0]
    vpu.mul sram[r13 + 0x37640], sram[r2 + 0x3a1c0], sram[r9 + 0x1e600], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t15_f32_16x64 [_blk=0]
    vpu.mul sram[r20 + 0x1740], sram[r7 + 0x3f640], sram[r11 + 0x10640], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t17_f32_16x64 [_blk=0]
    vpu.add sram[r17 + 0x2f840], sram[r8 + 0x31740], sram[r14 + 0x22900], rows=16, cols=64, dtype=f32, bcast=row signal(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> t19_f32_16x64 [_blk=0]
    dma.st.sram sram[r1 + 0x3000], sram[r20 + 0x3840], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t30) signal(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store t19_f32_16x64 -> _transformer_h.0_ln_2_LayerNormalization_output_0 [_blk=0]
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    dma.ld.sram sram[r19 + 0x4840], sram[r1 + 0x2000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t21) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_ln_2_LayerNormalization_output_0 -> t0_f32_32x64
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r21, 1015808                                                                                  ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight.home -> t1_f32_256x64
    dma.ld.sram sram[r21 + 0xd40], sram[r10 + 0x6d80], rows=256, row_bytes=256, sstride=256, dstride=256 ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight.home -> t1_f32_256x64
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    mxu.wpre sram[r20 + 0x16840], k=64, n=128, dtype=f32, tw=0 wait(t20)                             ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0xc000], sram[r19 + 0x4840], sram[r20 + 0x16840], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t21) signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    vpu.mov sram[r16 + 0x1e6c0], acc[r0 + 0xc000], rows=32, cols=128, dtype=f32, bcast=none wait(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mov -> matmul_3 [_l1=0]
    li r22, 557056                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    dma.ld.sram sram[r22 + 0x6840], sram[r3 + 0x6880], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    vpu.add sram[r11 + 0x36c40], sram[r15 + 0x36840], sram[r19 + 0x16840], rows=32, cols=128, dtype=f32, bcast=row wait(t27) signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t3_f32_32x128 [_l1=0]
    dma.st.sram sram[r6 + 0x0], sram[r22 + 0x6c40], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t30) signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t3_f32_32x128 -> _transformer_h.0_mlp_c_fc_Gemm_output_0 [_l1=0]
    dma.ld.sram sram[r22 + 0xec40], sram[r6 + 0x0], rows=32, row_bytes=512, sstride=1024, dstride=512 wait(t29) signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_mlp_c_fc_Gemm_output_0 -> t4_f32_32x128 [_l1=0]
    vpu.muls sram[r20 + 0x36c40], sram[r11 + 0x3ec40], rows=32, cols=128, dtype=f32, imm=0.5 wait(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t5_f32_32x128 [_l1=0]
    vpu.mul sram[r19 + 0x2ec40], sram[r22 + 0xec40], sram[r20 + 0x2ec40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t6_f32_32x128 [_l1=0]
    vpu.mul sram[r19 + 0x36c40], sram[r22 + 0x1ec40], sram[r11 + 0x3ec40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t7_f32_32x128 [_l1=0]
    vpu.muls sram[r19 + 0x3ec40], sram[r22 + 0x26c40], rows=32, cols=128, dtype=f32, imm=0.044714998453855515 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t8_f32_32x128 [_l1=0]
    vpu.add sram[r22 + 0x36c40], sram[r20 + 0x2ec40], sram[r19 + 0x3ec40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t9_f32_32x128 [_l1=0]
    vpu.muls sram[r22 + 0x3ec40], sram[r22 + 0x36c40], rows=32, cols=128, dtype=f32, imm=0.7978845834732056 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t10_f32_32x128 [_l1=0]
    li r23, 786432                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.tanh sram[r23 + 0xec40], sram[r22 + 0x3ec40], rows=32, cols=128, dtype=f32, bcast=none       ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.adds sram[r23 + 0x16c40], sram[r23 + 0xec40], rows=32, cols=128, dtype=f32, imm=1.0          ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): adds -> t12_f32_32x128 [_l1=0]
    vpu.mul sram[r23 + 0x1ec40], sram[r20 + 0x36c40], sram[r23 + 0x16c40], rows=32, cols=128, dtype=f32, bcast=none signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t13_f32_32x128 [_l1=0]
    li r24, 884736                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
    dma.st.sram sram[r6 + 0x8000], sram[r24 + 0x6c40], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
    dma.ld.sram sram[r19 + 0xe840], sram[r3 + 0x6e80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t22) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
    mxu.wpre sram[r20 + 0x1e840], k=64, n=128, dtype=f32, tw=0 wait(t22)                             ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x10000], sram[r19 + 0x4840], sram[r20 + 0x1e840], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    vpu.mov sram[r9 + 0x30840], acc[r0 + 0x10000], rows=32, cols=128, dtype=f32, bcast=none wait(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mov -> matmul_3 [_l1=0]
    dma.ld.sram sram[r22 + 0x6a40], sram[r3 + 0x6a80], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    vpu.add sram[r11 + 0x3ac40], sram[r17 + 0x3c840], sram[r19 + 0x16a40], rows=32, cols=128, dtype=f32, bcast=row wait(t29) signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t3_f32_32x128 [_l1=0]
    dma.st.sram sram[r6 + 0x200], sram[r22 + 0xac40], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t28) signal(t23) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t3_f32_32x128 -> _transformer_h.0_mlp_c_fc_Gemm_output_0 [_l1=0]
    li r25, 622592                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_mlp_c_fc_Gemm_output_0 -> t4_f32_32x128 [_l1=0]
    dma.ld.sram sram[r25 + 0x2c40], sram[r6 + 0x200], rows=32, row_bytes=512, sstride=1024, dstride=512 wait(t23) signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_mlp_c_fc_Gemm_output_0 -> t4_f32_32x128 [_l1=0]
    vpu.muls sram[r20 + 0x3ac40], sram[r19 + 0x22c40], rows=32, cols=128, dtype=f32, imm=0.5 wait(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t5_f32_32x128 [_l1=0]
    vpu.mul sram[r22 + 0x22c40], sram[r25 + 0x2c40], sram[r20 + 0x32c40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t6_f32_32x128 [_l1=0]
    vpu.mul sram[r19 + 0x3ac40], sram[r22 + 0x22c40], sram[r25 + 0x2c40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t7_f32_32x128 [_l1=0]
    vpu.muls sram[r22 + 0x32c40], sram[r19 + 0x3ac40], rows=32, cols=128, dtype=f32, imm=0.044714998453855515 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t8_f32_32x128 [_l1=0]
    vpu.add sram[r23 + 0x2c40], sram[r20 + 0x32c40], sram[r25 + 0x22c40], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t9_f32_32x128 [_l1=0]
    vpu.muls sram[r23 + 0xac40], sram[r22 + 0x3ac40], rows=32, cols=128, dtype=f32, imm=0.7978845834732056 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t10_f32_32x128 [_l1=0]
    vpu.tanh sram[r25 + 0x3ac40], sram[r23 + 0xac40], rows=32, cols=128, dtype=f32, bcast=none       ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.adds sram[r24 + 0x2c40], sram[r25 + 0x3ac40], rows=32, cols=128, dtype=f32, imm=1.0          ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): adds -> t12_f32_32x128 [_l1=0]
    vpu.mul sram[r23 + 0x22c40], sram[r19 + 0x2ac40], sram[r24 + 0x2c40], rows=32, cols=128, dtype=f32, bcast=none signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t13_f32_32x128 [_l1=0]
    dma.st.sram sram[r6 + 0x8200], sram[r24 + 0xac40], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t27) signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r26, 983040                                                                                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load gelu_tanh -> t0_f32_32x256
    dma.ld.sram sram[r26 + 0xd40], sram[r6 + 0x8000], rows=32, row_bytes=1024, sstride=1024, dstride=1024 wait(t29) signal(t24) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load gelu_tanh -> t0_f32_32x256
; kernel logits (/lm_head/MatMul)
    li r27, 1114112                                                                                  ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
    dma.ld.sram sram[r27 + 0x72c0], sram[r18 + 0x6f80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t1) ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    mxu.wpre sram[r21 + 0xd40], k=256, n=64, dtype=f32, tw=0                                         ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): matmul acc_3 = t0_f32_32x256 @ t1_f32_256x64
    mxu.mm acc[r0 + 0x14000], sram[r24 + 0x18d40], sram[r26 + 0x8d40], m=32, k=256, n=64, dtype=f32, acc=0, tw=0 wait(t24) signal(t28) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): matmul acc_3 = t0_f32_32x256 @ t1_f32_256x64
    li r28, 1081344                                                                                  ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias.home -> t2_f32_1x64
    dma.ld.sram sram[r28 + 0xd40], sram[r10 + 0x6c80], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias.home -> t2_f32_1x64
    dma.ld.sram sram[r27 + 0x10c0], sram[r18 + 0x6e80], rows=1, row_bytes=256, sstride=0, dstride=0  ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.weight.home -> t15_f32_1x64
    dma.ld.sram sram[r28 + 0xb1c0], sram[r18 + 0x6d80], rows=1, row_bytes=256, sstride=0, dstride=0  ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias.home -> t17_f32_1x64
    vpu.mov sram[r23 + 0x2cc40], acc[r0 + 0x14000], rows=1, cols=1024, dtype=f32, bcast=none wait(t28) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mov -> matmul_4.b16 [_blk=0]
    vpu.add sram[r24 + 0x10c40], sram[r23 + 0x2cc40], sram[r21 + 0x10d40], rows=16, cols=64, dtype=f32, bcast=row wait(t30) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_mlp_c_proj_Gemm_output_0.b16 [_blk=0]
    dma.ld.sram sram[r28 + 0x1e40], sram[r1 + 0x0], rows=1, row_bytes=4096, sstride=0, dstride=0 signal(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load _transformer_h.0_Add_output_0 -> t4_f32_1x1024 [_blk=0]
    vpu.add sram[r24 + 0xec40], sram[r26 + 0x19e40], sram[r23 + 0x28c40], rows=1, cols=1024, dtype=f32, bcast=none wait(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_Add_1_output_0.b16 [_blk=0]
    vpu.rsum sram[r24 + 0x16c40], sram[r23 + 0x26c40], rows=16, cols=64, dtype=f32                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> row_sum_3.b16 [_blk=0]
    vpu.muls sram[r21 + 0x14e80], sram[r24 + 0x16c40], rows=16, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t7_f32_16x1 [_blk=0]
    vpu.sub sram[r23 + 0x2ac40], sram[r24 + 0xec40], sram[r28 + 0x4e80], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): sub -> centred_2.b16 [_blk=0]
    vpu.mul sram[r23 + 0x2ed40], sram[r24 + 0x12c40], sram[r23 + 0x2ac40], rows=1, cols=1024, dtype=f32, bcast=none ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> squares_2.b16 [_blk=0]
    vpu.rsum sram[r24 + 0x16cc0], sram[r23 + 0x2ed40], rows=16, cols=64, dtype=f32                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> square_sum_2.b16 [_blk=0]
    vpu.muls sram[r26 + 0x1ef40], sram[r24 + 0x16cc0], rows=16, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t11_f32_16x1 [_blk=0]
    vpu.adds sram[r21 + 0x16fc0], sram[r28 + 0x6f40], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): adds -> t12_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r26 + 0x1f040], sram[r24 + 0x36fc0], rows=16, cols=1, dtype=f32, bcast=none       ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsqrt -> t13_f32_16x1 [_blk=0]
    vpu.mul sram[r21 + 0x170c0], sram[r23 + 0x2ac40], sram[r28 + 0x7040], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t14_f32_16x64 [_blk=0]
    vpu.mul sram[r27 + 0x11c0], sram[r26 + 0x1f0c0], sram[r24 + 0x390c0], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t16_f32_16x64 [_blk=0]
    vpu.add sram[r21 + 0x1b2c0], sram[r28 + 0x91c0], sram[r27 + 0x31c0], rows=16, cols=64, dtype=f32, bcast=row signal(t25) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> t18_f32_16x64 [_blk=0]
    dma.st.sram sram[r6 + 0x0], sram[r28 + 0xb2c0], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t25) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): store t18_f32_16x64 -> _transformer_ln_f_LayerNormalization_output_0 [_blk=0]
    vpu.mov sram[r23 + 0x2dc40], acc[r0 + 0x15000], rows=1, cols=1024, dtype=f32, bcast=none         ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mov -> matmul_4.b16 [_blk=0]
    vpu.add sram[r24 + 0x11c40], sram[r23 + 0x2dc40], sram[r26 + 0x18d40], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_mlp_c_proj_Gemm_output_0.b16 [_blk=0]
    dma.ld.sram sram[r28 + 0x2e40], sram[r1 + 0x1000], rows=1, row_bytes=4096, sstride=0, dstride=0 signal(t29) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load _transformer_h.0_Add_output_0 -> t4_f32_1x1024 [_blk=0]
    vpu.add sram[r24 + 0xfc40], sram[r21 + 0x12e40], sram[r23 + 0x29c40], rows=1, cols=1024, dtype=f32, bcast=none wait(t29) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_Add_1_output_0.b16 [_blk=0]
    vpu.rsum sram[r24 + 0x16c80], sram[r23 + 0x27c40], rows=16, cols=64, dtype=f32                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> row_sum_3.b16 [_blk=0]
    vpu.muls sram[r26 + 0x1cec0], sram[r24 + 0x16c80], rows=16, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t7_f32_16x1 [_blk=0]
    vpu.sub sram[r23 + 0x2bc40], sram[r24 + 0xfc40], sram[r28 + 0x4ec0], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): sub -> centred_2.b16 [_blk=0]
    vpu.mul sram[r23 + 0x2fd40], sram[r24 + 0x13c40], sram[r23 + 0x2bc40], rows=1, cols=1024, dtype=f32, bcast=none ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> squares_2.b16 [_blk=0]
    vpu.rsum sram[r24 + 0x16d00], sram[r23 + 0x2fd40], rows=16, cols=64, dtype=f32                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> square_sum_2.b16 [_blk=0]
    vpu.muls sram[r21 + 0x16f80], sram[r24 + 0x16d00], rows=16, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t11_f32_16x1 [_blk=0]
    vpu.adds sram[r26 + 0x1f000], sram[r28 + 0x6f80], rows=16, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): adds -> t12_f32_16x1 [_blk=0]
    vpu.rsqrt sram[r21 + 0x17080], sram[r24 + 0x37000], rows=16, cols=1, dtype=f32, bcast=none       ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsqrt -> t13_f32_16x1 [_blk=0]
    vpu.mul sram[r27 + 0xc0], sram[r23 + 0x2bc40], sram[r26 + 0x1f080], rows=16, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t14_f32_16x64 [_blk=0]
    vpu.mul sram[r28 + 0xa1c0], sram[r21 + 0x180c0], sram[r24 + 0x390c0], rows=16, cols=64, dtype=f32, bcast=row ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t16_f32_16x64 [_blk=0]
    vpu.add sram[r27 + 0x42c0], sram[r26 + 0x221c0], sram[r28 + 0xb1c0], rows=16, cols=64, dtype=f32, bcast=row signal(t28) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> t18_f32_16x64 [_blk=0]
    dma.st.sram sram[r6 + 0x1000], sram[r27 + 0x42c0], rows=16, row_bytes=256, sstride=256, dstride=256 wait(t28) signal(t26) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): store t18_f32_16x64 -> _transformer_ln_f_LayerNormalization_output_0 [_blk=0]
; kernel logits (/lm_head/MatMul)
    dma.ld.sram sram[r28 + 0xd2c0], sram[r6 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t26) signal(t2) ; logits (/lm_head/MatMul): load _transformer_ln_f_LayerNormalization_output_0 -> t0_f32_32x64
    mxu.wpre sram[r21 + 0x1f2c0], k=64, n=128, dtype=f32, tw=0 wait(t1)                              ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    mxu.mm acc[r0 + 0x16000], sram[r27 + 0x52c0], sram[r28 + 0xf2c0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t2) signal(t30) ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    vpu.mov sram[r26 + 0x372c0], acc[r0 + 0x16000], rows=32, cols=128, dtype=f32, bcast=none wait(t30) signal(t27) ; logits (/lm_head/MatMul): mov -> t2_f32_32x128 [_l4=0]
    li r5, 1179648                                                                                   ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    dma.st hbm[r0 + 0x80], sram[r5 + 0x72c0], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t27) ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    dma.ld.sram sram[r27 + 0xf2c0], sram[r18 + 0x7180], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t29) ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
    mxu.wpre sram[r28 + 0x172c0], k=64, n=128, dtype=f32, tw=0 wait(t29)                             ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    mxu.mm acc[r0 + 0x1a000], sram[r21 + 0x1d2c0], sram[r27 + 0xf2c0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t28) ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    vpu.mov sram[r26 + 0x3b2c0], acc[r0 + 0x1a000], rows=32, cols=128, dtype=f32, bcast=none wait(t28) signal(t30) ; logits (/lm_head/MatMul): mov -> t2_f32_32x128 [_l4=0]
    dma.st hbm[r0 + 0x280], sram[r5 + 0xb2c0], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t30) ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    halt                                                                                             ; end of program: wait for every unit
