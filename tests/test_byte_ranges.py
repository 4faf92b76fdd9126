"""The scheduler's byte ranges: strided DMA sides overlap exactly when they share a byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.backend.asic.byte_ranges import ByteRange, strided_range


def _bytes(r: ByteRange) -> set[int]:
    if r.rows == 1:
        return set(range(r.start, r.end))
    return {r.start + i * r.pitch + c for i in range(r.rows) for c in range(r.width)}


_RANGE = st.tuples(st.integers(0, 300), st.integers(1, 6), st.integers(1, 40), st.integers(1, 40))


@settings(max_examples=400, deadline=None)
@given(_RANGE, _RANGE, st.booleans())
def test_overlap_is_exact_or_conservative(a, b, same_pitch) -> None:
    first = strided_range("sram", a[0], a[1], a[2], a[3])
    second = strided_range("sram", b[0], b[1], a[2] if same_pitch else b[2], b[3])
    shared = bool(_bytes(first) & _bytes(second))
    got = first.overlaps(second)
    assert got or not shared  # never misses a shared byte (a missed wait would be a wrong result)
    if first.rows == 1 or second.rows == 1 or first.pitch == second.pitch:  # exact there
        assert got == shared
    assert got == second.overlaps(first)


def test_column_blocks_of_one_matrix_are_apart() -> None:
    pitch = 688 * 4  # a [128, 688] f32 matrix, 128-column blocks
    blocks = [strided_range("sram", 4096 + 128 * 4 * j, 128, pitch, 128 * 4) for j in range(5)]
    assert not any(blocks[i].overlaps(blocks[j]) for i in range(5) for j in range(5) if i != j)
    assert all(block.overlaps(block) for block in blocks)
    assert blocks[2].overlaps(ByteRange("sram", 4096 + 2 * 512 + 5 * pitch, 4096 + 2 * 512 + 5 * pitch + 4))
    assert not ByteRange("acc", 0, 1 << 20).overlaps(blocks[0])
