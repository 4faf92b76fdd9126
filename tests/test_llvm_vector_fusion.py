"""Vector-loop fusion in the CPU code generator (backend/llvm/vector_fusion.py): runs of element-wise
statements as one loop give the per-statement code's results bit for bit, and the interpreter's.

Hand-built kernels cover each broadcast kind, bf16 rounding and i32 wrap-around between
statements, in-place ops, results read after a run, and the hazards that must end a run
(checked on the planner, :func:`plan_run`, and on results); hypothesis draws random chains over
overlapping tile views; every bundled example runs fused and unfused on the CPU.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moecc
from moecc.backend.llvm import codegen, vector_fusion
from moecc.backend.llvm.vector_fusion import plan_run
from moecc.examples import EXAMPLES, build_example, example_inputs
from moecc.ir.kernel import Affine, Buffer, For, HbmRef, Kernel, KernelModule, Load, LocalRef, Stmt, Store, Vector
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType
from moecc.isa_spec.target import load_target
from moecc.passes.memory_plan import plan_memory

TARGET = load_target("moe-asic-v1")
R, C = 6, 40


# -- helpers --------------------------------------------------------------------------------

def _kernel_module(tiles: dict[str, tuple[DType, tuple[int, int]]], body: list[Stmt], outputs: list[str],
                   inputs: dict[str, tuple[DType, tuple[int, int]]] | None = None) -> KernelModule:
    """Tiles ``name -> (dtype, shape)``, each loaded whole from HBM input ``h_<name>`` first
    (every local byte defined); ``outputs``: tiles stored whole to ``o_<name>`` at the end."""
    hbm = [Buffer(f"h_{n}", "hbm", dt, shape, role="input") for n, (dt, shape) in tiles.items()]
    hbm += [Buffer(f"o_{n}", "hbm", tiles[n][0], tiles[n][1], role="output") for n in outputs]
    local = tuple(Buffer(n, "sram", dt, shape) for n, (dt, shape) in tiles.items())
    loads = [Load(LocalRef(n, *shape), HbmRef(f"h_{n}", Affine(0), *shape, shape[1]))
             for n, (_, shape) in tiles.items()]
    stores = [Store(HbmRef(f"o_{n}", Affine(0), *tiles[n][1], tiles[n][1][1]), LocalRef(n, *tiles[n][1]))
              for n in outputs]
    kernel = Kernel("chain", local, tuple(loads + body + stores))
    return KernelModule(hbm, [kernel], [f"h_{n}" for n in tiles], [f"o_{n}" for n in outputs])


def _values(module: KernelModule, seed: int = 0, scale: float = 2.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for buf in module.hbm:
        if buf.role != "input":
            continue
        if buf.dtype == DType.I32:
            data = rng.integers(-9, 10, buf.shape)
        else:
            data = np.round(rng.standard_normal(buf.shape) * scale, 1)  # zeros and ties for compares and sel
        values[buf.name] = np.asarray(data).astype(buf.dtype.numpy)
    return values


def _run(planned: KernelModule, values: dict[str, np.ndarray], fuse: bool,
         monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, np.ndarray], str]:
    monkeypatch.setattr(vector_fusion, "FUSE_VECTOR_LOOPS", fuse)
    program = codegen.compile_kernel_module(planned)
    heap = program.new_heap(values)
    program.run(heap)
    return {name: program.read(heap, name) for name in planned.outputs}, program.llvm_ir


def _assert_bitwise(fused: dict[str, np.ndarray], unfused: dict[str, np.ndarray]) -> None:
    """Equal bit for bit, but for NaN payloads (LLVM does not keep those: it may swap the
    operands of a commutative op), which must be NaN at the same places."""
    assert fused.keys() == unfused.keys()
    for name in fused:
        x, y = fused[name], unfused[name]
        if x.dtype.kind not in "iu":
            nan = np.isnan(x.astype(np.float32))
            np.testing.assert_array_equal(nan, np.isnan(y.astype(np.float32)), err_msg=f"{name}: NaN positions")
            x, y = x[~nan], y[~nan]
        np.testing.assert_array_equal(x.view(np.uint8), y.view(np.uint8), err_msg=name)


def _check(module: KernelModule, monkeypatch: pytest.MonkeyPatch, rtol: float = 2e-6, seed: int = 0,
           values: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Fused == unfused bit for bit, both close to the kernel interpreter; returns the fused
    outputs and LLVM IR."""
    planned, _ = plan_memory(module, TARGET)
    values = values if values is not None else _values(planned, seed)
    fused, text = _run(planned, values, True, monkeypatch)
    unfused, _ = _run(planned, values, False, monkeypatch)
    _assert_bitwise(fused, unfused)
    expected = run_kernel_module(planned, values)
    for name, got in fused.items():
        want = expected[name].reshape(-1)
        if got.dtype.kind in "iu":
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=1e-6,
                                       equal_nan=True, err_msg=name)
    return fused, text


def _function(text: str, name: str = "chain") -> str:
    """The kernel's function in the unoptimised LLVM IR."""
    return next(f for f in text.split("\ndefine ")[1:] if re.match(rf'[^@]*@"?moecc_k\d+_{name}"?\(', f))


def _loop_body(text: str, label: str) -> str:
    """The instructions of a flat loop's body block (``<label>.body`` up to ``<label>.end``)."""
    return text[text.index(f"\n{label}.body:"):text.index(f"\n{label}.end:")]


def _loops(text: str, function: str = "chain") -> tuple[list[str], int]:
    """The fused loops (labels ``fused<n>``) and the count of single-statement element loops in
    the kernel's function of the unoptimised IR."""
    body = _function(text, function)
    fused = re.findall(r'^"?(fused\d+)(?:\.r)?\.head"?:', body, re.M)
    single = len(re.findall(r'^"?(?:e|r)\.head(?:\.\d+)?"?:', body, re.M))
    return fused, single


def _plan(body: list[Stmt], tiles: dict[str, tuple[DType, tuple[int, int]]], start: int = 0,
          defers_move=lambda stmt: False, pending=()) -> int:  # type: ignore[no-untyped-def]
    buffers = {n: Buffer(n, "sram", dt, shape) for n, (dt, shape) in tiles.items()}
    run = plan_run(body, start, buffers, defers_move=defers_move, pending=pending)
    return 0 if run is None else len(run.forms)


def t(name: str, rows: int = R, cols: int = C, offset: int = 0, slot: int | str = 0) -> LocalRef:
    return LocalRef(name, rows, cols, offset=Affine.of(offset), slot=Affine.of(slot))


F32_TILES = {n: (DType.F32, (R, C)) for n in ("a", "b", "v", "w", "o")}
F32_TILES.update({"row": (DType.F32, (1, C)), "col": (DType.F32, (R, 1)), "s": (DType.F32, (1, 1))})


# -- hand-built chains ----------------------------------------------------------------------

def test_silu_chain_is_one_loop_without_intermediate_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    tiles = {n: (DType.F32, (R, C)) for n in ("in0", "in1", "v2", "v3", "out4")}
    body: list[Stmt] = [Vector("sigmoid", t("v2"), t("in0")),
                        Vector("mul", t("v3"), t("in0"), t("v2")),
                        Vector("mul", t("out4"), t("v3"), t("in1"))]
    _, text = _check(_kernel_module(tiles, body, ["out4"]), monkeypatch)
    assert _loops(text) == (["fused3"], 0)
    # v2 and v3 are dead after the run: the loop stores out4 only.
    assert _loop_body(text, "fused3").count("store float") == 1


def test_every_broadcast_kind_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    body: list[Stmt] = [
        Vector("sub", t("v"), t("a"), t("col", R, 1), bcast="col"),
        Vector("mul", t("v"), t("v"), t("row", 1, C), bcast="row"),
        Vector("max", t("w"), t("v"), t("s", 1, 1), bcast="scalar"),
        Vector("neg", t("o"), t("col", R, 1), bcast="col"),          # unary with a broadcast operand
        Vector("exp", t("b"), t("row", 1, C), bcast="row"),
        Vector("mov", t("a"), t("s", 1, 1), bcast="scalar"),
        Vector("sel", t("o"), t("w"), t("b")),                       # reads its own destination
        Vector("adds", t("o"), t("o"), imm=0.5),
        Vector("div", t("w"), t("o"), t("a")),
        Vector("tanh", t("v"), t("w")),
    ]
    _, text = _check(_kernel_module(F32_TILES, body, ["a", "b", "v", "w", "o"]), monkeypatch)
    assert _loops(text) == (["fused10"], 0)


def test_bf16_results_are_rounded_between_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    tiles = {n: (DType.BF16, (R, C)) for n in ("a", "b", "v", "o")} | {"s": (DType.BF16, (1, 1))}
    body: list[Stmt] = [Vector("mul", t("v"), t("a"), t("b"), dtype=DType.BF16),
                        Vector("add", t("v"), t("v"), t("s", 1, 1), bcast="scalar", dtype=DType.BF16),
                        Vector("sub", t("o"), t("v"), t("a"), dtype=DType.BF16),
                        Vector("muls", t("o"), t("o"), imm=1.0 / 3.0, dtype=DType.BF16)]
    module = _kernel_module(tiles, body, ["o"])
    planned, _ = plan_memory(module, TARGET)
    values = _values(planned)
    values["h_a"] = (np.random.default_rng(1).standard_normal((R, C)) * 7).astype(DType.BF16.numpy)
    _, text = _check(module, monkeypatch, rtol=1e-2, values=values)
    assert _loops(text) == (["fused4"], 0)


def test_i32_wraps_between_statements_and_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    tiles = {n: (DType.I32, (R, C)) for n in ("a", "b", "v", "o")} | {"f": (DType.F32, (R, C))}
    body: list[Stmt] = [Vector("mul", t("v"), t("a"), t("a"), dtype=DType.I32),
                        Vector("mul", t("v"), t("v"), t("v"), dtype=DType.I32),   # wraps: |a|^4 > 2^31
                        Vector("add", t("o"), t("v"), t("b"), dtype=DType.I32),
                        Vector("cvt", t("f"), t("o"), dtype=DType.I32, odt=DType.F32),
                        Vector("muls", t("f"), t("f"), imm=0.25),
                        Vector("cvt", t("b"), t("f"), dtype=DType.F32, odt=DType.I32),
                        Vector("cmpgt", t("a"), t("b"), t("o"), dtype=DType.I32)]
    module = _kernel_module(tiles, body, ["o", "f", "b", "a"])
    planned, _ = plan_memory(module, TARGET)
    values = _values(planned)
    values["h_a"] = np.random.default_rng(2).integers(200, 60000, (R, C)).astype(np.int32)
    fused, text = _check(module, monkeypatch, values=values)
    assert _loops(text) == (["fused7"], 0)
    assert (fused["o_o"] != (values["h_a"].astype(np.int64) ** 4 + values["h_b"]).reshape(-1)).any()  # it wrapped


def test_in_place_chain_and_a_middle_result_read_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    body: list[Stmt] = [Vector("mul", t("a"), t("a"), t("b")),
                        Vector("add", t("v"), t("a"), t("b")),    # v is read after the run...
                        Vector("sub", t("a"), t("a"), t("v")),
                        Vector("mul", t("w"), t("a"), t("a")),
                        Vector("rsum", t("col", R, 1), t("v"))]   # ...by a reduction
    _, text = _check(_kernel_module(F32_TILES, body, ["col", "a"]), monkeypatch)
    assert _loops(text)[0] == ["fused4"]
    # v (read by rsum) and a (stored to HBM; its first value is overwritten in the run); w is dead.
    assert _loop_body(text, "fused4").count("store float") == 2


def test_runs_inside_loops_and_parallel_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "PARALLEL_MIN_LOOP_WORK", 0)
    tiles = {"x": (DType.F32, (R, C)), "m": (DType.F32, (R, 1)), "e": (DType.F32, (R, C)), "y": (DType.F32, (R, C))}
    hbm = [Buffer("hx", "hbm", DType.F32, (4 * R, C), role="input"),
           Buffer("hy", "hbm", DType.F32, (4 * R, C), role="output")]
    window = lambda name: HbmRef(name, Affine.of("i") * (R * C), R, C, C)  # noqa: E731
    body = (Load(t("x"), window("hx")),
            Vector("rmax", t("m", R, 1), t("x")),
            Vector("sub", t("x"), t("x"), t("m", R, 1), bcast="col"),
            Vector("exp", t("e"), t("x")),
            Vector("muls", t("y"), t("e"), imm=2.0),
            Store(window("hy"), t("y")))
    kernel = Kernel("chain", tuple(Buffer(n, "sram", dt, shape) for n, (dt, shape) in tiles.items()),
                    (For("i", 4, body),))
    module = KernelModule(hbm, [kernel], ["hx"], ["hy"])
    _, text = _check(module, monkeypatch)
    assert "chain.loop0" in text and "fused3" in text


# -- hazards that end a run -----------------------------------------------------------------

WIDE = {"x": (DType.F32, (R + 1, C)), "a": (DType.F32, (R, C)), "o": (DType.F32, (R, C)), "p": (DType.F32, (R, C))}


@pytest.mark.parametrize("case,length", [
    # x[0] is written, then read as a column operand: elements of other columns read it.
    ("col_written", 1),
    # a row operand written by an earlier statement
    ("row_written", 1),
    # read one row below the written tile (the same buffer, another element)
    ("shifted_read", 1),
    # written one row below a tile an earlier statement read (write after read, another element)
    ("shifted_write", 1),
    # two writes of overlapping, non-aligned tiles
    ("shifted_writes", 1),
    # offsets depending on a loop variable: unknown overlap
    ("loop_slot", 1),
    # the same tile read and written at the same elements: fine
    ("aligned", 3),
])
def test_hazards_end_runs(case: str, length: int, monkeypatch: pytest.MonkeyPatch) -> None:
    full = t("x", R, C)
    shifted = t("x", R, C, offset=C)
    write_x = Vector("adds", full, t("a"), imm=1.0)
    stmts: dict[str, list[Stmt]] = {
        "col_written": [write_x, Vector("mul", t("o"), t("a"), t("x", R, 1), bcast="col")],
        "row_written": [write_x, Vector("mul", t("o"), t("a"), t("x", 1, C), bcast="row")],
        "shifted_read": [write_x, Vector("mul", t("o"), t("a"), shifted)],
        "shifted_write": [Vector("mul", t("o"), t("a"), shifted), Vector("adds", full, t("a"), imm=1.0)],
        "shifted_writes": [write_x, Vector("muls", shifted, t("a"), imm=3.0)],
        "loop_slot": [Vector("adds", t("x", R, C, offset="i"), t("a"), imm=1.0), Vector("mul", t("o"), t("a"), full)],
        "aligned": [Vector("mul", t("o"), full, t("a")), Vector("adds", full, t("o"), imm=1.0),
                    Vector("sub", t("p"), full, t("o"))],
    }
    body = stmts[case]
    assert _plan(body, WIDE) == (length if length > 1 else 0)
    if case == "loop_slot":
        body = [For("i", 2, tuple(body))]
    _, text = _check(_kernel_module(WIDE, body, ["x", "o"] + (["p"] if case == "aligned" else [])), monkeypatch)
    assert len(_loops(text)[0]) == (length > 1)


def test_a_run_never_mixes_shapes_or_non_elementwise_ops() -> None:
    tiles = F32_TILES
    assert _plan([Vector("add", t("v"), t("a"), t("b")), Vector("add", t("w", R, C // 2), t("a", R, C // 2),
                                                                   t("b", R, C // 2))], tiles) == 0
    assert _plan([Vector("add", t("v"), t("a"), t("b")), Vector("rmax", t("col", R, 1), t("v")),
                  Vector("add", t("w"), t("a"), t("b"))], tiles) == 0
    assert _plan([Vector("add", t("v"), t("a"), t("b")), Vector("fill", t("w"), imm=1.0)], tiles) == 0
    # An invalid statement is left to the single-statement lowering (which reports it).
    assert _plan([Vector("add", t("v"), t("a"), t("b")), Vector("add", t("w"), t("a"), t("b", R, 1))], tiles) == 0


def test_a_statement_reading_its_own_destination_elsewhere_keeps_its_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    # x[r+1] = x[r] + 1 row by row (reads rows the statement itself wrote), then o = x * a:
    # x is dead after the run, but the first statement reads its own stores.
    body: list[Stmt] = [Vector("adds", t("x", R, C, offset=C), t("x", R, C), imm=1.0),
                        Vector("mul", t("o"), t("x", R, C, offset=C), t("a"))]
    assert _plan(body, WIDE) == 2
    planned, _ = plan_memory(_kernel_module(WIDE, body, ["o"]), TARGET)
    values = _values(planned)
    fused, text = _run(planned, values, True, monkeypatch)
    _assert_bitwise(fused, _run(planned, values, False, monkeypatch)[0])
    assert _loop_body(text, "fused2").count("store float") == 2
    # The CPU runs a statement element by element (the interpreter reads all of x first).
    x = values["h_x"].copy()
    for r in range(R):
        x[r + 1] = x[r] + np.float32(1.0)
    np.testing.assert_array_equal(fused["o_o"], (x[1:] * values["h_a"]).reshape(-1))


def test_deferred_moves_join_only_when_a_later_statement_rewrites_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # GPT-2's tanh-GELU: mov v6 <- in0 then v6 *= in0 (which would perform the pending copy).
    gelu: list[Stmt] = [Vector("muls", t("v"), t("a"), imm=0.5),
                        Vector("mov", t("w"), t("a")),
                        Vector("mul", t("w"), t("w"), t("a")),
                        Vector("mul", t("o"), t("w"), t("v"))]
    defers = lambda stmt: stmt.op == "mov"  # noqa: E731
    assert _plan(gelu, F32_TILES, defers_move=defers) == 4
    # A mov nothing rewrites stays a pending copy: the run stops before it.
    plain: list[Stmt] = [Vector("muls", t("v"), t("a"), imm=0.5), Vector("mov", t("w"), t("a")),
                         Vector("mul", t("o"), t("b"), t("v"))]
    assert _plan(plain, F32_TILES, defers_move=defers) == 0
    assert _plan(plain, F32_TILES, start=1, defers_move=defers) == 0
    _, text = _check(_kernel_module(F32_TILES, gelu, ["o"]), monkeypatch)
    assert _loops(text)[0] == ["fused4"]
    function = _function(text)
    assert "llvm.memcpy" not in function[:function.index("\nfused4.head:")]  # no copy of a into w


def test_reads_of_a_pending_copy_end_the_run_when_its_source_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # mov a <- x[0] stays pending: reads of a read x in place. The second statement writes
    # x one row down, so the first statement's later elements would read the new values.
    body: list[Stmt] = [Vector("mov", t("a"), t("x", R, C)),
                        Vector("add", t("o"), t("a"), t("p")),
                        Vector("muls", t("x", R, C, offset=C), t("p"), imm=2.0)]
    buffers = {n: Buffer(n, "sram", dt, shape) for n, (dt, shape) in WIDE.items()}
    from moecc.backend.llvm.copy_elision import local_region
    pending = [(local_region(t("a"), buffers), local_region(t("x", R, C), buffers))]
    assert _plan(body, WIDE, start=1) == 2
    assert _plan(body, WIDE, start=1, pending=pending) == 0
    _check(_kernel_module(WIDE, body, ["o", "x", "a"]), monkeypatch)


# -- random chains ----------------------------------------------------------------------------

FLOAT_OPS = ("add", "sub", "mul", "div", "max", "min", "cmpgt", "cmpge", "cmpeq", "sel", "mov", "neg", "abs", "exp",
             "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt", "adds", "muls", "maxs", "mins", "cvt")
INT_OPS = ("add", "sub", "mul", "max", "min", "cmpgt", "cmpge", "cmpeq", "sel", "mov", "neg", "abs", "adds", "muls",
           "maxs", "mins", "cvt")
RR, RC = 3, 8
#: Buffers of 2 * (RR + 1) rows; tiles at offset 0, RC (a row down) or 1 overlap each other at
#: other elements, and the second half (offset (RR + 1) * RC) is disjoint from the first.
RANDOM_TILES = ("t0", "t1", "t2")
HALF = (RR + 1) * RC


@st.composite
def random_chains(draw: st.DrawFn) -> KernelModule:  # type: ignore[type-arg]
    dtype = draw(st.sampled_from([DType.F32, DType.BF16, DType.I32]))
    other = DType.F32 if dtype == DType.I32 else DType.I32  # cvt's other side
    ops = INT_OPS if dtype == DType.I32 else FLOAT_OPS

    def ref(shape: tuple[int, int] = (RR, RC), name: str | None = None) -> LocalRef:
        name = name or draw(st.sampled_from(RANDOM_TILES))
        offsets = [0, 0, 0, HALF, HALF, RC, 1] if shape == (RR, RC) else [0, RC, HALF, 2 * HALF - shape[0] * shape[1]]
        return LocalRef(name, *shape, offset=Affine(draw(st.sampled_from(offsets))))

    body: list[Stmt] = []
    for _ in range(draw(st.integers(2, 10))):
        op = draw(st.sampled_from(ops + ("mov",) * 4))  # tile-to-tile copies: pending, read in place
        bcast = draw(st.sampled_from(["none", "none", "row", "col", "scalar"]))
        shape = {"none": (RR, RC), "row": (1, RC), "col": (RR, 1), "scalar": (1, 1)}[bcast]
        if op == "cvt":
            if draw(st.booleans()):
                body.append(Vector("cvt", ref(name="c"), ref(), dtype=dtype, odt=other))
            else:
                body.append(Vector("cvt", ref(), ref(name="c"), dtype=other, odt=dtype))
        elif op in ("adds", "muls", "maxs", "mins"):
            body.append(Vector(op, ref(), ref(), imm=draw(st.sampled_from([0.5, -2.0, 3.0])), dtype=dtype))
        elif op in ("mov", "neg", "abs", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt"):
            body.append(Vector(op, ref(), ref(shape), bcast=bcast, dtype=dtype))
        else:
            body.append(Vector(op, ref(), ref(), ref(shape), bcast=bcast, dtype=dtype))
        if draw(st.integers(0, 4)) == 0:  # a load between statements: a pending copy read in place
            name = draw(st.sampled_from(RANDOM_TILES))
            body.append(Load(ref(name=name), HbmRef(f"h_{name}", Affine(draw(st.sampled_from([0, RC]))), RR, RC, RC)))
    tiles = {name: (dtype, (2 * (RR + 1), RC)) for name in RANDOM_TILES} | {"c": (other, (2 * (RR + 1), RC))}
    stored = draw(st.lists(st.sampled_from(RANDOM_TILES + ("c",)), min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):
        body = [For("i", 2, tuple(body))]  # the next iteration reads what this one wrote
    return _kernel_module(tiles, body, stored)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_chains())
def test_random_chains_fused_equal_unfused(module: KernelModule) -> None:
    planned, _ = plan_memory(module, TARGET)
    values = _values(planned)
    with pytest.MonkeyPatch.context() as patch:
        fused, _ = _run(planned, values, True, patch)
        unfused, _ = _run(planned, values, False, patch)
    _assert_bitwise(fused, unfused)


# -- the bundled examples ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_fused_equal_unfused_on_cpu(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_example(name)
    feeds = example_inputs(name, model)
    outputs = {}
    for fuse in (True, False):
        monkeypatch.setattr(vector_fusion, "FUSE_VECTOR_LOOPS", fuse)
        compiled = moecc.compile(model, target="cpu", lowering="kernel")  # vector fusion is the kernel IR path's
        outputs[fuse] = compiled.run(feeds)
        # Every example has runs (layer norms, softmaxes, GELU/SiLU chains, index arithmetic).
        assert bool(re.search(r"^fused\d+\.", compiled.executable.program.llvm_ir, re.M)) == fuse
    _assert_bitwise(outputs[True], outputs[False])
