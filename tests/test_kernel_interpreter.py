"""Kernel IR reference interpreter: hand-built kernels against numpy, VPU statements against
the moe-asic simulator bit for bit, and the errors it reports."""

from __future__ import annotations

import zlib
from importlib import resources

import ml_dtypes
import numpy as np
import pytest

from moecc.backend.asic.sim import simulate
from moecc.errors import InputError, SimulationError, UnsupportedError, VerificationError
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
)
from moecc.ir.kernel_interpreter import execute_kernel, run_kernel_module
from moecc.ir.kernel_parser import parse_kernel_module
from moecc.ir.kernel_printer import print_kernel_module
from moecc.ir.types import DType
from moecc.isa_spec.assembler import assemble

F32, BF16, I32 = DType.F32, DType.BF16, DType.I32
RTOL, ATOL = 1e-5, 1e-6  # f32 results that differ from numpy only in summation order
i, j, kk = Affine.of("i"), Affine.of("j"), Affine.of("kk")


def hbm(name: str, dtype: DType, shape: tuple[int, ...], role: str) -> Buffer:
    return Buffer(name, "hbm", dtype, shape, role=role)


def sram(name: str, dtype: DType, rows: int, cols: int, slots: int = 1) -> Buffer:
    return Buffer(name, "sram", dtype, (rows, cols), slots)


def acc(name: str, rows: int, cols: int) -> Buffer:
    return Buffer(name, "acc", F32, (rows, cols))


def tiled_matmul(m: int, k: int, n: int, tm: int, tk: int, dtype: DType) -> KernelModule:
    """y = x @ w over tm x tk x n tiles: k loop accumulating into a zero-filled acc tile."""
    body = (
        Vector("fill", LocalRef("c", tm, n)),
        For("kk", k // tk, (
            Load(LocalRef("a", tm, tk), HbmRef("x", i * (tm * k) + kk * tk, tm, tk, k)),
            Load(LocalRef("w", tk, n), HbmRef("w", kk * (tk * n), tk, n, n)),
            MatMul(LocalRef("c", tm, n), LocalRef("a", tm, tk), LocalRef("w", tk, n), accumulate=True, dtype=dtype),
        )),
        Vector("mov", LocalRef("o", tm, n), LocalRef("c", tm, n)),
        Store(HbmRef("y", i * (tm * n), tm, n, n), LocalRef("o", tm, n)),
    )
    kernel = Kernel("matmul", (sram("a", dtype, tm, tk), sram("w", dtype, tk, n), acc("c", tm, n),
                               sram("o", F32, tm, n)), (For("i", m // tm, body),), ("/MatMul",))
    return KernelModule(
        hbm=[hbm("x", dtype, (m, k), "input"), hbm("w", dtype, (k, n), "weight"), hbm("y", F32, (m, n), "output")],
        steps=[kernel], inputs=["x"], outputs=["y"],
    )


def test_tiled_matmul_with_accumulate_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((32, 64), np.float32), rng.standard_normal((64, 24), np.float32)
    out = run_kernel_module(tiled_matmul(32, 64, 24, 16, 16, F32), {"x": x, "w": w})
    np.testing.assert_allclose(out["y"].reshape(32, 24), x @ w, rtol=RTOL, atol=1e-4)
    assert out["x"].dtype == np.float32 and out["x"].shape == (32 * 64,)


def test_bf16_matmul_upcasts_operands_and_accumulates_in_f32() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 32)).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((32, 8)).astype(ml_dtypes.bfloat16)
    out = run_kernel_module(tiled_matmul(16, 32, 8, 8, 32, BF16), {"x": x, "w": w})
    expected = x.astype(np.float32) @ w.astype(np.float32)
    np.testing.assert_array_equal(out["y"].reshape(16, 8), expected)  # one k tile: same sum as numpy


def transposed_w_matmul(m: int, k: int, n: int, tk: int) -> KernelModule:
    """y = x @ wt^T with wt stored n x k: k tiles are column windows of wt's rows, loaded as
    n x tk tiles and used transposed by the MXU (the first tile overwrites the accumulator)."""
    def k_step(offset: Affine, first: bool) -> tuple[Load, Load, MatMul]:
        return (
            Load(LocalRef("a", m, tk), HbmRef("x", offset, m, tk, k)),
            Load(LocalRef("w", n, tk), HbmRef("wt", offset, n, tk, k)),
            MatMul(LocalRef("c", m, n), LocalRef("a", m, tk), LocalRef("w", n, tk), accumulate=not first,
                   transpose_w=True),
        )

    body = (*k_step(Affine(), True), For("kk", k // tk - 1, k_step(kk * tk + tk, False)),
            Vector("mov", LocalRef("o", m, n), LocalRef("c", m, n)),
            Store(HbmRef("y", Affine(), m, n, n), LocalRef("o", m, n)))
    kernel = Kernel("matmul_tw", (sram("a", F32, m, tk), sram("w", F32, n, tk), acc("c", m, n), sram("o", F32, m, n)),
                    body, ("/MatMul",))
    return KernelModule(
        hbm=[hbm("x", F32, (m, k), "input"), hbm("wt", F32, (n, k), "input"), hbm("y", F32, (m, n), "output")],
        steps=[kernel], inputs=["x", "wt"], outputs=["y"],
    )


def test_transposed_weight_matmul_matches_numpy_and_the_simulator_bit_for_bit() -> None:
    from moecc.backend.asic.codegen import generate_programs
    from moecc.isa_spec.target import load_target
    from moecc.passes.memory_plan import plan_memory

    rng = np.random.default_rng(3)
    x, wt = rng.standard_normal((24, 96), np.float32), rng.standard_normal((40, 96), np.float32)
    module = transposed_w_matmul(24, 96, 40, 32)
    y = run_kernel_module(module, {"x": x, "wt": wt})["y"].reshape(24, 40)
    np.testing.assert_allclose(y, x @ wt.T, rtol=RTOL, atol=1e-4)
    target = load_target("moe-asic-v1")
    planned, _ = plan_memory(module, target)
    (segment,) = generate_programs(planned, target)
    products = [line for line in segment.listing.splitlines() if line.strip().startswith("mxu.mm ")]
    assert len(products) == 3 and all("tw=1" in line for line in products) and "tw=0" not in segment.listing
    simulated = simulate(segment.program, {"x": x.reshape(-1), "wt": wt.reshape(-1)}, target)
    np.testing.assert_array_equal(simulated.read("y").reshape(24, 40), y)


def test_transposed_weight_shapes_are_checked() -> None:
    bad = MatMul(LocalRef("c", 4, 8), LocalRef("a", 4, 2), LocalRef("w", 2, 8), transpose_w=True)  # w must be 8x2
    kernel = Kernel("k", (acc("c", 4, 8), sram("a", F32, 4, 2), sram("w", F32, 2, 8)), (bad,))
    with pytest.raises(VerificationError, match=r"matmul shapes 4x8 <- 4x2 @ 2x8\^T"):
        run_kernel_module(KernelModule(steps=[kernel]), {})


def softmax_module(rows: int, cols: int) -> KernelModule:
    t, s = LocalRef("t", rows, cols), LocalRef("s", rows, 1)
    kernel = Kernel("softmax", (sram("t", F32, rows, cols), sram("s", F32, rows, 1)), (
        Load(t, HbmRef("x", Affine(), rows, cols, cols)),
        Vector("rmax", s, t),
        Vector("sub", t, t, s, bcast="col"),
        Vector("exp", t, t),
        Vector("rsum", s, t),
        Vector("rcp", s, s),
        Vector("mul", t, t, s, bcast="col"),
        Store(HbmRef("y", Affine(), rows, cols, cols), t),
    ))
    return KernelModule([hbm("x", F32, (rows, cols), "input"), hbm("y", F32, (rows, cols), "output")],
                        [kernel], ["x"], ["y"])


def test_softmax_matches_numpy_and_the_simulator_bit_for_bit() -> None:
    x = np.random.default_rng(2).standard_normal((64, 256), np.float32) * 4
    y = run_kernel_module(softmax_module(64, 256), {"x": x})["y"].reshape(64, 256)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=RTOL, atol=ATOL)
    program = assemble(resources.files("moecc.examples").joinpath("asm/softmax.s").read_text())
    np.testing.assert_array_equal(simulate(program, {"x": x}).read("y"), y)


def test_gather_rows_by_index_list() -> None:
    table = np.arange(10 * 8, dtype=np.float32).reshape(10, 8)
    ids = np.array([[3], [0], [9], [3]], dtype=np.int32)
    kernel = Kernel("embed", (sram("ids", I32, 4, 1), sram("e", F32, 4, 8)), (
        Load(LocalRef("ids", 4, 1), HbmRef("ids", Affine(), 4, 1, 1)),
        Gather(LocalRef("e", 4, 8), HbmRef("table", Affine(), 10, 8, 8), LocalRef("ids", 4, 1)),
        Store(HbmRef("y", Affine(), 4, 8, 8), LocalRef("e", 4, 8)),
    ))
    module = KernelModule([hbm("ids", I32, (4, 1), "input"), hbm("table", F32, (10, 8), "weight"),
                           hbm("y", F32, (4, 8), "output")], [kernel], ["ids"], ["y"])
    out = run_kernel_module(module, {"ids": ids, "table": table})
    np.testing.assert_array_equal(out["y"].reshape(4, 8), table[ids[:, 0]])
    with pytest.raises(SimulationError, match=r"gather index 10 is outside the table's 10 rows"):
        run_kernel_module(module, {"ids": ids + 7, "table": table})


def test_double_buffered_loop_unrolled_by_two() -> None:
    """Slots are affine, so double buffering unrolls the loop by 2: even tiles use slot 0, odd slot 1."""
    tiles, rows, cols = 6, 4, 16
    tile = rows * cols

    def half(slot: int) -> tuple:
        ref = LocalRef("t", rows, cols, slot=Affine(slot))
        at = j * (2 * tile) + slot * tile
        return (Load(ref, HbmRef("x", at, rows, cols, cols)),
                Vector("muls", ref, ref, imm=2.0),
                Vector("adds", ref, ref, imm=float(slot)),  # marks which slot handled the tile
                Store(HbmRef("y", at, rows, cols, cols), ref))

    kernel = Kernel("scale", (sram("t", F32, rows, cols, slots=2),), (For("j", tiles // 2, half(0) + half(1)),))
    module = KernelModule([hbm("x", F32, (tiles * rows, cols), "input"),
                           hbm("y", F32, (tiles * rows, cols), "output")], [kernel], ["x"], ["y"])
    x = np.random.default_rng(3).standard_normal((tiles * rows, cols), np.float32)
    y = run_kernel_module(module, {"x": x})["y"].reshape(tiles, rows, cols)
    parity = (np.arange(tiles) % 2).astype(np.float32)[:, None, None]
    np.testing.assert_array_equal(y, x.reshape(tiles, rows, cols) * 2 + parity)


def test_text_form_runs_the_same() -> None:
    module = softmax_module(4, 8)
    again = parse_kernel_module(print_kernel_module(module))
    x = np.random.default_rng(4).standard_normal((4, 8), np.float32)
    np.testing.assert_array_equal(run_kernel_module(again, {"x": x})["y"], run_kernel_module(module, {"x": x})["y"])


# -- VPU statements against the simulator -------------------------------------------------

_ISA_DTYPE = {F32: "f32", BF16: "bf16", I32: "i32"}
_NO_BCAST_FIELD = {"rsum", "rmax", "topk", "topkmin", "nonzero", "adds", "muls", "maxs", "mins", "fill"}


def _simulated(stmt: Vector, arrays: dict[str, np.ndarray], dtypes: dict[str, DType]) -> dict[str, np.ndarray]:
    """Run one VPU statement as a moe-asic program: load every operand, run, store every operand."""
    names = ["dst", "a", "b"]
    refs = {"dst": stmt.dst, "a": stmt.a, "b": stmt.b}
    lines = [".isa moe-asic 2"]
    for index, name in enumerate(names):
        ref = refs[name]
        if ref is not None:
            lines.append(f".region {name} {index * 0x1000:#x} {_ISA_DTYPE[dtypes[name]]} [{ref.rows}, {ref.cols}]")
    body: list[str] = []
    for index, name in enumerate(names):
        ref = refs[name]
        if ref is not None:
            row_bytes = ref.cols * dtypes[name].itemsize
            body.append(f"dma.ld sram[r0 + {index * 0x1000:#x}], hbm[r0 + {name}], rows={ref.rows}, "
                        f"row_bytes={row_bytes}, sstride={row_bytes}, dstride={row_bytes}")
    body[-1] += " signal(t1)"
    op_rows, op_cols = (stmt.a.rows, stmt.a.cols) if stmt.op in ("rsum", "rmax", "topk", "topkmin", "nonzero") \
        else (stmt.dst.rows, stmt.dst.cols)
    operands = ", ".join(f"sram[r0 + {index * 0x1000:#x}]" for index, name in enumerate(names)
                         if refs[name] is not None)
    fields = f"rows={op_rows}, cols={op_cols}, dtype={_ISA_DTYPE[stmt.dtype]}"
    if stmt.op not in _NO_BCAST_FIELD:
        fields += f", bcast={stmt.bcast}"
    if stmt.odt is not None:
        fields += f", odt={_ISA_DTYPE[stmt.odt]}"
    if stmt.op in ("adds", "muls", "maxs", "mins", "fill"):
        fields += f", imm={int(np.float32(stmt.imm).view(np.uint32)):#x}"  # raw bits: inf and nan too
    if stmt.op in ("topk", "topkmin"):
        fields += f", k={stmt.k}"
    body.append(f"vpu.{stmt.op} {operands}, {fields} wait(t1) signal(t2)")
    body.append("nop wait(t2)")
    for index, name in enumerate(names):
        ref = refs[name]
        if ref is not None:
            row_bytes = ref.cols * dtypes[name].itemsize
            body.append(f"dma.st hbm[r0 + {name}], sram[r0 + {index * 0x1000:#x}], rows={ref.rows}, "
                        f"row_bytes={row_bytes}, sstride={row_bytes}, dstride={row_bytes}")
    body.append("halt")
    program = assemble("\n".join(lines + ["    " + line for line in body]) + "\n")
    result = simulate(program, {n: arrays[n] for n in names if refs[n] is not None}, trace=False)
    return {n: result.read(n) for n in names if refs[n] is not None}


def _interpreted(stmt: Vector, arrays: dict[str, np.ndarray], dtypes: dict[str, DType]) -> dict[str, np.ndarray]:
    refs = {"dst": stmt.dst, "a": stmt.a, "b": stmt.b}
    names = [n for n in refs if refs[n] is not None]
    buffers = tuple(sram(refs[n].buffer, dtypes[n], refs[n].rows, refs[n].cols) for n in names)
    body = tuple(Load(refs[n], HbmRef(n, Affine(), refs[n].rows, refs[n].cols, refs[n].cols)) for n in names)
    body += (stmt,)
    body += tuple(Store(HbmRef(n, Affine(), refs[n].rows, refs[n].cols, refs[n].cols), refs[n]) for n in names)
    memory = {n: np.asarray(arrays[n]).reshape(-1).copy() for n in names}
    execute_kernel(Kernel("one", buffers, body), memory)
    return {n: memory[n].reshape(refs[n].rows, refs[n].cols) for n in names}


def _values(rng: np.random.Generator, shape: tuple[int, int], dtype: DType) -> np.ndarray:
    if dtype == I32:
        return rng.integers(-9, 10, shape).astype(np.int32)
    data = rng.standard_normal(shape).astype(np.float32) * 3
    data.flat[::5] = np.round(data.flat[::5])  # repeated values: ties for topk, equality for cmpeq
    data.flat[::7] = 0
    return data.astype(dtype.numpy)


_R, _C = 4, 8
_BSHAPE = {"none": (_R, _C), "row": (1, _C), "col": (_R, 1), "scalar": (1, 1)}
_CASES: list[tuple[str, Vector, dict[str, DType]]] = []
for _op in ("add", "sub", "mul", "div", "max", "min", "cmpgt", "cmpge", "cmpeq", "sel"):
    for _bcast in ("none", "row", "col", "scalar"):
        _CASES.append((f"{_op}-{_bcast}", Vector(_op, LocalRef("d", _R, _C), LocalRef("a", _R, _C),
                                                  LocalRef("b", *_BSHAPE[_bcast]), bcast=_bcast), {}))
for _op in ("add", "div", "cmpgt", "sel"):
    for _dt in (BF16, I32) if _op != "div" else (BF16,):
        _CASES.append((f"{_op}-{_dt}", Vector(_op, LocalRef("d", _R, _C), LocalRef("a", _R, _C),
                                               LocalRef("b", _R, 1), bcast="col", dtype=_dt), {}))
for _op in ("mov", "neg", "abs", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt"):
    _CASES.append((_op, Vector(_op, LocalRef("d", _R, _C), LocalRef("a", _R, _C)), {}))
_CASES.append(("mov-row", Vector("mov", LocalRef("d", _R, _C), LocalRef("a", 1, _C), bcast="row"), {}))
_CASES.append(("exp-bf16", Vector("exp", LocalRef("d", _R, _C), LocalRef("a", _R, _C), dtype=BF16), {}))
_CASES.append(("neg-i32", Vector("neg", LocalRef("d", _R, _C), LocalRef("a", _R, _C), dtype=I32), {}))
for _op in ("rsum", "rmax"):
    for _dt in (F32, BF16, I32):
        _CASES.append((f"{_op}-{_dt}", Vector(_op, LocalRef("d", _R, 1), LocalRef("a", _R, _C), dtype=_dt), {}))
for _src, _dst in ((F32, BF16), (F32, I32), (BF16, F32), (I32, F32), (BF16, I32)):
    _CASES.append((f"cvt-{_src}-{_dst}", Vector("cvt", LocalRef("d", _R, _C), LocalRef("a", _R, _C),
                                                 dtype=_src, odt=_dst), {"dst": _dst}))
for _op, _imm in (("adds", 0.1), ("muls", -2.5), ("maxs", 0.0), ("mins", 1e-3), ("fill", float("-inf"))):
    _CASES.append((_op, Vector(_op, LocalRef("d", _R, _C), LocalRef("a", _R, _C) if _op != "fill" else None,
                               imm=_imm), {}))
_CASES.append(("adds-i32", Vector("adds", LocalRef("d", _R, _C), LocalRef("a", _R, _C), imm=3.7, dtype=I32), {}))
_CASES.append(("fill-bf16", Vector("fill", LocalRef("d", _R, _C), imm=0.1, dtype=BF16), {}))
for _dt in (F32, I32):
    for _topk in ("topk", "topkmin"):
        _CASES.append((f"{_topk}-{_dt}", Vector(_topk, LocalRef("d", _R, 3), LocalRef("a", _R, _C), LocalRef("b", _R, 3),
                                                k=3, dtype=_dt), {"b": I32}))
_CASES.append(("nonzero", Vector("nonzero", LocalRef("d", 1, _R * _C), LocalRef("a", _R, _C), LocalRef("b", 1, 1)),
               {"dst": I32, "b": I32}))


@pytest.mark.parametrize(("stmt", "override"), [(s, o) for _, s, o in _CASES], ids=[c[0] for c in _CASES])
def test_vector_statement_matches_simulator(stmt: Vector, override: dict[str, DType]) -> None:
    rng = np.random.default_rng(zlib.crc32(stmt.op.encode()))  # str hash() varies per process
    dtypes = {"dst": stmt.dtype, "a": stmt.dtype, "b": stmt.dtype, **override}
    refs = {"dst": stmt.dst, "a": stmt.a, "b": stmt.b}
    arrays = {n: _values(rng, (r.rows, r.cols), dtypes[n]) for n, r in refs.items() if r is not None}
    if stmt.op == "sel":  # a is the condition: make about half of it zero
        arrays["a"] = (arrays["a"] * (rng.random(arrays["a"].shape) < 0.5)).astype(arrays["a"].dtype)
    if stmt.op in ("log", "sqrt", "rsqrt"):
        arrays["a"] = np.abs(arrays["a"])
    with np.errstate(all="ignore"):
        expected = _simulated(stmt, arrays, dtypes)
    got = _interpreted(stmt, arrays, dtypes)
    for name in expected:  # compared as bits: NaNs must agree too
        assert got[name].dtype == expected[name].dtype
        np.testing.assert_array_equal(got[name].view(f"u{got[name].itemsize}"),
                                      expected[name].view(f"u{expected[name].itemsize}"), err_msg=f"operand {name}")


def test_topk_ties_keep_the_lower_index_and_cvt_rounds_to_nearest_even() -> None:
    a = np.array([[1.0, 3.0, 3.0, 2.0]], np.float32)
    got = _interpreted(Vector("topk", LocalRef("d", 1, 2), LocalRef("a", 1, 4), LocalRef("b", 1, 2), k=2),
                       {"dst": np.zeros((1, 2), np.float32), "a": a, "b": np.zeros((1, 2), np.int32)},
                       {"dst": F32, "a": F32, "b": I32})
    assert got["dst"].tolist() == [[3.0, 3.0]] and got["b"].tolist() == [[1, 2]]
    # NaN counts above every number, +inf included, as the graph IR's top_k/arg_max say (fuzzer, #11).
    nan = np.array([[1.0, np.nan, np.inf, np.nan]], np.float32)
    got = _interpreted(Vector("topk", LocalRef("d", 1, 3), LocalRef("a", 1, 4), LocalRef("b", 1, 3), k=3),
                       {"dst": np.zeros((1, 3), np.float32), "a": nan, "b": np.zeros((1, 3), np.int32)},
                       {"dst": F32, "a": F32, "b": I32})
    assert got["b"].tolist() == [[1, 3, 2]] and np.isnan(got["dst"][0, :2]).all() and got["dst"][0, 2] == np.inf
    # 1 + 2^-8 is halfway between two bf16 values: ties go to the even mantissa (1.0).
    halfway = np.array([[1 + 2**-8, 1 + 3 * 2**-8, -2.7]], np.float32)
    cvt = {"dst": np.zeros((1, 3), ml_dtypes.bfloat16), "a": halfway}
    out = _interpreted(Vector("cvt", LocalRef("d", 1, 3), LocalRef("a", 1, 3), odt=BF16), cvt, {"dst": BF16, "a": F32})
    assert out["dst"].astype(np.float32).tolist()[0][:2] == [1.0, 1 + 4 * 2**-8]
    to_int = _interpreted(Vector("cvt", LocalRef("d", 1, 3), LocalRef("a", 1, 3), odt=I32),
                          {"dst": np.zeros((1, 3), np.int32), "a": halfway}, {"dst": I32, "a": F32})
    assert to_int["dst"].tolist() == [[1, 1, -2]]


# -- errors -----------------------------------------------------------------------------------

def test_verifier_rejects_out_of_bounds_tiles_before_running() -> None:
    module = tiled_matmul(32, 64, 24, 16, 16, F32)
    kernel = module.steps[0]
    bad_loop = For("i", 3, kernel.body[0].body)  # one m tile too many: x and y windows overrun
    module.steps[0] = Kernel(kernel.name, kernel.buffers, (bad_loop,), kernel.sources)
    x, w = np.zeros((32, 64), np.float32), np.zeros((64, 24), np.float32)
    with pytest.raises(VerificationError, match=r"HBM window 16x16 .* leaves buffer x"):
        run_kernel_module(module, {"x": x, "w": w})
    local_overrun = Kernel("k", (sram("t", F32, 4, 8, slots=2),), (
        For("j", 3, (Vector("fill", LocalRef("t", 2, 8, offset=j * 16)),)),))
    with pytest.raises(VerificationError, match=r"kernel k, statement 0 .* does not fit buffer t"):
        run_kernel_module(KernelModule(steps=[local_overrun]), {})
    # Slots form a ring: slot 2 of a two-slot buffer is slot 0 (a run-time loop's iteration
    # names its slot); only a negative slot is out of range.
    ring = Kernel("k", (sram("t", F32, 4, 8, slots=2),), (
        For("j", 3, (Vector("fill", LocalRef("t", 4, 8, slot=j)),)),))
    run_kernel_module(KernelModule(steps=[ring]), {})
    negative = Kernel("k", (sram("t", F32, 4, 8, slots=2),), (
        For("j", 3, (Vector("fill", LocalRef("t", 4, 8, slot=j * -1)),)),))
    with pytest.raises(VerificationError, match=r"does not fit buffer t"):
        run_kernel_module(KernelModule(steps=[negative]), {})


def test_interpreter_checks_operand_shapes_and_dtypes() -> None:
    def run(*body: object, buffers: tuple[Buffer, ...]) -> None:
        execute_kernel(Kernel("k", buffers, tuple(body)), {})

    f32_tile = (sram("a", F32, 4, 8), sram("b", F32, 4, 8))
    with pytest.raises(VerificationError, match=r"operand b \(bcast col\) %b\[4x8\] should be 4x1"):
        run(Vector("add", LocalRef("a", 4, 8), LocalRef("a", 4, 8), LocalRef("b", 4, 8), bcast="col"),
            buffers=f32_tile)
    with pytest.raises(VerificationError, match=r"operand a is f32, the statement works in bf16"):
        run(Vector("exp", LocalRef("a", 4, 8), LocalRef("a", 4, 8), dtype=BF16), buffers=f32_tile)
    with pytest.raises(VerificationError, match=r"vpu.div needs a float dtype"):
        run(Vector("div", LocalRef("i", 1, 1), LocalRef("i", 1, 1), LocalRef("i", 1, 1), dtype=I32),
            buffers=(sram("i", I32, 1, 1),))
    with pytest.raises(VerificationError, match=r"needs a float dtype"):
        run(Vector("exp", LocalRef("i", 1, 1), LocalRef("i", 1, 1), dtype=I32), buffers=(sram("i", I32, 1, 1),))
    with pytest.raises(VerificationError, match=r"DMA copies bytes and cannot convert"):
        execute_kernel(Kernel("k", f32_tile, (Load(LocalRef("a", 1, 8), HbmRef("h", Affine(), 1, 8, 8)),)),
                       {"h": np.zeros(8, np.int32)})


def test_nonzero_overflowing_its_list_is_a_fault() -> None:
    stmt = Vector("nonzero", LocalRef("d", 1, 2), LocalRef("a", 1, 4), LocalRef("b", 1, 1))
    with pytest.raises(SimulationError, match=r"nonzero found 3 elements, its list d holds 2"):
        _interpreted(stmt, {"dst": np.zeros((1, 2), np.int32), "a": np.array([[1, 0, 2, 3]], np.float32),
                            "b": np.zeros((1, 1), np.int32)}, {"dst": I32, "a": F32, "b": I32})


def test_cpu_steps_run_through_the_callback() -> None:
    module = KernelModule([hbm("x", F32, (2, 3), "input"), hbm("y", F32, (2, 3), "output")],
                          [CpuCall("negate", ("x",), ("y",), ("/Neg",))], ["x"], ["y"])
    calls: list[str] = []

    def host(call: CpuCall, memory: dict[str, np.ndarray]) -> None:
        calls.append(call.name)
        memory["y"] = -memory["x"].reshape(2, 3)

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = run_kernel_module(module, {"x": x}, cpu_step=host)
    assert calls == ["negate"] and out["y"].tolist() == (-x).reshape(-1).tolist()
    with pytest.raises(UnsupportedError, match=r"cpu step @negate \(/Neg\) needs a host executor"):
        run_kernel_module(module, {"x": x})


def test_missing_and_unknown_inputs() -> None:
    module = softmax_module(2, 2)
    with pytest.raises(InputError, match=r"no data for input buffer 'x'"):
        run_kernel_module(module, {})
    with pytest.raises(InputError, match=r"unknown buffer\(s\) z"):
        run_kernel_module(module, {"x": np.zeros(4), "z": np.zeros(1)})
    with pytest.raises(InputError, match=r"data has shape \[3\]"):
        run_kernel_module(module, {"x": np.zeros(3)})
    given = np.ones((2, 2), np.float64)
    run_kernel_module(module, {"x": given})
    assert given.dtype == np.float64 and (given == 1).all()  # converted and copied, never written


PITCHED = """\
kernel_module(%x) {
  hbm %x : f32[4, 8] input
  hbm %y : f32[4, 8] output
  kernel @blocks {
    sram %wide : f32[4, 16]
    vpu.fill %wide[4x16] {imm = 1.0} : f32
    load %wide[4x8 at 8 pitch 16] <- %x[4x8 at 0 pitch 8]
    store %y[4x8 at 0 pitch 8] <- %wide[4x8 at 8 pitch 16]
  }
  return %y
}
"""


def test_a_dma_reads_and_writes_a_block_of_a_wider_local_at_its_pitch() -> None:
    """A pitched tile (columns 8..15 of a 4 x 16 local) on a load's destination and a store's
    source: the interpreter and the simulator move the block, and the text round trips."""
    from moecc.backend.asic.codegen import generate_programs
    from moecc.ir.kernel import verify_kernel_module
    from moecc.isa_spec.target import load_target
    from moecc.passes.memory_plan import plan_memory

    module = parse_kernel_module(PITCHED)
    assert print_kernel_module(module) == PITCHED
    x = np.arange(32, dtype=np.float32).reshape(4, 8)
    np.testing.assert_array_equal(run_kernel_module(module, {"x": x})["y"].reshape(4, 8), x)
    target = load_target("moe-asic-v1")
    planned, _ = plan_memory(module, target)
    (segment,) = generate_programs(planned, target)
    assert "dstride=64" in segment.listing and "sstride=64" in segment.listing  # 16 f32 elements
    np.testing.assert_array_equal(simulate(segment.program, {"x": x.reshape(-1)}, target).read("y").reshape(4, 8), x)
    bad = PITCHED.replace("vpu.fill %wide[4x16]", "vpu.fill %wide[4x8 at 8 pitch 16]")
    with pytest.raises(VerificationError, match="pitched"):
        verify_kernel_module(parse_kernel_module(bad))
    narrow = PITCHED.replace("at 8 pitch 16] <- %x", "at 8 pitch 4] <- %x")
    with pytest.raises(VerificationError, match="does not fit"):
        verify_kernel_module(parse_kernel_module(narrow))


def test_topkmin_puts_nan_after_every_number_and_keeps_ties_in_index_order() -> None:
    """The smallest: ascending, ties to the lower index, NaN above every number (after +inf)."""
    row = np.array([[np.nan, 2.0, -1.0, np.inf, 2.0, np.nan, -np.inf]], np.float32)
    got = _interpreted(Vector("topkmin", LocalRef("d", 1, 7), LocalRef("a", 1, 7), LocalRef("b", 1, 7), k=7),
                       {"dst": np.zeros((1, 7), np.float32), "a": row, "b": np.zeros((1, 7), np.int32)},
                       {"dst": F32, "a": F32, "b": I32})
    np.testing.assert_array_equal(got["b"], [[6, 2, 1, 4, 3, 0, 5]])
    np.testing.assert_array_equal(got["dst"][0, :5], [-np.inf, -1.0, 2.0, 2.0, np.inf])
    assert np.isnan(got["dst"][0, 5:]).all()
