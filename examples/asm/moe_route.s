; One MoE routing step: 64 tokens (d = 64), 4 experts, top-2 routing, one GEMM per expert.
;   logits = x @ w_router; (v, e) = top2(logits); p = softmax(v)
;   y[t] = sum over the two chosen experts of p[t, slot] * (x[t] @ w_expert[e])
; Per expert the VPU builds the list of routed tokens (vpu.nonzero) and their count; the
; count is loaded into a register and drives the DMA gather, a hardware loop over 16-token
; chunks of the expert GEMM, and the scatter-add that combines results into y.

.isa moe-asic 2
.region x 0x0 f32 [64, 64]
.region w_router 0x4000 f32 [64, 4]
.region w_expert 0x5000 f32 [4, 64, 64]
.region expert_ids 0x15000 i32 [4]
.region gates 0x15100 f32 [4, 64]        ; scratch: per-expert gate of every token
.region y 0x16000 f32 [64, 64]

; SRAM layout
.equ X 0x0              ; 64 x 64 f32
.equ WR 0x4000          ; 64 x 4 f32
.equ EIDS 0x4400        ; 4 x i32
.equ LOGITS 0x4800      ; 64 x 4
.equ TV 0x4c00          ; top-2 values, then probabilities (64 x 2)
.equ TI 0x4e00          ; top-2 expert ids (64 x 2 i32)
.equ STAT 0x5000        ; 64 x 1
.equ MK 0x5400          ; routed-to-this-expert mask per slot (i32, then f32 at MKF)
.equ MKF 0x5600
.equ GW 0x5800          ; mask * probability
.equ GATE 0x5a00        ; 64 x 1 gate of each token for this expert
.equ SEL 0x5b00         ; 64 x 1 token routed to this expert
.equ IDX 0x5c00         ; routed token ids (i32)
.equ CNT 0x5d00         ; their count (i32)
.equ XE 0x6000          ; gathered tokens (64 x 64)
.equ WE 0xa000          ; expert weights (64 x 64)
.equ GE 0xe000          ; gathered gates (64 x 1)
.equ YE 0x10000         ; scaled expert output (64 x 64)
.equ ACC_E 0x1000       ; accumulator: expert output

.token x_in 1
.token wr_in 2
.token ids_in 3
.token logits_ready 4
.token routed 5
.token gates_out 6
.token tokens_in 7
.token gates_in 8
.token weights_in 9
.token scaled 11
.token combined 12

    li r1, w_router
    li r2, expert_ids
    li r3, gates
    li r4, y
    li r20, EIDS            ; -> id of the current expert
    li r21, w_expert        ; -> weights of the current expert
    li r22, gates           ; -> gate row of the current expert
    li r27, WE
    li r28, GE
    li r29, YE
    dma.ld sram[r0 + X], hbm[r0 + x], rows=1, row_bytes=16384, sstride=16384, dstride=16384 signal(x_in)
    dma.ld sram[r0 + WR], hbm[r1], rows=1, row_bytes=1024, sstride=1024, dstride=1024 signal(wr_in)
    dma.ld sram[r0 + EIDS], hbm[r2], rows=1, row_bytes=16, sstride=16, dstride=16 signal(ids_in)

    ; ---- router: logits, top-2, softmax over the two chosen logits ----
    mxu.mm acc[r0], sram[r0 + X], sram[r0 + WR], m=64, k=64, n=4, dtype=f32 wait(x_in, wr_in) signal(logits_ready)
    vpu.mov sram[r0 + LOGITS], acc[r0], rows=64, cols=4, dtype=f32 wait(logits_ready)
    vpu.topk sram[r0 + TV], sram[r0 + LOGITS], sram[r0 + TI], rows=64, cols=4, dtype=f32, k=2
    vpu.rmax sram[r0 + STAT], sram[r0 + TV], rows=64, cols=2, dtype=f32
    vpu.sub sram[r0 + TV], sram[r0 + TV], sram[r0 + STAT], rows=64, cols=2, dtype=f32, bcast=col
    vpu.exp sram[r0 + TV], sram[r0 + TV], rows=64, cols=2, dtype=f32
    vpu.rsum sram[r0 + STAT], sram[r0 + TV], rows=64, cols=2, dtype=f32
    vpu.div sram[r0 + TV], sram[r0 + TV], sram[r0 + STAT], rows=64, cols=2, dtype=f32, bcast=col
    nop wait(ids_in)        ; the expert loop's compares read the id table

    ; ---- experts ----
    loopi 4, expert_end
    vpu.cmpeq sram[r0 + MK], sram[r0 + TI], sram[r20], rows=64, cols=2, dtype=i32, bcast=scalar
    vpu.cvt sram[r0 + MKF], sram[r0 + MK], rows=64, cols=2, dtype=i32, odt=f32
    vpu.mul sram[r0 + GW], sram[r0 + MKF], sram[r0 + TV], rows=64, cols=2, dtype=f32
    vpu.rsum sram[r0 + GATE], sram[r0 + GW], rows=64, cols=2, dtype=f32
    vpu.rmax sram[r0 + SEL], sram[r0 + MKF], rows=64, cols=2, dtype=f32
    vpu.nonzero sram[r0 + IDX], sram[r0 + SEL], sram[r0 + CNT], rows=64, cols=1, dtype=f32 signal(routed)
    lds r23, sram[r0 + CNT] wait(routed)                 ; run-time token count of this expert
    ; the gate of each routed token goes out to HBM and comes back gathered in routed order
    dma.st hbm[r22], sram[r0 + GATE], rows=1, row_bytes=256, sstride=256, dstride=256 signal(gates_out)
    dma.gather sram[r0 + XE], hbm[r0 + x], idx=sram[r0 + IDX], n=r23, row_bytes=256, stride=256 signal(tokens_in)
    dma.gather sram[r28], hbm[r22], idx=sram[r0 + IDX], n=r23, row_bytes=4, stride=4 wait(gates_out) signal(gates_in)
    dma.ld sram[r27], hbm[r21], rows=1, row_bytes=16384, sstride=16384, dstride=16384 signal(weights_in)
    addi r24, r23, 15
    shri r24, r24, 4        ; 16-token chunks
    li r25, XE
    li r26, ACC_E
    nop wait(tokens_in, weights_in)
    loop r24, chunk_end
    mxu.mm acc[r26], sram[r25], sram[r27], m=16, k=64, n=64, dtype=f32
    addi r25, r25, 4096
    addi r26, r26, 4096
chunk_end:
    barrier                 ; every chunk's product is in the accumulator
    vpu.mul sram[r29], acc[r0 + ACC_E], sram[r28], rows=64, cols=64, dtype=f32, bcast=col wait(gates_in) signal(scaled)
    dma.scatter_add hbm[r4], sram[r29], idx=sram[r0 + IDX], n=r23, row_bytes=256, stride=256, dtype=f32 wait(scaled) signal(combined)
    nop wait(combined)      ; the next expert reuses IDX and YE
    addi r20, r20, 4
    addi r21, r21, 16384
    addi r22, r22, 256
expert_end:
    halt
