"""2:4 structured sparsity in the ISA: the compressed format (ir/sparse24.py) and
``mxu.mm24`` (assembly round trip, simulator against numpy, twice the dense rate, faults)."""

from __future__ import annotations

import numpy as np
import pytest

from moecc.backend.asic import Simulator
from moecc.errors import SimulationError
from moecc.isa_spec import ProgramBuilder, assemble, decode_program, disassemble, encode_program, load_target
from moecc.isa_spec.program import Addr
from moecc.ir.sparse24 import SparseFormatError, compress_2_4, expand_2_4, is_2_4

RNG = np.random.default_rng(24)
RTOL, ATOL = 1e-5, 1e-5  # f32 products, summed in another order than numpy's


def prune_2_4(w: np.ndarray) -> np.ndarray:
    """The two largest magnitudes of every 4 rows of a column kept, the rest zero."""
    groups = w.reshape(-1, 4, w.shape[1]).copy()
    drop = np.argsort(np.abs(groups), axis=1, kind="stable")[:, :2, :]
    np.put_along_axis(groups, drop, 0, axis=1)
    return groups.reshape(w.shape)


def test_compress_and_expand_are_inverse_with_fewer_nonzeros_too() -> None:
    w = prune_2_4(RNG.standard_normal((32, 7)).astype(np.float32))
    w[4:8, 0] = 0  # an all-zero group
    w[8:12, 1] = [0, 0, 3.0, 0]  # one nonzero
    assert is_2_4(w)
    values, positions = compress_2_4(w)
    assert values.shape == (16, 7) and positions.shape == (8, 7) and positions.dtype == np.uint8
    np.testing.assert_array_equal(expand_2_4(values, positions), w)
    assert (positions & 3 != positions >> 2).all()


def test_bad_weights_and_pairs_are_refused() -> None:
    dense = np.ones((8, 2), np.float32)
    assert not is_2_4(dense)
    with pytest.raises(SparseFormatError, match="more than 2 nonzeros"):
        compress_2_4(dense)
    with pytest.raises(SparseFormatError, match="multiple of 4"):
        compress_2_4(np.zeros((6, 2), np.float32))
    with pytest.raises(SparseFormatError, match="names one row twice"):
        expand_2_4(np.zeros((2, 1), np.float32), np.array([[0b0101]], np.uint8))


def _program(m: int, k: int, n: int, dtype: str, *, dense: bool = False):  # noqa: ANN202
    """C = A @ W with W 2:4 (compressed in HBM) or dense, through SRAM and the accumulator."""
    elem = 2 if dtype == "bf16" else 4
    b = ProgramBuilder()
    a_at, w_at, p_at, c_at = 0, 0x100000, 0x200000, 0x300000
    w_rows = k if dense else k // 2
    b.region("a", a_at, dtype, (m, k))
    b.region("w", w_at, dtype, (w_rows, n))
    if not dense:
        b.region("p", p_at, "u8", (k // 4, n))
    b.region("c", c_at, "f32", (m, n))
    b.emit("li", rd=1, imm=a_at)
    b.emit("li", rd=2, imm=w_at)
    b.emit("li", rd=3, imm=p_at)
    b.emit("li", rd=4, imm=c_at)
    b.emit("dma.ld", dst=Addr(1), src=Addr(1), rows=m, row_bytes=k * elem, sstride=k * elem, dstride=k * elem)
    b.emit("dma.ld", dst=Addr(2), src=Addr(2), rows=w_rows, row_bytes=n * elem, sstride=n * elem, dstride=n * elem)
    if not dense:
        b.emit("dma.ld", dst=Addr(3), src=Addr(3), rows=k // 4, row_bytes=n, sstride=n, dstride=n)
    b.emit("barrier")
    if dense:
        b.emit("mxu.mm", dst=Addr(0), a=Addr(1), w=Addr(2), m=m, k=k, n=n, dtype=dtype)
    else:
        b.emit("mxu.mm24", dst=Addr(0), a=Addr(1), w=Addr(2), mask=Addr(3), m=m, k=k, n=n, dtype=dtype)
    b.emit("barrier")
    b.emit("vpu.mov", dst=Addr(4), a=Addr(0, space="acc"), rows=m, cols=n, dtype="f32")
    b.emit("barrier")
    b.emit("dma.st", dst=Addr(4), src=Addr(4), rows=m, row_bytes=n * 4, sstride=n * 4, dstride=n * 4)
    b.emit("halt")
    return b.build()


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_mm24_matches_numpy_and_round_trips(dtype: str) -> None:
    import ml_dtypes

    m, k, n = 48, 256, 128
    np_dtype = np.float32 if dtype == "f32" else ml_dtypes.bfloat16
    a = RNG.standard_normal((m, k)).astype(np_dtype)
    w = prune_2_4(RNG.standard_normal((k, n)).astype(np.float32)).astype(np_dtype)
    values, positions = compress_2_4(w)
    program = _program(m, k, n, dtype)
    text = disassemble(program)
    assert "mxu.mm24" in text
    assert disassemble(decode_program(encode_program(program))) == text  # asm -> bin -> asm
    assert disassemble(assemble(text)) == text
    result = Simulator(program, "moe-asic-v1").run({"a": a, "w": values, "p": positions})
    want = a.astype(np.float32) @ w.astype(np.float32)
    np.testing.assert_allclose(result.read("c").reshape(m, n), want, rtol=RTOL, atol=ATOL * 10)


def test_mm24_streams_at_twice_the_dense_rate_and_moves_half_the_weight_bytes() -> None:
    target = load_target("moe-asic-v1")
    m, k, n = 64, 4 * target.mxu_rows, target.mxu_cols
    a = RNG.standard_normal((m, k)).astype(np.float32)
    w = prune_2_4(RNG.standard_normal((k, n)).astype(np.float32))
    values, positions = compress_2_4(w)
    sparse = Simulator(_program(m, k, n, "f32"), target).run({"a": a, "w": values, "p": positions})
    dense = Simulator(_program(m, k, n, "f32", dense=True), target).run({"a": a, "w": w})
    np.testing.assert_allclose(sparse.read("c"), dense.read("c"), rtol=RTOL, atol=ATOL * 10)
    assert sparse.report.units["mxu"].busy_cycles * 2 == dense.report.units["mxu"].busy_cycles
    weight_bytes = k * n * 4
    assert dense.report.hbm_bytes_read - sparse.report.hbm_bytes_read == weight_bytes // 2 - k * n // 4


@pytest.mark.parametrize("k, positions, fragment", [(6, None, "multiple of 4"), (8, 0b0000, "names one row twice")])
def test_mm24_faults_name_the_instruction(k: int, positions: int | None, fragment: str) -> None:
    text = (".isa moe-asic 2\n  li r3, 4096\n"
            f"  mxu.mm24 acc[r0], sram[r0], sram[r0], sram[r3], m=4, k={k}, n=4, dtype=f32\n  halt\n")
    memory = np.zeros(1 << 16, np.uint8)
    if positions is not None:
        memory[4096:4096 + 8] = positions
    with pytest.raises(SimulationError, match=fragment) as info:
        Simulator(assemble(text), "moe-asic-v1").run(memory)
    assert "mxu.mm24" in str(info.value)


@pytest.mark.parametrize("count", [0, 5, 16])
def test_mm24r_streams_a_run_time_row_count(count: int) -> None:
    """``mxu.mm24r``: ``mxu.mm24`` with the rows in a register (an MoE expert's tokens): rows
    past the count keep their values; 0 streams nothing; asm -> bin -> asm round-trips."""
    m, k, n = 16, 128, 32
    a = RNG.standard_normal((m, k)).astype(np.float32)
    w = prune_2_4(RNG.standard_normal((k, n)).astype(np.float32))
    values, positions = compress_2_4(w)
    b = ProgramBuilder()
    b.region("a", 0, "f32", (m, k))
    b.region("w", 0x100000, "f32", (k // 2, n))
    b.region("p", 0x200000, "u8", (k // 4, n))
    b.region("c", 0x300000, "f32", (m, n))
    for reg, at in ((1, 0), (2, 0x100000), (3, 0x200000), (4, 0x300000)):
        b.emit("li", rd=reg, imm=at)
    b.emit("li", rd=5, imm=count)
    b.emit("dma.ld", dst=Addr(1), src=Addr(1), rows=m, row_bytes=k * 4, sstride=k * 4, dstride=k * 4)
    b.emit("dma.ld", dst=Addr(2), src=Addr(2), rows=k // 2, row_bytes=n * 4, sstride=n * 4, dstride=n * 4)
    b.emit("dma.ld", dst=Addr(3), src=Addr(3), rows=k // 4, row_bytes=n, sstride=n, dstride=n)
    b.emit("barrier")
    b.emit("vpu.fill", dst=Addr(0, space="acc"), rows=m, cols=n, dtype="f32", imm=7.0)
    b.emit("barrier")
    b.emit("mxu.mm24r", dst=Addr(0), a=Addr(1), w=Addr(2), mask=Addr(3), m=5, k=k, n=n, dtype="f32")
    b.emit("barrier")
    b.emit("vpu.mov", dst=Addr(4), a=Addr(0, space="acc"), rows=m, cols=n, dtype="f32")
    b.emit("barrier")
    b.emit("dma.st", dst=Addr(4), src=Addr(4), rows=m, row_bytes=n * 4, sstride=n * 4, dstride=n * 4)
    b.emit("halt")
    program = b.build()
    text = disassemble(program)
    assert "mxu.mm24r" in text and "m=r5" in text
    assert disassemble(decode_program(encode_program(program))) == text
    assert disassemble(assemble(text)) == text
    got = Simulator(program, "moe-asic-v1").run({"a": a, "w": values, "p": positions}).read("c").reshape(m, n)
    want = np.full((m, n), 7.0, np.float32)
    want[:count] = a[:count] @ w
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)
