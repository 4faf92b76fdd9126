"""The native thread pool of generated CPU code (backend/llvm/thread_pool.py), driven directly.

A test module defines ``run(out, n, scratch)`` = ``moecc_parallel_for(mark, out, n, scratch)``
whose chunk function writes, for every index it covers, how many times it was covered and
which scratch arena it ran on; ``nested`` calls ``moecc_parallel_for`` from inside a chunk.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np
import pytest
from llvmlite import ir

from moecc.backend.llvm.jit import compile_module
from moecc.backend.llvm.loop_builder import I8_PTR, I64, counted_loop, i64
from moecc.backend.llvm.thread_pool import CHUNK_FUNCTION, MAX_THREADS, WORKER_SPINS, add_thread_pool

#: Bytes of each worker's scratch arena in the test module.
SCRATCH_BYTES = 4096


def _mark_function(module: ir.Module, name: str) -> ir.Function:
    """``name(ctx, begin, end, scratch)``: for i in [begin, end): out[2i] += 1, out[2i+1] = scratch."""
    fn = ir.Function(module, CHUNK_FUNCTION, name)
    ctx, begin, end, scratch = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    out = b.bitcast(ctx, I64.as_pointer())

    def body(offset: ir.Value) -> None:
        i = b.add(begin, offset)
        count = b.gep(out, [b.mul(i, i64(2))])
        b.store(b.add(b.load(count), i64(1)), count)
        b.store(b.ptrtoint(scratch, I64), b.gep(out, [b.add(b.mul(i, i64(2)), i64(1))]))

    counted_loop(b, b.sub(end, begin), body)
    b.ret_void()
    return fn


@pytest.fixture(scope="module")
def pool_module():  # type: ignore[no-untyped-def]
    module = ir.Module("thread_pool_test")
    pool = add_thread_pool(module, SCRATCH_BYTES)
    mark = _mark_function(module, "mark")
    run = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR, I64, I8_PTR]), "run")
    b = ir.IRBuilder(run.append_basic_block("entry"))
    b.call(pool.parallel_for, [mark, run.args[0], run.args[1], run.args[2]])
    b.ret_void()
    # nested(out, n, scratch): an outer loop of 4 items, each running an inner parallel_for
    # over its quarter of [0, n) (regions never nest: the inner ones run serially).
    inner = ir.Function(module, CHUNK_FUNCTION, "outer_chunk")
    ctx, begin, end, scratch = inner.args
    b = ir.IRBuilder(inner.append_basic_block("entry"))
    total = b.load(b.bitcast(b.gep(ctx, [i64(0)]), I64.as_pointer()))
    out = b.gep(ctx, [i64(8)])

    def quarter(offset: ir.Value) -> None:
        q = b.add(begin, offset)
        start = b.sdiv(b.mul(total, q), i64(4))
        stop = b.sdiv(b.mul(total, b.add(q, i64(1))), i64(4))
        shifted = b.gep(out, [b.mul(start, i64(16))])
        b.call(pool.parallel_for, [mark, shifted, b.sub(stop, start), scratch])

    counted_loop(b, b.sub(end, begin), quarter)
    b.ret_void()
    nested = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR]), "nested")
    b = ir.IRBuilder(nested.append_basic_block("entry"))
    b.call(pool.parallel_for, [inner, nested.args[0], i64(4), nested.args[1]])
    b.ret_void()
    jit = compile_module(module)
    api = {
        "set": jit.function("moecc_set_threads", ctypes.c_int32, ctypes.c_int32),
        "get": jit.function("moecc_get_threads", ctypes.c_int32),
        "run": jit.function("run", None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p),
        "nested": jit.function("nested", None, ctypes.c_void_p, ctypes.c_void_p),
    }
    yield api
    api["set"](1)


CALLER_SCRATCH = 0x1000  # a marker: the caller's "scratch" is never dereferenced by mark


def _run(api, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.zeros((max(n, 1), 2), np.int64)
    api["run"](out.ctypes.data, n, CALLER_SCRATCH)
    return out[:n]


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 100, 5000])
def test_every_index_runs_once(pool_module, threads: int, n: int) -> None:  # type: ignore[no-untyped-def]
    assert pool_module["set"](threads) == 0
    assert pool_module["get"]() == threads
    out = _run(pool_module, n)
    np.testing.assert_array_equal(out[:, 0], np.ones(n, np.int64))
    arenas = set(out[:, 1].tolist())  # the caller's and workers': any of them may take any chunk
    assert len(arenas) <= threads


def test_workers_run_on_their_own_arenas(pool_module) -> None:  # type: ignore[no-untyped-def]
    pool_module["set"](3)
    seen: set[int] = set()
    deadline = time.monotonic() + 10
    # The caller may take every chunk of one call (workers wake up late); over many, they join in.
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= set(_run(pool_module, 400_000)[:, 1].tolist())
    workers = seen - {CALLER_SCRATCH}
    assert workers, "no chunk ever ran on a worker"
    assert all(address % 64 == 0 for address in workers)  # posix_memalign(64, ...)


def test_thread_count_is_clamped_and_switchable(pool_module) -> None:  # type: ignore[no-untyped-def]
    for threads in (2, 1, 4, 2, 0, 3, -5, 1):
        assert pool_module["set"](threads) == 0
        assert pool_module["get"]() == max(1, threads)
        np.testing.assert_array_equal(_run(pool_module, 333)[:, 0], 1)
    assert pool_module["set"](MAX_THREADS + 10) == 0
    assert pool_module["get"]() == MAX_THREADS
    np.testing.assert_array_equal(_run(pool_module, 1000)[:, 0], 1)
    pool_module["set"](1)


def test_nested_regions_run_serially(pool_module) -> None:  # type: ignore[no-untyped-def]
    pool_module["set"](2)
    n = 1001
    buffer = np.zeros(1 + 2 * n, np.int64)
    buffer[0] = n
    pool_module["nested"](buffer.ctypes.data, CALLER_SCRATCH)
    np.testing.assert_array_equal(buffer[1::2], 1)


def test_sleeping_workers_wake_up(pool_module) -> None:  # type: ignore[no-untyped-def]
    pool_module["set"](2)
    _run(pool_module, 100)
    # Long enough for the workers to stop spinning (WORKER_SPINS pauses) and sleep.
    time.sleep(max(0.05, WORKER_SPINS * 200e-9))
    np.testing.assert_array_equal(_run(pool_module, 5000)[:, 0], 1)


def test_many_short_jobs_oversubscribed(pool_module) -> None:  # type: ignore[no-untyped-def]
    # More threads than cores: descheduled workers must not lose or repeat chunks.
    pool_module["set"](4)
    out = np.zeros((64, 2), np.int64)
    for _ in range(3000):
        pool_module["run"](out.ctypes.data, 64, CALLER_SCRATCH)
    np.testing.assert_array_equal(out[:, 0], 3000)
    pool_module["set"](1)
