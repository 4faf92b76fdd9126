"""Run-time trip counts (``For`` over a ``Count``) and ``Scatter`` in the kernel IR: hand-built
modules run by the kernel interpreter and, planned and compiled, by the simulator, both
compared with numpy; the text form round trip and the verifier's errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from moecc.backend.asic import Simulator
from moecc.backend.asic.codegen import generate_programs
from moecc.backend.asic.isel import COUNT_REGISTER, ROWS_REGISTER, TRIP_REGISTER, BASE_REGISTERS, is_label, select_instructions
from moecc.backend.asic.schedule import schedule
from moecc.errors import TargetError, VerificationError
from moecc.ir.kernel import (
    Affine,
    Buffer,
    Count,
    For,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Scatter,
    Store,
    Vector,
    hbm_refs,
    local_refs,
    verify_kernel_module,
    walk,
)
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.kernel_parser import parse_kernel_module
from moecc.ir.kernel_printer import print_kernel_module
from moecc.ir.types import DType
from moecc.isa_spec import assemble, load_target
from moecc.passes.memory_plan import _live_ranges, plan_memory

F32, I32 = DType.F32, DType.I32
V1 = load_target("moe-asic-v1")
RNG = np.random.default_rng(5)
A = Affine.of


def hbm(name: str, shape: tuple[int, ...], role: str, dtype: DType = F32) -> Buffer:
    return Buffer(name, "hbm", dtype, shape, role=role)


def compile_and_run(module: KernelModule, inputs: dict[str, np.ndarray]):
    """(interpreter outputs, simulator outputs, the simulator's result, the segment)."""
    verify_kernel_module(module)
    oracle = run_kernel_module(module, inputs)
    planned, _ = plan_memory(module, V1)
    (segment,) = generate_programs(planned, V1)
    # The listing (with its branch labels) re-assembles to the program.
    assert assemble(segment.listing).instructions == segment.program.instructions
    result = Simulator(segment.program, V1).run(inputs)
    interpreted = {n: oracle[n].reshape(module.hbm_buffer(n).shape) for n in module.outputs}
    simulated = {n: result.read(n) for n in module.outputs}
    return interpreted, simulated, result, segment


# -- a run-time loop over rows -------------------------------------------------------------------

E, M, C = 4, 6, 32  # count table width, max_count (rows of x), columns


def row_loop_module(max_count: int = M) -> KernelModule:
    """y row i <- 2 * x row i + 1 for i < counts[2] (clamped to max_count); other rows stay 0."""
    t = LocalRef("t", 1, C)
    loop = For("i", Count("n", A(2)), (
        Load(t, HbmRef("x", A("i") * C, 1, C, C)),
        Vector("muls", t, t, imm=2.0),
        Vector("adds", t, t, imm=1.0),
        Store(HbmRef("y", A("i") * C, 1, C, C), t),
    ), max_count=max_count)
    body = (Load(LocalRef("n", 1, E), HbmRef("counts", A(0), 1, E, E)), loop)
    buffers = (Buffer("n", "sram", I32, (1, E)), Buffer("t", "sram", F32, (1, C)))
    return KernelModule(
        hbm=[hbm("counts", (1, E), "input", I32), hbm("x", (M, C), "input"), hbm("y", (M, C), "output")],
        steps=[Kernel("rows", buffers, body, ("dispatch",))], inputs=["counts", "x"], outputs=["y"])


def counts_table(count: int) -> np.ndarray:
    table = np.array([[7, -3, count, 5]], dtype=np.int32)  # only element 2 is the count
    return table


def expected_rows(x: np.ndarray, count: int, max_count: int = M) -> np.ndarray:
    n = min(max(count, 0), max_count)
    y = np.zeros_like(x)
    y[:n] = 2 * x[:n] + 1
    return y


def test_dynamic_loop_runs_count_iterations_and_cycles_grow_with_count() -> None:
    x = RNG.standard_normal((M, C)).astype(np.float32)
    cycles = {}
    for count in (0, 1, M):
        interpreted, simulated, result, segment = compile_and_run(
            row_loop_module(), {"counts": counts_table(count), "x": x})
        expected = expected_rows(x, count)
        np.testing.assert_array_equal(interpreted["y"], expected)
        np.testing.assert_array_equal(simulated["y"], expected)
        units = result.report.units
        marks = Counter(e["name"] for e in result.trace_events if e["name"].endswith(".mark"))
        # The loop ends with a mark on each unit it used (they always run).
        assert {"dma.ld.mark", "vpu.mark", "dma.st.mark"} <= set(marks), marks
        # The counts load, then one row load, two VPU ops and one store per iteration.
        assert units["ld"].instructions - marks["dma.ld.mark"] == 1 + count
        assert units["vpu"].instructions - marks["vpu.mark"] == 2 * count
        assert units["st"].instructions - marks["dma.st.mark"] == count
        cycles[count] = result.report.total_cycles
    assert cycles[0] < cycles[1] < cycles[M], cycles
    # The program holds every iteration (unrolled to max_count) whatever the count.
    assert sum(1 for i in segment.program.instructions
               if i.mnemonic.startswith("vpu.") and not i.mnemonic.endswith(".mark")) == 2 * M
    assert sum(1 for i in segment.program.instructions if i.mnemonic == "blt") == M


@pytest.mark.parametrize("count", [-2, M + 3])
def test_dynamic_loop_clamps_the_count(count: int) -> None:
    x = RNG.standard_normal((M, C)).astype(np.float32)
    interpreted, simulated, _, _ = compile_and_run(row_loop_module(), {"counts": counts_table(count), "x": x})
    np.testing.assert_array_equal(interpreted["y"], expected_rows(x, count))
    np.testing.assert_array_equal(simulated["y"], expected_rows(x, count))


def test_dynamic_loop_with_max_count_zero_emits_no_body() -> None:
    x = RNG.standard_normal((M, C)).astype(np.float32)
    interpreted, simulated, _, segment = compile_and_run(row_loop_module(0), {"counts": counts_table(3), "x": x})
    np.testing.assert_array_equal(interpreted["y"], np.zeros_like(x))
    np.testing.assert_array_equal(simulated["y"], np.zeros_like(x))
    assert "vpu" not in segment.unit_counts


def test_selected_stream_shape_and_registers() -> None:
    planned, _ = plan_memory(row_loop_module(3), V1)
    stream = select_instructions(planned, planned.kernels, V1)
    mnemonics = [i.mnemonic for i in stream]
    lds = mnemonics.index("lds")
    assert is_label(stream[lds - 1]) and stream[lds - 1].operands.get("loop_start")
    assert stream[lds].operands["rd"] == COUNT_REGISTER
    labels = [i for i in stream if is_label(i)]
    guards = [i for i in labels if i.operands.get("guard")]
    settles = [i for i in labels if i.operands.get("settle")]
    (end,) = [i for i in labels if i.operands.get("loop_end")]
    assert mnemonics.count("blt") == 3 and len(guards) == 3 and len(settles) == 2  # none after the last
    assert [bool(g.operands.get("first")) for g in guards] == [True, False, False]
    for index, inst in enumerate(stream):
        if inst.mnemonic == "blt":
            assert (inst.operands["ra"], inst.operands["rb"]) == (COUNT_REGISTER, TRIP_REGISTER)
            assert inst.operands["target"] == end.operands["name"]
            assert is_label(stream[index + 1]) and stream[index + 1].operands.get("guard")  # body after its guard
    # No barrier: the loop ends with a mark on each unit it used.
    assert "barrier" not in mnemonics
    after = mnemonics[stream.index(end) + 1:]
    assert {"dma.ld.mark", "vpu.mark", "dma.st.mark"} <= set(after)
    assert not {COUNT_REGISTER, TRIP_REGISTER, ROWS_REGISTER} & set(BASE_REGISTERS)
    # The guards' li's use the trip register; every other li is an address base.
    assert {i.operands["rd"] for i in stream if i.mnemonic == "li"} - {TRIP_REGISTER} <= set(BASE_REGISTERS)
    # No token crosses into or out of a guarded iteration (it may be skipped, and its waits
    # would starve or its signals be left over): every wait's producer is in the consumer's
    # own iteration, or, outside the loop, outside it too.
    scheduled, stats = schedule(stream)
    assert stats.barriers == 0
    region = "before"
    producer_region: dict[int, str] = {}
    for item in scheduled:
        inst = item.inst
        if is_label(inst):
            if inst.operands.get("guard"):
                region = inst.operands["name"]
            elif inst.operands.get("loop_end"):
                region = "after"
            continue
        for token in item.wait:
            if token:
                origin = producer_region.pop(token)
                assert origin == region or (region == "after" and origin == "before"), \
                    f"a wait in {region} on a producer in {origin}"
        if item.signal:
            producer_region[item.signal] = region


# -- the MoE shape: a run-time loop per expert ---------------------------------------------------

EXPERTS, CAP, D = 4, 5, 16


def expert_module() -> KernelModule:
    """For each expert e: y row e*CAP+t <- x row e*CAP+t @ w_e for t < counts[e]."""
    xs, ws, acc, ys = LocalRef("xs", 1, D), LocalRef("ws", D, D), LocalRef("acc", 1, D), LocalRef("ys", 1, D)
    row = A("e") * (CAP * D) + A("t") * D
    tokens = For("t", Count("n", A("e")), (
        Load(xs, HbmRef("x", row, 1, D, D)),
        MatMul(acc, xs, ws),
        Vector("mov", ys, acc),
        Store(HbmRef("y", row, 1, D, D), ys),
    ), max_count=CAP)
    experts = For("e", EXPERTS, (Load(ws, HbmRef("w", A("e") * (D * D), D, D, D)), tokens))
    body = (Load(LocalRef("n", 1, EXPERTS), HbmRef("counts", A(0), 1, EXPERTS, EXPERTS)), experts)
    buffers = (Buffer("n", "sram", I32, (1, EXPERTS)), Buffer("xs", "sram", F32, (1, D)),
               Buffer("ws", "sram", F32, (D, D)), Buffer("acc", "acc", F32, (1, D)),
               Buffer("ys", "sram", F32, (1, D)))
    return KernelModule(
        hbm=[hbm("counts", (1, EXPERTS), "input", I32), hbm("x", (EXPERTS * CAP, D), "input"),
             hbm("w", (EXPERTS, D, D), "weight"), hbm("y", (EXPERTS * CAP, D), "output")],
        steps=[Kernel("experts", buffers, body, ("moe",))], inputs=["counts", "x"], outputs=["y"])


def test_dynamic_loop_per_expert_matches_numpy() -> None:
    x = RNG.standard_normal((EXPERTS * CAP, D)).astype(np.float32)
    w = RNG.standard_normal((EXPERTS, D, D)).astype(np.float32)
    counts = np.array([[3, 0, CAP, 1]], dtype=np.int32)
    interpreted, simulated, result, _ = compile_and_run(expert_module(), {"counts": counts, "x": x, "w": w})
    expected = np.zeros_like(x)
    for e in range(EXPERTS):
        rows = slice(e * CAP, e * CAP + int(counts[0, e]))
        expected[rows] = x[rows] @ w[e]
    np.testing.assert_allclose(interpreted["y"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(simulated["y"], expected, rtol=1e-5, atol=1e-5)
    marks = sum(1 for e in result.trace_events if e["name"] == "mxu.mark")
    assert result.report.units["mxu"].instructions - marks == int(counts.sum())


def test_nested_dynamic_loops_are_refused_by_instruction_selection() -> None:
    inner = For("j", Count("n", A(0)), (Vector("fill", LocalRef("t", 1, C), imm=1.0),), max_count=2)
    outer = For("i", Count("n", A(1)), (inner,), max_count=2)
    module = KernelModule(
        hbm=[hbm("y", (1, C), "output")],
        steps=[Kernel("nested", (Buffer("n", "sram", I32, (1, E)), Buffer("t", "sram", F32, (1, C))), (outer,))],
        outputs=["y"])
    verify_kernel_module(module)  # valid IR, the interpreter runs it
    run_kernel_module(module, {})
    planned, _ = plan_memory(module, V1)
    with pytest.raises(TargetError, match="nested"):
        generate_programs(planned, V1)


# -- scatter ------------------------------------------------------------------------------------

R, N = 8, 5  # table rows, scattered rows


def scatter_module(add: bool, column_indices: bool = False) -> KernelModule:
    """y <- base; y rows idx[i] (+)= src row i; z <- 2 * y (loaded back after the scatter)."""
    src, full = LocalRef("src", N, C), LocalRef("full", R, C)
    idx = LocalRef("idx", N, 1) if column_indices else LocalRef("idx", 1, N)
    table = HbmRef("y", A(0), R, C, C)
    body = (
        Load(full, HbmRef("base", A(0), R, C, C)),
        Store(table, full),
        Load(src, HbmRef("rows", A(0), N, C, C)),
        Load(idx, HbmRef("index", A(0), idx.rows, idx.cols, idx.cols)),
        Scatter(table, src, idx, add=add),
        Load(full, table),
        Vector("muls", full, full, imm=2.0),
        Store(HbmRef("z", A(0), R, C, C), full),
    )
    buffers = (Buffer("src", "sram", F32, (N, C)), Buffer("full", "sram", F32, (R, C)),
               Buffer("idx", "sram", I32, (idx.rows, idx.cols)))
    return KernelModule(
        hbm=[hbm("base", (R, C), "input"), hbm("rows", (N, C), "input"),
             hbm("index", (idx.rows, idx.cols), "input", I32), hbm("y", (R, C), "output"),
             hbm("z", (R, C), "output")],
        steps=[Kernel("scatter", buffers, body)], inputs=["base", "rows", "index"], outputs=["y", "z"])


@pytest.mark.parametrize("column_indices", [False, True])
def test_scatter_matches_numpy(column_indices: bool) -> None:
    base = RNG.standard_normal((R, C)).astype(np.float32)
    rows = RNG.standard_normal((N, C)).astype(np.float32)
    index = np.array([6, 0, 3, 7, 2], dtype=np.int32)
    shape = (N, 1) if column_indices else (1, N)
    interpreted, simulated, _, _ = compile_and_run(
        scatter_module(False, column_indices), {"base": base, "rows": rows, "index": index.reshape(shape)})
    expected = base.copy()
    expected[index] = rows
    for out in (interpreted, simulated):
        np.testing.assert_array_equal(out["y"], expected)
        np.testing.assert_array_equal(out["z"], 2 * expected)


def test_scatter_add_sums_duplicate_indices() -> None:
    base = RNG.standard_normal((R, C)).astype(np.float32)
    rows = RNG.standard_normal((N, C)).astype(np.float32)
    index = np.array([[1, 4, 1, 1, 6]], dtype=np.int32)
    interpreted, simulated, _, _ = compile_and_run(scatter_module(True), {"base": base, "rows": rows, "index": index})
    expected = base.copy()
    np.add.at(expected, index[0], rows)
    for out in (interpreted, simulated):
        np.testing.assert_allclose(out["y"], expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out["z"], 2 * expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(interpreted["y"], simulated["y"])  # same f32 sums, same order


def test_scatter_index_outside_the_table_faults_in_the_interpreter() -> None:
    from moecc.errors import SimulationError

    module = scatter_module(False)
    inputs = {"base": np.zeros((R, C), np.float32), "rows": np.zeros((N, C), np.float32),
              "index": np.array([[0, 1, R, 2, 3]], dtype=np.int32)}
    with pytest.raises(SimulationError, match="outside the table"):
        run_kernel_module(module, inputs)


def test_scatter_and_count_operands() -> None:
    table, src, idx = HbmRef("y", A(0), R, C, C), LocalRef("src", N, C), LocalRef("idx", 1, N)
    assert local_refs(Scatter(table, src, idx)) == [("read", src), ("read", idx)]
    assert hbm_refs(Scatter(table, src, idx)) == [("write", table)]
    assert hbm_refs(Scatter(table, src, idx, add=True)) == [("write", table), ("read", table)]
    loop = For("i", Count("n", A(3)), (), max_count=4)
    assert loop.is_dynamic and loop.trip_bound == 4
    assert local_refs(loop) == [("read", LocalRef("n", 1, 1, A(3)))]
    assert not For("i", 3, ()).is_dynamic and For("i", 3, ()).trip_bound == 3
    # walk bounds a dynamic loop's variable by max_count
    (_, ranges), = walk((For("i", Count("n"), (Vector("fill", LocalRef("t", 1, 1), imm=0.0),), max_count=7),))
    assert ranges == {"i": 7}


def test_memory_plan_sees_a_scatter_write_to_a_temporary() -> None:
    src, idx = LocalRef("src", N, C), LocalRef("idx", 1, N)
    first = Kernel("k0", (Buffer("src", "sram", F32, (N, C)), Buffer("idx", "sram", I32, (1, N))),
                   (Scatter(HbmRef("tmp", A(0), R, C, C), src, idx),))
    second = Kernel("k1", (Buffer("full", "sram", F32, (R, C)),),
                    (Load(LocalRef("full", R, C), HbmRef("tmp", A(0), R, C, C)),
                     Store(HbmRef("y", A(0), R, C, C), LocalRef("full", R, C))))
    module = KernelModule(hbm=[hbm("tmp", (R, C), "temp"), hbm("y", (R, C), "output")],
                          steps=[first, second], outputs=["y"])
    assert _live_ranges(module)["tmp"] == (0, 1)


# -- text form and verifier ---------------------------------------------------------------------


def test_text_round_trip_of_dynamic_loops_and_scatters() -> None:
    module = expert_module()
    module.steps.append(scatter_module(True).steps[0])
    module.steps.append(scatter_module(False, column_indices=True).steps[0])
    text = print_kernel_module(module)
    assert "for %t = 0 to %n[%e] max 5 {" in text
    assert "scatter_add %y[8x32 at 0 pitch 32] += %src[5x32] index %idx[1x5] : f32" in text
    assert "scatter %y[8x32 at 0 pitch 32] <- %src[5x32] index %idx[5x1]\n" in text
    parsed = parse_kernel_module(text)
    assert parsed == module
    assert print_kernel_module(parsed) == text
    # A constant count offset, a non-default plain-scatter dtype and a missing max also round-trip.
    odd = row_loop_module()
    kernel = odd.steps[0]
    loop = kernel.body[1]
    odd.steps[0] = Kernel(kernel.name, kernel.buffers, (kernel.body[0], For("i", loop.count, loop.body)))
    odd_text = print_kernel_module(odd)
    assert "for %i = 0 to %n[2] {" in odd_text
    assert parse_kernel_module(odd_text) == odd
    stmt = Scatter(HbmRef("y", A(0), R, C, C), LocalRef("src", N, C), LocalRef("idx", 1, N), dtype=DType.BF16)
    from moecc.ir.kernel_printer import format_statement

    assert format_statement(stmt).endswith(" : bf16")


def _with_loop(loop: For, n_buffer: Buffer) -> KernelModule:
    return KernelModule(hbm=[hbm("y", (1, C), "output")],
                        steps=[Kernel("k", (n_buffer, Buffer("t", "sram", F32, (1, C))), (loop,))], outputs=["y"])


BODY = (Vector("fill", LocalRef("t", 1, C), imm=1.0),)


def test_verifier_rejects_a_dynamic_loop_without_max_count() -> None:
    module = _with_loop(For("i", Count("n"), BODY), Buffer("n", "sram", I32, (1, E)))
    with pytest.raises(VerificationError, match="max_count"):
        verify_kernel_module(module)
    with pytest.raises(VerificationError, match="max_count"):
        verify_kernel_module(_with_loop(For("i", Count("n"), BODY, max_count=-1), Buffer("n", "sram", I32, (1, E))))
    with pytest.raises(VerificationError, match="max_count is only"):
        verify_kernel_module(_with_loop(For("i", 2, BODY, max_count=2), Buffer("n", "sram", I32, (1, E))))


@pytest.mark.parametrize("buffer", [Buffer("n", "sram", F32, (1, E)), Buffer("n", "acc", F32, (1, E))])
def test_verifier_rejects_a_count_outside_an_sram_i32_buffer(buffer: Buffer) -> None:
    with pytest.raises(VerificationError, match="sram i32"):
        verify_kernel_module(_with_loop(For("i", Count("n"), BODY, max_count=2), buffer))


def test_verifier_checks_the_count_element_for_every_enclosing_iteration() -> None:
    n = Buffer("n", "sram", I32, (1, E))
    inner = For("i", Count("n", A("e")), BODY, max_count=2)
    verify_kernel_module(_with_loop(For("e", E, (inner,)), n))
    with pytest.raises(VerificationError, match="does not fit"):
        verify_kernel_module(_with_loop(For("e", E + 1, (inner,)), n))
    with pytest.raises(VerificationError, match="not an enclosing loop variable"):
        verify_kernel_module(_with_loop(For("i", Count("n", A("i")), BODY, max_count=2), n))
    with pytest.raises(VerificationError, match="unknown local buffer"):
        verify_kernel_module(_with_loop(For("i", Count("m"), BODY, max_count=2), n))


def test_verifier_checks_scatter_operands() -> None:
    def module(stmt: Scatter, idx_dtype: DType = I32) -> KernelModule:
        return KernelModule(
            hbm=[hbm("y", (R, C), "output")],
            steps=[Kernel("k", (Buffer("src", "sram", F32, (N, C)), Buffer("idx", "sram", idx_dtype, (1, N))),
                          (stmt,))], outputs=["y"])

    table, src, idx = HbmRef("y", A(0), R, C, C), LocalRef("src", N, C), LocalRef("idx", 1, N)
    verify_kernel_module(module(Scatter(table, src, idx, add=True)))
    with pytest.raises(VerificationError, match="must be i32"):
        verify_kernel_module(module(Scatter(table, src, idx), F32))
    with pytest.raises(VerificationError, match="indices"):
        verify_kernel_module(module(Scatter(table, src, LocalRef("idx", 1, N - 1))))
    with pytest.raises(VerificationError, match="column rows"):
        verify_kernel_module(module(Scatter(HbmRef("y", A(0), R, C // 2, C), src, idx)))
    with pytest.raises(VerificationError, match="scatter_add"):
        verify_kernel_module(module(Scatter(table, src, idx, add=True, dtype=I32)))
