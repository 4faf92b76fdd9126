"""Copy elision in the CPU code generator: random kernels give the kernel interpreter's results
with copies left pending, and the analysis (backend/llvm/copy_elision.py) on small cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moecc.backend.llvm import codegen
from moecc.backend.llvm.copy_elision import Region, covers, effects, local_region, may_read_later, overlaps
from moecc.backend.llvm.cpu_target import host_cpu_target, tiling_target
from moecc.ir.kernel import (
    Affine,
    Buffer,
    For,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Store,
    Vector,
)
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType
from moecc.passes.memory_plan import plan_memory

#: f32 sums of 8 products in a different order than numpy's (the sgemm blocks K).
RTOL, ATOL = 1e-5, 1e-5
N = 8
TILES = ("t0", "t1", "t2")
HBM = ("in0", "in1", "out0", "out1")
FLAT = ("flat_in", "flat_out")


#: Views of a tile's N*N elements: (rows, cols); the lowering reads tiles in other shapes too.
VIEWS = ((N, N), (1, N * N), (N // 2, 2 * N))


def _buffers() -> tuple[list[Buffer], tuple[Buffer, ...]]:
    # in*/out*: N x 2N (the halves are pitched windows); flat*: N x N rows of N*N (contiguous).
    hbm = [Buffer(name, "hbm", DType.F32, (N, 2 * N), role="input" if name.startswith("in") else "output")
           for name in HBM]
    hbm += [Buffer(name, "hbm", DType.F32, (2, N * N), role="input" if name == "flat_in" else "output")
            for name in FLAT]
    local = tuple(Buffer(name, "sram", DType.F32, (N, N), slots=2) for name in TILES)
    return hbm, local + (Buffer("acc", "acc", DType.F32, (N, N)),)


def _tile(name: str, slot: int | str) -> LocalRef:
    return LocalRef(name, N, N, slot=Affine.of(slot))


def _window(name: str, half: int) -> HbmRef:
    # The left or right half of an N x 2N buffer: rows N elements long, 2N apart (pitched).
    return HbmRef(name, Affine(half * N), N, N, 2 * N)


@st.composite
def statements(draw: st.DrawFn, slot: int | str = 0, depth: int = 0) -> list:  # type: ignore[type-arg]
    tile = lambda: _tile(draw(st.sampled_from(TILES)), draw(st.sampled_from([0, 1, slot])))  # noqa: E731
    kinds = ["load", "store", "add", "mov", "muls", "matmul", "flat_load", "flat_store", "view_add", "view_mov"]
    kind = draw(st.sampled_from(kinds + ["loop"] if depth == 0 else kinds))
    if kind in ("flat_load", "flat_store", "view_add", "view_mov"):
        rows, cols = draw(st.sampled_from(VIEWS))

        def view() -> LocalRef:
            return LocalRef(draw(st.sampled_from(TILES)), rows, cols, slot=Affine.of(draw(st.sampled_from([0, 1, slot]))))

        window = HbmRef(draw(st.sampled_from(FLAT if kind == "flat_load" else FLAT[1:])),
                        Affine(draw(st.integers(0, 1)) * N * N), rows, cols, cols)
        if kind == "flat_load":
            return [Load(view(), window)]
        if kind == "flat_store":
            return [Store(window, view())]
        if kind == "view_mov":
            return [Vector("mov", view(), view())]
        return [Vector("add", view(), view(), view())]
    if kind == "load":
        return [Load(tile(), _window(draw(st.sampled_from(HBM)), draw(st.integers(0, 1))))]
    if kind == "store":
        return [Store(_window(draw(st.sampled_from(HBM[2:])), draw(st.integers(0, 1))), tile())]
    if kind == "add":
        return [Vector("add", tile(), tile(), tile())]
    if kind == "mov":
        return [Vector("mov", tile(), tile())]
    if kind == "muls":
        return [Vector("muls", tile(), tile(), imm=draw(st.sampled_from([0.5, -2.0])))]
    if kind == "matmul":
        acc = LocalRef("acc", N, N)
        return [MatMul(acc, tile(), tile(), accumulate=draw(st.booleans()), transpose_w=draw(st.booleans())),
                Vector("mov", tile(), acc)]
    body = [s for _ in range(draw(st.integers(1, 4))) for s in draw(statements("i", depth + 1))]
    return [For("i", 2, tuple(body))]


@st.composite
def kernels(draw: st.DrawFn) -> KernelModule:  # type: ignore[type-arg]
    hbm, local = _buffers()
    # Every tile and the accumulator are written before anything reads them (as the lowering does).
    start = [Load(_tile(name, slot), _window("in0", slot)) for name in TILES for slot in (0, 1)]
    start.append(MatMul(LocalRef("acc", N, N), _tile("t0", 0), _tile("t1", 0)))
    body = [s for _ in range(draw(st.integers(1, 10))) for s in draw(statements())]
    end = [Store(_window("out0", 0), _tile("t0", 0)), Store(_window("out1", 1), _tile("t2", 1))]
    kernel = Kernel("random", local, tuple(start + body + end))
    return KernelModule(hbm, [kernel], [*HBM, *FLAT], OUTPUTS)


OUTPUTS = ["out0", "out1", "flat_out"]


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    values = {name: rng.standard_normal((N, 2 * N)).astype(np.float32) for name in HBM}
    values.update({name: rng.standard_normal((2, N * N)).astype(np.float32) for name in FLAT})
    return values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernels())
def test_random_kernels_match_the_interpreter(module: KernelModule) -> None:
    planned, _ = plan_memory(module, tiling_target(host_cpu_target()))
    values = _values()
    expected = run_kernel_module(planned, values)
    program = codegen.compile_kernel_module(planned)
    heap = program.new_heap(values)
    program.run(heap)
    for name in OUTPUTS:
        np.testing.assert_allclose(program.read(heap, name), expected[name].reshape(-1), rtol=RTOL, atol=ATOL,
                                   err_msg=name)


def test_elision_removes_the_copies_of_a_matmul_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """load, load, matmul, mov, store: with elision only the store copies (acc -> HBM)."""
    hbm, local = _buffers()
    kernel = Kernel("mm", local, (
        Load(_tile("t0", 0), _window("in0", 0)),
        Load(_tile("t1", 0), _window("in1", 1)),
        MatMul(LocalRef("acc", N, N), _tile("t0", 0), _tile("t1", 0)),
        Vector("mov", _tile("t2", 0), LocalRef("acc", N, N)),
        Store(_window("out0", 0), _tile("t2", 0)),
    ))
    module = KernelModule(hbm, [kernel], [*HBM, *FLAT], ["out0"])
    planned, _ = plan_memory(module, tiling_target(host_cpu_target()))
    values = _values()

    def copies(elide: bool) -> tuple[int, np.ndarray]:
        monkeypatch.setattr(codegen, "ELIDE_COPIES", elide)
        program = codegen.compile_kernel_module(planned)
        heap = program.new_heap(values)
        program.run(heap)
        text = program.llvm_ir
        return len(re.findall(r'call void @"?llvm\.mem(?:cpy|move)', text)), program.read(heap, "out0")

    elided, with_elision = copies(True)
    performed, without = copies(False)
    np.testing.assert_array_equal(with_elision, without)
    np.testing.assert_allclose(with_elision.reshape(N, 2 * N)[:, :N], values["in0"][:, :N] @ values["in1"][:, N:],
                               rtol=RTOL, atol=ATOL)
    assert (elided, performed) == (1, 3)  # the store; without elision the two loads too (mov is a loop)


def test_regions_and_liveness() -> None:
    _, local = _buffers()
    buffers = {b.name: b for b in local}
    slot0, slot1, anywhere = (local_region(_tile("t0", s), buffers) for s in (0, 1, "i"))
    assert slot0 == Region("t0", 0, N * N * 4) and slot1 == Region("t0", N * N * 4, 2 * N * N * 4)
    assert not overlaps(slot0, slot1) and overlaps(anywhere, slot1) and not covers(anywhere, slot0)
    read_t0 = Vector("add", _tile("t1", 0), _tile("t0", 0), _tile("t0", 0))
    write_t0 = Load(_tile("t0", 0), _window("in0", 0))
    assert effects(read_t0, buffers).reads == (slot0, slot0)
    # After statement 0: read by statement 1 -> live; overwritten first -> dead.
    assert may_read_later(slot0, [((write_t0, read_t0), 0, False)], buffers)
    assert not may_read_later(slot0, [((read_t0, write_t0, read_t0), 0, False)], buffers)
    # At the end of a loop body the next iteration reads it first -> live.
    loop_body = (read_t0, write_t0)
    assert may_read_later(slot0, [((For("i", 2, loop_body),), 0, False), (loop_body, 1, True)], buffers)
    # ...unless every iteration overwrites it first and nothing after the loop reads it.
    loop_body = (write_t0, read_t0)
    assert not may_read_later(slot0, [((For("i", 2, loop_body),), 0, False), (loop_body, 1, True)], buffers)
    # Read after the loop: live, although the next iteration would overwrite it.
    outer = (For("i", 2, loop_body), read_t0)
    assert may_read_later(slot0, [(outer, 0, False), (loop_body, 1, True)], buffers)
