"""``parallel`` loops of the tiled IR on the CPU: iterations split across the thread pool.

A loop marked :class:`~moecc.ir.tiled.nodes.Parallel` (MoE dispatch's expert loop) promises that
its body writes only locals private to it and adds into its ``accumulate`` global buffers. The
kernel (:mod:`moecc.backend.llvm.tiled.kernel`) emits such a loop twice, and picks at run time:

- with one thread in the pool (or fewer than two iterations, or no memory for the copies), the
  plain sequential loop, exactly the code an unmarked loop gets (same bits as ever);
- otherwise the *parallel path*:

  1. **Partition.** ``P = min(threads, count)`` parts, each a contiguous range of iterations.
     Iteration ``v`` weighs ``max(cost[v], 0) + 1`` (``cost``: the marker's element, e.g. an
     expert's token count; without one every iteration weighs 1); part boundaries go where
     the running weight crosses ``p / P`` of the total, an iteration falling in the part its
     weight's midpoint lies in. The ranges depend on the weights and ``P`` only, never on
     which thread runs what, so results are the same run to run for a thread count.
  2. **Run.** ``moecc_parallel_for`` over the ``P`` parts; the outlined body
     (``<kernel>.par<n>``) runs a part's iterations in order on the thread that claimed it,
     with that thread's scratch arena (so every local, and the sgemm's panels, are per
     thread; a matmul inside runs on its own thread: pool regions never nest). Part 0 adds
     straight into the accumulate buffers; part ``p > 0`` into a private copy it zeroes
     first (copies ``1 .. P-1`` live in one block the module keeps and grows,
     :data:`PRIVATE_SYMBOL`; none is made for an empty part).
  3. **Reduce.** For each accumulate buffer, ``acc += copy_1; acc += copy_2; ...`` element by
     element in part order (skipping empty parts), itself split over the pool in blocks of
     :data:`REDUCE_BLOCK` elements: every element's sum has a fixed order.

  A run-time fault in any part (an index or loop count out of range) is reported as the
  sequential loop would report it, after the parts finish.

Against the sequential loop, a parallel run regroups each element's additions by part: for a
token of a top-2 MoE layer (two additions onto zero) the sums are the same; with more terms
they may round differently (f32 tolerance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from moecc.backend.llvm.loop_builder import I1, I8, I8_PTR, I32, I64, counted_loop, i64
from moecc.backend.llvm.thread_pool import CHUNK_FUNCTION, MAX_THREADS
from moecc.backend.llvm.tiled.dtypes import STORAGE, from_storage, to_storage
from moecc.backend.llvm.tiled.memory import align
from moecc.ir.tiled.nodes import For

if TYPE_CHECKING:
    from moecc.backend.llvm.tiled.kernel import KernelEmitter

#: ``i8* moecc_parallel_private(i64 bytes)``: the module's block for private accumulator copies,
#: grown (never shrunk) on demand; null when it cannot be allocated (the loop then runs serially).
PRIVATE_SYMBOL = "moecc_parallel_private"
#: Elements per work item of the reduction of private copies.
REDUCE_BLOCK = 1 << 14

_VOID = ir.VoidType()


def _libc(module: ir.Module, name: str, typ: ir.FunctionType) -> ir.Function:
    fn = module.globals.get(name)
    if isinstance(fn, ir.Function):
        return fn
    return ir.Function(module, typ, name=name)


def private_block(module: ir.Module) -> ir.Function:
    """The module's :data:`PRIVATE_SYMBOL` function (defined on first use)."""
    existing = module.globals.get(PRIVATE_SYMBOL)
    if isinstance(existing, ir.Function):
        return existing
    pointer = ir.GlobalVariable(module, I8_PTR, PRIVATE_SYMBOL + "_block")
    pointer.linkage = "internal"
    pointer.initializer = ir.Constant(I8_PTR, None)
    size = ir.GlobalVariable(module, I64, PRIVATE_SYMBOL + "_bytes")
    size.linkage = "internal"
    size.initializer = ir.Constant(I64, 0)
    memalign = _libc(module, "posix_memalign", ir.FunctionType(I32, [I8_PTR.as_pointer(), I64, I64]))
    free = _libc(module, "free", ir.FunctionType(_VOID, [I8_PTR]))
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I64]), name=PRIVATE_SYMBOL)
    fn.linkage = "internal"
    (wanted,) = fn.args
    entry = fn.append_basic_block("entry")
    grow = fn.append_basic_block("grow")
    done = fn.append_basic_block("done")
    failed = fn.append_basic_block("failed")
    keep = fn.append_basic_block("keep")
    b = ir.IRBuilder(entry)
    slot = b.alloca(I8_PTR)
    b.cbranch(b.icmp_signed(">=", b.load(size), wanted), keep, grow)
    b.position_at_end(keep)
    b.ret(b.load(pointer))
    b.position_at_end(grow)
    b.call(free, [b.load(pointer)])
    status = b.call(memalign, [slot, i64(64), wanted])
    b.cbranch(b.icmp_signed("==", status, ir.Constant(I32, 0)), done, failed)
    b.position_at_end(done)
    block = b.load(slot)
    b.store(block, pointer)
    b.store(wanted, size)
    b.ret(block)
    b.position_at_end(failed)
    b.store(ir.Constant(I8_PTR, None), pointer)
    b.store(i64(0), size)
    b.ret(ir.Constant(I8_PTR, None))
    return fn


class ParallelLoop:
    """Emits one parallel loop of a kernel (see the module docstring)."""

    def __init__(self, k: KernelEmitter, stmt: For, number: int) -> None:
        assert stmt.parallel is not None
        self.k = k
        self.stmt = stmt
        self.number = number
        self.accumulate = stmt.parallel.accumulate
        self.bytes = {name: k.sizes[name] for name in self.accumulate}
        self.offsets: dict[str, int] = {}
        cursor = 0
        for name in self.accumulate:
            self.offsets[name] = cursor
            cursor += align(max(self.bytes[name], 1))
        self.stride = cursor  # bytes of one private copy of every accumulate buffer

    # -- in the kernel

    def emit(self, count: ir.Value | int, sequential: Callable[[], None]) -> None:
        """The run-time choice between the parallel path and ``sequential()``."""
        k, b = self.k, self.k.b
        pool = k.matmul_emitter.pool
        trip = i64(count) if isinstance(count, int) else count
        threads = b.sext(b.call(pool.get_threads, []), I64)
        parts = b.select(b.icmp_signed("<", threads, trip), threads, trip)
        parts = b.select(b.icmp_signed("<", parts, i64(MAX_THREADS)), parts, i64(MAX_THREADS))
        several = b.icmp_signed(">", parts, i64(1))
        block = k.alloca(I8_PTR)
        b.store(ir.Constant(I8_PTR, None), block)
        with b.if_then(several):
            if self.stride:
                need = b.mul(b.sub(parts, i64(1)), i64(self.stride))
                b.store(b.call(private_block(k.module), [need]), block)
            else:  # nothing to privatise: any non-null pointer will do
                b.store(k.heap, block)
        go = b.and_(several, b.icmp_unsigned("!=", b.load(block), ir.Constant(I8_PTR, None)))
        first_statement = k.statement
        with b.if_else(go) as (then, otherwise):
            with then:
                counters = k.matmul_emitter.counters()
                self.parallel(trip, parts, b.load(block))
                k.matmul_emitter.restore(counters)  # the report counts each statement once
                after = k.statement
            with otherwise:
                k.statement = first_statement
                sequential()
                assert k.statement == after

    def parallel(self, trip: ir.Value, parts: ir.Value, block: ir.Value) -> None:
        k, b = self.k, self.k.b
        pool = k.matmul_emitter.pool
        bounds = k.alloca(ir.ArrayType(I64, MAX_THREADS + 1))
        bounds_ptr = b.gep(bounds, [ir.Constant(I32, 0), ir.Constant(I32, 0)], inbounds=True)
        self.partition(trip, parts, bounds_ptr)
        names = sorted(k.env)
        ctx_type = ir.LiteralStructType([I8_PTR, I8_PTR, I64.as_pointer(), ir.ArrayType(I64, max(1, len(names)))])
        ctx = k.alloca(ctx_type)

        def field(index: int, *more: int) -> ir.Value:
            return b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index), *(ir.Constant(I32, m) for m in more)],
                         inbounds=True)

        b.store(k.heap, field(0))
        b.store(block, field(1))
        b.store(bounds_ptr, field(2))
        for slot, name in enumerate(names):
            b.store(k.env[name], field(3, slot))
        body = self.body_function(ctx_type, names)
        b.call(pool.parallel_for, [body, b.bitcast(ctx, I8_PTR), parts, k.scratch])
        faulted = b.icmp_signed("!=", b.load(k.faults.code), ir.Constant(I32, 0))
        with b.if_then(faulted, likely=False):
            b.branch(k.exit_block)
        for index, name in enumerate(self.accumulate):
            self.reduce(name, index, block, bounds_ptr, parts)

    def weight(self, v: ir.Value) -> ir.Value:
        """Iteration ``v``'s weight: ``max(cost[v], 0) + 1``."""
        k, b = self.k, self.k.b
        cost = self.stmt.parallel.cost if self.stmt.parallel is not None else None
        if cost is None:
            return i64(1)
        outer = k.env.get(self.stmt.var)
        k.env[self.stmt.var] = v
        value = k.wide_int(k.load(cost.buffer, k.affine(cost.offset), [], []), k.dtypes[cost.buffer])
        if outer is None:
            k.env.pop(self.stmt.var)
        else:
            k.env[self.stmt.var] = outer
        value = b.select(b.icmp_signed("<", value, i64(0)), i64(0), value)
        return b.add(value, i64(1))

    def partition(self, trip: ir.Value, parts: ir.Value, bounds: ir.Value) -> None:
        """``bounds[p]`` (p = 0..parts): the first iteration of part ``p`` (``bounds[parts] = trip``)."""
        b = self.k.b
        total = self.k.alloca(I64)
        prefix = self.k.alloca(I64)
        b.store(i64(0), total)
        b.store(i64(0), prefix)
        counted_loop(b, trip, lambda v: b.store(b.add(b.load(total), self.weight(v)), total), "par.weigh")
        whole = b.mul(b.load(total), i64(2))
        counted_loop(b, b.add(parts, i64(1)), lambda q: b.store(i64(0), b.gep(bounds, [q], inbounds=True)),
                     "par.clear")

        def place(v: ir.Value) -> None:
            w = self.weight(v)
            before = b.load(prefix)
            # The part the midpoint of v's weight falls in: floor((2*before + w) * parts / (2*total)).
            part = b.sdiv(b.mul(b.add(b.mul(before, i64(2)), w), parts), whole)
            last = b.sub(parts, i64(1))
            part = b.select(b.icmp_signed(">", part, last), last, part)

            def count(q: ir.Value) -> None:
                at = b.gep(bounds, [q], inbounds=True)
                b.store(b.add(b.load(at), b.zext(b.icmp_signed(">", q, part), I64)), at)

            counted_loop(b, b.add(parts, i64(1)), count, "par.bound")
            b.store(b.add(before, w), prefix)

        counted_loop(b, trip, place, "par.place")

    # -- outlined functions

    def body_function(self, ctx_type: ir.LiteralStructType, names: list[str]) -> ir.Function:
        """``void <kernel>.par<n>(i8* ctx, i64 first_part, i64 end_part, i8* scratch)``."""
        k = self.k
        stmt = self.stmt
        fn = ir.Function(k.module, CHUNK_FUNCTION, name=f"{k.function.name}.par{self.number}")
        fn.linkage = "internal"
        saved = k.enter_function(fn)
        try:
            context, begin, end, scratch = fn.args
            a = k.allocas
            ctx = a.bitcast(context, ctx_type.as_pointer())

            def field(index: int, *more: int) -> ir.Value:
                return a.load(a.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index),
                                          *(ir.Constant(I32, m) for m in more)], inbounds=True))

            heap, block, bounds = field(0), field(1), field(2)
            k.bind_arenas(heap, scratch)
            k.env = {name: field(3, slot) for slot, name in enumerate(names)}
            shared = {name: k.bases[name] for name in self.accumulate}
            b = k.b
            memset = k.module.declare_intrinsic("llvm.memset", [I8_PTR, I64])
            first_statement = k.statement

            def part(j: ir.Value) -> None:
                p = b.add(begin, j)
                lo = b.load(b.gep(bounds, [p], inbounds=True))
                hi = b.load(b.gep(bounds, [b.add(p, i64(1))], inbounds=True))
                with b.if_then(b.icmp_signed(">", hi, lo)):
                    own = b.icmp_signed("!=", p, i64(0))
                    start = b.mul(b.sub(p, i64(1)), i64(self.stride))
                    for name in self.accumulate:
                        raw = b.gep(block, [b.add(start, i64(self.offsets[name]))])
                        with b.if_then(own):
                            b.call(memset, [raw, ir.Constant(I8, 0), i64(self.bytes[name]), ir.Constant(I1, 0)])
                        copy = b.bitcast(raw, shared[name].type)
                        k.bases[name] = b.select(own, copy, shared[name])
                    k.statement = first_statement

                    def iteration(i: ir.Value) -> None:
                        k.env[stmt.var] = b.add(lo, i)
                        k.block(stmt.body)

                    counted_loop(b, b.sub(hi, lo), iteration, name=f"par.{stmt.var}")

            counted_loop(b, b.sub(end, begin), part, "par.part")
            k.finish_function()
        finally:
            k.leave_function(saved)
        return fn

    def reduce(self, name: str, index: int, block: ir.Value, bounds: ir.Value, parts: ir.Value) -> None:
        """``name += copy_1 + ... + copy_{P-1}`` (non-empty parts, in order), over the pool."""
        k, b = self.k, self.k.b
        dtype = k.dtypes[name]
        storage = STORAGE[dtype]
        elements = self.bytes[name] // dtype.itemsize
        if elements == 0:
            return
        fn = ir.Function(k.module, CHUNK_FUNCTION, name=f"{k.function.name}.par{self.number}.sum{index}")
        fn.linkage = "internal"
        ctx_type = ir.LiteralStructType([I8_PTR, I8_PTR, I64.as_pointer(), I64])
        context, begin, end, _ = fn.args
        r = ir.IRBuilder(fn.append_basic_block("entry"))
        ctx = r.bitcast(context, ctx_type.as_pointer())
        acc, first, bound, count = (r.load(r.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, i)], inbounds=True))
                                    for i in range(4))
        acc = r.bitcast(acc, storage.as_pointer())
        lo = r.mul(begin, i64(REDUCE_BLOCK))
        hi = r.mul(end, i64(REDUCE_BLOCK))
        hi = r.select(r.icmp_signed("<", hi, i64(elements)), hi, i64(elements))

        def part(q: ir.Value) -> None:
            p = r.add(q, i64(1))
            start = r.load(r.gep(bound, [p], inbounds=True))
            stop = r.load(r.gep(bound, [r.add(p, i64(1))], inbounds=True))
            with r.if_then(r.icmp_signed(">", stop, start)):
                copy = r.bitcast(r.gep(first, [r.mul(q, i64(self.stride))]), storage.as_pointer())

                def element(i: ir.Value) -> None:
                    at = r.add(lo, i)
                    dst = r.gep(acc, [at], inbounds=True)
                    x = from_storage(r, r.load(dst), dtype)
                    y = from_storage(r, r.load(r.gep(copy, [at], inbounds=True)), dtype)
                    total = r.fadd(x, y) if dtype.is_float else r.add(x, y)
                    r.store(to_storage(r, total, dtype), dst)

                counted_loop(r, r.sub(hi, lo), element, "sum")

        counted_loop(r, r.sub(count, i64(1)), part, "copy")
        r.ret_void()

        ctx = k.alloca(ctx_type)
        slots = [b.bitcast(k.bases[name], I8_PTR), b.gep(block, [i64(self.offsets[name])]), bounds, parts]
        for slot, value in enumerate(slots):
            b.store(value, b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, slot)], inbounds=True))
        work = -(-elements // REDUCE_BLOCK)
        b.call(k.matmul_emitter.pool.parallel_for, [fn, b.bitcast(ctx, I8_PTR), i64(work), k.scratch])


__all__ = ["PRIVATE_SYMBOL", "REDUCE_BLOCK", "ParallelLoop", "private_block"]
