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
    dma.ld.sram sram[r0 + 0xa2c0], sram[r1 + 0x4000], rows=1, row_bytes=4096, sstride=0, dstride=0   ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_wpe_Gather_1_output_0.home -> t1_f32_1x1024
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
    li r4, 32                                                                                        ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): gather transformer.wte.weight rows by t3_i32_32x1 -> t4_f32_32x64
    dma.gather sram[r0 + 0x1c0], hbm[r0 + 0x8080], idx=sram[r0 + 0x140], n=r4, row_bytes=256, stride=256 wait(t28) signal(t29) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): gather transformer.wte.weight rows by t3_i32_32x1 -> t4_f32_32x64
    li r5, 12582912                                                                                  ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): store t4_f32_32x64 -> _transformer_wte_Gather_output_0
    dma.st.sram sram[r5 + 0x0], sram[r0 + 0x1c0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t30) ; _transformer_wte_Gather_output_0 (/transformer/wte/Gather): store t4_f32_32x64 -> _transformer_wte_Gather_output_0
; kernel fill_weights_1 (/transformer/h.0/attn/Transpose_4)
    dma.ld sram[r3 + 0x2500], hbm[r2 + 0xe580], rows=4, row_bytes=4, sstride=4, dstride=4            ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_key_blocks -> attention_8_key_blocks.fill
    dma.ld sram[r3 + 0x2540], hbm[r2 + 0xe5c0], rows=4, row_bytes=4, sstride=4, dstride=4            ; fill_weights_1 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks -> attention_8_value_blocks.fill
; kernel fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization)
    dma.ld.sram sram[r0 + 0x82c0], sram[r5 + 0x0], rows=2, row_bytes=4096, sstride=4096, dstride=4096 wait(t30) signal(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load _transformer_wte_Gather_output_0 -> t0_f32_2x1024
; kernel fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    li r6, 163840                                                                                    ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias -> transformer.h.0.attn.c_proj.bias.fill
    dma.ld sram[r3 + 0x2580], hbm[r6 + 0x2600], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias -> transformer.h.0.attn.c_proj.bias.fill
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    li r7, 65536                                                                                     ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight.home -> t1_f32_64x128
    dma.ld.sram sram[r7 + 0x7640], sram[r1 + 0x5500], rows=64, row_bytes=512, sstride=768, dstride=512 signal(t2) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight.home -> t1_f32_64x128
; kernel fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization)
    vpu.add sram[r0 + 0x21c0], sram[r0 + 0x82c0], sram[r0 + 0xa2c0], rows=2, cols=1024, dtype=f32, bcast=row wait(t27) signal(t28) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> _transformer_Add_output_0.b2
    dma.st.sram sram[r5 + 0xc000], sram[r0 + 0x21c0], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t28) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store _transformer_Add_output_0.b2 -> _transformer_Add_output_0
    vpu.rsum sram[r0 + 0x61c0], sram[r0 + 0x21c0], rows=32, cols=64, dtype=f32                       ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> row_sum.b2
    vpu.muls sram[r0 + 0xd2c0], sram[r0 + 0x61c0], rows=32, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t3_f32_32x1
    vpu.sub sram[r0 + 0x41c0], sram[r0 + 0x21c0], sram[r0 + 0xd2c0], rows=32, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): sub -> centred.b2
    vpu.mul sram[r0 + 0x62c0], sram[r0 + 0x41c0], sram[r0 + 0x41c0], rows=1, cols=2048, dtype=f32, bcast=none ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> squares.b2
    vpu.rsum sram[r0 + 0x6240], sram[r0 + 0x62c0], rows=32, cols=64, dtype=f32                       ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsum -> square_sum.b2
    vpu.muls sram[r0 + 0xd2c0], sram[r0 + 0x6240], rows=32, cols=1, dtype=f32, imm=0.015625          ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): muls -> t3_f32_32x1
    vpu.adds sram[r0 + 0x11340], sram[r0 + 0xd2c0], rows=32, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): adds -> t6_f32_32x1
    vpu.rsqrt sram[r0 + 0x113c0], sram[r0 + 0x11340], rows=32, cols=1, dtype=f32, bcast=none         ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): rsqrt -> t7_f32_32x1
    vpu.mul sram[r0 + 0xd340], sram[r0 + 0x41c0], sram[r0 + 0x113c0], rows=32, cols=64, dtype=f32, bcast=col ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t4_f32_32x64
    dma.ld.sram sram[r7 + 0x1440], sram[r1 + 0x5100], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t29) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load transformer.h.0.ln_1.weight.home -> t8_f32_1x64
    vpu.mul sram[r0 + 0x11540], sram[r0 + 0xd340], sram[r0 + 0x11440], rows=32, cols=64, dtype=f32, bcast=row wait(t29) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): mul -> t9_f32_32x64
    dma.ld.sram sram[r7 + 0x3540], sram[r1 + 0x5000], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): load transformer.h.0.ln_1.bias.home -> t10_f32_1x64
    vpu.add sram[r0 + 0x13640], sram[r0 + 0x11540], sram[r0 + 0x13540], rows=32, cols=64, dtype=f32, bcast=row wait(t30) signal(t27) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): add -> t11_f32_32x64
    dma.st.sram sram[r5 + 0xe000], sram[r7 + 0x3640], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t27) signal(t1) ; fused__transformer_Add_output_0 (/transformer/Add, /transformer/h.0/ln_1/LayerNormalization): store t11_f32_32x64 -> _transformer_h.0_ln_1_LayerNormalization_output_0
; kernel fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    dma.ld sram[r3 + 0x2680], hbm[r2 + 0xe600], rows=64, row_bytes=256, sstride=256, dstride=256     ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight -> transformer.h.0.attn.c_proj.weight.fill
    dma.ld sram[r3 + 0x6680], hbm[r6 + 0x2800], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.bias -> transformer.h.0.ln_2.bias.fill
    dma.ld sram[r3 + 0x6780], hbm[r6 + 0x2700], rows=1, row_bytes=256, sstride=0, dstride=0          ; fill_weights_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.weight -> transformer.h.0.ln_2.weight.fill
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    dma.ld.sram sram[r7 + 0x5640], sram[r5 + 0xe000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t1) signal(t3) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load _transformer_h.0_ln_1_LayerNormalization_output_0 -> t0_f32_32x64
; kernel fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    li r8, 229376                                                                                    ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias -> transformer.h.0.mlp.c_fc.bias.fill
    dma.ld sram[r3 + 0x6880], hbm[r8 + 0x2900], rows=1, row_bytes=1024, sstride=0, dstride=0         ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias -> transformer.h.0.mlp.c_fc.bias.fill
; kernel attention_8 (/transformer/h.0/attn/Transpose_4)
    dma.ld.sram sram[r8 + 0xfd40], sram[r3 + 0x2500], rows=4, row_bytes=4, sstride=4, dstride=4      ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_key_blocks.home -> t11_u8_4x4
    dma.ld.sram sram[r8 + 0xfd80], sram[r3 + 0x1500], rows=1, row_bytes=4096, sstride=0, dstride=0   ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_causal_packed.home -> t12_f32_1x1024
    li r9, 294912                                                                                    ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks.home -> t19_u8_4x4
    dma.ld.sram sram[r9 + 0x6080], sram[r3 + 0x2540], rows=4, row_bytes=4, sstride=4, dstride=4      ; attention_8 (/transformer/h.0/attn/Transpose_4): load attention_8_value_blocks.home -> t19_u8_4x4
; kernel fused_matmul (/transformer/h.0/attn/c_attn/Gemm)
    mxu.wpre sram[r0 + 0x17640], k=64, n=128, dtype=f32, tw=0 wait(t2)                               ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc = t0_f32_32x64 @ t1_f32_64x128
    mxu.mm acc[r0 + 0x0], sram[r0 + 0x15640], sram[r0 + 0x17640], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t3) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc = t0_f32_32x64 @ t1_f32_64x128
    vpu.mov sram[r0 + 0x1f640], acc[r0 + 0x0], rows=32, cols=128, dtype=f32, bcast=none wait(t29) signal(t28) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): mov -> t2_f32_32x128
    dma.st.sram sram[r5 + 0x6000], sram[r2 + 0x7640], rows=32, row_bytes=512, sstride=512, dstride=768 wait(t28) signal(t4) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t2_f32_32x128 -> matmul
    dma.ld.sram sram[r2 + 0xb640], sram[r1 + 0x5700], rows=64, row_bytes=256, sstride=768, dstride=256 signal(t30) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.weight.home -> t3_f32_64x64
    mxu.wpre sram[r7 + 0x13640], k=64, n=64, dtype=f32, tw=0 wait(t30)                               ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc.1 = t0_f32_32x64 @ t3_f32_64x64
    mxu.mm acc[r0 + 0x4000], sram[r0 + 0x15640], sram[r2 + 0xb640], m=32, k=64, n=64, dtype=f32, acc=0, tw=0 signal(t27) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): matmul acc.1 = t0_f32_32x64 @ t3_f32_64x64
    vpu.mov sram[r0 + 0x27640], acc[r0 + 0x4000], rows=32, cols=64, dtype=f32, bcast=none wait(t27) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): mov -> t4_f32_32x64
    dma.st.sram sram[r5 + 0x6200], sram[r2 + 0xf640], rows=32, row_bytes=256, sstride=256, dstride=768 wait(t29) signal(t6) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t4_f32_32x64 -> matmul
    dma.ld.sram sram[r7 + 0xf640], sram[r5 + 0x6000], rows=32, row_bytes=512, sstride=768, dstride=512 wait(t4) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load matmul -> t2_f32_32x128
    dma.ld.sram sram[r6 + 0x1640], sram[r1 + 0x5200], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t5) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.bias.home -> t5_f32_1x128
    vpu.add sram[r0 + 0x29840], sram[r0 + 0x1f640], sram[r0 + 0x29640], rows=32, cols=128, dtype=f32, bcast=row wait(t5) signal(t28) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): add -> t6_f32_32x128
    dma.st.sram sram[r5 + 0x0], sram[r6 + 0x1840], rows=32, row_bytes=512, sstride=512, dstride=768 wait(t28) signal(t29) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t6_f32_32x128 -> _transformer_h.0_attn_c_attn_Gemm_output_0
    dma.ld.sram sram[r2 + 0xf640], sram[r5 + 0x6200], rows=32, row_bytes=256, sstride=768, dstride=256 wait(t6) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load matmul -> t4_f32_32x64
    dma.ld.sram sram[r6 + 0x5840], sram[r1 + 0x5400], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): load transformer.h.0.attn.c_attn.bias.home -> t7_f32_1x64
    vpu.add sram[r0 + 0x2d940], sram[r0 + 0x27640], sram[r0 + 0x2d840], rows=32, cols=64, dtype=f32, bcast=row wait(t30) signal(t27) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): add -> t8_f32_32x64
    dma.st.sram sram[r5 + 0x200], sram[r6 + 0x5940], rows=32, row_bytes=256, sstride=256, dstride=768 wait(t27) signal(t28) ; fused_matmul (/transformer/h.0/attn/c_attn/Gemm): store t8_f32_32x64 -> _transformer_h.0_attn_c_attn_Gemm_output_0
; kernel fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    dma.ld sram[r3 + 0x6c80], hbm[r6 + 0x2900], rows=64, row_bytes=1024, sstride=1024, dstride=1024  ; fill_weights_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight -> transformer.h.0.mlp.c_fc.weight.fill
; kernel attention_8 (/transformer/h.0/attn/Transpose_4)
    vpu.fill sram[r0 + 0x33940], rows=64, cols=64, dtype=f32, imm=0.0 signal(t7)                     ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> keys_diag_in
    vpu.fill sram[r0 + 0x37940], rows=64, cols=64, dtype=f32, imm=0.0 signal(t30)                    ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> values_diag_in
    dma.ld.sram sram[r6 + 0xb940], sram[r5 + 0x100], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t29, t7) signal(t9) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0xc980], sram[r5 + 0x140], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0xd9c0], sram[r5 + 0x180], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0xea00], sram[r5 + 0x1c0], rows=16, row_bytes=64, sstride=768, dstride=256 signal(t10) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0xf940], sram[r5 + 0x200], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t28, t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x980], sram[r5 + 0x240], rows=16, row_bytes=64, sstride=768, dstride=256  ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x19c0], sram[r5 + 0x280], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x2a00], sram[r5 + 0x2c0], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0x7940], sram[r5 + 0x0], rows=16, row_bytes=256, sstride=768, dstride=256 signal(t8) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> queries_in [_l0=0]
    vpu.muls sram[r0 + 0x31940], sram[r0 + 0x2f940], rows=1, cols=1024, dtype=f32, imm=0.25 wait(t8) signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): muls -> queries [_l0=0]
; kernel fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r10, 12779520                                                                                 ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias -> transformer.h.0.mlp.c_proj.bias.fill
    dma.ld sram[r10 + 0x6c80], hbm[r9 + 0x2d00], rows=1, row_bytes=256, sstride=0, dstride=0         ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias -> transformer.h.0.mlp.c_proj.bias.fill
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    li r11, 360448                                                                                   ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight.home -> t1_f32_64x64
    dma.ld.sram sram[r11 + 0x31c0], sram[r3 + 0x2680], rows=64, row_bytes=256, sstride=256, dstride=256 ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.weight.home -> t1_f32_64x64
; kernel attention_8 (/transformer/h.0/attn/Transpose_4)
    mxu.wpre sram[r2 + 0x1b940], k=64, n=64, dtype=f32, tw=1 wait(t9, t10)                           ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r12, 24576                                                                                    ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r13, 196608                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    li r14, 294208                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    mxu.mmsp acc[r12 + 0x0], sram[r13 + 0x1940], sram[r13 + 0x3940], sram[r14], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=1 wait(t29) signal(t27) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    vpu.fill sram[r7 + 0x38d80], rows=1, cols=1024, dtype=f32, imm=0xff800000                        ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> t13_f32_1x1024 [_l0=0]
    vpu.sel sram[r8 + 0x10d80], sram[r6 + 0x1fd80], acc[r0 + 0x6000], rows=1, cols=1024, dtype=f32, bcast=none wait(t27) signal(t12) ; attention_8 (/transformer/h.0/attn/Transpose_4): sel -> t13_f32_1x1024 [_l0=0]
    vpu.mov acc[r0 + 0x6000], sram[r9 + 0xd80], rows=1, cols=1024, dtype=f32, bcast=none             ; attention_8 (/transformer/h.0/attn/Transpose_4): mov -> scores [_l0=0]
    vpu.rmax sram[r0 + 0x3f940], acc[r0 + 0x6000], rows=64, cols=16, dtype=f32                       ; attention_8 (/transformer/h.0/attn/Transpose_4): rmax -> row_max [_l0=0]
    vpu.sub sram[r2 + 0x32e80], acc[r0 + 0x6000], sram[r0 + 0x3f940], rows=64, cols=16, dtype=f32, bcast=col ; attention_8 (/transformer/h.0/attn/Transpose_4): sub -> t15_f32_64x16 [_l0=0]
    vpu.exp sram[r0 + 0x3b940], sram[r13 + 0x1ae80], rows=64, cols=16, dtype=f32, bcast=none signal(t28) ; attention_8 (/transformer/h.0/attn/Transpose_4): exp -> weights [_l0=0]
    vpu.rsum sram[r0 + 0x3fb40], sram[r0 + 0x3b940], rows=64, cols=16, dtype=f32                     ; attention_8 (/transformer/h.0/attn/Transpose_4): rsum -> row_sum_1 [_l0=0]
    vpu.rcp sram[r0 + 0x3fb40], sram[r0 + 0x3fb40], rows=1, cols=64, dtype=f32, bcast=none           ; attention_8 (/transformer/h.0/attn/Transpose_4): rcp -> row_sum_1 [_l0=0]
    mxu.wpre sram[r6 + 0xf940], k=64, n=64, dtype=f32, tw=0                                          ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r15, 221184                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r16, 319616                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    mxu.mmsp acc[r12 + 0x2000], sram[r8 + 0x3940], sram[r15 + 0x1940], sram[r16], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=0 wait(t28) signal(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    vpu.mul sram[r0 + 0x3d940], acc[r0 + 0x8000], sram[r0 + 0x3fb40], rows=64, cols=16, dtype=f32, bcast=col wait(t30) signal(t11) ; attention_8 (/transformer/h.0/attn/Transpose_4): mul -> result [_l0=0]
    dma.st.sram sram[r5 + 0x6000], sram[r13 + 0xd940], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t11) signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): store result -> attention_8 [_l0=0]
    dma.ld.sram sram[r6 + 0xb940], sram[r5 + 0x3100], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t12) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0x4980], sram[r5 + 0x3140], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0xd9c0], sram[r5 + 0x3180], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r15 + 0xa00], sram[r5 + 0x31c0], rows=16, row_bytes=64, sstride=768, dstride=256 signal(t13) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> keys_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0x7940], sram[r5 + 0x3200], rows=16, row_bytes=64, sstride=768, dstride=256 wait(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r8 + 0x980], sram[r5 + 0x3240], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r15 + 0x39c0], sram[r5 + 0x3280], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r13 + 0xaa00], sram[r5 + 0x32c0], rows=16, row_bytes=64, sstride=768, dstride=256 ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> values_diag_in [_l0=0]
    dma.ld.sram sram[r6 + 0x8940], sram[r5 + 0x3000], rows=16, row_bytes=256, sstride=768, dstride=256 signal(t27) ; attention_8 (/transformer/h.0/attn/Transpose_4): load _transformer_h.0_attn_c_attn_Gemm_output_0 -> queries_in [_l0=0]
    vpu.muls sram[r0 + 0x32940], sram[r0 + 0x30940], rows=1, cols=1024, dtype=f32, imm=0.25 wait(t27) signal(t28) ; attention_8 (/transformer/h.0/attn/Transpose_4): muls -> queries [_l0=0]
    mxu.wpre sram[r2 + 0x1b940], k=64, n=64, dtype=f32, tw=1 wait(t13)                               ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    mxu.mmsp acc[r12 + 0x1000], sram[r13 + 0x2940], sram[r13 + 0x3940], sram[r14], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=1 wait(t28) signal(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul scores = queries @ keys_diag_in^T [_l0=0]
    vpu.fill sram[r7 + 0x39d80], rows=1, cols=1024, dtype=f32, imm=0xff800000                        ; attention_8 (/transformer/h.0/attn/Transpose_4): fill -> t13_f32_1x1024 [_l0=0]
    vpu.sel sram[r9 + 0x1d80], sram[r8 + 0xfd80], acc[r0 + 0x7000], rows=1, cols=1024, dtype=f32, bcast=none wait(t30) ; attention_8 (/transformer/h.0/attn/Transpose_4): sel -> t13_f32_1x1024 [_l0=0]
    vpu.mov acc[r0 + 0x7000], sram[r15 + 0x13d80], rows=1, cols=1024, dtype=f32, bcast=none          ; attention_8 (/transformer/h.0/attn/Transpose_4): mov -> scores [_l0=0]
    vpu.rmax sram[r0 + 0x3fa40], acc[r0 + 0x7000], rows=64, cols=16, dtype=f32                       ; attention_8 (/transformer/h.0/attn/Transpose_4): rmax -> row_max [_l0=0]
    vpu.sub sram[r6 + 0x23e80], acc[r0 + 0x7000], sram[r0 + 0x3fa40], rows=64, cols=16, dtype=f32, bcast=col ; attention_8 (/transformer/h.0/attn/Transpose_4): sub -> t15_f32_64x16 [_l0=0]
    vpu.exp sram[r0 + 0x3c940], sram[r2 + 0x33e80], rows=64, cols=16, dtype=f32, bcast=none signal(t29) ; attention_8 (/transformer/h.0/attn/Transpose_4): exp -> weights [_l0=0]
    vpu.rsum sram[r0 + 0x3fc40], sram[r0 + 0x3c940], rows=64, cols=16, dtype=f32                     ; attention_8 (/transformer/h.0/attn/Transpose_4): rsum -> row_sum_1 [_l0=0]
    vpu.rcp sram[r0 + 0x3fc40], sram[r0 + 0x3fc40], rows=1, cols=64, dtype=f32, bcast=none           ; attention_8 (/transformer/h.0/attn/Transpose_4): rcp -> row_sum_1 [_l0=0]
    mxu.wpre sram[r13 + 0x7940], k=64, n=64, dtype=f32, tw=0                                         ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    li r17, 245760                                                                                   ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    mxu.mmsp acc[r12 + 0x3000], sram[r17 + 0x940], sram[r15 + 0x1940], sram[r16], m=16, k=64, n=64, dtype=f32, acc=0, blk=1, tw=0 wait(t29) signal(t27) ; attention_8 (/transformer/h.0/attn/Transpose_4): matmul outputs = weights @ values_diag_in [_l0=0]
    vpu.mul sram[r0 + 0x3e940], acc[r0 + 0x9000], sram[r0 + 0x3fc40], rows=64, cols=16, dtype=f32, bcast=col wait(t27) signal(t14) ; attention_8 (/transformer/h.0/attn/Transpose_4): mul -> result [_l0=0]
    dma.st.sram sram[r5 + 0x7000], sram[r8 + 0x6940], rows=1, row_bytes=4096, sstride=0, dstride=0 wait(t14) signal(t15) ; attention_8 (/transformer/h.0/attn/Transpose_4): store result -> attention_8 [_l0=0]
; kernel fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    dma.ld sram[r10 + 0x6d80], hbm[r13 + 0xad00], rows=256, row_bytes=256, sstride=256, dstride=256  ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight -> transformer.h.0.mlp.c_proj.weight.fill
    li r18, 12845056                                                                                 ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias -> transformer.ln_f.bias.fill
    dma.ld sram[r18 + 0x6d80], hbm[r14 + 0x31c0], rows=1, row_bytes=256, sstride=0, dstride=0        ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias -> transformer.ln_f.bias.fill
    dma.ld sram[r18 + 0x6e80], hbm[r9 + 0x2e00], rows=1, row_bytes=256, sstride=0, dstride=0         ; fill_weights_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.weight -> transformer.ln_f.weight.fill
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    dma.ld.sram sram[r11 + 0x11c0], sram[r5 + 0x6000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t15) signal(t28) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load attention_8 -> t0_f32_32x64
; kernel fill_weights_5 (/lm_head/MatMul)
    dma.ld sram[r18 + 0x6f80], hbm[r17 + 0xf000], rows=64, row_bytes=1024, sstride=1024, dstride=1024 ; fill_weights_5 (/lm_head/MatMul): load _lm_head_Transpose_output_0 -> _lm_head_Transpose_output_0.fill
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    li r19, 491520                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
    dma.ld.sram sram[r19 + 0x3540], sram[r3 + 0x6c80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t19) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
; kernel fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization)
    mxu.wpre sram[r16 + 0xd140], k=64, n=64, dtype=f32, tw=0                                         ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): matmul acc_1 = t0_f32_32x64 @ t1_f32_64x64
    mxu.mm acc[r0 + 0xa000], sram[r14 + 0x11480], sram[r9 + 0x131c0], m=32, k=64, n=64, dtype=f32, acc=0, tw=0 wait(t28) signal(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): matmul acc_1 = t0_f32_32x64 @ t1_f32_64x64
    vpu.mov sram[r6 + 0x2d0c0], acc[r0 + 0xa000], rows=1, cols=2048, dtype=f32, bcast=none wait(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mov -> matmul_2.b32
    dma.ld.sram sram[r11 + 0x71c0], sram[r3 + 0x2580], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.attn.c_proj.bias.home -> t2_f32_1x64
    vpu.add sram[r2 + 0x390c0], sram[r15 + 0x1f0c0], sram[r8 + 0x271c0], rows=32, cols=64, dtype=f32, bcast=row wait(t29) signal(t17) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> _transformer_h.0_attn_c_proj_Gemm_output_0.b32
    dma.ld.sram sram[r11 + 0x92c0], sram[r5 + 0xc000], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t27) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load _transformer_Add_output_0 -> t4_f32_1x2048
    vpu.add sram[r7 + 0x3f0c0], sram[r13 + 0x210c0], sram[r17 + 0x252c0], rows=1, cols=2048, dtype=f32, bcast=none wait(t27) signal(t16) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> _transformer_h.0_Add_output_0.b32
    dma.st.sram sram[r1 + 0x0], sram[r16 + 0x1040], rows=1, row_bytes=8192, sstride=0, dstride=0 wait(t16) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store _transformer_h.0_Add_output_0.b32 -> _transformer_h.0_Add_output_0
    vpu.rsum sram[r14 + 0xf380], sram[r9 + 0x70c0], rows=32, cols=64, dtype=f32                      ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> row_sum_2.b32
    vpu.muls sram[r6 + 0x3d2c0], sram[r2 + 0x3f0c0], rows=32, cols=1, dtype=f32, imm=0.015625        ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t6_f32_32x1
    vpu.sub sram[r15 + 0x1d0c0], sram[r8 + 0x170c0], sram[r11 + 0xd2c0], rows=32, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): sub -> centred_1.b32
    vpu.mul sram[r13 + 0x271c0], sram[r17 + 0x170c0], sram[r16 + 0x5040], rows=1, cols=2048, dtype=f32, bcast=none ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> squares_1.b32
    vpu.rsum sram[r14 + 0xf400], sram[r9 + 0xf1c0], rows=32, cols=64, dtype=f32                      ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsum -> square_sum_1.b32
    vpu.muls sram[r6 + 0x3d2c0], sram[r2 + 0x3f140], rows=32, cols=1, dtype=f32, imm=0.015625        ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): muls -> t6_f32_32x1
    vpu.adds sram[r15 + 0x2f340], sram[r8 + 0x2d2c0], rows=32, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): adds -> t7_f32_32x1
    vpu.rsqrt sram[r11 + 0xd3c0], sram[r13 + 0x35340], rows=32, cols=1, dtype=f32, bcast=none        ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): rsqrt -> t8_f32_32x1
    vpu.mul sram[r17 + 0x232c0], sram[r16 + 0x5040], sram[r14 + 0x1d680], rows=32, cols=64, dtype=f32, bcast=col ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t3_f32_32x64
    dma.ld.sram sram[r11 + 0x71c0], sram[r3 + 0x6780], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t17) signal(t28) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.weight.home -> t2_f32_1x64
    vpu.mul sram[r9 + 0x1d440], sram[r6 + 0x372c0], sram[r15 + 0x291c0], rows=32, cols=64, dtype=f32, bcast=row wait(t28) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): mul -> t9_f32_32x64
    dma.ld.sram sram[r11 + 0xf440], sram[r3 + 0x6680], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): load transformer.h.0.ln_2.bias.home -> t10_f32_1x64
    vpu.add sram[r8 + 0x2f540], sram[r13 + 0x35440], sram[r17 + 0x2b440], rows=32, cols=64, dtype=f32, bcast=row wait(t30) signal(t29) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): add -> t11_f32_32x64
    dma.st.sram sram[r1 + 0x2000], sram[r11 + 0xf540], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t18) ; fused_matmul_2 (/transformer/h.0/attn/c_proj/Gemm, /transformer/h.0/Add, /transformer/h.0/ln_2/LayerNormalization): store t11_f32_32x64 -> _transformer_h.0_ln_2_LayerNormalization_output_0
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    dma.ld.sram sram[r19 + 0x1540], sram[r1 + 0x2000], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t18) signal(t20) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_ln_2_LayerNormalization_output_0 -> t0_f32_32x64
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r20, 983040                                                                                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight.home -> t1_f32_256x64
    dma.ld.sram sram[r20 + 0x5a40], sram[r10 + 0x6d80], rows=256, row_bytes=256, sstride=256, dstride=256 ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.weight.home -> t1_f32_256x64
; kernel fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3)
    mxu.wpre sram[r19 + 0x3540], k=64, n=128, dtype=f32, tw=0 wait(t19)                              ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0xc000], sram[r19 + 0x1540], sram[r19 + 0x3540], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t20) signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    vpu.mov sram[r16 + 0x1b4c0], acc[r0 + 0xc000], rows=32, cols=128, dtype=f32, bcast=none wait(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mov -> matmul_3 [_l1=0]
    li r21, 557056                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    dma.ld.sram sram[r21 + 0x3540], sram[r3 + 0x6880], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    vpu.add sram[r11 + 0x33940], sram[r14 + 0x21800], sram[r19 + 0x13540], rows=32, cols=128, dtype=f32, bcast=row wait(t28) signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t3_f32_32x128 [_l1=0]
    dma.st.sram sram[r5 + 0x0], sram[r21 + 0x3940], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t30) signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t3_f32_32x128 -> _transformer_h.0_mlp_c_fc_Gemm_output_0 [_l1=0]
    dma.ld.sram sram[r21 + 0xb940], sram[r5 + 0x0], rows=32, row_bytes=512, sstride=1024, dstride=512 wait(t29) signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_mlp_c_fc_Gemm_output_0 -> t4_f32_32x128 [_l1=0]
    vpu.muls sram[r19 + 0x23940], sram[r11 + 0x3b940], rows=32, cols=128, dtype=f32, imm=0.5 wait(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t5_f32_32x128 [_l1=0]
    vpu.mul sram[r21 + 0x1b940], sram[r19 + 0x1b940], sram[r11 + 0x3b940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t6_f32_32x128 [_l1=0]
    vpu.mul sram[r21 + 0x23940], sram[r19 + 0x2b940], sram[r11 + 0x3b940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t7_f32_32x128 [_l1=0]
    vpu.muls sram[r21 + 0x2b940], sram[r19 + 0x33940], rows=32, cols=128, dtype=f32, imm=0.044714998453855515 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t8_f32_32x128 [_l1=0]
    vpu.add sram[r21 + 0x33940], sram[r11 + 0x3b940], sram[r19 + 0x3b940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t9_f32_32x128 [_l1=0]
    vpu.muls sram[r21 + 0x3b940], sram[r21 + 0x33940], rows=32, cols=128, dtype=f32, imm=0.7978845834732056 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t10_f32_32x128 [_l1=0]
    li r22, 786432                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.tanh sram[r22 + 0xb940], sram[r21 + 0x3b940], rows=32, cols=128, dtype=f32, bcast=none       ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.adds sram[r22 + 0x13940], sram[r22 + 0xb940], rows=32, cols=128, dtype=f32, imm=1.0          ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): adds -> t12_f32_32x128 [_l1=0]
    vpu.mul sram[r22 + 0x1b940], sram[r19 + 0x23940], sram[r22 + 0x13940], rows=32, cols=128, dtype=f32, bcast=none signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t13_f32_32x128 [_l1=0]
    li r23, 884736                                                                                   ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
    dma.st.sram sram[r5 + 0x8000], sram[r23 + 0x3940], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
    dma.ld.sram sram[r19 + 0xb540], sram[r3 + 0x6e80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t21) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.weight.home -> t1_f32_64x128 [_l1=0]
    mxu.wpre sram[r19 + 0xb540], k=64, n=128, dtype=f32, tw=0 wait(t21)                              ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    mxu.mm acc[r0 + 0x10000], sram[r19 + 0x1540], sram[r19 + 0xb540], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): matmul acc_2 = t0_f32_32x64 @ t1_f32_64x128 [_l1=0]
    vpu.mov sram[r9 + 0x2d540], acc[r0 + 0x10000], rows=32, cols=128, dtype=f32, bcast=none wait(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mov -> matmul_3 [_l1=0]
    dma.ld.sram sram[r21 + 0x3740], sram[r3 + 0x6a80], rows=1, row_bytes=512, sstride=0, dstride=0 signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load transformer.h.0.mlp.c_fc.bias.home -> t2_f32_1x128 [_l1=0]
    vpu.add sram[r11 + 0x37940], sram[r15 + 0x3f540], sram[r16 + 0x3d6c0], rows=32, cols=128, dtype=f32, bcast=row wait(t29) signal(t27) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t3_f32_32x128 [_l1=0]
    dma.st.sram sram[r5 + 0x200], sram[r21 + 0x7940], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t27) signal(t22) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t3_f32_32x128 -> _transformer_h.0_mlp_c_fc_Gemm_output_0 [_l1=0]
    dma.ld.sram sram[r21 + 0xf940], sram[r5 + 0x200], rows=32, row_bytes=512, sstride=1024, dstride=512 wait(t22) signal(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): load _transformer_h.0_mlp_c_fc_Gemm_output_0 -> t4_f32_32x128 [_l1=0]
    vpu.muls sram[r19 + 0x27940], sram[r11 + 0x3f940], rows=32, cols=128, dtype=f32, imm=0.5 wait(t30) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t5_f32_32x128 [_l1=0]
    vpu.mul sram[r21 + 0x1f940], sram[r19 + 0x1f940], sram[r11 + 0x3f940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t6_f32_32x128 [_l1=0]
    vpu.mul sram[r21 + 0x27940], sram[r19 + 0x2f940], sram[r11 + 0x3f940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t7_f32_32x128 [_l1=0]
    vpu.muls sram[r21 + 0x2f940], sram[r19 + 0x37940], rows=32, cols=128, dtype=f32, imm=0.044714998453855515 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t8_f32_32x128 [_l1=0]
    vpu.add sram[r21 + 0x37940], sram[r11 + 0x3f940], sram[r19 + 0x3f940], rows=32, cols=128, dtype=f32, bcast=none ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): add -> t9_f32_32x128 [_l1=0]
    vpu.muls sram[r22 + 0x7940], sram[r21 + 0x37940], rows=32, cols=128, dtype=f32, imm=0.7978845834732056 ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): muls -> t10_f32_32x128 [_l1=0]
    vpu.tanh sram[r22 + 0xf940], sram[r21 + 0x3f940], rows=32, cols=128, dtype=f32, bcast=none       ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): tanh -> t11_f32_32x128 [_l1=0]
    vpu.adds sram[r22 + 0x17940], sram[r22 + 0xf940], rows=32, cols=128, dtype=f32, imm=1.0          ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): adds -> t12_f32_32x128 [_l1=0]
    vpu.mul sram[r23 + 0x7940], sram[r19 + 0x27940], sram[r22 + 0x17940], rows=32, cols=128, dtype=f32, bcast=none signal(t28) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): mul -> t13_f32_32x128 [_l1=0]
    dma.st.sram sram[r5 + 0x8200], sram[r23 + 0x7940], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t28) signal(t29) ; fused_matmul_3 (/transformer/h.0/mlp/c_fc/Gemm, /transformer/h.0/mlp/Mul_3): store t13_f32_32x128 -> gelu_tanh [_l1=0]
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    li r24, 950272                                                                                   ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load gelu_tanh -> t0_f32_32x256
    dma.ld.sram sram[r24 + 0x5a40], sram[r5 + 0x8000], rows=32, row_bytes=1024, sstride=1024, dstride=1024 wait(t29) signal(t23) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load gelu_tanh -> t0_f32_32x256
; kernel logits (/lm_head/MatMul)
    li r25, 1114112                                                                                  ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
    dma.ld.sram sram[r25 + 0x1dc0], sram[r18 + 0x6f80], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t25) ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
; kernel fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization)
    mxu.wpre sram[r20 + 0x5a40], k=256, n=64, dtype=f32, tw=0                                        ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): matmul acc_3 = t0_f32_32x256 @ t1_f32_256x64
    mxu.mm acc[r0 + 0x14000], sram[r23 + 0x15a40], sram[r24 + 0xda40], m=32, k=256, n=64, dtype=f32, acc=0, tw=0 wait(t23) signal(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): matmul acc_3 = t0_f32_32x256 @ t1_f32_256x64
    vpu.mov sram[r22 + 0x29940], acc[r0 + 0x14000], rows=1, cols=2048, dtype=f32, bcast=none wait(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mov -> matmul_4.b32
    li r26, 1048576                                                                                  ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias.home -> t2_f32_1x64
    dma.ld.sram sram[r26 + 0x5a40], sram[r10 + 0x6c80], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.h.0.mlp.c_proj.bias.home -> t2_f32_1x64
    vpu.add sram[r23 + 0xd940], sram[r24 + 0x1940], sram[r20 + 0x15a40], rows=32, cols=64, dtype=f32, bcast=row wait(t30) signal(t29) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_mlp_c_proj_Gemm_output_0.b32
    dma.ld.sram sram[r26 + 0x7b40], sram[r1 + 0x0], rows=1, row_bytes=8192, sstride=0, dstride=0 signal(t28) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load _transformer_h.0_Add_output_0 -> t4_f32_1x2048
    vpu.add sram[r22 + 0x23940], sram[r23 + 0x2fb40], sram[r22 + 0x25940], rows=1, cols=2048, dtype=f32, bcast=none wait(t28) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> _transformer_h.0_Add_1_output_0.b32
    vpu.rsum sram[r24 + 0x3940], sram[r23 + 0xb940], rows=32, cols=64, dtype=f32                     ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> row_sum_3.b32
    vpu.muls sram[r20 + 0x1bb40], sram[r22 + 0x2b940], rows=32, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t6_f32_32x1
    vpu.sub sram[r23 + 0xf940], sram[r22 + 0x23940], sram[r26 + 0xbb40], rows=32, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): sub -> centred_2.b32
    vpu.mul sram[r24 + 0x3a40], sram[r23 + 0xf940], sram[r22 + 0x27940], rows=1, cols=2048, dtype=f32, bcast=none ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> squares_2.b32
    vpu.rsum sram[r24 + 0x39c0], sram[r23 + 0x13a40], rows=32, cols=64, dtype=f32                    ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsum -> square_sum_2.b32
    vpu.muls sram[r20 + 0x1bb40], sram[r22 + 0x2b9c0], rows=32, cols=1, dtype=f32, imm=0.015625      ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): muls -> t6_f32_32x1
    vpu.adds sram[r26 + 0xbbc0], sram[r24 + 0x23b40], rows=32, cols=1, dtype=f32, imm=9.999999747378752e-06 ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): adds -> t7_f32_32x1
    vpu.rsqrt sram[r23 + 0x33c40], sram[r20 + 0x1bbc0], rows=32, cols=1, dtype=f32, bcast=none       ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): rsqrt -> t8_f32_32x1
    vpu.mul sram[r26 + 0x5b40], sram[r22 + 0x27940], sram[r24 + 0x23c40], rows=32, cols=64, dtype=f32, bcast=col ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t3_f32_32x64
    dma.ld.sram sram[r26 + 0x5a40], sram[r18 + 0x6e80], rows=1, row_bytes=256, sstride=0, dstride=0 wait(t29) signal(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.weight.home -> t2_f32_1x64
    vpu.mul sram[r23 + 0x33cc0], sram[r20 + 0x15b40], sram[r24 + 0x1da40], rows=32, cols=64, dtype=f32, bcast=row wait(t27) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): mul -> t9_f32_32x64
    dma.ld.sram sram[r26 + 0xdcc0], sram[r18 + 0x6d80], rows=1, row_bytes=256, sstride=0, dstride=0 signal(t30) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): load transformer.ln_f.bias.home -> t10_f32_1x64
    vpu.add sram[r23 + 0x35dc0], sram[r20 + 0x1bcc0], sram[r24 + 0x25cc0], rows=32, cols=64, dtype=f32, bcast=row wait(t30) signal(t24) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): add -> t11_f32_32x64
    dma.st.sram sram[r5 + 0x0], sram[r26 + 0xddc0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t24) signal(t29) ; fused_matmul_4 (/transformer/h.0/mlp/c_proj/Gemm, /transformer/h.0/Add_1, /transformer/ln_f/LayerNormalization): store t11_f32_32x64 -> _transformer_ln_f_LayerNormalization_output_0
; kernel logits (/lm_head/MatMul)
    dma.ld.sram sram[r26 + 0xfdc0], sram[r5 + 0x0], rows=32, row_bytes=256, sstride=256, dstride=256 wait(t29) signal(t26) ; logits (/lm_head/MatMul): load _transformer_ln_f_LayerNormalization_output_0 -> t0_f32_32x64
    mxu.wpre sram[r25 + 0x1dc0], k=64, n=128, dtype=f32, tw=0 wait(t25)                              ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    mxu.mm acc[r0 + 0x16000], sram[r20 + 0x1fdc0], sram[r26 + 0x11dc0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 wait(t26) signal(t28) ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    vpu.mov sram[r24 + 0x39dc0], acc[r0 + 0x16000], rows=32, cols=128, dtype=f32, bcast=none wait(t28) signal(t27) ; logits (/lm_head/MatMul): mov -> t2_f32_32x128 [_l4=0]
    li r27, 1179648                                                                                  ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    dma.st hbm[r0 + 0x80], sram[r27 + 0x1dc0], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t27) ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    dma.ld.sram sram[r25 + 0x9dc0], sram[r18 + 0x7180], rows=64, row_bytes=512, sstride=1024, dstride=512 signal(t30) ; logits (/lm_head/MatMul): load _lm_head_Transpose_output_0.home -> t1_f32_64x128 [_l4=0]
    mxu.wpre sram[r26 + 0x19dc0], k=64, n=128, dtype=f32, tw=0 wait(t30)                             ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    mxu.mm acc[r0 + 0x1a000], sram[r20 + 0x1fdc0], sram[r25 + 0x9dc0], m=32, k=64, n=128, dtype=f32, acc=0, tw=0 signal(t29) ; logits (/lm_head/MatMul): matmul acc_4 = t0_f32_32x64 @ t1_f32_64x128 [_l4=0]
    vpu.mov sram[r24 + 0x3ddc0], acc[r0 + 0x1a000], rows=32, cols=128, dtype=f32, bcast=none wait(t29) signal(t28) ; logits (/lm_head/MatMul): mov -> t2_f32_32x128 [_l4=0]
    dma.st hbm[r0 + 0x280], sram[r27 + 0x5dc0], rows=32, row_bytes=512, sstride=512, dstride=1024 wait(t28) ; logits (/lm_head/MatMul): store t2_f32_32x128 -> logits [_l4=0]
    halt                                                                                             ; end of program: wait for every unit
