"""The simulator's memories (HBM, SRAM, accumulator) as bounds-checked byte arrays.

Used by :mod:`moecc.backend.asic.sim` for every functional access: whole tiles come back as
numpy views, so instructions run as numpy operations with no per-element Python loops. An
access outside a memory or misaligned for its dtype raises :class:`SimulationError` naming
the instruction.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from moecc.errors import SimulationError


class Memory:
    """One byte-addressed memory; ``touched_read``/``touched_written`` track compulsory bytes."""

    def __init__(self, name: str, data: np.ndarray, track: bool = False) -> None:
        self.name = name
        self.data = data
        self.size = int(data.size)
        self.touched_read = np.zeros(self.size, dtype=bool) if track else None
        self.touched_written = np.zeros(self.size, dtype=bool) if track else None

    def _fail(self, where: str, message: str) -> SimulationError:
        return SimulationError(f"{self.name}: {message}", location=where)

    def check(self, where: str, addr: int, rows: int, row_bytes: int, stride: int) -> None:
        if rows <= 0 or row_bytes <= 0:
            return
        last = addr + (rows - 1) * stride + row_bytes
        if addr < 0 or last > self.size:
            raise self._fail(
                where,
                f"access [{addr:#x}, {last:#x}) is outside the {self.size}-byte {self.name}",
            )

    def rows(self, where: str, addr: int, rows: int, row_bytes: int, stride: int) -> np.ndarray:
        """A writable (rows, row_bytes) uint8 view with a byte stride between rows."""
        self.check(where, addr, rows, row_bytes, stride)
        if rows <= 0 or row_bytes <= 0:
            return np.zeros((max(rows, 0), max(row_bytes, 0)), dtype=np.uint8)
        return as_strided(self.data[addr:], shape=(rows, row_bytes), strides=(stride, 1))

    def mark(self, addr: int, rows: int, row_bytes: int, stride: int, *, write: bool) -> None:
        mask = self.touched_written if write else self.touched_read
        if mask is None or rows <= 0 or row_bytes <= 0:
            return
        as_strided(mask[addr:], shape=(rows, row_bytes), strides=(stride, 1))[...] = True

    def tile(self, where: str, addr: int, rows: int, cols: int, dtype: np.dtype) -> np.ndarray:
        """A writable contiguous row-major (rows, cols) view of ``dtype`` elements."""
        itemsize = dtype.itemsize
        if addr % itemsize:
            raise self._fail(where, f"address {addr:#x} is not aligned to {itemsize} bytes for {dtype}")
        nbytes = rows * cols * itemsize
        self.check(where, addr, 1, nbytes, nbytes)
        return self.data[addr:addr + nbytes].view(dtype).reshape(rows, cols)

    def row_indices(self, where: str, base: int, index: np.ndarray, stride: int, row_bytes: int) -> np.ndarray:
        """Byte offsets (n, row_bytes) of rows ``base + index[i] * stride`` (gather/scatter)."""
        if index.size and int(index.min()) < 0:
            raise self._fail(where, f"negative row index {int(index.min())} in the index list")
        offsets = base + index.astype(np.int64)[:, None] * stride + np.arange(row_bytes, dtype=np.int64)
        if index.size and row_bytes and (base < 0 or int(offsets[:, -1].max()) >= self.size):
            raise self._fail(where, f"row index {int(index.max())} reaches past the {self.size}-byte {self.name}")
        return offsets
