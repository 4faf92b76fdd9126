"""Tiled ``matmul`` statements on the CPU: the packed sgemm where the operands allow, loops else.

Float contractions (f32 accumulation) call ``moecc_sgemm_ws`` (:mod:`moecc.backend.llvm.matmul`)
once per batch element with the thread's packing panels, through the kernel-IR back end's
``moecc_matmul``, which splits products of at least a million flops over the thread pool. The
sgemm reads ``A`` row-major with unit column stride, ``B`` row-major or transposed (``B^T``
row-major: its packing reads it transposed at no cost) and writes ``C`` with unit column
stride, any leading dimensions. An operand that is not f32 (f16/bf16 are widened) or not laid
out that way (``A^T``, strided columns) is first copied into the scratch arena's staging area
as a dense f32 matrix; a destination that is not f32 or not unit-stride is computed there and
stored rounded (with ``+=``, the destination is loaded into it first). Integer contractions are
plain loops accumulating in i64, wrapped to the accumulation dtype, then converted.

A matmul over a run-time row count (an MoE expert's token tile) whose ``B`` is a weight reads
``B`` prepacked: each instance of ``B`` it can see (one per value of the single loop variable
its offset moves with: one per expert) is packed by ``moecc_prepack_b`` the first time it is
used, into a heap area after the planned buffers, with a flag per instance; every later tile
(and run: the heap persists) calls the sgemm with ``transpose_b`` ``B_PREPACKED`` and packs
nothing. An expert's tiles are few rows each, so packing its weights per call cost about a
fifth of the product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llvmlite import ir

from moecc.backend.llvm.cpu_target import CpuTarget
from moecc.backend.llvm.matmul import B_PREPACKED, B_PREPACKED_SPARSE
from moecc.backend.llvm.loop_builder import F32, I32, I64, i64
from moecc.backend.llvm.thread_pool import ThreadPool
from moecc.backend.llvm.tiled.dtypes import WORK, convert, from_storage, int_to_wide
from moecc.backend.llvm.tiled.memory import ScratchPlan, align
from moecc.backend.llvm.tiled.packed_weights import PackedWeight, is_dot_form
from moecc.backend.llvm.tiled.packed_weights import logical as logical_matrix
from moecc.backend.llvm.tiled.packed_weights import unit as _unit
from moecc.errors import UnsupportedError
from moecc.ir.tiled.nodes import MatMul, View
from moecc.ir.types import DType

if TYPE_CHECKING:
    from moecc.backend.llvm.tiled.kernel import KernelEmitter

_F32_PTR = F32.as_pointer()


def logical(view: View, transposed: bool) -> tuple[int, int, int, int]:
    """(rows, cols, row stride, col stride) of the matrix a (possibly ``^T``) view stands for."""
    return logical_matrix(view.shape, view.strides, transposed)


class MatmulEmitter:
    """Shared by the kernels of one LLVM module: the sgemm declaration and scratch places."""

    def __init__(self, module: ir.Module, scratch: ScratchPlan, target: CpuTarget, pool: ThreadPool,
                 weights: Mapping[str, int] | None = None, heap_bytes: int = 0,
                 packed: Mapping[str, PackedWeight] | None = None) -> None:
        # The kernel-IR back end's matmul entry: moecc_sgemm_ws over the calling thread's
        # panels (at scratch.panel_a_base/panel_b_base), big products split over the pool.
        from moecc.backend.llvm.matmul import PREPACK_SYMBOL
        from moecc.backend.llvm.parallel_matmul import define_parallel_matmul

        self.matmul = define_parallel_matmul(module, scratch, target, pool)
        self.prepack = ir.Function(module, ir.FunctionType(ir.VoidType(), [_F32_PTR, _F32_PTR, I64, I64, I64, I32]),
                                   name=PREPACK_SYMBOL)
        self.target = target
        #: weights stored packed (:mod:`~moecc.backend.llvm.tiled.packed_weights`)
        self.packed = dict(packed or {})
        #: f32 weight buffers (name -> elements) an MoE expert's matmul may pack on first use
        self.weights = {name: size for name, size in (weights or {}).items() if name not in self.packed}
        #: where the next prepacked area starts in the heap, and the bytes they take so far
        self.heap_bytes = align(heap_bytes)
        self.pack_bytes = 0
        self.areas: dict[int, tuple[int, int, int, str | None]] = {}
        self.pool = pool
        self.scratch = scratch
        self.calls = 0
        self.prepacked = 0
        self.staged = 0
        self.loops = 0
        self.dots = 0

    def counters(self) -> tuple[int, int, int, int]:
        """The report's counts so far (a parallel loop's body is emitted twice, counted once)."""
        return self.calls, self.staged, self.loops, self.dots

    def restore(self, counters: tuple[int, int, int, int]) -> None:
        self.calls, self.staged, self.loops, self.dots = counters

    def emit(self, k: KernelEmitter, stmt: MatMul) -> None:
        if stmt.blocks is not None:  # the unmarked blocks' bytes may be anything: a dense product would read them
            raise UnsupportedError(f"matmul into {stmt.dst.buffer} with a block mask has no CPU emitter",
                                   remedy="block-masked products are an in-order target's form: lower for the CPU "
                                          "with its own tiling parameters")
        if not stmt.acc_dtype.is_float:
            self._int_loops(k, stmt)
        elif is_dot_form(stmt):
            self._dots(k, stmt)
        else:
            self._sgemm(k, stmt)

    # -- float, few rows against B^T: dot products (see packed_weights.is_dot_form)

    def _dots(self, k: KernelEmitter, stmt: MatMul) -> None:
        b = k.b
        self.dots += 1
        m, n = stmt.dst.shape[-2:]
        _, kk, sam, sak = logical(stmt.a, stmt.transpose_a)
        _, _, sbk, sbn = logical(stmt.b, stmt.transpose_b)
        a0, b0, c0 = k.affine(stmt.a.offset), k.affine(stmt.b.offset), k.affine(stmt.dst.offset)
        acc = k.alloca(F32)
        batch_rank = len(stmt.dst.shape) - 2
        a_strides, b_strides = list(stmt.a.strides[:-2]), list(stmt.b.strides[:-2])

        def element(index: list[ir.Value]) -> None:
            outer, (j, i) = index[:batch_rank], index[batch_rank:]
            b.store(ir.Constant(F32, 0.0), acc)

            def term(p: list[ir.Value]) -> None:
                x = k.load(stmt.a.buffer, a0, outer + [i, p[0]], a_strides + [sam, sak])
                y = k.load(stmt.b.buffer, b0, outer + [p[0], j], b_strides + [sbk, sbn])
                product = b.fmul(x, y)
                total = b.fadd(b.load(acc), product)
                # The summation order is the tiled IR's to choose: let the vectoriser split it.
                for value in (product, total):
                    value.flags.extend(["reassoc", "contract"])
                b.store(total, acc)

            k.nest([kk], term, "dot")
            total = b.load(acc)
            if stmt.accumulate:
                total = b.fadd(total, k.load(stmt.dst.buffer, c0, outer + [i, j], list(stmt.dst.strides)))
            k.store(stmt.dst.buffer, c0, outer + [i, j], list(stmt.dst.strides), total)

        # Columns outside rows: one row of B^T meets every row of A while it is in L1.
        k.nest(list(stmt.dst.shape[:-2]) + [n, m], element, "mv")

    # -- float: the sgemm

    def _sgemm(self, k: KernelEmitter, stmt: MatMul) -> None:
        b = k.b
        m, n = stmt.dst.shape[-2:]
        _, kk, sam, sak = logical(stmt.a, stmt.transpose_a)
        _, _, sbk, sbn = logical(stmt.b, stmt.transpose_b)
        _, _, scm, scn = logical(stmt.dst, False)
        dt = k.dtypes
        direct_a = dt[stmt.a.buffer] == DType.F32 and _unit(sak, kk)
        # B^T is read transposed by the sgemm's packing when its rows (over k) are unit-stride.
        direct_b = dt[stmt.b.buffer] == DType.F32 and (_unit(sbn, n) or (_unit(sbk, kk) and n > 1))
        b_transposed = direct_b and not _unit(sbn, n)
        direct_c = dt[stmt.dst.buffer] == DType.F32 and _unit(scn, n)
        stage = self.scratch.staging_base
        a_stage, b_stage = stage, stage + 4 * align(m * kk)
        c_stage = b_stage + 4 * align(kk * n)
        if not (direct_a and direct_b and direct_c):
            self.staged += 1
        self.calls += 1
        a0, b0, c0 = k.affine(stmt.a.offset), k.affine(stmt.b.offset), k.affine(stmt.dst.offset)
        batch = list(stmt.dst.shape[:-2])
        prepacked = self._prepack_area(stmt, direct_b, n, kk) if stmt.rows is not None and not _batched(stmt) else None
        rows: ir.Value = i64(m)
        if stmt.rows is not None:  # a run-time row count, clamped to [0, m]
            ref = stmt.rows
            raw = k.wide_int(k.load(ref.buffer, k.affine(ref.offset), [], []), dt[ref.buffer])
            raw = b.select(b.icmp_signed("<", raw, i64(0)), i64(0), raw)
            rows = b.select(b.icmp_signed(">", raw, i64(m)), i64(m), raw)

        def f32_at(byte: int) -> ir.Value:
            return b.bitcast(b.gep(k.scratch, [i64(byte)], inbounds=True), _F32_PTR)

        def stage_in(view: View, base: ir.Value, index: list[ir.Value], rows: int, cols: int, srow: int, scol: int,
                     byte: int) -> ir.Value:
            """Copy the logical ``rows x cols`` matrix into dense f32 at ``byte`` of scratch."""
            out = f32_at(byte)
            strides = list(view.strides[:-2])

            def element(ij: list[ir.Value]) -> None:
                at = k.address(view.buffer, base, index + ij, strides + [srow, scol])
                value = from_storage(b, k.raw_load(view.buffer, at), dt[view.buffer])
                b.store(value, b.gep(out, [b.add(b.mul(ij[0], i64(cols)), ij[1])], inbounds=True))

            k.nest([rows, cols], element, "stage")
            return out

        def per_batch(index: list[ir.Value]) -> None:
            if direct_a:
                a_ptr = k.address(stmt.a.buffer, a0, index, list(stmt.a.strides[:-2]))
                lda = sam if m > 1 else kk
            else:
                a_ptr = stage_in(stmt.a, a0, index, m, kk, sam, sak, a_stage)
                lda = kk
            b_mode = int(b_transposed)
            stored = self.packed.get(stmt.b.buffer)
            if stored is not None:  # a weight stored packed: this tile of it is a packed B
                b_ptr = k.address(stmt.b.buffer, k.affine(stored.tile_offset(stmt.b.offset)), [], [])
                ldb, b_mode = stored.k, B_PREPACKED_SPARSE if stored.skip_zero else B_PREPACKED
            elif direct_b:
                b_ptr = k.address(stmt.b.buffer, b0, index, list(stmt.b.strides[:-2]))
                ldb = (sbn if n > 1 else kk) if b_transposed else (sbk if kk > 1 else n)
            else:
                b_ptr = stage_in(stmt.b, b0, index, kk, n, sbk, sbn, b_stage)
                ldb = n
            if prepacked is not None:
                b_ptr, b_mode = self._prepacked(k, prepacked, b_ptr, ldb, n, kk, b_transposed), B_PREPACKED
                ldb = kk  # the packed K: its slivers are kk x NR floats
            accumulate = stmt.accumulate
            if direct_c:
                c_ptr = k.address(stmt.dst.buffer, c0, index, list(stmt.dst.strides[:-2]))
                ldc = scm if m > 1 else n
            else:
                c_ptr = f32_at(c_stage)
                ldc = n
                if accumulate:
                    stage_in(stmt.dst, c0, index, m, n, scm, scn, c_stage)
            b.call(self.matmul, [c_ptr, a_ptr, b_ptr, rows, i64(n), i64(kk), i64(lda), i64(ldb), i64(ldc),
                                 ir.Constant(I32, int(accumulate)), ir.Constant(I32, b_mode), k.scratch])
            if not direct_c:
                strides = list(stmt.dst.strides[:-2])

                def store(ij: list[ir.Value]) -> None:
                    value = b.load(b.gep(c_ptr, [b.add(b.mul(ij[0], i64(n)), ij[1])], inbounds=True))
                    k.store(stmt.dst.buffer, c0, index + ij, strides + [scm, scn], value)

                k.nest([m, n], store, "unstage")

        k.nest(batch, per_batch, "batch")

    # -- integers: loops

    def _int_loops(self, k: KernelEmitter, stmt: MatMul) -> None:
        b = k.b
        self.loops += 1
        m, n = stmt.dst.shape[-2:]
        _, kk, sam, sak = logical(stmt.a, stmt.transpose_a)
        _, _, sbk, sbn = logical(stmt.b, stmt.transpose_b)
        dt = k.dtypes
        adt, bdt, ddt = dt[stmt.a.buffer], dt[stmt.b.buffer], dt[stmt.dst.buffer]
        a0, b0, c0 = k.affine(stmt.a.offset), k.affine(stmt.b.offset), k.affine(stmt.dst.offset)
        acc = k.alloca(I64)
        batch_rank = len(stmt.dst.shape) - 2

        def element(index: list[ir.Value]) -> None:
            outer, (i, j) = index[:batch_rank], index[batch_rank:]
            b.store(i64(0), acc)

            def term(p: list[ir.Value]) -> None:
                x = int_to_wide(b, k.load(stmt.a.buffer, a0, outer + [i, p[0]], list(stmt.a.strides[:-2]) + [sam, sak]), adt)
                y = int_to_wide(b, k.load(stmt.b.buffer, b0, outer + [p[0], j], list(stmt.b.strides[:-2]) + [sbk, sbn]), bdt)
                b.store(b.add(b.load(acc), b.mul(x, y)), acc)

            k.nest([kk], term, "kk")
            total = b.load(acc)
            if stmt.accumulate:
                old = k.load(stmt.dst.buffer, c0, index, list(stmt.dst.strides))
                total = b.add(total, int_to_wide(b, old, ddt) if ddt.is_int else b.fptosi(old, I64))
            wrapped = int_to_wide(b, total, DType.I64, WORK[stmt.acc_dtype])
            k.store(stmt.dst.buffer, c0, index, list(stmt.dst.strides), convert(b, wrapped, stmt.acc_dtype, ddt))

        k.nest(list(stmt.dst.shape), element, "mm")

    # -- prepacked weights

    def _prepack_area(self, stmt: MatMul, direct_b: bool, n: int, kk: int) -> tuple[int, int, int, str | None] | None:
        """(area offset, flag bytes, bytes per instance, loop variable) of a heap area holding
        ``stmt``'s ``B`` prepacked, or None when it cannot be (not an f32 weight read directly,
        its offset moving with more than one loop variable)."""
        from moecc.backend.llvm.matmul import prepacked_b_floats

        if id(stmt) in self.areas:  # a parallel loop's body is emitted twice: one area
            return self.areas[id(stmt)]
        view = stmt.b
        if not direct_b or view.buffer not in self.weights or len(view.offset.terms) > 1:
            return None
        if any(s < 0 for s in view.strides) or view.offset.const < 0:
            return None
        span = sum((d - 1) * s for d, s in zip(view.shape, view.strides))
        free = self.weights[view.buffer] - 1 - view.offset.const - span
        if free < 0:
            return None
        var, coef = view.offset.terms[0] if view.offset.terms else (None, 0)
        if var is not None and coef <= 0:
            return None
        instances = free // coef + 1 if var is not None else 1
        per_instance = align(4 * prepacked_b_floats(self.target, n, kk))
        flags = align(instances)
        area = self.heap_bytes + self.pack_bytes
        self.pack_bytes += flags + instances * per_instance
        self.areas[id(stmt)] = (area, flags, per_instance, var)
        return self.areas[id(stmt)]

    def _prepacked(self, k: KernelEmitter, area: tuple[int, int, int, str | None], b_ptr: ir.Value, ldb: int,
                   n: int, kk: int, transposed: bool) -> ir.Value:
        """Pointer to this instance's prepacked B, packed here the first time it is used."""
        b = k.b
        offset, flags, per_instance, var = area
        instance = k.env[var] if var is not None else i64(0)
        flag = b.gep(k.heap, [b.add(i64(offset), instance)], inbounds=True)
        packed = b.gep(k.heap, [b.add(i64(offset + flags), b.mul(instance, i64(per_instance)))], inbounds=True)
        packed = b.bitcast(packed, _F32_PTR)
        with b.if_then(b.icmp_signed("==", b.load(flag), ir.Constant(ir.IntType(8), 0))):
            b.call(self.prepack, [packed, b_ptr, i64(ldb), i64(n), i64(kk), ir.Constant(I32, int(transposed))])
            b.store(ir.Constant(ir.IntType(8), 1), flag)
        self.prepacked += 1
        return packed



def _batched(stmt: MatMul) -> bool:
    return len(stmt.dst.shape) > 2


__all__ = ["MatmulEmitter", "logical"]
