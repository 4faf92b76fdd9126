"""Single-precision GEMM for the LLVM CPU backend, built with llvmlite's IR builder.

The kernel IR's ``MatMul`` statements (and the CPU fallback for big matmuls) call
``moecc_sgemm``::

    void moecc_sgemm(float *C, const float *A, const float *B,
                     i64 M, i64 N, i64 K, i64 lda, i64 ldb, i64 ldc, i32 accumulate)

computing ``C[M x N] (= or +=) A[M x K] @ B[K x N]``, all row-major with leading dimensions
in elements; C must not overlap A or B (the pointers are ``noalias``). The structure is the
classic blocked GEMM (Goto / BLIS), blocked by a :class:`~moecc.backend.llvm.cpu_target.CpuTarget`::

    for jc in N by NC:                       B panel KC x NC (L3)
      for pc in K by KC:    pack B[pc:, jc:] into NR-column slivers, k-major
        for ic in M by MC:  pack A[ic:, pc:] into MR-row slivers, k-major   (L2)
          for jr in NC by NR:                                            B sliver (L1)
            for ir in MC by MR:
              micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= Ap sliver @ Bp sliver

The micro-kernel keeps the ``MR x NR`` tile of C in ``MR * NR / VW`` vector registers (``<VW x
float>`` SSA values carried around the K loop), and per k loads ``NR / VW`` vectors of packed B,
broadcasts ``MR`` elements of packed A and issues ``MR * NR / VW`` ``llvm.fma`` calls. There is
one micro-kernel per row count 1..MR (a short last row block computes only its rows); packing
zero-pads partial column slivers, so the K loop never branches, and only the write-back
distinguishes full tiles (vector stores) from ragged ones (through a stack tile, element-wise).
When the whole of M fits one register tile (M <= MR, e.g. decoding one token), B is not packed:
each B element is used once, so the micro-kernel reads full slivers in place (prefetching ahead).

The work of a call lives in two packing panels. ``moecc_sgemm_ws`` takes them as arguments::

    void moecc_sgemm_ws(float *C, const float *A, const float *B, i64 M, i64 N, i64 K,
                        i64 lda, i64 ldb, i64 ldc, i32 accumulate, i32 transpose_b,
                        float *packed_a, float *packed_b)

so that generated code can give each thread panels of its own (in its scratch arena, sized by
:func:`panel_floats`); with ``transpose_b`` 1 B is stored ``[N x K]`` (``B^T`` row-major, as a
``Linear`` weight or the keys of attention are) and the packing reads it transposed, which
costs nothing extra since B is packed anyway; with ``transpose_b`` 2 (:data:`B_PREPACKED`) B is
already packed *sliver-major*: column sliver ``s`` (columns ``s*NR .. s*NR+NR-1``) holds all
its K rows of NR floats contiguously, ``B[k, s*NR + j]`` at ``(s * ldb + k) * NR + j``, where
``ldb`` is the packed K (at least ``K``; more when the call reads a K range of a longer packed
weight, from a pointer already advanced to its first row and sliver). Any NR-aligned column range
and any K range of a packed weight is thus itself a packed B, which is what lets threads share
one packed weight by columns and tiled kernels read tiles of it. ``moecc_prepack_b`` writes it::

    void moecc_prepack_b(float *dst, const float *B, i64 ldb, i64 N, i64 K, i32 transpose_b)

(``K * roundup(N, NR)`` floats, :func:`prepacked_b_floats`; padding columns zero). With
``transpose_b`` 3 (:data:`B_PREPACKED_SPARSE`, a pruned weight) B is prepacked as for 2, and each
K block's slivers are scanned once per call for groups of :data:`ZERO_GROUP_ROWS` rows that are
all zero: the micro-kernel runs only over the runs of the other groups (the first run stores or
adds as the block would, the others add), and a sliver with none stores zeros or leaves C. The
CPU
code generator packs weights at load time in the same layout (:mod:`moecc.backend.llvm.tiled.
packed_weights`), and an MoE expert's weights, read by one call per token tile, on first use. ``moecc_sgemm`` is ``moecc_sgemm_ws`` over
panels that are module globals, so it must not run on two threads at once; :func:`sgemm`
serialises calls with a lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Iterator

import llvmlite.ir as ir
import numpy as np

from moecc.backend.llvm.cpu_target import CpuTarget, host_cpu_target
from moecc.backend.llvm.jit import JitModule, compile_module
from moecc.errors import MoeccError, UnsupportedError

SGEMM_SYMBOL = "moecc_sgemm"
#: The entry taking its packing panels (and a transposed-B flag) from the caller.
WORKSPACE_SYMBOL = "moecc_sgemm_ws"
#: Packs a whole B for ``moecc_sgemm_ws`` with ``transpose_b`` :data:`B_PREPACKED`.
PREPACK_SYMBOL = "moecc_prepack_b"
#: ``transpose_b`` of ``moecc_sgemm_ws``: B is stored transposed; B is prepacked.
B_TRANSPOSED, B_PREPACKED = 1, 2
#: ``transpose_b`` of a prepacked B that holds all-zero runs of rows in its slivers (a pruned
#: weight): each K block's slivers are scanned once per call for groups of
#: :data:`ZERO_GROUP_ROWS` rows that are all zero, and the micro-kernel runs only over the
#: others (the sums then add in runs: f32 reassociation, no other change).
B_PREPACKED_SPARSE = 3
#: Rows of a zero group (see :data:`B_PREPACKED_SPARSE`).
ZERO_GROUP_ROWS = 32
#: Alignment of the packed panels: one cache line, which is also one AVX-512 vector.
PANEL_ALIGN_BYTES = 64
#: The micro-kernel prefetches the B row this many K steps ahead.
B_PREFETCH_DISTANCE = 16

I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
F32_PTR = F32.as_pointer()
I8_PTR = ir.IntType(8).as_pointer()
VOID = ir.VoidType()


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


@contextlib.contextmanager
def counted_loop(
    builder: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: ir.Value, name: str
) -> Iterator[ir.Value]:
    """``for (index = start; index < stop; index += step) { <with-body> }`` as IR.

    Yields the index; the body is whatever the caller emits inside the ``with``. Leaves the
    builder at the loop's exit block."""
    preheader = builder.block
    header = builder.append_basic_block(f"{name}.header")
    body = builder.append_basic_block(f"{name}.body")
    exit_block = builder.append_basic_block(f"{name}.exit")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(start, preheader)
    builder.cbranch(builder.icmp_signed("<", index, stop), body, exit_block)
    builder.position_at_end(body)
    yield index
    following = builder.add(index, step, name=f"{name}.next")
    index.add_incoming(following, builder.block)
    builder.branch(header)
    builder.position_at_end(exit_block)


def _min(builder: ir.IRBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    return builder.select(builder.icmp_signed("<", a, b), a, b)


class SgemmBuilder:
    """Builds the ``moecc_sgemm`` module for one :class:`CpuTarget` (one instance per build)."""

    def __init__(self, target: CpuTarget) -> None:
        self.target = target
        #: Every symbol of the module starts with this.
        self.prefix = SGEMM_SYMBOL
        self.vector = ir.VectorType(F32, target.vector_floats)
        self.vector_ptr = self.vector.as_pointer()
        self.vectors_per_row = target.nr // target.vector_floats
        self.module = ir.Module(name=f"{self.prefix}_{target.mr}x{target.nr}")
        self.fma = ir.Function(
            self.module,
            ir.FunctionType(self.vector, [self.vector] * 3),
            f"llvm.fma.v{target.vector_floats}f32",
        )
        self.prefetch = ir.Function(self.module, ir.FunctionType(VOID, [I8_PTR, I32, I32, I32]), "llvm.prefetch.p0")

    def build(self) -> ir.Module:
        pack_a = self._build_pack_a()
        pack_b = self._build_pack_b()
        pack_b_transposed = self._build_pack_b_transposed()
        self.write_edge = self._build_write_edge()
        micro_kernels = {rows: self._build_micro_kernel(rows) for rows in range(1, self.target.mr + 1)}
        workspace = self._build_sgemm(pack_a, pack_b, pack_b_transposed, micro_kernels)
        self._build_prepack(pack_b, pack_b_transposed)
        self._build_sgemm_on_globals(workspace)
        return self.module

    def _panel(self, name: str, floats: int) -> ir.GlobalVariable:
        panel_type = ir.ArrayType(F32, floats)
        panel = ir.GlobalVariable(self.module, panel_type, name)
        panel.linkage = "internal"
        panel.align = PANEL_ALIGN_BYTES
        panel.initializer = ir.Constant(panel_type, None)
        return panel

    def _function(self, name: str, params: list[ir.Type], arg_names: list[str], internal: bool = True) -> ir.Function:
        function = ir.Function(self.module, ir.FunctionType(VOID, params), name)
        for arg, arg_name in zip(function.args, arg_names, strict=True):
            arg.name = arg_name
            if isinstance(arg.type, ir.PointerType):
                arg.add_attribute("noalias")
        function.attributes.add("nounwind")
        if internal:
            function.linkage = "internal"
        return function

    def _build_pack_a(self) -> ir.Function:
        """``pack_a(dst, src, lda, mc, kc)``: ``src[mc x kc]`` (leading dim ``lda``) into
        ``ceil(mc / MR)`` slivers of ``kc x MR`` floats, row ``i`` of a sliver at column ``i``,
        rows past ``mc`` zero."""
        mr = self.target.mr
        function = self._function(
            f"{self.prefix}_pack_a", [F32_PTR, F32_PTR, I64, I64, I64], ["dst", "src", "lda", "mc", "kc"]
        )
        dst, src, lda, mc, kc = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        with counted_loop(builder, _i64(0), mc, _i64(mr), "row0") as row0:
            sliver = builder.gep(dst, [builder.mul(row0, kc)], inbounds=True)
            rows = _min(builder, _i64(mr), builder.sub(mc, row0))
            source_rows = builder.gep(src, [builder.mul(row0, lda)], inbounds=True)
            full = builder.icmp_signed("==", rows, _i64(mr))
            with builder.if_else(full) as (then, otherwise):
                with then:
                    width = self.target.vector_floats
                    scalar_from = _i64(0)
                    if mr <= width:
                        # Chunks of `width` k: the MR rows' vectors transposed in registers, each
                        # k's MR values stored as one vector whose last width - MR lanes spill
                        # into the next k's place (written after it). The last k is never in a
                        # chunk, so no spill leaves the sliver.
                        scalar_from = builder.mul(builder.sdiv(builder.sub(kc, _i64(1)), _i64(width)), _i64(width))
                        with counted_loop(builder, _i64(0), scalar_from, _i64(width), "kv") as k0:
                            lines = [builder.load(builder.bitcast(builder.gep(
                                source_rows, [builder.add(builder.mul(_i64(i), lda), k0)], inbounds=True),
                                self.vector_ptr), align=4) for i in range(mr)]
                            lines += [ir.Constant(self.vector, None)] * (width - mr)
                            for j, column in enumerate(_transpose(builder, lines)):
                                at = builder.gep(sliver, [builder.mul(builder.add(k0, _i64(j)), _i64(mr))], inbounds=True)
                                builder.store(column, builder.bitcast(at, self.vector_ptr), align=4)
                    # Fixed trip count MR: LLVM unrolls the row loop into straight code.
                    with counted_loop(builder, scalar_from, kc, _i64(1), "k") as k:
                        out = builder.gep(sliver, [builder.mul(k, _i64(mr))], inbounds=True)
                        for i in range(mr):
                            position = builder.add(builder.mul(_i64(i), lda), k)
                            element = builder.gep(source_rows, [position], inbounds=True)
                            builder.store(builder.load(element), builder.gep(out, [_i64(i)], inbounds=True))
                with otherwise:
                    with counted_loop(builder, _i64(0), kc, _i64(1), "kz") as k:
                        out = builder.gep(sliver, [builder.mul(k, _i64(mr))], inbounds=True)
                        for i in range(mr):
                            builder.store(ir.Constant(F32, 0.0), builder.gep(out, [_i64(i)], inbounds=True))
                    with counted_loop(builder, _i64(0), rows, _i64(1), "i") as i:
                        source_row = builder.gep(source_rows, [builder.mul(i, lda)], inbounds=True)
                        with counted_loop(builder, _i64(0), kc, _i64(1), "kp") as k:
                            value = builder.load(builder.gep(source_row, [k], inbounds=True))
                            position = builder.add(builder.mul(k, _i64(mr)), i)
                            builder.store(value, builder.gep(sliver, [position], inbounds=True))
        builder.ret_void()
        return function

    def _build_pack_b(self) -> ir.Function:
        """``pack_b(dst, src, ldb, kc, nc)``: ``src[kc x nc]`` (leading dim ``ldb``) into
        ``ceil(nc / NR)`` slivers of ``kc x NR`` floats, columns past ``nc`` zero."""
        nr = self.target.nr
        function = self._function(
            f"{self.prefix}_pack_b", [F32_PTR, F32_PTR, I64, I64, I64], ["dst", "src", "ldb", "kc", "nc"]
        )
        dst, src, ldb, kc, nc = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        with counted_loop(builder, _i64(0), nc, _i64(nr), "col0") as col0:
            sliver = builder.gep(dst, [builder.mul(col0, kc)], inbounds=True)
            cols = _min(builder, _i64(nr), builder.sub(nc, col0))
            source_cols = builder.gep(src, [col0], inbounds=True)
            full = builder.icmp_signed("==", cols, _i64(nr))
            with builder.if_else(full) as (then, otherwise):
                with then:
                    with counted_loop(builder, _i64(0), kc, _i64(1), "k") as k:
                        source_row = builder.gep(source_cols, [builder.mul(k, ldb)], inbounds=True)
                        out = builder.gep(sliver, [builder.mul(k, _i64(nr))], inbounds=True)
                        for v in range(self.vectors_per_row):
                            offset = _i64(v * self.target.vector_floats)
                            source = builder.bitcast(builder.gep(source_row, [offset], inbounds=True), self.vector_ptr)
                            target = builder.bitcast(builder.gep(out, [offset], inbounds=True), self.vector_ptr)
                            # The panels are the caller's (a scratch arena): no alignment is assumed.
                            builder.store(builder.load(source, align=4), target, align=4)
                with otherwise:
                    with counted_loop(builder, _i64(0), kc, _i64(1), "kp") as k:
                        source_row = builder.gep(source_cols, [builder.mul(k, ldb)], inbounds=True)
                        out = builder.gep(sliver, [builder.mul(k, _i64(nr))], inbounds=True)
                        for j in range(nr):
                            builder.store(ir.Constant(F32, 0.0), builder.gep(out, [_i64(j)], inbounds=True))
                        with counted_loop(builder, _i64(0), cols, _i64(1), "j") as j:
                            value = builder.load(builder.gep(source_row, [j], inbounds=True))
                            builder.store(value, builder.gep(out, [j], inbounds=True))
        builder.ret_void()
        return function

    def _build_pack_b_transposed(self) -> ir.Function:
        """``pack_b_t(dst, src, ldb, kc, nc)``: like ``pack_b`` for a B stored transposed:
        ``B[k, j]`` is ``src[j * ldb + k]``. Each row of ``src`` (one column of B) is read
        contiguously and scattered down its sliver column (stride NR)."""
        nr = self.target.nr
        function = self._function(
            f"{self.prefix}_pack_b_t", [F32_PTR, F32_PTR, I64, I64, I64], ["dst", "src", "ldb", "kc", "nc"]
        )
        dst, src, ldb, kc, nc = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        with counted_loop(builder, _i64(0), nc, _i64(nr), "col0") as col0:
            sliver = builder.gep(dst, [builder.mul(col0, kc)], inbounds=True)
            cols = _min(builder, _i64(nr), builder.sub(nc, col0))
            with builder.if_then(builder.icmp_signed("<", cols, _i64(nr))):
                # Zero the padding columns of a ragged last sliver.
                with counted_loop(builder, _i64(0), kc, _i64(1), "kz") as k:
                    out = builder.gep(sliver, [builder.mul(k, _i64(nr))], inbounds=True)
                    with counted_loop(builder, cols, _i64(nr), _i64(1), "jz") as j:
                        builder.store(ir.Constant(F32, 0.0), builder.gep(out, [j], inbounds=True))
            with counted_loop(builder, _i64(0), cols, _i64(1), "j") as j:
                source_row = builder.gep(src, [builder.mul(builder.add(col0, j), ldb)], inbounds=True)
                with counted_loop(builder, _i64(0), kc, _i64(1), "k") as k:
                    value = builder.load(builder.gep(source_row, [k], inbounds=True))
                    position = builder.add(builder.mul(k, _i64(nr)), j)
                    builder.store(value, builder.gep(sliver, [position], inbounds=True))
        builder.ret_void()
        return function

    def _packed_vector_align(self) -> int:
        # The edge tile is a stack array aligned to PANEL_ALIGN_BYTES; its rows are whole vectors.
        return min(PANEL_ALIGN_BYTES, self.target.vector_floats * 4)

    def _build_micro_kernel(self, rows: int) -> ir.Function:
        """``micro_<rows>(kc, a, b, c, ldc, nr, load_c)``: ``c[rows x nr] (+)= a-sliver @ b-sliver``
        over ``kc`` (>= 1) steps, the ``rows x NR`` accumulators in vector registers.

        One kernel per row count 1..MR, so a short last row block (and a whole GEMM with
        M < MR, as in token-by-token decoding) does only the work of its real rows."""
        target = self.target
        mr, width, per_row = target.mr, target.vector_floats, self.vectors_per_row
        function = self._function(
            f"{self.prefix}_micro_kernel_{rows}x{target.nr}",
            [I64, F32_PTR, F32_PTR, I64, F32_PTR, I64, I64, I1],
            ["kc", "a", "b", "ldb", "c", "ldc", "nr", "load_c"],
        )
        kc, a, b, ldb, c, ldc, cols, load_c = function.args
        # Inlined into the loop nest, MR kernels would make one huge function for the register
        # allocator (compile time x20) with the loop nest's values competing for registers.
        function.attributes.add("noinline")
        entry = function.append_basic_block("entry")
        loop = function.append_basic_block("k.loop")
        done = function.append_basic_block("k.done")
        builder = ir.IRBuilder(entry)
        builder.branch(loop)

        builder.position_at_end(loop)
        k = builder.phi(I64, name="k")
        k.add_incoming(_i64(0), entry)
        zero = ir.Constant(self.vector, None)
        accumulators = [[builder.phi(self.vector, name=f"acc{i}_{v}") for v in range(per_row)] for i in range(rows)]
        for row in accumulators:
            for phi in row:
                phi.add_incoming(zero, entry)
        b_row = builder.gep(b, [builder.mul(k, ldb)], inbounds=True)
        b_vectors = [
            builder.load(
                builder.bitcast(builder.gep(b_row, [_i64(v * width)], inbounds=True), self.vector_ptr),
                align=4,  # B may be read in place (see _build_sgemm)
            )
            for v in range(per_row)
        ]
        # When M is small B is read in place at its row pitch (see _build_sgemm): a new page every
        # k step, which the hardware prefetchers do not follow. Fetching B_PREFETCH_DISTANCE rows
        # ahead took M=14 from 84 to 105 GFLOP/s and costs nothing measurable on packed B.
        # (A prefetch never faults, so running past the sliver's end is harmless.)
        ahead = builder.gep(b_row, [builder.mul(_i64(B_PREFETCH_DISTANCE), ldb)])
        for offset in range(0, target.nr, PANEL_ALIGN_BYTES // 4):
            address = builder.bitcast(builder.gep(ahead, [_i64(offset)]), I8_PTR)
            # rw = 0 (read), locality = 3 (keep in all cache levels), cache type = 1 (data)
            builder.call(self.prefetch, [address, ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])
        a_column = builder.gep(a, [builder.mul(k, _i64(mr))], inbounds=True)
        splat_mask = ir.Constant(ir.VectorType(I32, width), [0] * width)
        updated: list[list[ir.Value]] = []
        for i in range(rows):
            scalar = builder.load(builder.gep(a_column, [_i64(i)], inbounds=True))
            single = builder.insert_element(ir.Constant(self.vector, ir.Undefined), scalar, ir.Constant(I32, 0))
            splat = builder.shuffle_vector(single, ir.Constant(self.vector, ir.Undefined), splat_mask)
            updated.append([builder.call(self.fma, [splat, b_vectors[v], accumulators[i][v]]) for v in range(per_row)])
        k_next = builder.add(k, _i64(1))
        k.add_incoming(k_next, loop)
        for phis, values in zip(accumulators, updated, strict=True):
            for phi, value in zip(phis, values, strict=True):
                phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", k_next, kc), loop, done)

        builder.position_at_end(done)
        with builder.if_else(builder.icmp_signed("==", cols, _i64(target.nr))) as (then, otherwise):
            with then:
                self._write_full_tile(builder, updated, c, ldc, load_c)
            with otherwise:
                self._write_edge_tile(builder, updated, c, ldc, cols, load_c)
        builder.ret_void()
        return function

    def _write_full_tile(
        self, builder: ir.IRBuilder, tile: list[list[ir.Value]], c: ir.Value, ldc: ir.Value, load_c: ir.Value
    ) -> None:
        width = self.target.vector_floats

        def write(accumulate: bool) -> None:
            for i, row in enumerate(tile):
                c_row = builder.gep(c, [builder.mul(_i64(i), ldc)], inbounds=True)
                for v, value in enumerate(row):
                    pointer = builder.bitcast(builder.gep(c_row, [_i64(v * width)], inbounds=True), self.vector_ptr)
                    if accumulate:
                        value = builder.fadd(builder.load(pointer, align=4), value)
                    builder.store(value, pointer, align=4)

        with builder.if_else(load_c) as (then, otherwise):
            with then:
                write(accumulate=True)
            with otherwise:
                write(accumulate=False)

    def _write_edge_tile(
        self,
        builder: ir.IRBuilder,
        tile: list[list[ir.Value]],
        c: ir.Value,
        ldc: ir.Value,
        cols: ir.Value,
        load_c: ir.Value,
    ) -> None:
        """Spill the tile to the stack and write back only its first ``cols`` columns."""
        target = self.target
        scratch_type = ir.ArrayType(F32, len(tile) * target.nr)
        scratch_array = builder.alloca(scratch_type, name="edge_tile")
        scratch_array.align = PANEL_ALIGN_BYTES
        scratch = builder.bitcast(scratch_array, F32_PTR)
        for i, row in enumerate(tile):
            for v, value in enumerate(row):
                offset = _i64(i * target.nr + v * target.vector_floats)
                pointer = builder.bitcast(builder.gep(scratch, [offset], inbounds=True), self.vector_ptr)
                builder.store(value, pointer, align=self._packed_vector_align())
        builder.call(self.write_edge, [scratch, c, ldc, _i64(len(tile)), cols, load_c])

    def _build_write_edge(self) -> ir.Function:
        """``write_edge(tile, c, ldc, rows, cols, load_c)``: ``c[rows x cols] (+)= tile`` (row pitch
        NR). Shared by all micro-kernels: a copy in each, unrolled over its constant row count
        and vectorised with epilogues, made the module ten times slower to compile."""
        function = self._function(
            f"{self.prefix}_write_edge",
            [F32_PTR, F32_PTR, I64, I64, I64, I1],
            ["tile", "c", "ldc", "rows", "cols", "load_c"],
        )
        function.attributes.add("noinline")
        scratch, c, ldc, rows, cols, load_c = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        with counted_loop(builder, _i64(0), rows, _i64(1), "ei") as i:
            c_row = builder.gep(c, [builder.mul(i, ldc)], inbounds=True)
            scratch_row = builder.gep(scratch, [builder.mul(i, _i64(self.target.nr))], inbounds=True)
            with counted_loop(builder, _i64(0), cols, _i64(1), "ej") as j:
                pointer = builder.gep(c_row, [j], inbounds=True)
                value = builder.load(builder.gep(scratch_row, [j], inbounds=True))
                previous = builder.select(load_c, builder.load(pointer), ir.Constant(F32, 0.0))
                builder.store(builder.fadd(previous, value), pointer)
        builder.ret_void()
        return function

    def _build_sgemm(
        self,
        pack_a: ir.Function,
        pack_b: ir.Function,
        pack_b_transposed: ir.Function,
        micro_kernels: dict[int, ir.Function],
    ) -> ir.Function:
        """``moecc_sgemm_ws``: the blocked GEMM over caller-provided packing panels."""
        target = self.target
        function = self._function(
            WORKSPACE_SYMBOL,
            [F32_PTR, F32_PTR, F32_PTR, I64, I64, I64, I64, I64, I64, I32, I32, F32_PTR, F32_PTR],
            ["C", "A", "B", "M", "N", "K", "lda", "ldb", "ldc", "accumulate", "transpose_b", "packed_a", "packed_b"],
            internal=False,
        )
        c, a, b, m, n, k_total, lda, ldb, ldc, accumulate, transpose_b, packed_a, packed_b = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        accumulate_flag = builder.icmp_signed("!=", accumulate, ir.Constant(I32, 0))
        transposed = builder.icmp_signed("==", transpose_b, ir.Constant(I32, B_TRANSPOSED))
        sparse = builder.icmp_signed("==", transpose_b, ir.Constant(I32, B_PREPACKED_SPARSE))
        prepacked = builder.or_(builder.icmp_signed("==", transpose_b, ir.Constant(I32, B_PREPACKED)), sparse)
        zero = _ZeroRuns(builder, target)
        # With a single row block every B sliver is used once per K block, so packing B would
        # cost as much memory traffic as the product (token-by-token decoding, M = 1): the
        # micro-kernel then reads full B slivers in place and only packs the ragged last one.
        # A transposed B has no slivers to read in place and is always packed.
        direct_b = builder.and_(builder.icmp_signed("<=", m, _i64(target.mr)),
                                builder.not_(builder.or_(transposed, prepacked)))

        # K == 0: the product is all zeros, so C is cleared unless accumulating.
        clear = builder.and_(builder.icmp_signed("==", k_total, _i64(0)), builder.not_(accumulate_flag))
        with builder.if_then(clear):
            with counted_loop(builder, _i64(0), m, _i64(1), "zi") as i:
                c_row = builder.gep(c, [builder.mul(i, ldc)], inbounds=True)
                with counted_loop(builder, _i64(0), n, _i64(1), "zj") as j:
                    builder.store(ir.Constant(F32, 0.0), builder.gep(c_row, [j], inbounds=True))

        with counted_loop(builder, _i64(0), n, _i64(target.nc), "jc") as jc:
            nc = _min(builder, _i64(target.nc), builder.sub(n, jc))
            with counted_loop(builder, _i64(0), k_total, _i64(target.kc), "pc") as pc:
                kc = _min(builder, _i64(target.kc), builder.sub(k_total, pc))
                b_offset = builder.select(transposed, builder.add(builder.mul(jc, ldb), pc),
                                          builder.add(builder.mul(pc, ldb), jc))
                b_block = builder.gep(b, [b_offset], inbounds=True)
                # A prepacked B: rows pc.. of its slivers from jc on (see the module docstring).
                b_panel = builder.select(prepacked, builder.gep(b, [builder.add(builder.mul(jc, ldb),
                                                                                builder.mul(pc, _i64(target.nr)))],
                                                                inbounds=True), packed_b)
                sliver_pitch = builder.select(prepacked, builder.mul(ldb, _i64(target.nr)), builder.mul(kc, _i64(target.nr)))
                with builder.if_else(transposed) as (then, otherwise):
                    with then:
                        builder.call(pack_b_transposed, [packed_b, b_block, ldb, kc, nc])
                    with otherwise:
                        with builder.if_then(builder.not_(builder.or_(direct_b, prepacked))):
                            builder.call(pack_b, [packed_b, b_block, ldb, kc, nc])
                load_c = builder.or_(accumulate_flag, builder.icmp_signed(">", pc, _i64(0)))
                with builder.if_then(sparse):
                    zero.scan(b_panel, sliver_pitch, nc, kc)
                with counted_loop(builder, _i64(0), m, _i64(target.mc), "ic") as ic:
                    mc = _min(builder, _i64(target.mc), builder.sub(m, ic))
                    a_block = builder.gep(a, [builder.add(builder.mul(ic, lda), pc)], inbounds=True)
                    builder.call(pack_a, [packed_a, a_block, lda, mc, kc])
                    with counted_loop(builder, _i64(0), nc, _i64(target.nr), "jr") as jr:
                        cols = _min(builder, _i64(target.nr), builder.sub(nc, jr))
                        sliver = builder.sdiv(jr, _i64(target.nr))
                        packed_sliver = builder.gep(b_panel, [builder.mul(sliver, sliver_pitch)], inbounds=True)
                        in_place_sliver = builder.gep(b_block, [jr], inbounds=True)
                        in_place = builder.and_(direct_b, builder.icmp_signed("==", cols, _i64(target.nr)))
                        with builder.if_then(builder.and_(direct_b, builder.not_(in_place))):
                            builder.call(pack_b, [packed_sliver, in_place_sliver, ldb, kc, cols])
                        b_sliver = builder.select(in_place, in_place_sliver, packed_sliver)
                        b_pitch = builder.select(in_place, ldb, _i64(target.nr))
                        with builder.if_else(sparse) as (then, otherwise):
                            with then:  # only the runs of rows that hold a nonzero
                                runs = zero.count(sliver)
                                with counted_loop(builder, _i64(0), mc, _i64(target.mr), "irz") as ir_:
                                    rows = _min(builder, _i64(target.mr), builder.sub(mc, ir_))
                                    a_sliver = builder.gep(packed_a, [builder.mul(ir_, kc)], inbounds=True)
                                    c_tile = builder.gep(c, [builder.add(builder.mul(builder.add(ic, ir_), ldc),
                                                                         builder.add(jc, jr))], inbounds=True)
                                    none = builder.icmp_signed("==", runs, _i64(0))
                                    with builder.if_then(builder.and_(none, builder.not_(load_c))):
                                        _store_zeros(builder, c_tile, rows, cols, ldc)
                                    with counted_loop(builder, _i64(0), runs, _i64(1), "run") as run:
                                        start, end = zero.run(sliver, run)
                                        first_load = builder.or_(load_c, builder.icmp_signed(">", run, _i64(0)))
                                        self._call_micro_kernel(builder, micro_kernels, rows, [
                                            builder.sub(end, start),
                                            builder.gep(a_sliver, [builder.mul(start, _i64(target.mr))], inbounds=True),
                                            builder.gep(b_sliver, [builder.mul(start, _i64(target.nr))], inbounds=True),
                                            b_pitch, c_tile, ldc, cols, first_load])
                            with otherwise:
                                with counted_loop(builder, _i64(0), mc, _i64(target.mr), "ir") as ir_:
                                    rows = _min(builder, _i64(target.mr), builder.sub(mc, ir_))
                                    a_sliver = builder.gep(packed_a, [builder.mul(ir_, kc)], inbounds=True)
                                    c_tile = builder.gep(
                                        c,
                                        [builder.add(builder.mul(builder.add(ic, ir_), ldc), builder.add(jc, jr))],
                                        inbounds=True,
                                    )
                                    self._call_micro_kernel(
                                        builder,
                                        micro_kernels,
                                        rows,
                                        [kc, a_sliver, b_sliver, b_pitch, c_tile, ldc, cols, load_c],
                                    )
        builder.ret_void()
        return function

    def _build_prepack(self, pack_b: ir.Function, pack_b_transposed: ir.Function) -> ir.Function:
        """``moecc_prepack_b(dst, B, ldb, N, K, transpose_b)``: B packed sliver-major into ``dst``
        (:func:`prepacked_b_floats` floats): ``pack_b`` over all of K and N at once writes
        exactly that, sliver after sliver of ``K x NR`` floats."""
        function = self._function(PREPACK_SYMBOL, [F32_PTR, F32_PTR, I64, I64, I64, I32],
                                  ["dst", "B", "ldb", "N", "K", "transpose_b"], internal=False)
        dst, b, ldb, n, k_total, transpose_b = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        transposed = builder.icmp_signed("==", transpose_b, ir.Constant(I32, B_TRANSPOSED))
        with builder.if_else(transposed) as (then, otherwise):
            with then:
                builder.call(pack_b_transposed, [dst, b, ldb, k_total, n])
            with otherwise:
                builder.call(pack_b, [dst, b, ldb, k_total, n])
        builder.ret_void()
        return function

    def _build_sgemm_on_globals(self, workspace: ir.Function) -> ir.Function:
        """``moecc_sgemm``: ``moecc_sgemm_ws`` (B not transposed) over module-global panels."""
        target = self.target
        packed_a = self._panel(f"{self.prefix}_packed_a", target.mc * target.kc)
        packed_b = self._panel(f"{self.prefix}_packed_b", target.kc * target.nc)
        function = self._function(
            self.prefix,
            [F32_PTR, F32_PTR, F32_PTR, I64, I64, I64, I64, I64, I64, I32],
            ["C", "A", "B", "M", "N", "K", "lda", "ldb", "ldc", "accumulate"],
            internal=False,
        )
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        builder.call(workspace, [*function.args, ir.Constant(I32, 0),
                                 builder.bitcast(packed_a, F32_PTR), builder.bitcast(packed_b, F32_PTR)])
        builder.ret_void()
        return function

    @staticmethod
    def _call_micro_kernel(
        builder: ir.IRBuilder, micro_kernels: dict[int, ir.Function], rows: ir.Value, args: list[ir.Value]
    ) -> None:
        """``switch (rows)`` to the micro-kernel for that many rows (full tiles take the default)."""
        full = max(micro_kernels)
        merge = builder.append_basic_block("micro.done")
        default = builder.append_basic_block(f"micro.{full}")
        switch = builder.switch(rows, default)
        for count, kernel in sorted(micro_kernels.items()):
            block = default if count == full else builder.append_basic_block(f"micro.{count}")
            if count != full:
                switch.add_case(_i64(count), block)
            builder.position_at_end(block)
            builder.call(kernel, args)
            builder.branch(merge)
        builder.position_at_end(merge)


def _transpose(builder: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
    """The columns of the square matrix whose rows are the ``width`` vectors ``rows``
    (``width`` a power of two): Eklundh's swaps of off-diagonal blocks, halving the block each
    stage, one two-source shuffle per vector per stage."""
    width = len(rows)
    out = list(rows)
    block = width // 2
    while block:
        low = [lane if lane & block == 0 else width + lane - block for lane in range(width)]
        high = [lane + block if lane & block == 0 else width + lane for lane in range(width)]
        for r in range(width):
            if r & block == 0:
                x, y = out[r], out[r + block]
                out[r] = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, width), low))
                out[r + block] = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, width), high))
        block //= 2
    return out


def _store_zeros(builder: ir.IRBuilder, tile: ir.Value, rows: ir.Value, cols: ir.Value, ldc: ir.Value) -> None:
    """``tile[rows x cols] = 0`` (row pitch ``ldc``)."""
    with counted_loop(builder, _i64(0), rows, _i64(1), "zi") as i:
        row = builder.gep(tile, [builder.mul(i, ldc)], inbounds=True)
        with counted_loop(builder, _i64(0), cols, _i64(1), "zj") as j:
            builder.store(ir.Constant(F32, 0.0), builder.gep(row, [j], inbounds=True))


class _ZeroRuns:
    """The runs of rows a prepacked sparse B's slivers hold nonzeros in, per K block: for each
    sliver of the block, the ``[start, end)`` row ranges (relative to the block) made of the
    groups of :data:`ZERO_GROUP_ROWS` rows that are not all zero, merged. Stack arrays sized
    for the target's largest blocks (NC columns, KC rows), allocated in the entry block."""

    def __init__(self, builder: ir.IRBuilder, target: CpuTarget) -> None:
        self.builder, self.target = builder, target
        self.slivers = -(-target.nc // target.nr)
        self.max_runs = -(-target.kc // ZERO_GROUP_ROWS)
        self.runs = builder.alloca(ir.ArrayType(I64, self.slivers * self.max_runs * 2), name="zero.runs")
        self.counts = builder.alloca(ir.ArrayType(I64, self.slivers), name="zero.counts")
        self.open = builder.alloca(I64, name="zero.open")  # the start of the run being built, or -1
        self.bits = builder.alloca(I32, name="zero.bits")

    def _slot(self, sliver: ir.Value, run: ir.Value, end: int) -> ir.Value:
        b = self.builder
        index = b.add(b.mul(b.add(b.mul(sliver, _i64(self.max_runs)), run), _i64(2)), _i64(end))
        return b.gep(self.runs, [_i64(0), index], inbounds=True)

    def count(self, sliver: ir.Value) -> ir.Value:
        return self.builder.load(self.builder.gep(self.counts, [_i64(0), sliver], inbounds=True))

    def run(self, sliver: ir.Value, run: ir.Value) -> tuple[ir.Value, ir.Value]:
        return self.builder.load(self._slot(sliver, run, 0)), self.builder.load(self._slot(sliver, run, 1))

    def _close(self, sliver: ir.Value, end: ir.Value) -> None:
        b = self.builder
        at = b.gep(self.counts, [_i64(0), sliver], inbounds=True)
        found = b.load(at)
        b.store(b.load(self.open), self._slot(sliver, found, 0))
        b.store(end, self._slot(sliver, found, 1))
        b.store(b.add(found, _i64(1)), at)
        b.store(_i64(-1), self.open)

    def scan(self, panel: ir.Value, sliver_pitch: ir.Value, nc: ir.Value, kc: ir.Value) -> None:
        """Fill the runs of the ``ceil(nc / NR)`` slivers of the K block at ``panel``."""
        b, nr = self.builder, self.target.nr
        with counted_loop(b, _i64(0), nc, _i64(nr), "zs") as column:
            sliver = b.sdiv(column, _i64(nr))
            rows = b.gep(panel, [b.mul(sliver, sliver_pitch)], inbounds=True)
            b.store(_i64(0), b.gep(self.counts, [_i64(0), sliver], inbounds=True))
            b.store(_i64(-1), self.open)
            with counted_loop(b, _i64(0), kc, _i64(ZERO_GROUP_ROWS), "zg") as group:
                length = _min(b, _i64(ZERO_GROUP_ROWS), b.sub(kc, group))
                base = b.bitcast(b.gep(rows, [b.mul(group, _i64(nr))], inbounds=True), I32.as_pointer())
                b.store(ir.Constant(I32, 0), self.bits)
                with counted_loop(b, _i64(0), b.mul(length, _i64(nr)), _i64(1), "zt") as t:
                    value = b.and_(b.load(b.gep(base, [t], inbounds=True)), ir.Constant(I32, 0x7FFFFFFF))  # -0.0 is zero
                    b.store(b.or_(b.load(self.bits), value), self.bits)
                nonzero = b.icmp_unsigned("!=", b.load(self.bits), ir.Constant(I32, 0))
                is_open = b.icmp_signed(">=", b.load(self.open), _i64(0))
                with b.if_else(nonzero) as (then, otherwise):
                    with then:
                        with b.if_then(b.not_(is_open)):
                            b.store(group, self.open)
                    with otherwise:
                        with b.if_then(is_open):
                            self._close(sliver, group)
            with b.if_then(b.icmp_signed(">=", b.load(self.open), _i64(0))):
                self._close(sliver, kc)


def panel_floats(target: CpuTarget, m: int, n: int, k: int) -> tuple[int, int]:
    """Floats of the A and B packing panels ``moecc_sgemm_ws`` needs for an ``m x k @ k x n``
    product with ``target``'s blocking (A: an MC x KC block, rows rounded up to MR; B: a
    KC x NC panel, columns rounded up to NR)."""
    def round_up(value: int, unit: int) -> int:
        return -(-value // unit) * unit

    kc = min(max(k, 1), target.kc)
    rows = round_up(min(max(m, 1), target.mc), target.mr)
    cols = round_up(min(max(n, 1), target.nc), target.nr)
    return rows * kc, kc * cols


def prepacked_b_floats(target: CpuTarget, n: int, k: int) -> int:
    """Floats ``moecc_prepack_b`` writes for a ``k x n`` B: ``k`` rows of ``n`` columns rounded
    up to ``NR``."""
    return k * -(-n // target.nr) * target.nr


def build_sgemm_module(target: CpuTarget | None = None) -> ir.Module:
    """The module defining ``moecc_sgemm_ws`` and ``moecc_sgemm`` for ``target`` (default:
    the host), built with the IR builder."""
    return SgemmBuilder(target or host_cpu_target()).build()


@functools.cache
def compiled_sgemm(target: CpuTarget | None = None) -> tuple[JitModule, ctypes._CFuncPtr]:
    """The JIT-compiled module and its ``moecc_sgemm`` entry as a ctypes function (once per target)."""
    compiled = compile_module(build_sgemm_module(target), target)
    pointer = ctypes.c_void_p
    function = compiled.function(SGEMM_SYMBOL, None, pointer, pointer, pointer, *[ctypes.c_int64] * 6, ctypes.c_int32)
    return compiled, function


_call_lock = threading.Lock()


def _leading_dimension(array: np.ndarray, name: str, writable: bool) -> int:
    """The row pitch in elements of a row-major view the GEMM can address directly."""
    rows, cols = array.shape
    item = array.itemsize
    if writable and not array.flags.writeable:
        raise MoeccError(f"sgemm: {name} is read-only", remedy="pass a writable output array")
    if array.size == 0:
        return max(cols, 1)  # nothing is addressed
    if cols > 1 and array.strides[1] != item:
        raise UnsupportedError(
            f"sgemm: {name} has column stride {array.strides[1]} bytes; rows must be contiguous",
            remedy="pass a C-ordered array or a row slice of one (np.ascontiguousarray)",
        )
    if rows == 1:
        return max(cols, 1)  # the row pitch is never used
    if array.strides[0] <= 0 or array.strides[0] % item or array.strides[0] // item < cols:
        raise UnsupportedError(
            f"sgemm: {name} has row stride {array.strides[0]} bytes, not a forward multiple of a row",
            remedy="pass a C-ordered array or a row slice of one (np.ascontiguousarray)",
        )
    return array.strides[0] // item


def _prepare_operand(array: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.ndim != 2:
        raise MoeccError(f"sgemm: {name} must be a 2-D numpy array", remedy="reshape it to [rows, cols]")
    if array.dtype != np.float32:
        raise UnsupportedError(
            f"sgemm: {name} has dtype {array.dtype}; only float32 is supported",
            remedy=f"convert it with {name}.astype(np.float32)",
        )
    try:
        _leading_dimension(array, name, writable=False)
    except UnsupportedError:
        return np.ascontiguousarray(array)  # inputs may be copied; only the output must be in place
    return array


def sgemm(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    accumulate: bool = False,
    target: CpuTarget | None = None,
) -> np.ndarray:
    """``out (= or +=) a @ b`` for float32 matrices with the JIT-compiled ``moecc_sgemm``.

    ``a`` and ``b`` may be any 2-D float32 arrays (strided ones are copied); ``out`` must be a
    float32 ``[M, N]`` array with contiguous rows (any row pitch), and is required when
    ``accumulate`` is true. Returns ``out``."""
    a = _prepare_operand(a, "a")
    b = _prepare_operand(b, "b")
    m, k = a.shape
    k_b, n = b.shape
    if k != k_b:
        raise MoeccError(
            f"sgemm: inner dimensions differ: a is {a.shape}, b is {b.shape}",
            remedy="pass a [M, K] and a [K, N] matrix",
        )
    if out is None:
        if accumulate:
            raise MoeccError("sgemm: accumulate=True needs an out array", remedy="pass out=")
        out = np.empty((m, n), dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != (m, n):
        raise MoeccError(
            f"sgemm: out must be a float32 array of shape {(m, n)}",
            remedy="allocate it with np.empty((M, N), np.float32)",
        )
    lda = _leading_dimension(a, "a", writable=False)
    ldb = _leading_dimension(b, "b", writable=False)
    ldc = _leading_dimension(out, "out", writable=True)
    if m == 0 or n == 0:
        return out
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        # The GEMM reads A and B after writing parts of C; compute aside and copy in.
        result = sgemm(a.copy(), b.copy(), out.copy() if accumulate else None, accumulate, target)
        out[...] = result
        return out
    _, function = compiled_sgemm(target)
    with _call_lock:
        function(out.ctypes.data, a.ctypes.data, b.ctypes.data, m, n, k, lda, ldb, ldc, int(accumulate))
    return out
