"""Worker threads for generated CPU code: a persistent pthread pool built with the IR builder.

Where it sits: the tiled-IR code generator (:mod:`moecc.backend.llvm.tiled`) adds the pool to
every program module, so JIT-compiled programs and object files
(:mod:`moecc.backend.llvm.object_file`) carry their own. Parallel code (big matmuls split by
columns or rows, and kernel loops whose iterations are independent) hands it a range of work
items; nothing in the pool goes through Python, so handing work to the other threads costs
about a microsecond rather than the ~80 us a Python thread-pool round trip did.

The module gets, all built with the llvmlite IR builder over libc's pthreads::

    i32  moecc_set_threads(i32 n)   n threads in all: the caller plus n - 1 workers, each
                                    with a scratch arena of its own; 0 when all started
    i32  moecc_get_threads()
    void moecc_parallel_for(void (*fn)(i8* ctx, i64 begin, i64 end, i8* scratch),
                            i8* ctx, i64 n, i8* scratch)

``moecc_parallel_for`` splits ``[0, n)`` into up to ``CHUNKS_PER_THREAD`` contiguous chunks per
thread; the caller and the workers claim chunks one at a time (the caller on its own
``scratch`` arena, worker ``w`` on its arena) until none is left, and the call returns when
every chunk is done. Claiming keeps a descheduled worker from holding the others up: on a
busy machine the caller simply does that worker's share. Called while a parallel region
runs (from inside ``fn``), or with one thread, it runs ``fn`` over the whole range on the
calling thread: regions never nest.

The protocol: the caller writes the job, then publishes the *claim word* (generation in the
high 32 bits, chunk count and next chunk index in 16 bits each) and bumps ``generation``
under the pool mutex, broadcasting its condition variable. Workers spin on ``generation``
for a while (a run of a model posts jobs in quick succession) and then sleep on the
condition variable, whose re-check under the mutex means no wake-up is lost. A participant
takes chunk ``i`` by compare-and-swap of the claim word from ``i`` to ``i + 1``; the
generation in the word makes a late worker's claim on a finished job fail, and since the
caller returns only after every claimed chunk is done, the job it reads after a successful
claim cannot change under it. ``stop`` (announced by a generation bump) makes the workers
exit, and ``moecc_set_threads`` joins them.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from moecc.backend.llvm.loop_builder import I8, I8_PTR, I32, I64, counted_loop, i64

#: Most threads a program can use (the caller included).
MAX_THREADS = 64
#: Spins (each a CPU pause) a worker waits for the next job before it sleeps; a run of a model
#: posts jobs microseconds apart, a pause lasts tens of cycles: about a millisecond of spinning.
WORKER_SPINS = 1 << 15
#: Chunks a parallel loop is cut into per thread: more than one, so a late or descheduled
#: thread's share can be taken by the others.
CHUNKS_PER_THREAD = 4
#: Most chunks of one loop (the claim word holds chunk counts in 16 bits).
MAX_CHUNKS = 1 << 12
#: The caller, waiting for the workers, yields its CPU every this many spins (an oversubscribed
#: machine may have descheduled a worker).
YIELD_EVERY_SPINS = 1 << 12
#: Bytes reserved for a pthread mutex and a condition variable: more than any Linux libc
#: needs (glibc: 40 and 48 on x86-64, 48 and 48 on AArch64).
PTHREAD_OBJECT_BYTES = 128
SET_THREADS_SYMBOL = "moecc_set_threads"
GET_THREADS_SYMBOL = "moecc_get_threads"
PARALLEL_FOR_SYMBOL = "moecc_parallel_for"

#: ``void fn(i8* ctx, i64 begin, i64 end, i8* scratch)``: one chunk of a parallel loop.
CHUNK_FUNCTION = ir.FunctionType(ir.VoidType(), [I8_PTR, I64, I64, I8_PTR])
_VOID = ir.VoidType()


@dataclass(frozen=True, slots=True)
class ThreadPool:
    """The pool's entry points in one module."""

    set_threads: ir.Function
    get_threads: ir.Function
    parallel_for: ir.Function


def _global(module: ir.Module, name: str, typ: ir.Type, align: int | None = None) -> ir.GlobalVariable:
    var = ir.GlobalVariable(module, typ, name)
    var.linkage = "internal"
    var.initializer = ir.Constant(typ, None)
    if align:
        var.align = align
    return var


def _pause_instruction(module: ir.Module) -> str:
    """The spin-wait hint of the module's architecture ("" where there is none)."""
    triple = str(module.triple or "")
    if not triple:
        import llvmlite.binding as llvm

        triple = llvm.get_default_triple()
    if triple.startswith(("x86_64", "i386", "i686")):
        return "pause"
    if triple.startswith(("aarch64", "arm64")):
        return "yield"
    return ""


class _PoolBuilder:
    def __init__(self, module: ir.Module, scratch_bytes: int) -> None:
        self.module = module
        self.scratch_bytes = max(int(scratch_bytes), 64)
        p = "moecc_pool_"
        self.threads = _global(module, p + "threads", I32)
        self.threads.initializer = ir.Constant(I32, 1)
        self.generation = _global(module, p + "generation", I64, 8)
        self.start_generation = _global(module, p + "start_generation", I64, 8)
        self.claim = _global(module, p + "claim", I64, 64)  # cache lines of their own: every thread writes them
        self.finished = _global(module, p + "finished", I64, 64)
        self.stop = _global(module, p + "stop", I32)
        self.busy = _global(module, p + "busy", I32)
        self.ready = _global(module, p + "ready", I32)
        self.job_fn = _global(module, p + "job_fn", CHUNK_FUNCTION.as_pointer())
        self.job_ctx = _global(module, p + "job_ctx", I8_PTR)
        self.job_n = _global(module, p + "job_n", I64)
        self.mutex = _global(module, p + "mutex", ir.ArrayType(I8, PTHREAD_OBJECT_BYTES), 64)
        self.cond = _global(module, p + "cond", ir.ArrayType(I8, PTHREAD_OBJECT_BYTES), 64)
        self.handles = _global(module, p + "handles", ir.ArrayType(I64, MAX_THREADS), 8)
        self.scratch = _global(module, p + "scratch", ir.ArrayType(I8_PTR, MAX_THREADS), 8)
        self.libc = {
            "pthread_create": ir.FunctionType(I32, [I64.as_pointer(), I8_PTR, ir.FunctionType(I8_PTR, [I8_PTR]).as_pointer(), I8_PTR]),
            "pthread_join": ir.FunctionType(I32, [I64, I8_PTR.as_pointer()]),
            "pthread_mutex_init": ir.FunctionType(I32, [I8_PTR, I8_PTR]),
            "pthread_mutex_lock": ir.FunctionType(I32, [I8_PTR]),
            "pthread_mutex_unlock": ir.FunctionType(I32, [I8_PTR]),
            "pthread_cond_init": ir.FunctionType(I32, [I8_PTR, I8_PTR]),
            "pthread_cond_wait": ir.FunctionType(I32, [I8_PTR, I8_PTR]),
            "pthread_cond_broadcast": ir.FunctionType(I32, [I8_PTR]),
            "posix_memalign": ir.FunctionType(I32, [I8_PTR.as_pointer(), I64, I64]),
            "free": ir.FunctionType(_VOID, [I8_PTR]),
            "sched_yield": ir.FunctionType(I32, []),
        }
        instruction = _pause_instruction(module)
        self.pause = ir.InlineAsm(ir.FunctionType(_VOID, []), instruction, "", side_effect=True) if instruction else None

    # helpers

    def call(self, b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
        fn = self.module.globals.get(name)
        if not isinstance(fn, ir.Function):
            fn = ir.Function(self.module, self.libc[name], name=name)
        return b.call(fn, list(args))

    def spin_hint(self, b: ir.IRBuilder) -> None:
        if self.pause is not None:
            b.call(self.pause, [])

    def bytes_of(self, b: ir.IRBuilder, var: ir.GlobalVariable) -> ir.Value:
        return b.bitcast(var, I8_PTR)

    def slot(self, b: ir.IRBuilder, table: ir.GlobalVariable, index: ir.Value) -> ir.Value:
        return b.gep(table, [ir.Constant(I32, 0), index], inbounds=True)

    def bump_generation(self, b: ir.IRBuilder) -> ir.Value:
        """generation += 1 under the mutex, then wake every sleeping worker; the new generation."""
        self.call(b, "pthread_mutex_lock", self.bytes_of(b, self.mutex))
        new = b.add(b.load_atomic(self.generation, "monotonic", 8), i64(1))
        b.store_atomic(new, self.generation, "release", 8)
        self.call(b, "pthread_cond_broadcast", self.bytes_of(b, self.cond))
        self.call(b, "pthread_mutex_unlock", self.bytes_of(b, self.mutex))
        return new

    # the functions

    def claim_loop(self) -> ir.Function:
        """``claim_loop(tag, scratch)``: take and run chunks of job ``tag`` until none is left."""
        fn = ir.Function(self.module, ir.FunctionType(_VOID, [I64, I8_PTR]), name="moecc_pool_claim_loop")
        fn.linkage = "internal"
        tag, scratch = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        check = fn.append_basic_block("check")
        take = fn.append_basic_block("take")
        run = fn.append_basic_block("run")
        leave = fn.append_basic_block("leave")
        b = ir.IRBuilder(entry)
        b.branch(loop)

        b.position_at_end(loop)
        word = b.load_atomic(self.claim, "acquire", 8)
        b.cbranch(b.icmp_unsigned("==", b.lshr(word, i64(32)), tag), check, leave)
        b.position_at_end(check)
        index = b.and_(word, i64(0xFFFF))
        chunks = b.and_(b.lshr(word, i64(16)), i64(0xFFFF))
        b.cbranch(b.icmp_signed("<", index, chunks), take, leave)
        b.position_at_end(take)
        swapped = b.extract_value(b.cmpxchg(self.claim, word, b.add(word, i64(1)), "acq_rel", "acquire"), 1)
        b.cbranch(swapped, run, loop)

        b.position_at_end(run)
        # The job cannot change before this chunk is reported finished (see the module docstring).
        n = b.load(self.job_n)
        begin = b.sdiv(b.mul(n, index), chunks)
        end = b.sdiv(b.mul(n, b.add(index, i64(1))), chunks)
        b.call(b.load(self.job_fn), [b.load(self.job_ctx), begin, end, scratch])
        b.atomic_rmw("add", self.finished, i64(1), "release")
        b.branch(loop)

        b.position_at_end(leave)
        b.ret_void()
        return fn

    def worker_main(self, claim_loop: ir.Function) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(I8_PTR, [I8_PTR]), name="moecc_pool_worker")
        fn.linkage = "internal"
        entry = fn.append_basic_block("entry")
        wait = fn.append_basic_block("wait")
        spin = fn.append_basic_block("spin")
        keep_spinning = fn.append_basic_block("spin.more")
        sleep = fn.append_basic_block("sleep")
        sleep_check = fn.append_basic_block("sleep.check")
        sleep_wait = fn.append_basic_block("sleep.wait")
        sleep_done = fn.append_basic_block("sleep.done")
        woke = fn.append_basic_block("woke")
        work = fn.append_basic_block("work")
        leave = fn.append_basic_block("leave")
        b = ir.IRBuilder(entry)
        worker = b.ptrtoint(fn.args[0], I64)
        scratch = b.load(self.slot(b, self.scratch, worker))
        seen = b.alloca(I64)
        spins = b.alloca(I32)
        b.store(b.load(self.start_generation), seen)
        b.branch(wait)

        b.position_at_end(wait)
        b.store(ir.Constant(I32, 0), spins)
        b.branch(spin)

        b.position_at_end(spin)
        changed = b.icmp_signed("!=", b.load_atomic(self.generation, "acquire", 8), b.load(seen))
        b.cbranch(changed, woke, keep_spinning)
        b.position_at_end(keep_spinning)
        count = b.add(b.load(spins), ir.Constant(I32, 1))
        b.store(count, spins)
        self.spin_hint(b)
        b.cbranch(b.icmp_signed("<", count, ir.Constant(I32, WORKER_SPINS)), spin, sleep)

        b.position_at_end(sleep)
        self.call(b, "pthread_mutex_lock", self.bytes_of(b, self.mutex))
        b.branch(sleep_check)
        b.position_at_end(sleep_check)
        same = b.icmp_signed("==", b.load_atomic(self.generation, "acquire", 8), b.load(seen))
        b.cbranch(same, sleep_wait, sleep_done)
        b.position_at_end(sleep_wait)
        self.call(b, "pthread_cond_wait", self.bytes_of(b, self.cond), self.bytes_of(b, self.mutex))
        b.branch(sleep_check)
        b.position_at_end(sleep_done)
        self.call(b, "pthread_mutex_unlock", self.bytes_of(b, self.mutex))
        b.branch(woke)

        b.position_at_end(woke)
        generation = b.load_atomic(self.generation, "acquire", 8)
        b.store(generation, seen)
        b.cbranch(b.icmp_signed("!=", b.load(self.stop), ir.Constant(I32, 0)), leave, work)

        b.position_at_end(work)
        b.call(claim_loop, [b.and_(generation, i64(0xFFFFFFFF)), scratch])
        b.branch(wait)

        b.position_at_end(leave)
        b.ret(ir.Constant(I8_PTR, None))
        return fn

    def parallel_for(self, claim_loop: ir.Function) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(_VOID, [CHUNK_FUNCTION.as_pointer(), I8_PTR, I64, I8_PTR]),
                         name=PARALLEL_FOR_SYMBOL)
        chunk_fn, ctx, n, scratch = fn.args
        entry = fn.append_basic_block("entry")
        serial = fn.append_basic_block("serial")
        parallel = fn.append_basic_block("parallel")
        wait = fn.append_basic_block("wait")
        waiting = fn.append_basic_block("wait.more")
        done = fn.append_basic_block("done")
        b = ir.IRBuilder(entry)
        spins = b.alloca(I64)
        threads = b.sext(b.load(self.threads), I64)
        alone = b.or_(b.icmp_signed("<=", threads, i64(1)), b.icmp_signed("<=", n, i64(1)))
        nested = b.icmp_signed("!=", b.load(self.busy), ir.Constant(I32, 0))
        b.cbranch(b.or_(alone, nested), serial, parallel)

        b.position_at_end(serial)
        b.call(chunk_fn, [ctx, i64(0), n, scratch])
        b.ret_void()

        b.position_at_end(parallel)
        wanted = b.mul(threads, i64(CHUNKS_PER_THREAD))
        chunks = b.select(b.icmp_signed("<", n, wanted), n, wanted)
        chunks = b.select(b.icmp_signed("<", chunks, i64(MAX_CHUNKS)), chunks, i64(MAX_CHUNKS))
        b.store(ir.Constant(I32, 1), self.busy)
        b.store(chunk_fn, self.job_fn)
        b.store(ctx, self.job_ctx)
        b.store(n, self.job_n)
        b.store_atomic(i64(0), self.finished, "monotonic", 8)
        # The claim word carries the generation the bump below announces.
        tag = b.and_(b.add(b.load_atomic(self.generation, "monotonic", 8), i64(1)), i64(0xFFFFFFFF))
        b.store_atomic(b.or_(b.shl(tag, i64(32)), b.shl(chunks, i64(16))), self.claim, "release", 8)
        self.bump_generation(b)
        b.call(claim_loop, [tag, scratch])
        b.store(i64(0), spins)
        b.branch(wait)

        b.position_at_end(wait)
        finished = b.icmp_signed("==", b.load_atomic(self.finished, "acquire", 8), chunks)
        b.cbranch(finished, done, waiting)
        b.position_at_end(waiting)
        count = b.add(b.load(spins), i64(1))
        b.store(count, spins)
        self.spin_hint(b)
        with b.if_then(b.icmp_signed("==", b.and_(count, i64(YIELD_EVERY_SPINS - 1)), i64(0))):
            self.call(b, "sched_yield")
        b.branch(wait)

        b.position_at_end(done)
        b.store(ir.Constant(I32, 0), self.busy)
        b.ret_void()
        return fn

    def set_threads(self, worker_main: ir.Function) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(I32, [I32]), name=SET_THREADS_SYMBOL)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        started = b.alloca(I64)
        arena = b.alloca(I8_PTR)
        wanted = b.sext(fn.args[0], I64)
        wanted = b.select(b.icmp_signed("<", wanted, i64(1)), i64(1), wanted)
        wanted = b.select(b.icmp_signed(">", wanted, i64(MAX_THREADS)), i64(MAX_THREADS), wanted)
        with b.if_then(b.icmp_signed("==", b.load(self.ready), ir.Constant(I32, 0))):
            null = ir.Constant(I8_PTR, None)
            self.call(b, "pthread_mutex_init", self.bytes_of(b, self.mutex), null)
            self.call(b, "pthread_cond_init", self.bytes_of(b, self.cond), null)
            b.store(ir.Constant(I32, 1), self.ready)
        current = b.sext(b.load(self.threads), I64)
        same = fn.append_basic_block("same")
        change = fn.append_basic_block("change")
        b.cbranch(b.icmp_signed("==", current, wanted), same, change)
        b.position_at_end(same)
        b.ret(ir.Constant(I32, 0))

        b.position_at_end(change)
        with b.if_then(b.icmp_signed(">", current, i64(1))):
            b.store(ir.Constant(I32, 1), self.stop)
            self.bump_generation(b)

            def join(index: ir.Value) -> None:
                w = b.add(index, i64(1))
                handle = b.load(self.slot(b, self.handles, w))
                self.call(b, "pthread_join", handle, ir.Constant(I8_PTR.as_pointer(), None))
                self.call(b, "free", b.load(self.slot(b, self.scratch, w)))

            counted_loop(b, b.sub(current, i64(1)), join, "join")
            b.store(ir.Constant(I32, 0), self.stop)
            b.store(ir.Constant(I32, 1), self.threads)
        b.store(b.load_atomic(self.generation, "acquire", 8), self.start_generation)
        b.store(i64(1), started)
        loop = fn.append_basic_block("start")
        start_one = fn.append_basic_block("start.one")
        created = fn.append_basic_block("start.created")
        failed = fn.append_basic_block("start.failed")
        finish = fn.append_basic_block("finish")
        b.branch(loop)

        b.position_at_end(loop)
        w = b.load(started)
        b.cbranch(b.icmp_signed("<", w, wanted), start_one, finish)
        b.position_at_end(start_one)
        status = self.call(b, "posix_memalign", arena, i64(64), i64(self.scratch_bytes))
        allocated = fn.append_basic_block("start.allocated")
        b.cbranch(b.icmp_signed("==", status, ir.Constant(I32, 0)), allocated, finish)
        b.position_at_end(allocated)
        b.store(b.load(arena), self.slot(b, self.scratch, w))
        status = self.call(b, "pthread_create", self.slot(b, self.handles, w), ir.Constant(I8_PTR, None),
                           worker_main, b.inttoptr(w, I8_PTR))
        b.cbranch(b.icmp_signed("==", status, ir.Constant(I32, 0)), created, failed)
        b.position_at_end(created)
        b.store(b.add(w, i64(1)), started)
        b.branch(loop)
        b.position_at_end(failed)
        self.call(b, "free", b.load(arena))
        b.branch(finish)

        b.position_at_end(finish)
        count = b.load(started)
        b.store(b.trunc(count, I32), self.threads)
        b.ret(b.zext(b.icmp_signed("!=", count, wanted), I32))
        return fn

    def get_threads(self) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(I32, []), name=GET_THREADS_SYMBOL)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(b.load(self.threads))
        return fn


def add_thread_pool(module: ir.Module, scratch_bytes: int) -> ThreadPool:
    """Define the pool's globals and functions in ``module``; each worker thread gets a
    ``scratch_bytes`` arena (64-byte aligned) for its chunks."""
    builder = _PoolBuilder(module, scratch_bytes)
    claim_loop = builder.claim_loop()
    worker = builder.worker_main(claim_loop)
    return ThreadPool(builder.set_threads(worker), builder.get_threads(), builder.parallel_for(claim_loop))


__all__ = ["CHUNK_FUNCTION", "GET_THREADS_SYMBOL", "MAX_THREADS", "PARALLEL_FOR_SYMBOL", "SET_THREADS_SYMBOL",
           "ThreadPool", "add_thread_pool"]
