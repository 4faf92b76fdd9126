"""ASIC code generation from hand-built kernel IR: memory planning, instruction selection and
token scheduling, simulated and compared with numpy (and with a fully serialised program)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moecc.backend.asic import Simulator
from moecc.backend.asic.codegen import build_program, generate_programs, hbm_regions
from moecc.backend.asic.isel import SelectedInstruction, select_instructions
from moecc.backend.asic.schedule import ScheduledInstruction, schedule
from moecc.errors import TargetError
from moecc.ir.kernel import (
    Affine,
    Buffer,
    CpuCall,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Store,
    Vector,
    verify_kernel_module,
)
from moecc.ir.types import DType
from moecc.isa_spec import assemble, load_target
from moecc.passes.memory_plan import plan_memory

F32, BF16, I32 = DType.F32, DType.BF16, DType.I32
V1 = load_target("moe-asic-v1")
EDGE = load_target("moe-asic-edge")
RNG = np.random.default_rng(11)
A = Affine.of


def hbm(name: str, shape: tuple[int, ...], role: str, dtype: DType = F32) -> Buffer:
    return Buffer(name, "hbm", dtype, shape, role=role)


def run(module: KernelModule, inputs: dict[str, np.ndarray], target=V1) -> tuple[dict[str, np.ndarray], list]:
    """Plan, generate and simulate every segment (no CPU steps) on one HBM image."""
    verify_kernel_module(module)
    planned, _ = plan_memory(module, target)
    segments = generate_programs(planned, target)
    image: np.ndarray | dict[str, np.ndarray] = inputs
    results = []
    for segment in segments:
        result = Simulator(segment.program, target).run(image)
        image = result.hbm
        results.append(result)
    return {name: results[-1].read(name) for name in module.outputs}, segments


def matmul_module(m: int, k: int, n: int, tm: int, tk: int, tn: int, slots: int = 2,
                  dtype: DType = F32) -> KernelModule:
    """Tiled y = x @ w with k-accumulation; slot ``i % slots`` of the operand buffers."""
    mt, kt, nt = m // tm, k // tk, n // tn
    body = []
    for i in range(mt):
        for j in range(nt):
            tiles = []
            for kk in range(kt):
                s = A((i * nt + j) * kt + kk) if slots == 1 else A(((i * nt + j) * kt + kk) % slots)
                tiles += [
                    Load(LocalRef("xs", tm, tk, slot=s if slots > 1 else A(0)),
                         HbmRef("x", A(i * tm * k + kk * tk), tm, tk, k)),
                    Load(LocalRef("ws", tk, tn, slot=s if slots > 1 else A(0)),
                         HbmRef("w", A(kk * tk * n + j * tn), tk, tn, n)),
                    MatMul(LocalRef("acc", tm, tn), LocalRef("xs", tm, tk, slot=s if slots > 1 else A(0)),
                           LocalRef("ws", tk, tn, slot=s if slots > 1 else A(0)), accumulate=kk > 0, dtype=dtype),
                ]
            body += tiles + [
                Vector("mov", LocalRef("ys", tm, tn), LocalRef("acc", tm, tn)),
                Store(HbmRef("y", A(i * tm * n + j * tn), tm, tn, n), LocalRef("ys", tm, tn)),
            ]
    buffers = (Buffer("xs", "sram", dtype, (tm, tk), slots), Buffer("ws", "sram", dtype, (tk, tn), slots),
               Buffer("acc", "acc", F32, (tm, tn)), Buffer("ys", "sram", F32, (tm, tn)))
    return KernelModule(hbm=[hbm("x", (m, k), "input", dtype), hbm("w", (k, n), "weight", dtype),
                             hbm("y", (m, n), "output")],
                        steps=[Kernel("matmul", buffers, tuple(body), ("matmul_0",))],
                        inputs=["x", "w"], outputs=["y"])


# -- end to end ----------------------------------------------------------------------------------


def test_load_vector_chain_store_matches_numpy_and_listing_reassembles() -> None:
    x = RNG.standard_normal((32, 64)).astype(np.float32)
    b = RNG.standard_normal((1, 64)).astype(np.float32)
    t = LocalRef("t", 32, 64)
    body = (
        Load(t, HbmRef("x", A(0), 32, 64, 64)),
        Load(LocalRef("b", 1, 64), HbmRef("bias", A(0), 1, 64, 64)),
        Vector("add", t, t, LocalRef("b", 1, 64), bcast="row"),
        Vector("muls", t, t, imm=0.5),
        Vector("maxs", t, t, imm=0.0),
        Vector("tanh", t, t),
        Store(HbmRef("y", A(0), 32, 64, 64), t),
    )
    module = KernelModule([hbm("x", (32, 64), "input"), hbm("bias", (64,), "weight"), hbm("y", (32, 64), "output")],
                          [Kernel("bias_relu_tanh", (Buffer("t", "sram", F32, (32, 64)), Buffer("b", "sram", F32, (1, 64))),
                                  body, ("add_0", "relu_0", "tanh_0"))], ["x"], ["y"])
    out, segments = run(module, {"x": x, "bias": b})
    np.testing.assert_allclose(out["y"], np.tanh(np.maximum((x + b) * 0.5, 0)), rtol=1e-5, atol=1e-6)
    (segment,) = segments
    assert "; kernel bias_relu_tanh (add_0, relu_0, tanh_0)" in segment.listing
    assert assemble(segment.listing).instructions == segment.program.instructions
    assert segment.program.instructions[-1].mnemonic == "halt"
    assert segment.unit_counts["vpu"] == 4 and segment.unit_counts["ld"] == 2


@pytest.mark.parametrize("dtype", [F32, BF16])
def test_tiled_matmul_accumulates_over_k_tiles(dtype: DType) -> None:
    np_dtype = np.float32 if dtype == F32 else ml_dtypes.bfloat16
    x = RNG.standard_normal((64, 96)).astype(np_dtype)
    w = RNG.standard_normal((96, 64)).astype(np_dtype)
    out, _ = run(matmul_module(64, 96, 64, 32, 32, 32, dtype=dtype), {"x": x, "w": w})
    expected = x.astype(np.float32) @ w.astype(np.float32)
    np.testing.assert_allclose(out["y"], expected, rtol=1e-4, atol=1e-4)


def test_matmul_edge_tiles_and_large_addresses_use_base_registers() -> None:
    # 100 = 64 + 36 rows: a full tile and a peeled edge tile; w is big enough that y's
    # address needs a base register.
    m, k, n = 100, 48, 400
    x = RNG.standard_normal((m, k)).astype(np.float32)
    w = RNG.standard_normal((k, n)).astype(np.float32)
    body = []
    for row, rows in ((0, 64), (64, 36)):
        body += [
            Load(LocalRef("xs", rows, k), HbmRef("x", A(row * k), rows, k, k)),
            Load(LocalRef("ws", k, n), HbmRef("w", A(0), k, n, n)),
            MatMul(LocalRef("acc", rows, n), LocalRef("xs", rows, k), LocalRef("ws", k, n)),
            Vector("mov", LocalRef("ys", rows, n), LocalRef("acc", rows, n)),
            Store(HbmRef("y", A(row * n), rows, n, n), LocalRef("ys", rows, n)),
        ]
    module = KernelModule([hbm("x", (m, k), "input"), hbm("w", (k, n), "weight"), hbm("y", (m, n), "output")],
                          [Kernel("mm_edge", (Buffer("xs", "sram", F32, (64, k)), Buffer("ws", "sram", F32, (k, n)),
                                              Buffer("acc", "acc", F32, (64, n)), Buffer("ys", "sram", F32, (64, n))),
                                  tuple(body))], ["x"], ["y"])
    out, segments = run(module, {"x": x, "w": w})
    np.testing.assert_allclose(out["y"], x @ w, rtol=1e-4, atol=1e-4)
    mnemonics = [i.mnemonic for i in segments[0].program.instructions]
    assert "li" in mnemonics


def test_softmax_with_row_reductions() -> None:
    x = RNG.standard_normal((16, 48)).astype(np.float32)
    t, s = LocalRef("t", 16, 48), LocalRef("s", 16, 1)
    body = (
        Load(t, HbmRef("x", A(0), 16, 48, 48)),
        Vector("rmax", s, t),
        Vector("sub", t, t, s, bcast="col"),
        Vector("exp", t, t),
        Vector("rsum", s, t),
        Vector("rcp", s, s),
        Vector("mul", t, t, s, bcast="col"),
        Store(HbmRef("y", A(0), 16, 48, 48), t),
    )
    module = KernelModule([hbm("x", (16, 48), "input"), hbm("y", (16, 48), "output")],
                          [Kernel("softmax", (Buffer("t", "sram", F32, (16, 48)), Buffer("s", "sram", F32, (16, 1))),
                                  body)], ["x"], ["y"])
    out, _ = run(module, {"x": x})
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out["y"], e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_gather_rows_by_index_list() -> None:
    table = RNG.standard_normal((50, 32)).astype(np.float32)
    ids = np.array([3, 0, 49, 3, 7, 12], dtype=np.int32)
    body = (
        Load(LocalRef("ids", 6, 1), HbmRef("ids", A(0), 6, 1, 1)),
        Gather(LocalRef("rows", 6, 32), HbmRef("table", A(0), 50, 32, 32), LocalRef("ids", 6, 1)),
        Store(HbmRef("y", A(0), 6, 32, 32), LocalRef("rows", 6, 32)),
    )
    module = KernelModule([hbm("ids", (6,), "input", I32), hbm("table", (50, 32), "weight"),
                           hbm("y", (6, 32), "output")],
                          [Kernel("embed", (Buffer("ids", "sram", I32, (6, 1)), Buffer("rows", "sram", F32, (6, 32))),
                                  body)], ["ids"], ["y"])
    out, _ = run(module, {"ids": ids, "table": table})
    np.testing.assert_array_equal(out["y"], table[ids])


def test_loop_with_double_buffered_slots_unrolls() -> None:
    x = RNG.standard_normal((8, 64)).astype(np.float32)
    # Slot i % 2 is not affine in i, so each iteration handles both slots.
    body = (For("i", 2, (
        Load(LocalRef("t", 8, 16, slot=A(0)), HbmRef("x", A("i") * 32, 8, 16, 64)),
        Load(LocalRef("t", 8, 16, slot=A(1)), HbmRef("x", A("i") * 32 + 16, 8, 16, 64)),
        Vector("exp", LocalRef("t", 8, 16, slot=A(0)), LocalRef("t", 8, 16, slot=A(0))),
        Vector("neg", LocalRef("t", 8, 16, slot=A(1)), LocalRef("t", 8, 16, slot=A(1))),
        Store(HbmRef("y", A("i") * 32, 8, 16, 64), LocalRef("t", 8, 16, slot=A(0))),
        Store(HbmRef("y", A("i") * 32 + 16, 8, 16, 64), LocalRef("t", 8, 16, slot=A(1))),
    )),)
    module = KernelModule([hbm("x", (8, 64), "input"), hbm("y", (8, 64), "output")],
                          [Kernel("loop", (Buffer("t", "sram", F32, (8, 16), slots=2),), body)], ["x"], ["y"])
    out, segments = run(module, {"x": x})
    expected = x.copy()
    for i in range(2):
        expected[:, 32 * i:32 * i + 16] = np.exp(x[:, 32 * i:32 * i + 16])
        expected[:, 32 * i + 16:32 * i + 32] = -x[:, 32 * i + 16:32 * i + 32]
    np.testing.assert_allclose(out["y"], expected, rtol=1e-6)
    assert segments[0].unit_counts["ld"] == 4


def test_cpu_steps_split_programs_into_segments() -> None:
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    t = LocalRef("t", 4, 8)

    def kernel(name: str, src: str, dst: str) -> Kernel:
        return Kernel(name, (Buffer("t", "sram", F32, (4, 8)),),
                      (Load(t, HbmRef(src, A(0), 4, 8, 8)), Vector("exp", t, t), Store(HbmRef(dst, A(0), 4, 8, 8), t)))

    module = KernelModule([hbm("x", (4, 8), "input"), hbm("a", (4, 8), "temp"), hbm("b", (4, 8), "temp"),
                           hbm("y", (4, 8), "output")],
                          [kernel("k0", "x", "a"), CpuCall("host", ("a",), ("b",)), kernel("k1", "b", "y")],
                          ["x"], ["y"])
    planned, _ = plan_memory(module, V1)
    segments = generate_programs(planned, V1)
    assert [s.steps for s in segments] == [(0, 1), (2, 3)]
    first = Simulator(segments[0].program, V1).run({"x": x})
    a = first.read("a")
    np.testing.assert_allclose(a, np.exp(x), rtol=1e-6)
    regions = {r.name: r for r in hbm_regions(planned)}
    image = first.hbm.copy()
    image[regions["b"].offset:regions["b"].end] = a.view(np.uint8).reshape(-1)  # the host step: copy
    second = Simulator(segments[1].program, V1).run(image)
    np.testing.assert_allclose(second.read("y"), np.exp(np.exp(x)), rtol=1e-5)


# -- field limits ----------------------------------------------------------------------------------


def _copy_module(rows: int, cols: int, pitch: int | None = None, hbm_rows: int | None = None) -> KernelModule:
    pitch = pitch or cols
    hbm_rows = hbm_rows or rows
    t = LocalRef("t", rows, cols)
    return KernelModule([hbm("x", (hbm_rows, pitch), "input"), hbm("y", (hbm_rows, pitch), "output")],
                        [Kernel("copy", (Buffer("t", "sram", F32, (rows, cols)),),
                                (Load(t, HbmRef("x", A(0), rows, cols, pitch)),
                                 Store(HbmRef("y", A(0), rows, cols, pitch), t)))], ["x"], ["y"])


@pytest.mark.parametrize(("rows", "cols", "pitch", "loads"), [
    (8192, 4, None, 3),        # rows > 4095: pieces of 4095 + 4095 + 2 rows
    (2, 20000, None, 2),       # 80000-byte rows > 65535: column pieces
    (3, 16, 70000, 3),         # 280000-byte stride > 2^18-1: one row per instruction
])
def test_large_dmas_are_split_to_fit_fields(rows: int, cols: int, pitch: int | None, loads: int) -> None:
    x = RNG.standard_normal((rows, pitch or cols)).astype(np.float32)
    out, segments = run(_copy_module(rows, cols, pitch), {"x": x})
    np.testing.assert_array_equal(out["y"][:, :cols], x[:, :cols])
    assert sum(1 for i in segments[0].program.instructions if i.mnemonic == "dma.ld") == loads


def test_matmul_too_wide_for_the_mxu_fields_raises() -> None:
    module = matmul_module(8, 4096, 8, 8, 4096, 8, slots=1)
    planned, _ = plan_memory(module, V1)
    with pytest.raises(TargetError, match="tile k and n"):
        generate_programs(planned, V1)


# -- scheduling ------------------------------------------------------------------------------------


def test_double_buffering_overlaps_loads_with_matmuls() -> None:
    x = RNG.standard_normal((128, 1024)).astype(ml_dtypes.bfloat16)
    w = RNG.standard_normal((1024, 128)).astype(ml_dtypes.bfloat16)
    cycles = {}
    for slots in (1, 2):
        module = matmul_module(128, 1024, 128, 128, 128, 128, slots=slots, dtype=BF16)
        planned, _ = plan_memory(module, V1)
        (segment,) = generate_programs(planned, V1)
        result = Simulator(segment.program, V1).run({"x": x, "w": w})
        np.testing.assert_allclose(result.read("y"), x.astype(np.float32) @ w.astype(np.float32), rtol=1e-3, atol=1e-2)
        cycles[slots] = result.report.total_cycles
    assert cycles[2] < 0.8 * cycles[1], cycles


def _serialised(stream: list[SelectedInstruction]) -> list[ScheduledInstruction]:
    out = []
    for inst in stream:
        out.append(ScheduledInstruction(inst))
        if inst.unit != "ctrl":
            out.append(ScheduledInstruction(SelectedInstruction("barrier", {}, "ctrl")))
    return out + [ScheduledInstruction(SelectedInstruction("halt", {}, "ctrl"))]


_TILE = (8, 16)


def _random_statement(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["load", "store", "vec", "vec2", "mm", "acc_out", "scalar"]))
    slot = lambda: A(draw(st.integers(0, 1)))  # noqa: E731
    buf = lambda: draw(st.sampled_from(["p", "q"]))  # noqa: E731
    tile = lambda: LocalRef(buf(), *_TILE, slot=slot())  # noqa: E731
    col = draw(st.integers(0, 3)) * 16
    if kind == "load":
        return Load(tile(), HbmRef("x", A(col), 8, 16, 64))
    if kind == "store":
        return Store(HbmRef("y", A(col), 8, 16, 64), tile())
    if kind == "vec":
        return Vector(draw(st.sampled_from(["neg", "abs", "mov"])), tile(), tile())
    if kind == "vec2":
        return Vector(draw(st.sampled_from(["add", "sub", "max"])), tile(), tile(), tile())
    if kind == "scalar":
        return Vector("muls", tile(), tile(), imm=0.5)
    if kind == "mm":
        return MatMul(LocalRef("c", 8, 16), tile(), LocalRef("w", 16, 16), accumulate=draw(st.booleans()))
    return Vector("mov", tile(), LocalRef("c", 8, 16))


@st.composite
def _random_kernels(draw: st.DrawFn) -> KernelModule:
    statements = [Load(LocalRef("w", 16, 16), HbmRef("wt", A(0), 16, 16, 16))]
    statements += [_random_statement(draw) for _ in range(draw(st.integers(1, 14)))]
    statements.append(Store(HbmRef("y", A(48), 8, 16, 64), LocalRef("p", *_TILE)))
    buffers = (Buffer("p", "sram", F32, _TILE, 2), Buffer("q", "sram", F32, _TILE, 2),
               Buffer("w", "sram", F32, (16, 16)), Buffer("c", "acc", F32, _TILE))
    return KernelModule([hbm("x", (8, 64), "input"), hbm("wt", (16, 16), "weight"), hbm("y", (8, 64), "output")],
                        [Kernel("random", buffers, tuple(statements))], ["x"], ["y"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_kernels())
def test_token_schedule_matches_fully_serialised_execution(module: KernelModule) -> None:
    verify_kernel_module(module)
    planned, _ = plan_memory(module, EDGE)
    kernels = [s for s in planned.steps if isinstance(s, Kernel)]
    stream = select_instructions(planned, kernels, EDGE)
    regions = hbm_regions(planned)
    scheduled, _ = schedule(stream)
    inputs = {"x": np.arange(8 * 64, dtype=np.float32).reshape(8, 64) / 100 - 2,
              "wt": np.eye(16, dtype=np.float32) * 0.25 + 0.01}
    fast = Simulator(build_program(scheduled, regions), EDGE).run(inputs)
    slow = Simulator(build_program(_serialised(stream), regions), EDGE).run(inputs)
    np.testing.assert_array_equal(fast.hbm, slow.hbm)
    assert fast.report.total_cycles <= slow.report.total_cycles


def test_a_producer_with_consumers_on_two_units_orders_both() -> None:
    # x is read by the VPU and the MXU after one load; the st queue waits on both.
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    w = np.eye(16, dtype=np.float32) * 2
    body = (
        Load(LocalRef("a", 8, 16), HbmRef("x", A(0), 8, 16, 16)),
        Load(LocalRef("w", 16, 16), HbmRef("w", A(0), 16, 16, 16)),
        Vector("neg", LocalRef("b", 8, 16), LocalRef("a", 8, 16)),
        MatMul(LocalRef("c", 8, 16), LocalRef("a", 8, 16), LocalRef("w", 16, 16)),
        Vector("add", LocalRef("b", 8, 16), LocalRef("b", 8, 16), LocalRef("c", 8, 16)),
        Store(HbmRef("y", A(0), 8, 16, 16), LocalRef("b", 8, 16)),
    )
    module = KernelModule([hbm("x", (8, 16), "input"), hbm("w", (16, 16), "weight"), hbm("y", (8, 16), "output")],
                          [Kernel("two_consumers", (Buffer("a", "sram", F32, (8, 16)), Buffer("w", "sram", F32, (16, 16)),
                                                    Buffer("b", "sram", F32, (8, 16)), Buffer("c", "acc", F32, (8, 16))),
                                  body)], ["x"], ["y"])
    out, _ = run(module, {"x": x, "w": w})
    np.testing.assert_allclose(out["y"], x, rtol=1e-6)


def test_against_kernel_interpreter_when_available() -> None:
    interp = pytest.importorskip("moecc.ir.kernel_interpreter")
    module = matmul_module(32, 64, 32, 16, 32, 16)
    x = RNG.standard_normal((32, 64)).astype(np.float32)
    w = RNG.standard_normal((64, 32)).astype(np.float32)
    out, _ = run(module, {"x": x, "w": w})
    expected = interp.run_kernel_module(module, {"x": x, "w": w})
    np.testing.assert_allclose(out["y"], np.asarray(expected["y"]).reshape(32, 32), rtol=1e-4, atol=1e-4)


def test_a_unit_far_ahead_is_synced_so_scheduling_stays_linear() -> None:
    """Thousands of loads nothing waits on, then a VPU op reading the last one: the scheduler
    syncs the units with a barrier once the loads run MAX_UNSYNCED ahead instead of scanning
    the whole load history for every later instruction (a fuzzed model took 94 s before)."""
    import time

    from moecc.backend.asic.byte_ranges import ByteRange
    from moecc.backend.asic.schedule import MAX_UNSYNCED

    stream = [SelectedInstruction("dma.ld", {}, "ld", (ByteRange("hbm", 64 * i, 64 * i + 64),),
                                  (ByteRange("sram", 64 * i, 64 * i + 64),)) for i in range(3 * MAX_UNSYNCED)]
    stream += [SelectedInstruction("vpu.add", {}, "vpu", (ByteRange("sram", 64 * i, 64 * i + 64),),
                                   (ByteRange("sram", 1 << 24, (1 << 24) + 64),)) for i in range(3 * MAX_UNSYNCED)]
    start = time.perf_counter()
    scheduled, stats = schedule(stream)
    assert time.perf_counter() - start < 20
    assert stats.barriers >= 1
    # Every VPU op still follows the load it reads: it waits on it, or a barrier is between them.
    position = {id(item.inst): i for i, item in enumerate(scheduled)}
    barriers = [i for i, item in enumerate(scheduled) if item.inst.mnemonic == "barrier"]
    for i in range(0, 3 * MAX_UNSYNCED, 97):
        load, add = scheduled[position[id(stream[i])]], scheduled[position[id(stream[3 * MAX_UNSYNCED + i])]]
        covered = any(position[id(stream[i])] < b < position[id(stream[3 * MAX_UNSYNCED + i])] for b in barriers)
        assert covered or (load.signal and load.signal in add.wait), i


def _two_matmul_kernels() -> KernelModule:
    """y = x @ w (one kernel), then z = y @ w2 in a second kernel looping over two column
    blocks of w2 (a weight load, then a load of y, each iteration)."""
    first = matmul_module(32, 32, 32, 32, 32, 32, slots=1)
    w2 = hbm("w2", (32, 32), "weight")
    second_body = (
        For("j", 2, (Load(LocalRef("w2s", 32, 16), HbmRef("w2", Affine.of("j") * 16, 32, 16, 32)),
                     Load(LocalRef("ys2", 32, 32), HbmRef("y", A(0), 32, 32, 32)),
                     MatMul(LocalRef("acc2", 32, 16), LocalRef("ys2", 32, 32), LocalRef("w2s", 32, 16)),
                     Vector("mov", LocalRef("zs", 32, 16), LocalRef("acc2", 32, 16)),
                     Store(HbmRef("z", Affine.of("j") * 16, 32, 16, 32), LocalRef("zs", 32, 16)))),
    )
    second = Kernel("second", (Buffer("w2s", "sram", F32, (32, 16)), Buffer("ys2", "sram", F32, (32, 32)),
                               Buffer("acc2", "acc", F32, (32, 16)), Buffer("zs", "sram", F32, (32, 16))),
                    second_body, ("second_0",))
    return KernelModule(hbm=[*(b for b in first.hbm if b.name != "y"), hbm("y", (32, 32), "temp"),
                             w2, hbm("z", (32, 32), "output")],
                        steps=[*first.steps, second], inputs=["x", "w"], outputs=["z"])


def test_next_kernels_weights_load_under_this_kernels_matmul() -> None:
    """Cross-kernel prefetch: the second kernel's weight loads (through the first iteration of
    its loop) are selected before the first kernel's matmul, once; results are unchanged."""
    module = _two_matmul_kernels()
    planned, _ = plan_memory(module, V1, weight_homes=False)  # w2 loaded from HBM (homes: test_weight_homes)
    stream = select_instructions(planned, [s for s in planned.steps if isinstance(s, Kernel)], V1)
    real = [i for i in stream if i.mnemonic != "li"]
    first_mm = next(n for n, i in enumerate(real) if i.mnemonic.startswith("mxu.mm"))
    w2_loads = [n for n, i in enumerate(real) if i.mnemonic == "dma.ld" and "load w2" in i.comment]
    assert len(w2_loads) == 2  # j = 0 ahead, j = 1 in place: each selected once
    assert w2_loads[0] < first_mm < w2_loads[1]
    x, w, w2v = (RNG.standard_normal((32, 32)).astype("float32") for _ in range(3))
    got, _ = run(module, {"x": x, "w": w, "w2": w2v})
    np.testing.assert_allclose(got["z"], (x @ w) @ w2v, rtol=1e-4, atol=1e-4)


def test_prefetch_passes_vector_statements_that_leave_the_weights_alone() -> None:
    """A kernel that converts its input before the weight loads (a bf16 kernel's cvt) still
    has them prefetched; a load into a buffer a statement before it touched is not."""
    from moecc.backend.asic.cross_kernel import leading_weight_loads

    w2 = hbm("w2", (32, 32), "weight")
    hbm_buffers = {"w2": w2, "y": hbm("y", (32, 32), "temp")}

    def kernel(scratch: str) -> Kernel:
        body = (Load(LocalRef("ys", 32, 32), HbmRef("y", A(0), 32, 32, 32)),
                Vector("mov", LocalRef(scratch, 32, 32), LocalRef("ys", 32, 32)),
                Load(LocalRef("w2s", 32, 32), HbmRef("w2", A(0), 32, 32, 32)),
                MatMul(LocalRef("acc", 32, 32), LocalRef("ys2", 32, 32), LocalRef("w2s", 32, 32)))
        buffers = tuple(Buffer(n, "acc" if n == "acc" else "sram", F32, (32, 32)) for n in ("ys", "ys2", "w2s", "acc"))
        return Kernel("k", buffers, body, ("k_0",))

    assert [load.src.buffer for load, _ in leading_weight_loads(kernel("ys2"), hbm_buffers)] == ["w2"]
    assert leading_weight_loads(kernel("w2s"), hbm_buffers) == []  # the mov wrote the weights' buffer first


def test_no_prefetch_into_bytes_the_kernel_before_still_uses() -> None:
    """When the second kernel's weight buffer shares SRAM bytes with the first kernel's (the
    ring wrapped), its load stays in its own kernel: selected earlier, the first kernel's
    work on those bytes would overwrite the weights before the second kernel read them."""
    from moecc.backend.asic.codegen import build_program

    module = _two_matmul_kernels()
    planned, _ = plan_memory(module, V1, weight_homes=False)  # w2 loaded from HBM (homes: test_weight_homes)
    first, second = (s for s in planned.steps if isinstance(s, Kernel))
    xs = next(b for b in first.buffers if b.name == "xs")
    wrapped = Kernel(second.name, tuple(b.placed(xs.offset) if b.name == "w2s" else b for b in second.buffers),
                     second.body, second.sources)
    planned = KernelModule(hbm=planned.hbm, steps=[first, wrapped], inputs=planned.inputs, outputs=planned.outputs)
    stream = select_instructions(planned, [first, wrapped], V1)
    real = [i for i in stream if i.mnemonic != "li"]
    first_mm = next(n for n, i in enumerate(real) if i.mnemonic.startswith("mxu.mm"))
    w2_loads = [n for n, i in enumerate(real) if i.mnemonic == "dma.ld" and "load w2" in i.comment]
    assert len(w2_loads) == 2 and first_mm < w2_loads[0]
    x, w, w2v = (RNG.standard_normal((32, 32)).astype("float32") for _ in range(3))
    scheduled, _ = schedule(stream)
    program = build_program(scheduled, hbm_regions(planned), None)
    result = Simulator(program, V1).run({"x": x, "w": w, "w2": w2v})
    np.testing.assert_allclose(result.read("z"), (x @ w) @ w2v, rtol=1e-4, atol=1e-4)


def test_no_token_free_fences_the_producer_instead_of_a_barrier() -> None:
    """Every token held by a load and the VPU op that reads it (the MXU knows none of them
    started), then a matmul reading one VPU result: dispatch waits for that producer on the
    fence token, not for every unit's work."""
    from moecc.backend.asic.byte_ranges import ByteRange
    from moecc.backend.asic.schedule import FENCE_TOKEN, TOKENS

    def sram(i: int) -> tuple[ByteRange, ...]:
        return (ByteRange("sram", 256 * i, 256 * i + 64),)

    stream = [SelectedInstruction("dma.ld", {}, "ld", (ByteRange("hbm", 64 * i, 64 * i + 64),), sram(i))
              for i in range(len(TOKENS))]
    stream += [SelectedInstruction("vpu.add", {}, "vpu", sram(i), sram(1000 + i)) for i in range(len(TOKENS))]
    stream.append(SelectedInstruction("mxu.mm", {}, "mxu", sram(1000), (ByteRange("acc", 0, 64),)))
    scheduled, stats = schedule(stream)
    assert stats.barriers == 0 and stats.fences >= 1
    fence = next(i for i, item in enumerate(scheduled) if item.inst.mnemonic == "nop")
    assert FENCE_TOKEN in scheduled[fence].wait
    matmul = next(i for i, item in enumerate(scheduled) if item.inst.mnemonic == "mxu.mm")
    producer = next(i for i, item in enumerate(scheduled) if item.inst is stream[len(TOKENS)])
    assert producer < fence < matmul and scheduled[producer].signal == FENCE_TOKEN
