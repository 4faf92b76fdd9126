"""Whether a weight may hold zeros worth a sparse form, from a small sample of it.

Used by the back ends before they analyse a weight for sparse forms (the ASIC staging's 2:4 and
zero blocks, :mod:`moecc.backend.asic.staging.sparse_weights`; the CPU's packed weights with
zero runs of rows, :mod:`moecc.backend.llvm.tiled.packed_weights`). The full analysis reads every
element; this check reads :data:`RUNS` contiguous runs of :data:`RUN` elements (about 64 KiB of
f32), so that compiling a big dense model, whose weights are memory-mapped, still reads almost
none of them. A pruned weight (2:4, whole tiles, unstructured) has zeros in every run; a dense
one has none. A weight whose zeros are all in a few places the runs miss (one zero tile among
many) is then multiplied dense: a missed saving, never a wrong result.
"""

from __future__ import annotations

import numpy as np

#: Contiguous runs the sample reads, evenly spaced, and their length in elements.
RUNS, RUN = 8, 2048


def may_hold_zeros(array: np.ndarray) -> bool:
    """Whether any element of the sampled runs of ``array`` (flat) is zero."""
    flat = np.ravel(np.asarray(array), order="K")  # memory order: a view of a transposed weight, no copy
    if flat.size <= RUNS * RUN:
        return bool((flat == 0).any())
    starts = np.linspace(0, flat.size - RUN, RUNS).astype(np.int64)
    return any(bool((flat[start:start + RUN] == 0).any()) for start in starts)


__all__ = ["RUN", "RUNS", "may_hold_zeros"]
