"""LLVM backend foundation: the JIT layer and the builder-made sgemm against numpy."""

from __future__ import annotations

import ctypes
from pathlib import Path

import llvmlite.binding as llvm
import llvmlite.ir as ir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.backend.llvm import jit
from moecc.backend.llvm.cpu_target import (
    CpuTarget,
    host_cpu_target,
    make_cpu_target,
    read_cache_sizes,
    vector_floats_for,
)
from moecc.backend.llvm.matmul import (
    B_PREPACKED,
    PREPACK_SYMBOL,
    SGEMM_SYMBOL,
    WORKSPACE_SYMBOL,
    build_sgemm_module,
    compiled_sgemm,
    panel_floats,
    prepacked_b_floats,
    sgemm,
)
from moecc.errors import MoeccError, UnsupportedError


def tiny_blocks_target() -> CpuTarget:
    """The host with blocks so small that every blocking loop and edge path runs at test sizes."""
    host = host_cpu_target()
    return host.with_blocking(mc=2 * host.mr, kc=5, nc=2 * host.nr)


def random_matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.standard_normal((rows, cols), dtype=np.float32)


def assert_matches_numpy(actual: np.ndarray, expected: np.ndarray, k: int) -> None:
    # float32 sums of k products: the error grows like sqrt(k) * eps * |terms|.
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * max(1.0, np.sqrt(k)) * 4)


SHAPES = [
    (1, 1, 1),
    (2, 3, 4),
    (7, 11, 13),
    (13, 17, 19),
    (31, 37, 41),
    (257, 129, 65),
    (64, 64, 64),
    (15, 33, 129),
    (1, 300, 17),
    (300, 1, 17),
    (5, 5, 600),
]


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_sgemm_matches_numpy(m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = random_matrix(rng, m, k), random_matrix(rng, k, n)
    assert_matches_numpy(sgemm(a, b), a @ b, k)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (29, 67, 11), (30, 64, 10), (45, 130, 23)])
def test_sgemm_every_blocking_loop_and_edge(m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m + n + k)
    a, b = random_matrix(rng, m, k), random_matrix(rng, k, n)
    assert_matches_numpy(sgemm(a, b, target=tiny_blocks_target()), a @ b, k)


@pytest.mark.parametrize("vector_floats,mr,nr", [(8, 6, 16), (4, 4, 8), (16, 3, 16)])
def test_sgemm_other_register_tiles(vector_floats: int, mr: int, nr: int) -> None:
    # Narrower SIMD widths run on any x86-64 host, so the AVX2 and SSE/NEON shapes are checked here too.
    target = host_cpu_target().with_blocking(vector_floats=vector_floats, mr=mr, nr=nr, mc=2 * mr, kc=7, nc=2 * nr)
    rng = np.random.default_rng(vector_floats)
    a, b = random_matrix(rng, 2 * mr + 3, 17), random_matrix(rng, 17, 2 * nr + 5)
    out = random_matrix(rng, 2 * mr + 3, 2 * nr + 5)
    expected = out + a @ b
    sgemm(a, b, out, accumulate=True, target=target)
    assert_matches_numpy(out, expected, 17)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 80),
    k=st.integers(1, 24),
    accumulate=st.booleans(),
)
def test_sgemm_generated_shapes(m: int, n: int, k: int, accumulate: bool) -> None:
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    a, b = random_matrix(rng, m, k), random_matrix(rng, k, n)
    start = random_matrix(rng, m, n)
    out = start.copy()
    sgemm(a, b, out, accumulate=accumulate, target=tiny_blocks_target())
    assert_matches_numpy(out, (start if accumulate else 0) + a @ b, k)


def _workspace_sgemm(target: CpuTarget | None):  # type: ignore[no-untyped-def]
    module = jit.compile_module(build_sgemm_module(target), target)
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    return module.function(WORKSPACE_SYMBOL, None, pointer, pointer, pointer, *[i64] * 6, ctypes.c_int32, ctypes.c_int32,
                           pointer, pointer)


@pytest.mark.parametrize("tiny", [False, True])
@pytest.mark.parametrize("m,n,k", SHAPES + [(14, 64, 300), (3, 70, 33)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_workspace_sgemm_with_transposed_b(tiny: bool, m: int, n: int, k: int, accumulate: bool) -> None:
    """moecc_sgemm_ws packs B^T (stored [N x K], a wider row pitch too) into caller panels of
    exactly panel_floats() floats; guard floats after each panel must stay untouched."""
    target = tiny_blocks_target() if tiny else host_cpu_target()
    function = _workspace_sgemm(target)
    rng = np.random.default_rng(m * 31 + n * 7 + k + accumulate)
    a = random_matrix(rng, m, k)
    b_t = random_matrix(rng, n, k + 3)[:, :k]  # leading dimension k + 3
    c = random_matrix(rng, m, n)
    expected = (c if accumulate else 0) + a @ b_t.T
    floats_a, floats_b = panel_floats(target, m, n, k)
    guard = 64
    panel_a = np.full(floats_a + guard, 7.0, np.float32)
    panel_b = np.full(floats_b + guard, 7.0, np.float32)
    function(c.ctypes.data, a.ctypes.data, b_t.ctypes.data, m, n, k, k, k + 3, n, int(accumulate), 1,
             panel_a.ctypes.data, panel_b.ctypes.data)
    assert_matches_numpy(c, expected, k)
    assert (panel_a[floats_a:] == 7.0).all() and (panel_b[floats_b:] == 7.0).all()


@pytest.mark.parametrize("tiny", [False, True])
@pytest.mark.parametrize("m,n,k", SHAPES + [(14, 64, 300), (3, 70, 33), (1, 5, 2)])
@pytest.mark.parametrize("transposed", [False, True])
def test_workspace_sgemm_with_prepacked_b(tiny: bool, m: int, n: int, k: int, transposed: bool) -> None:
    """moecc_prepack_b writes exactly prepacked_b_floats() floats of every panel (guards after
    it untouched), and moecc_sgemm_ws with transpose_b B_PREPACKED reads them: the product is
    the one numpy gives, and the B packing panel is left alone."""
    target = tiny_blocks_target() if tiny else host_cpu_target()
    module = jit.compile_module(build_sgemm_module(target), target)
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    workspace = module.function(WORKSPACE_SYMBOL, None, pointer, pointer, pointer, *[i64] * 6, ctypes.c_int32,
                                ctypes.c_int32, pointer, pointer)
    prepack = module.function(PREPACK_SYMBOL, None, pointer, pointer, i64, i64, i64, ctypes.c_int32)
    rng = np.random.default_rng(m * 37 + n * 5 + k + transposed)
    a = random_matrix(rng, m, k)
    b = random_matrix(rng, k, n)
    stored = np.ascontiguousarray(b.T) if transposed else b
    guard = 64
    packed = np.full(prepacked_b_floats(target, n, k) + guard, 7.0, np.float32)
    prepack(packed.ctypes.data, stored.ctypes.data, k if transposed else n, n, k, int(transposed))
    assert (packed[-guard:] == 7.0).all()
    c = np.zeros((m, n), np.float32)
    floats_a, floats_b = panel_floats(target, m, n, k)
    panel_a = np.zeros(floats_a, np.float32)
    panel_b = np.full(floats_b, 7.0, np.float32)
    workspace(c.ctypes.data, a.ctypes.data, packed.ctypes.data, m, n, k, k, k, n, 0, B_PREPACKED,
              panel_a.ctypes.data, panel_b.ctypes.data)
    assert_matches_numpy(c, a @ b, k)
    assert (panel_b == 7.0).all()


@pytest.mark.parametrize("tiny", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_prepacked_b_tiles_are_packed_bs(tiny: bool, transposed: bool) -> None:
    """Any NR-aligned column range and any K range of a packed weight is itself a packed B: the
    pointer advanced to (first sliver, first row) with ``ldb`` the whole packed K (how threads
    share a packed weight by columns and tiled kernels read its tiles)."""
    target = tiny_blocks_target() if tiny else host_cpu_target()
    module = jit.compile_module(build_sgemm_module(target), target)
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    workspace = module.function(WORKSPACE_SYMBOL, None, pointer, pointer, pointer, *[i64] * 6, ctypes.c_int32,
                                ctypes.c_int32, pointer, pointer)
    prepack = module.function(PREPACK_SYMBOL, None, pointer, pointer, i64, i64, i64, ctypes.c_int32)
    nr = target.nr
    big_k, big_n = 3 * target.kc + 5, 5 * nr
    rng = np.random.default_rng(7 + transposed)
    b = random_matrix(rng, big_k, big_n)
    stored = np.ascontiguousarray(b.T) if transposed else b
    packed = np.zeros(prepacked_b_floats(target, big_n, big_k), np.float32)
    prepack(packed.ctypes.data, stored.ctypes.data, big_k if transposed else big_n, big_n, big_k, int(transposed))
    floats_a, floats_b = panel_floats(target, 40, big_n, big_k)
    panel_a, panel_b = np.zeros(floats_a, np.float32), np.zeros(floats_b, np.float32)
    for k0, kk, s0, n in [(0, big_k, 0, big_n), (target.kc + 3, target.kc, 2, 2 * nr), (1, 7, 4, nr - 3),
                          (0, big_k, 1, 3 * nr + 1)]:
        a = random_matrix(rng, 40, kk)
        c = np.zeros((40, n), np.float32)
        start = packed[(s0 * big_k + k0) * nr:]
        workspace(c.ctypes.data, a.ctypes.data, start.ctypes.data, 40, n, kk, kk, big_k, n, 0, B_PREPACKED,
                  panel_a.ctypes.data, panel_b.ctypes.data)
        assert_matches_numpy(c, a @ b[k0:k0 + kk, s0 * nr:s0 * nr + n], kk)


@pytest.mark.parametrize("m", [33, 3])  # 3 <= MR reads B in place instead of packing it
def test_sgemm_leading_dimensions_wider_than_rows(m: int) -> None:
    rng = np.random.default_rng(1)
    a_storage, b_storage = random_matrix(rng, 40, 70), random_matrix(rng, 60, 90)
    c_storage = np.full((50, 100), 7.0, dtype=np.float32)
    a, b = a_storage[3 : 3 + m, 5:52], b_storage[2:49, 1:80]  # [m, 47] @ [47, 79]
    out = c_storage[4 : 4 + m, 9:88]
    result = sgemm(a, b, out)
    assert result is out
    assert_matches_numpy(out, a @ b, 47)
    untouched = c_storage.copy()
    untouched[4 : 4 + m, 9:88] = 7.0
    np.testing.assert_array_equal(untouched, np.full_like(c_storage, 7.0))


def test_sgemm_copies_inputs_with_non_unit_column_stride() -> None:
    rng = np.random.default_rng(2)
    a, b = random_matrix(rng, 20, 30).T, random_matrix(rng, 40, 25)[::2]  # [30, 20] @ [20, 25]
    assert_matches_numpy(sgemm(a, b), a @ b, 20)


def test_sgemm_accumulates_into_out() -> None:
    rng = np.random.default_rng(3)
    a, b = random_matrix(rng, 70, 90), random_matrix(rng, 90, 50)
    out = random_matrix(rng, 70, 50)
    expected = out + a @ b
    sgemm(a, b, out, accumulate=True)
    assert_matches_numpy(out, expected, 90)


def test_sgemm_output_overlapping_an_input() -> None:
    rng = np.random.default_rng(4)
    square = random_matrix(rng, 40, 40)
    b = random_matrix(rng, 40, 40)
    expected = square + square @ b
    sgemm(square, b, square, accumulate=True)
    assert_matches_numpy(square, expected, 40)


def test_sgemm_zero_depth_clears_or_keeps() -> None:
    a, b = np.zeros((4, 0), np.float32), np.zeros((0, 5), np.float32)
    out = np.ones((4, 5), np.float32)
    np.testing.assert_array_equal(sgemm(a, b, out.copy()), np.zeros((4, 5), np.float32))
    np.testing.assert_array_equal(sgemm(a, b, out.copy(), accumulate=True), out)


def test_sgemm_rejects_bad_operands() -> None:
    a = np.ones((3, 4), np.float32)
    with pytest.raises(UnsupportedError, match="float32"):
        sgemm(a.astype(np.float64), np.ones((4, 2), np.float32))
    with pytest.raises(MoeccError, match="inner dimensions"):
        sgemm(a, np.ones((5, 2), np.float32))
    with pytest.raises(MoeccError, match="accumulate"):
        sgemm(a, np.ones((4, 2), np.float32), accumulate=True)
    with pytest.raises(UnsupportedError, match="column stride"):
        sgemm(a, np.ones((4, 2), np.float32), out=np.ones((2, 3), np.float32).T)
    read_only = np.ones((3, 2), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(MoeccError, match="read-only"):
        sgemm(a, np.ones((4, 2), np.float32), out=read_only)


def test_sgemm_module_is_builder_made_verifies_and_vectorises() -> None:
    target = host_cpu_target()
    module = build_sgemm_module(target)
    assert isinstance(module, ir.Module)
    assert SGEMM_SYMBOL in {function.name for function in module.functions}
    parsed = jit.parse_and_verify(module, target)
    assert isinstance(parsed, llvm.ModuleRef)
    compiled, function = compiled_sgemm()
    assert compiled.address(SGEMM_SYMBOL) == ctypes.cast(function, ctypes.c_void_p).value
    assert f"<{target.vector_floats} x float>" in compiled.optimised_ir
    assert "llvm.fma" in compiled.optimised_ir


def test_jit_caches_by_module_text_and_emits_objects() -> None:
    small = host_cpu_target().with_blocking(mr=2, nr=host_cpu_target().vector_floats, mc=4, kc=8)
    first = jit.compile_module(build_sgemm_module(small), small)
    assert jit.compile_module(build_sgemm_module(small), small) is first
    obj = jit.emit_object(build_sgemm_module(small), small)
    assert obj[:4] == b"\x7fELF" or obj[:4] in (b"\xcf\xfa\xed\xfe", b"\x64\x86")
    assert "moecc_sgemm" in jit.emit_assembly(build_sgemm_module(small), small)


def test_jit_reports_invalid_modules_and_missing_functions() -> None:
    module = ir.Module(name="broken")
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), []), "no_terminator")
    function.append_basic_block("entry")
    with pytest.raises(MoeccError, match="LLVM rejected module 'broken'"):
        jit.compile_module(module)
    with pytest.raises(MoeccError, match="not defined"):
        compiled_sgemm()[0].address("moecc_no_such_function")


def test_cpu_target_description(tmp_path: Path) -> None:
    assert vector_floats_for(frozenset({"avx512f", "avx2"})) == 16
    assert vector_floats_for(frozenset({"avx2", "fma"})) == 8
    assert vector_floats_for(frozenset({"neon"})) == 4
    target = make_cpu_target("generic", "+avx2,+fma", 32 * 1024, 1 << 20, 8 << 20)
    assert (target.vector_floats, target.mr, target.nr) == (8, 6, 16)
    assert target.mc % target.mr == 0 and target.nc % target.nr == 0 and target.kc > 0
    assert target.accumulators == 12
    with pytest.raises(MoeccError, match="multiple of the vector width"):
        target.with_blocking(nr=12)

    index = tmp_path / "index0"
    index.mkdir()
    (index / "level").write_text("1\n")
    (index / "type").write_text("Data\n")
    (index / "size").write_text("48K\n")
    l2 = tmp_path / "index2"
    l2.mkdir()
    (l2 / "level").write_text("2\n")
    (l2 / "type").write_text("Unified\n")
    (l2 / "size").write_text("2048K\n")
    l1d, l2_bytes, l3 = read_cache_sizes(tmp_path)
    assert (l1d, l2_bytes) == (48 * 1024, 2048 * 1024) and l3 > 0
    assert read_cache_sizes(tmp_path / "missing")[0] > 0
