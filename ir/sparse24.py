"""The 2:4 structured-sparse weight format: kernel-IR ``matmul ... positions`` and the ISA's
``mxu.mm24`` (isa.toml, ISA.md) multiply it; pruning (:mod:`moecc.passes`) produces it.

A ``k x n`` weight is 2:4 sparse when, in every column, each group of 4 consecutive rows
(``4g .. 4g+3``) holds at most 2 nonzeros. It is stored as two tiles:

- ``values``, ``k/2 x n`` in the weight's dtype: row ``2g + t`` holds the ``t``-th kept value
  of row group ``g`` (``t = 0, 1``, in row order);
- ``positions``, ``k/4 x n`` uint8: bits 0-1 give the row within the group of value 0, bits
  2-3 that of value 1 (the two differ; a group with fewer than two nonzeros keeps zeros at
  other rows, the lowest free ones).

That is NVIDIA's sparse tensor core layout (kept values plus 2-bit indices), laid out for a
weight-stationary array that shifts ``values`` in row by row. Used by the simulator and the
kernel-IR interpreter to expand the weight, and by the ASIC staging to compress one.
"""

from __future__ import annotations

import numpy as np

from moecc.errors import MoeccError

#: Rows per group and kept values per group.
GROUP, KEPT = 4, 2


class SparseFormatError(MoeccError):
    """A weight or a compressed pair that is not valid 2:4."""


def is_2_4(dense: np.ndarray) -> bool:
    """Whether ``dense`` (``k x n``, ``k`` a multiple of 4) has at most 2 nonzeros in every
    group of 4 consecutive rows of every column."""
    w = np.asarray(dense)
    if w.ndim != 2 or w.shape[0] % GROUP:
        return False
    return bool(((w.reshape(-1, GROUP, w.shape[1]) != 0).sum(axis=1) <= KEPT).all())


def compress_2_4(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, positions)`` of a 2:4-sparse ``k x n`` weight (see the module docstring)."""
    w = np.asarray(dense)
    if w.ndim != 2 or w.shape[0] % GROUP:
        raise SparseFormatError(f"a 2:4 weight is k x n with k a multiple of {GROUP}, not {list(w.shape)}",
                                remedy="pad k to a multiple of 4")
    if not is_2_4(w):
        raise SparseFormatError("the weight has more than 2 nonzeros in a group of 4 rows of a column",
                                remedy="prune it to 2:4 first (keep the 2 largest of every 4)")
    groups = w.reshape(-1, GROUP, w.shape[1])  # [k/4, 4, n]
    # Rows to keep per (group, column): the nonzeros first (in row order), then the lowest zero rows.
    order = np.argsort(groups == 0, axis=1, kind="stable")[:, :KEPT, :]  # [k/4, 2, n]
    first, second = np.minimum(order[:, 0], order[:, 1]), np.maximum(order[:, 0], order[:, 1])
    kept = np.stack([first, second], axis=1)
    values = np.take_along_axis(groups, kept, axis=1).reshape(-1, w.shape[1])
    positions = (first | (second << 2)).astype(np.uint8)
    return np.ascontiguousarray(values), np.ascontiguousarray(positions)


def expand_2_4(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The dense ``k x n`` weight of a compressed pair (``k = 2 * values.shape[0]``)."""
    v, p = np.asarray(values), np.asarray(positions)
    if v.ndim != 2 or p.ndim != 2 or v.shape[0] % KEPT or p.shape != (v.shape[0] // KEPT, v.shape[1]):
        raise SparseFormatError(f"2:4 values {list(v.shape)} and positions {list(p.shape)} do not pair up",
                                remedy="values are k/2 x n, positions k/4 x n")
    p = p.astype(np.int64)
    first, second = p & 3, (p >> 2) & 3
    if (p >> 4).any() or (first == second).any():
        raise SparseFormatError("a 2:4 position byte names one row twice or sets bits above 3",
                                remedy="give two different rows 0..3 in bits 0-1 and 2-3")
    k, n = v.shape[0] * 2, v.shape[1]
    dense = np.zeros((k // GROUP, GROUP, n), dtype=v.dtype)
    pairs = v.reshape(-1, KEPT, n)
    np.put_along_axis(dense, first[:, None, :], pairs[:, 0:1, :], axis=1)
    np.put_along_axis(dense, second[:, None, :], pairs[:, 1:2, :], axis=1)
    return dense.reshape(k, n)


__all__ = ["GROUP", "KEPT", "SparseFormatError", "compress_2_4", "expand_2_4", "is_2_4"]
