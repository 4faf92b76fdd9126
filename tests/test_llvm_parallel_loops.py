"""Independent top-level loops run across threads on the cpu target (backend/llvm/parallel_loops.py
and the chunk functions of backend/llvm/codegen.py).

Hand-built kernels whose loops must and must not be split (the verdict of the analysis and the
chunk functions in the LLVM IR say which), each run at threads 1, 2 and 3 against the kernel
interpreter; random loops at threads 2 against the sequential code; every example model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import moecc
from moecc.backend.llvm import codegen, parallel_matmul
from moecc.backend.llvm.codegen import CpuProgram, compile_kernel_module
from moecc.backend.llvm.parallel_loops import ParallelLoop, SequentialLoop, analyse_loop
from moecc.errors import SimulationError
from moecc.examples import EXAMPLES, build_example, example_inputs
from moecc.ir.kernel import (
    Affine,
    Buffer,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Stmt,
    Store,
    Vector,
)
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType
from moecc.isa_spec.target import load_target
from moecc.passes.memory_plan import plan_memory

TARGET = load_target("moe-asic-v1")
#: Rows and columns of a tile; a loop of ITERATIONS handles one tile of every input per iteration.
R, C = 16, 64
ITERATIONS = 8
THREADS = (1, 2, 3)


@pytest.fixture
def split_small_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hand-built loops are far below the work threshold; split every independent loop.
    monkeypatch.setattr(codegen, "PARALLEL_MIN_LOOP_WORK", 0)


def _hbm(name: str, role: str, rows: int = ITERATIONS * R, cols: int = C, dtype: DType = DType.F32) -> Buffer:
    return Buffer(name, "hbm", dtype, (rows, cols), role=role)


def _sram(name: str, rows: int = R, cols: int = C, slots: int = 1, dtype: DType = DType.F32) -> Buffer:
    return Buffer(name, "sram", dtype, (rows, cols), slots=slots)


def _tile(name: str, rows: int = R, cols: int = C, slot: int | str = 0) -> LocalRef:
    return LocalRef(name, rows, cols, slot=Affine.of(slot))


def _rows(name: str, at: int | str | Affine = "i", rows: int = R) -> HbmRef:
    """Rows ``R*at ..`` of an HBM buffer of C columns (``at`` the loop variable: tile i)."""
    return HbmRef(name, Affine.of(at) * (rows * C), rows, C, C)


def _module(body: tuple[Stmt, ...], local: tuple[Buffer, ...], hbm: list[Buffer] | None = None) -> KernelModule:
    hbm = hbm or [_hbm("x", "input"), _hbm("w", "input"), _hbm("y", "output"), _hbm("z", "output")]
    inputs = [b.name for b in hbm if b.role == "input"]
    outputs = [b.name for b in hbm if b.role == "output"]
    return KernelModule(hbm, [Kernel("k", local, body)], inputs, outputs)


def _values(module: KernelModule, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {b.name: rng.standard_normal(b.shape).astype(np.float32) for b in module.hbm if b.role == "input"}


def _plan(module: KernelModule) -> KernelModule:
    planned, _ = plan_memory(module, TARGET)
    return planned


def _chunk_functions(program: CpuProgram) -> list[str]:
    return re.findall(r'define internal void @"([^"]+\.loop\d+)"', program.llvm_ir)


def _run(program: CpuProgram, values: dict[str, np.ndarray], threads: int) -> dict[str, np.ndarray]:
    program.set_threads(threads)
    try:
        heap = program.new_heap(values)
        program.run(heap)
    finally:
        program.set_threads(1)
    return {b.name: program.read(heap, b.name) for b in program.module.hbm if b.role == "output"}


def _check_all_threads(module: KernelModule, *value_sets: dict[str, np.ndarray], exact: bool = True,
                       parallel: bool) -> CpuProgram:
    """Outputs at every thread count are bitwise equal to one another and match the
    interpreter; the kernel's loop is split iff ``parallel``. The value sets alternate, so a
    worker's scratch never holds the right values by chance from the run before."""
    planned = _plan(module)
    program = compile_kernel_module(planned)
    assert bool(_chunk_functions(program)) == parallel, _chunk_functions(program)
    firsts = []
    for values in value_sets:
        expected = run_kernel_module(planned, values)
        first = _run(program, values, 1)
        for name, got in first.items():
            if exact:
                np.testing.assert_array_equal(got, expected[name].reshape(-1), err_msg=name)
            else:
                np.testing.assert_allclose(got, expected[name].reshape(-1), rtol=1e-5, atol=1e-5, err_msg=name)
        firsts.append(first)
    for threads in THREADS:
        for _ in range(2):
            for values, first in zip(value_sets, firsts):
                for name, got in _run(program, values, threads).items():
                    np.testing.assert_array_equal(got, first[name], err_msg=f"{name} at threads={threads}")
    return program


def _value_sets(module: KernelModule) -> tuple[dict[str, np.ndarray], ...]:
    return _values(module, 0), _values(module, 1)


def _verdict(module: KernelModule, position: int) -> ParallelLoop | SequentialLoop:
    planned = _plan(module)
    return analyse_loop(planned.kernels[0], position, {b.name: b for b in planned.hbm})


# -- loops that run in chunks ---------------------------------------------------------------

def _row_softmax_like(rows: int = R) -> KernelModule:
    """y[i] = (x[i]*c - rowmax(x[i]*c)) * d: c one element of w, d a filled constant, both
    prepared before the loop, which only reads them."""
    local = (_sram("c", 1, 1), _sram("d", 1, 1), _sram("t", rows), _sram("s", rows, 1), _sram("u", rows))
    body = (
        Load(_tile("c", 1, 1), HbmRef("w", Affine(3), 1, 1, 1)),
        Vector("fill", _tile("d", 1, 1), imm=0.5),
        Vector("fill", _tile("u", rows), imm=5.0),  # not read by the loop: not repeated per chunk
        For("i", ITERATIONS, (
            Load(_tile("t", rows), _rows("x", rows=rows)),
            Vector("mul", _tile("t", rows), _tile("t", rows), _tile("c", 1, 1), bcast="scalar"),
            Vector("rmax", _tile("s", rows, 1), _tile("t", rows)),
            Vector("sub", _tile("t", rows), _tile("t", rows), _tile("s", rows, 1), bcast="col"),
            Vector("mul", _tile("t", rows), _tile("t", rows), _tile("d", 1, 1), bcast="scalar"),
            Store(_rows("y", rows=rows), _tile("t", rows)),
        )),
        Store(_rows("z", 0, rows=rows), _tile("u", rows)),
    )
    return _module(body, local)


def test_independent_loop_runs_in_chunks(split_small_loops: None) -> None:
    module = _row_softmax_like()
    verdict = _verdict(module, 3)
    assert isinstance(verdict, ParallelLoop)
    assert verdict.prologue == module.kernels[0].body[:2]  # c and d, not u
    program = _check_all_threads(module, *_value_sets(module), parallel=True)
    assert _chunk_functions(program) == ["moecc_k0_k.loop3"]


def test_small_loops_stay_in_place() -> None:
    assert isinstance(_verdict(_row_softmax_like(), 3), ParallelLoop)
    _check_all_threads(_row_softmax_like(), *_value_sets(_row_softmax_like()), parallel=True)
    module = _row_softmax_like(rows=1)  # independent, but ~2000 element operations
    assert isinstance(_verdict(module, 3), ParallelLoop)
    _check_all_threads(module, *_value_sets(module), parallel=False)


def test_prologue_copies_are_repeated_per_chunk(split_small_loops: None) -> None:
    """A pending load and a pending mov of it before the loop: every chunk needs both."""
    local = (_sram("w0"), _sram("w1"), _sram("t"), _sram("o"))
    body = (
        Load(_tile("w0"), _rows("w", 0)),
        Vector("mov", _tile("w1"), _tile("w0")),
        For("i", ITERATIONS, (
            Load(_tile("t"), _rows("x")),
            Vector("add", _tile("o"), _tile("t"), _tile("w1")),
            Store(_rows("y"), _tile("o")),
        )),
        Store(_rows("z", 1), _tile("w1")),  # the prologue's tile stays readable after the loop
    )
    module = _module(body, local)
    verdict = _verdict(module, 2)
    assert isinstance(verdict, ParallelLoop) and verdict.prologue == body[:2]
    _check_all_threads(module, *_value_sets(module), parallel=True)


def test_tiles_that_move_with_the_loop_variable(split_small_loops: None) -> None:
    """Slot i of a double-buffered tile, and a tile the loop overwrites after the loop reads it."""
    local = (_sram("t", slots=ITERATIONS), _sram("o"))
    body = (
        For("i", ITERATIONS, (
            Load(_tile("t", slot="i"), _rows("x")),
            Vector("muls", _tile("o"), _tile("t", slot="i"), imm=-3.0),
            Vector("max", _tile("o"), _tile("o"), _tile("t", slot="i")),
            Store(_rows("y"), _tile("o")),
        )),
        Load(_tile("o"), _rows("w", 2)),  # overwrites o before reading it: o is dead after the loop
        Store(_rows("z", 0), _tile("o")),
    )
    module = _module(body, local)
    assert isinstance(_verdict(module, 0), ParallelLoop)
    _check_all_threads(module, *_value_sets(module), parallel=True)


def test_inner_loops_and_strided_stores(split_small_loops: None) -> None:
    """Iteration i stores columns [2i, 2i+2) of every row: pitched windows that interleave."""
    hbm = [_hbm("x", "input", R, 2 * ITERATIONS), _hbm("y", "output", 2 * R, 2 * ITERATIONS)]
    local = (_sram("t", R, 2), _sram("o", R, 2))
    body = (
        For("i", ITERATIONS, (
            Load(_tile("t", R, 2), HbmRef("x", Affine.of("i") * 2, R, 2, 2 * ITERATIONS)),
            For("j", 2, (
                Vector("adds", _tile("o", R, 2), _tile("t", R, 2), imm=1.0),
                Store(HbmRef("y", Affine.of("i") * 2 + Affine.of("j") * (R * 2 * ITERATIONS), R, 2, 2 * ITERATIONS),
                      _tile("o", R, 2)),
            )),
        )),
    )
    module = _module(body, local, hbm)
    assert isinstance(_verdict(module, 0), ParallelLoop)
    _check_all_threads(module, *_value_sets(module), parallel=True)


def test_big_matmul_loops_split_only_evenly(monkeypatch: pytest.MonkeyPatch, split_small_loops: None) -> None:
    """Loops of matmuls that split on their own: whole iterations go to threads only when they
    share out evenly; otherwise the kernel runs the chunk itself (both must agree bitwise)."""
    monkeypatch.setattr(parallel_matmul, "PARALLEL_MIN_FLOPS", 0)
    for count in (3, 4):
        hbm = [_hbm("x", "input", count * R), _hbm("w", "input", C, C), _hbm("y", "output", count * R)]
        local = (_sram("a"), _sram("b", C, C), Buffer("acc", "acc", DType.F32, (R, C)), _sram("o"))
        body = (
            Load(_tile("b", C, C), HbmRef("w", Affine(0), C, C, C)),
            For("i", count, (
                Load(_tile("a"), _rows("x")),
                MatMul(LocalRef("acc", R, C), _tile("a"), _tile("b", C, C)),
                Vector("mov", _tile("o"), LocalRef("acc", R, C)),
                Store(_rows("y"), _tile("o")),
            )),
        )
        module = _module(body, local, hbm)
        verdict = _verdict(module, 1)
        assert isinstance(verdict, ParallelLoop) and verdict.matmul_flops == 2 * R * C * C
        program = _check_all_threads(module, *_value_sets(module), exact=False, parallel=True)
        assert "moecc_get_threads" in program.llvm_ir


# -- loops that must stay sequential --------------------------------------------------------

def _carried() -> tuple[tuple[Stmt, ...], tuple[Buffer, ...]]:
    acc = LocalRef("acc", R, C)
    local = (_sram("a"), _sram("b", C, C), Buffer("acc", "acc", DType.F32, (R, C)), _sram("o"))
    return (
        Load(_tile("b", C, C), HbmRef("w", Affine(0), C, C, C)),
        Vector("fill", acc),
        For("i", ITERATIONS, (
            Load(_tile("a"), _rows("x")),
            MatMul(acc, _tile("a"), _tile("b", C, C), accumulate=True),
        )),
        Vector("mov", _tile("o"), acc),
        Store(_rows("y", 0), _tile("o")),
    ), local


def _same_window() -> tuple[tuple[Stmt, ...], tuple[Buffer, ...]]:
    return (For("i", ITERATIONS, (
        Load(_tile("t"), _rows("x")),
        Store(_rows("y", 1), _tile("t")),  # every iteration writes tile 1: the last one wins
    )),), (_sram("t"),)


def _reads_its_output() -> tuple[tuple[Stmt, ...], tuple[Buffer, ...]]:
    return (
        Load(_tile("t"), _rows("x", 0)),
        Store(_rows("y", 0), _tile("t")),
        For("i", ITERATIONS - 1, (
            Load(_tile("t"), _rows("y")),  # tile i of y, which iteration i-1 stored
            Vector("adds", _tile("t"), _tile("t"), imm=1.0),
            Store(HbmRef("y", Affine.of("i") * (R * C) + R * C, R, C, C), _tile("t")),
        )),
    ), (_sram("t"),)


def _read_after() -> tuple[tuple[Stmt, ...], tuple[Buffer, ...]]:
    return (
        For("i", ITERATIONS, (
            Load(_tile("t"), _rows("x")),
            Vector("adds", _tile("o"), _tile("t"), imm=1.0),
            Store(_rows("y"), _tile("o")),
        )),
        Store(_rows("z", 0), _tile("o")),  # the last iteration's o
    ), (_sram("t"), _sram("o"))


def _earlier_loop() -> tuple[tuple[Stmt, ...], tuple[Buffer, ...]]:
    return (
        For("j", 2, (Load(_tile("c"), _rows("w", "j")),)),
        For("i", ITERATIONS, (
            Load(_tile("t"), _rows("x")),
            Vector("add", _tile("t"), _tile("t"), _tile("c")),
            Store(_rows("y"), _tile("t")),
        )),
    ), (_sram("t"), _sram("c"))


@pytest.mark.parametrize("case, position, reason", [
    (_carried, 2, "carried from one iteration to the next"),
    (_same_window, 0, "store to the same HBM bytes"),
    (_reads_its_output, 2, "reads HBM buffer y and stores to y"),
    (_read_after, 0, "written by the loop and read after it"),
    (_earlier_loop, 1, "the loop at statement 0 writes"),
])
def test_dependent_loops_stay_sequential(case, position: int, reason: str, split_small_loops: None) -> None:
    body, local = case()
    module = _module(body, local)
    verdict = _verdict(module, position)
    assert isinstance(verdict, SequentialLoop) and reason in verdict.reason, verdict
    _check_all_threads(module, *_value_sets(module), exact=False, parallel=False)


def test_switch_turns_parallel_loops_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "PARALLEL_LOOPS", False)
    module = _row_softmax_like()
    _check_all_threads(module, *_value_sets(module), parallel=False)


# -- faults ---------------------------------------------------------------------------------

def _gather_loop() -> KernelModule:
    """Iteration i gathers the rows ids[i] of a 10-row table."""
    hbm = [_hbm("table", "weight", 10, C), _hbm("ids", "input", ITERATIONS, R, DType.I32), _hbm("y", "output")]
    local = (_sram("ix", 1, R, dtype=DType.I32), _sram("rows"))
    body = (For("i", ITERATIONS, (
        Load(_tile("ix", 1, R), HbmRef("ids", Affine.of("i") * R, 1, R, R)),
        Gather(_tile("rows"), HbmRef("table", Affine(0), 10, C, C), _tile("ix", R, 1)),
        Store(_rows("y"), _tile("rows")),
    )),)
    return _module(body, local, hbm)


def test_fault_in_a_chunk_reports_the_lowest_iteration(split_small_loops: None) -> None:
    module = _gather_loop()
    table = np.arange(10 * C, dtype=np.float32).reshape(10, C)
    good = np.arange(ITERATIONS * R, dtype=np.int32).reshape(ITERATIONS, R) % 10
    program = _check_all_threads(module, {"table": table, "ids": good}, parallel=True)
    bad = good.copy()
    bad[1, 2], bad[3, 0] = 12, -7  # iterations 1 and 3 fault; the sequential loop stops at 1
    for threads in THREADS:
        for _ in range(3):
            with pytest.raises(SimulationError, match="gather index 12 is outside the table's 10 rows"):
                _run(program, {"table": table, "ids": bad}, threads)
    # The fault is reset between runs, and a clean run after a faulting one is right.
    assert np.array_equal(_run(program, {"table": table, "ids": good}, 2)["y"].reshape(-1, C), table[good.reshape(-1)])


def test_nonzero_list_written_in_the_iteration(split_small_loops: None) -> None:
    """A filled list that nonzero then writes in part: the iteration wrote it all first."""
    hbm = [_hbm("x", "input"), _hbm("y", "output", ITERATIONS, 2 * R, DType.I32),
           _hbm("n", "output", ITERATIONS, 1, DType.I32)]
    local = (_sram("t"), _sram("list", 1, 2 * R, dtype=DType.I32), _sram("count", 1, 1, dtype=DType.I32))
    body = (For("i", ITERATIONS, (
        Load(_tile("t", 1, 2 * R), HbmRef("x", Affine.of("i") * (R * C), 1, 2 * R, 2 * R)),
        Vector("fill", _tile("list", 1, 2 * R), imm=-1.0, dtype=DType.I32),
        Vector("nonzero", _tile("list", 1, 2 * R), _tile("t", 1, 2 * R), _tile("count", 1, 1)),
        Store(HbmRef("y", Affine.of("i") * (2 * R), 1, 2 * R, 2 * R), _tile("list", 1, 2 * R)),
        Store(HbmRef("n", Affine.of("i"), 1, 1, 1), _tile("count", 1, 1)),
    )),)
    module = _module(body, local, hbm)
    x = np.zeros((ITERATIONS * R, C), np.float32)
    x.reshape(-1)[[1, 5, R * C + 2, 3 * R * C + 7, 3 * R * C + 0]] = 1.0
    assert isinstance(_verdict(module, 0), ParallelLoop)
    _check_all_threads(module, {"x": x}, parallel=True)


# -- random loops ---------------------------------------------------------------------------

N = 8
TILES = ("t0", "t1", "t2")  # written before the loop
LOOP_TILES = ("u0", "u1")  # what the loop mostly writes
HBM_INPUTS, HBM_OUTPUTS = ("in0", "in1"), ("out0", "out1")


@st.composite
def loop_statements(draw: st.DrawFn, inside: bool) -> list[Stmt]:  # type: ignore[type-arg]
    """A statement of a random kernel. ``inside`` the loop over i, HBM windows mostly move with
    i and results mostly go to the loop's own tiles (so that many loops are independent)."""
    halves = ["i", "i", 0, 1] if inside else [0, 1]
    slots = [0, 1, "i"] if inside else [0, 1]

    def tile(written: bool = False) -> LocalRef:
        names = TILES + LOOP_TILES if inside else TILES
        if inside and written and draw(st.integers(0, 4)):
            names = LOOP_TILES
        return LocalRef(draw(st.sampled_from(names)), N, N, slot=Affine.of(draw(st.sampled_from(slots))))

    def window(names: tuple[str, ...]) -> HbmRef:
        # Half 0, 1 or i of an N x 2N buffer: rows of N elements, 2N apart.
        return HbmRef(draw(st.sampled_from(names)), Affine.of(draw(st.sampled_from(halves))) * N, N, N, 2 * N)

    kind = draw(st.sampled_from(["load", "load", "store", "add", "mov", "muls", "fill", "matmul"]))
    if kind == "load":
        return [Load(tile(True), window(HBM_INPUTS + HBM_OUTPUTS if draw(st.booleans()) else HBM_INPUTS))]
    if kind == "store":
        return [Store(window(HBM_OUTPUTS), tile())]
    if kind == "add":
        return [Vector("add", tile(True), tile(), tile())]
    if kind == "mov":
        return [Vector("mov", tile(True), tile())]
    if kind == "muls":
        return [Vector("muls", tile(True), tile(), imm=draw(st.sampled_from([0.5, -2.0])))]
    if kind == "fill":
        return [Vector("fill", tile(True), imm=draw(st.sampled_from([1.0, -0.25])))]
    acc = LocalRef("acc", N, N)
    return [MatMul(acc, tile(), tile(), accumulate=draw(st.booleans()), transpose_w=draw(st.booleans())),
            Vector("mov", tile(True), acc)]


@st.composite
def loop_kernels(draw: st.DrawFn) -> KernelModule:  # type: ignore[type-arg]
    hbm = [Buffer(name, "hbm", DType.F32, (N, 2 * N), role="input") for name in HBM_INPUTS]
    hbm += [Buffer(name, "hbm", DType.F32, (N, 2 * N), role="output") for name in HBM_OUTPUTS]
    local = tuple(Buffer(name, "sram", DType.F32, (N, N), slots=2) for name in TILES + LOOP_TILES)
    local += (Buffer("acc", "acc", DType.F32, (N, N)),)
    # Every tile is written before anything reads it (as the lowering does).
    start: list[Stmt] = [Load(LocalRef(name, N, N, slot=Affine(slot)), HbmRef("in0", Affine(slot * N), N, N, 2 * N))
                         for name in TILES + LOOP_TILES for slot in (0, 1)]
    start.append(MatMul(LocalRef("acc", N, N), LocalRef("t0", N, N), LocalRef("t1", N, N)))
    before = [s for _ in range(draw(st.integers(0, 4))) for s in draw(loop_statements(False))]
    # The loop's tiles, loaded in the iteration (mostly): the rest of the body reads them.
    fresh = [Load(LocalRef(name, N, N, slot=Affine.of(slot)), HbmRef(name.replace("u", "in"), Affine.of("i") * N, N, N,
                                                                     2 * N))
             for name in LOOP_TILES for slot in (0, 1) if draw(st.integers(0, 5))]
    inside = fresh + [s for _ in range(draw(st.integers(1, 6))) for s in draw(loop_statements(True))]
    after = [s for _ in range(draw(st.integers(0, 3))) for s in draw(loop_statements(False))]
    end = [Store(HbmRef("out0", Affine(0), N, N, 2 * N), LocalRef("t0", N, N))]
    body = tuple(start + before + [For("i", 2, tuple(inside))] + after + end)
    return KernelModule(hbm, [Kernel("random", local, body)], [*HBM_INPUTS, *HBM_OUTPUTS], list(HBM_OUTPUTS))


def _random_values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal((N, 2 * N)).astype(np.float32) for name in HBM_INPUTS + HBM_OUTPUTS}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loop_kernels())
def test_random_loops_at_two_threads(module: KernelModule) -> None:
    planned = _plan(module)
    values = _random_values()
    expected = run_kernel_module(planned, values)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "PARALLEL_MIN_LOOP_WORK", 0)
        parallel = compile_kernel_module(planned)
        patch.setattr(codegen, "PARALLEL_LOOPS", False)
        sequential = compile_kernel_module(planned)
    want = _run(sequential, values, 1)
    for threads in (2, 1):
        got = _run(parallel, values, threads)
        for name in HBM_OUTPUTS:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name} at threads={threads}")
            np.testing.assert_allclose(got[name], expected[name].reshape(-1), rtol=1e-5, atol=1e-5, err_msg=name)


def test_random_loops_reach_split_loops() -> None:
    """The generator above exercises chunk functions, not only the sequential fallback: it
    makes split loops with a prologue, matmuls and stores."""

    def split_with_everything(module: KernelModule) -> bool:
        planned = _plan(module)
        kernel = planned.kernels[0]
        position = next(i for i, s in enumerate(kernel.body) if isinstance(s, For))
        verdict = analyse_loop(kernel, position, {b.name: b for b in planned.hbm})
        kinds = {type(s) for s in kernel.body[position].body}
        return isinstance(verdict, ParallelLoop) and bool(verdict.prologue) and {MatMul, Store} <= kinds

    module = find(loop_kernels(), split_with_everything, settings=settings(max_examples=1000, database=None))
    assert split_with_everything(module)


# -- the example models ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_at_two_threads_match_one_bitwise(name: str, split_small_loops: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """threads=2 gives threads=1's outputs bitwise, and both the outputs of the code without
    parallel loops."""
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    # Parallel loops are the kernel IR path's (lowering="kernel").
    with monkeypatch.context() as patch:
        patch.setattr(codegen, "PARALLEL_LOOPS", False)
        sequential = moecc.compile(model, target="cpu", lowering="kernel").run(inputs)
    single = moecc.compile(model, target="cpu", lowering="kernel").run(inputs)
    compiled = moecc.compile(model, target="cpu", threads=2, lowering="kernel")
    # dense-moe's kernels have no top-level loops at this size; every other example splits some.
    assert _chunk_functions(compiled.executable.program) or name == "dense-moe"
    for outputs in (single, compiled.run(inputs), compiled.run(inputs)):
        for key, value in outputs.items():
            np.testing.assert_array_equal(value, sequential[key], err_msg=key)
    # The default (tiled) lowering: two threads give one thread's outputs bitwise too.
    tiled_single = moecc.compile(model, target="cpu").run(inputs)
    tiled = moecc.compile(model, target="cpu", threads=2)
    for outputs in (tiled.run(inputs), tiled.run(inputs)):
        for key, value in outputs.items():
            np.testing.assert_array_equal(value, tiled_single[key], err_msg=key)


def test_attention_softmax_loop_is_split() -> None:
    """At a realistic size the llama block's softmax over heads runs across threads, by default."""
    from moecc.examples import realistic_sizes

    model = build_example("llama-block", **{**realistic_sizes("llama-block"), "n_layers": 1})
    compiled = moecc.compile(model, target="cpu", threads=2, lowering="kernel")  # the kernel IR path's loops
    chunks = _chunk_functions(compiled.executable.program)
    assert any("softmax" in name for name in chunks), chunks
