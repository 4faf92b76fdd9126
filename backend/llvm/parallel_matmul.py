"""The matmul entry the CPU code generator calls: ``moecc_matmul`` over the packed sgemm, split
across the module's thread pool when the product is big.

The tiled-IR code generator (:mod:`moecc.backend.llvm.tiled`) defines it once per LLVM module with
:func:`define_parallel_matmul`; each thread packs into its own scratch panels, whose offsets the
caller's scratch layout gives (``panel_a_base``, ``panel_b_base``).
"""

from __future__ import annotations

from typing import Protocol

from llvmlite import ir

from moecc.backend.llvm.cpu_target import CpuTarget
from moecc.backend.llvm.loop_builder import F32, I8_PTR, I32, I64, i64
from moecc.backend.llvm.matmul import WORKSPACE_SYMBOL
from moecc.backend.llvm.thread_pool import CHUNK_FUNCTION, ThreadPool

#: Products of at least this many flops (2*M*N*K) are split across the pool's threads; below
#: it one thread does the whole matmul. Handing chunks to the native pool costs about a
#: microsecond; a chunk of 1 MFLOP takes ~10 us on one core (~100 GFLOP/s), so smaller
#: products would gain little and pay twice for packing A (every column chunk packs all of A).
PARALLEL_MIN_FLOPS = 1_000_000

_F32_PTR = F32.as_pointer()
#: ``moecc_matmul(C, A, B, M, N, K, lda, ldb, ldc, accumulate, transpose_b, scratch)``.
_MATMUL_TYPE = ir.FunctionType(ir.VoidType(), [_F32_PTR, _F32_PTR, _F32_PTR, I64, I64, I64, I64, I64, I64, I32, I32,
                                               I8_PTR])
#: The matmul's arguments, then its slivers (NR columns or MR rows) and the parts they are cut into.
_MATMUL_ARGS = ir.LiteralStructType([_F32_PTR, _F32_PTR, _F32_PTR, I64, I64, I64, I64, I64, I64, I32, I32, I64, I64])


class PanelLayout(Protocol):
    """Where a thread's sgemm packing panels start in its scratch arena (bytes)."""

    @property
    def panel_a_base(self) -> int: ...

    @property
    def panel_b_base(self) -> int: ...


def define_parallel_matmul(module: ir.Module, layout: PanelLayout, target: CpuTarget, pool: ThreadPool) -> ir.Function:
    """``moecc_matmul(C, A, B, M, N, K, lda, ldb, ldc, accumulate, transpose_b, scratch)``:
    ``moecc_sgemm_ws`` over the panels in ``scratch``; products of at least
    :data:`PARALLEL_MIN_FLOPS` go through the pool in chunks of NR columns (or MR rows when N
    is narrower than two column slivers), each chunk packing into its own thread's panels.
    A prepacked B (a weight) is packed once for all threads: they share it, each reading its
    own columns of it.
    Column and row chunks leave every element's sum over K in the same order, so the result
    does not depend on the thread count."""
    workspace = ir.Function(module, ir.FunctionType(ir.VoidType(), [_F32_PTR, _F32_PTR, _F32_PTR, I64, I64, I64, I64, I64,
                                                                    I64, I32, I32, _F32_PTR, _F32_PTR]),
                            name=WORKSPACE_SYMBOL)

    def panels(b: ir.IRBuilder, scratch: ir.Value) -> list[ir.Value]:
        return [b.bitcast(b.gep(scratch, [i64(base)], inbounds=True), _F32_PTR)
                for base in (layout.panel_a_base, layout.panel_b_base)]

    def chunk_function(name: str, by_columns: bool) -> ir.Function:
        fn = ir.Function(module, CHUNK_FUNCTION, name=name)
        fn.linkage = "internal"
        context, begin, end, scratch = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        args = b.bitcast(context, _MATMUL_ARGS.as_pointer())
        c, a, w, m, n, k, lda, ldb, ldc, accumulate, transpose_b, units, parts = (
            b.load(b.gep(args, [ir.Constant(I32, 0), ir.Constant(I32, slot)])) for slot in range(13))
        unit = target.nr if by_columns else target.mr
        # Parts [begin, end) of ``parts`` cover slivers [units*begin/parts, units*end/parts).
        first = b.mul(b.sdiv(b.mul(units, begin), parts), i64(unit))
        last = b.mul(b.sdiv(b.mul(units, end), parts), i64(unit))
        extent = n if by_columns else m
        last = b.select(b.icmp_signed("<", last, extent), last, extent)
        count = b.sub(last, first)
        if by_columns:
            # B^T and a prepacked B (sliver-major, ``ldb`` its packed K) start column ``first``
            # at ``first * ldb``; a row-major B at ``first``.
            w_offset = b.select(b.icmp_signed("!=", transpose_b, ir.Constant(I32, 0)), b.mul(first, ldb), first)
            call = [b.gep(c, [first]), a, b.gep(w, [w_offset]), m, count, k]
        else:
            call = [b.gep(c, [b.mul(first, ldc)]), b.gep(a, [b.mul(first, lda)]), w, count, n, k]
        b.call(workspace, [*call, lda, ldb, ldc, accumulate, transpose_b, *panels(b, scratch)])
        b.ret_void()
        return fn

    by_columns = chunk_function("moecc_matmul_columns", True)
    by_rows = chunk_function("moecc_matmul_rows", False)
    fn = ir.Function(module, _MATMUL_TYPE, name="moecc_matmul")
    fn.linkage = "internal"
    c, a, w, m, n, k, lda, ldb, ldc, accumulate, transpose_b, scratch = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    context = b.alloca(_MATMUL_ARGS)
    flops = b.mul(b.mul(b.mul(m, n), k), i64(2))
    big = b.icmp_signed(">=", flops, i64(PARALLEL_MIN_FLOPS))
    wide = b.icmp_signed(">=", n, i64(2 * target.nr))
    tall = b.icmp_signed(">=", m, i64(2 * target.mr))
    serial = fn.append_basic_block("serial")
    parallel = fn.append_basic_block("parallel")
    b.cbranch(b.and_(big, b.or_(wide, tall)), parallel, serial)

    b.position_at_end(serial)
    b.call(workspace, [c, a, w, m, n, k, lda, ldb, ldc, accumulate, transpose_b, *panels(b, scratch)])
    b.ret_void()

    b.position_at_end(parallel)
    for slot, value in enumerate(fn.args[:11]):
        b.store(value, b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, slot)]))
    opaque = b.bitcast(context, I8_PTR)
    # One part per thread: every column part packs all of A again (a row part all of B), so
    # more parts than threads only repeat packing (measured: 8 column parts of a 128x688x256
    # product cost 1.35x the work of one).
    threads = b.sext(b.call(pool.get_threads, []), I64)
    slivers = b.sdiv(b.add(n, i64(target.nr - 1)), i64(target.nr))
    blocks = b.sdiv(b.add(m, i64(target.mr - 1)), i64(target.mr))
    units = b.select(wide, slivers, blocks)
    parts = b.select(b.icmp_signed("<", units, threads), units, threads)
    b.store(units, b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, 11)]))
    b.store(parts, b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, 12)]))
    with b.if_else(wide) as (then, otherwise):
        with then:
            b.call(pool.parallel_for, [by_columns, opaque, parts, scratch])
        with otherwise:
            b.call(pool.parallel_for, [by_rows, opaque, parts, scratch])
    b.ret_void()
    return fn
