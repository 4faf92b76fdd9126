"""Element-wise and row-wise statements split across the thread pool by their outermost axis.

Where it sits: the kernel emitter (:mod:`moecc.backend.llvm.tiled.kernel`) emits a ``compute``
or ``reduce`` statement as a loop nest; when the statement is big enough to pay for handing
work to the pool, :func:`over_rows` emits it twice and picks at run time: the plain nest when
the pool has one thread (exactly the code it always got), else an outlined copy of the nest
``<kernel>.rows<n>(ctx, begin, end, scratch)`` over rows ``[begin, end)`` of the outermost
axis, run by ``moecc_parallel_for`` (:mod:`moecc.backend.llvm.thread_pool`). The outlined
function reads the caller's heap and scratch arenas (the statement's locals live in the
caller's scratch) and loop variables from a context the caller fills.

Every element (every row of a reduction) is computed by one thread with the same operations in
the same order as the plain nest, so results do not depend on the thread count. Inside a
``parallel`` loop's body (already on a pool thread; regions never nest) and for small
statements, only the plain nest is emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from moecc.backend.llvm.loop_builder import I8_PTR, I32, I64, i64
from moecc.backend.llvm.thread_pool import CHUNK_FUNCTION

if TYPE_CHECKING:
    from moecc.backend.llvm.tiled.kernel import KernelEmitter

#: Statements of at least this many elements are split over the pool when it has several
#: threads. Handing out a job costs a few microseconds end to end (waking or reaching the
#: workers, one claim per chunk); 16K elements of a SiLU-and-multiply take ~10 us on one core.
PARALLEL_MIN_ELEMENTS = 1 << 14


def over_rows(k: KernelEmitter, rows: int, elements: int, emit: Callable[[ir.Value, ir.Value], None],
              name: str) -> None:
    """Emit ``emit(begin, end)``, the statement's work over rows ``[begin, end)`` of its
    outermost axis (``rows`` in all, ``elements`` in the whole statement), as the module
    docstring says. ``emit`` must compute everything it uses (view offsets, accumulators) from
    ``k``'s state when called: it may be called in another function."""
    if k.in_parallel or rows < 2 or elements < PARALLEL_MIN_ELEMENTS:
        emit(i64(0), i64(rows))
        return
    b = k.b
    pool = k.matmul_emitter.pool
    several = b.icmp_signed(">", b.call(pool.get_threads, []), ir.Constant(I32, 1))
    with b.if_else(several) as (then, otherwise):
        with then:
            names = sorted(k.env)
            ctx_type = ir.LiteralStructType([I8_PTR, I8_PTR, ir.ArrayType(I64, max(1, len(names)))])
            ctx = k.alloca(ctx_type)

            def field(index: int, *more: int) -> ir.Value:
                return b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index), *(ir.Constant(I32, m) for m in more)],
                             inbounds=True)

            b.store(k.heap, field(0))
            b.store(k.scratch, field(1))
            for slot, var in enumerate(names):
                b.store(k.env[var], field(2, slot))
            fn = _outlined(k, ctx_type, names, emit, name)
            b.call(pool.parallel_for, [fn, b.bitcast(ctx, I8_PTR), i64(rows), k.scratch])
        with otherwise:
            emit(i64(0), i64(rows))


def _outlined(k: KernelEmitter, ctx_type: ir.LiteralStructType, names: list[str],
              emit: Callable[[ir.Value, ir.Value], None], name: str) -> ir.Function:
    fn = ir.Function(k.module, CHUNK_FUNCTION, name=f"{k.function.name}.{name}{k.outlined}")
    fn.linkage = "internal"
    k.outlined += 1
    saved = k.enter_function(fn)
    try:
        context, begin, end, _ = fn.args
        a = k.allocas
        ctx = a.bitcast(context, ctx_type.as_pointer())

        def field(index: int, *more: int) -> ir.Value:
            return a.load(a.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index),
                                      *(ir.Constant(I32, m) for m in more)], inbounds=True))

        k.bind_arenas(field(0), field(1))
        k.env = {var: field(2, slot) for slot, var in enumerate(names)}
        emit(begin, end)
        k.finish_function()
    finally:
        k.leave_function(saved)
    return fn


__all__ = ["PARALLEL_MIN_ELEMENTS", "over_rows"]
