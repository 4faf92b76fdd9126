"""Comparing two executors' outputs with named tolerances.

Every executor (reference interpreter, onnxruntime, the ASIC simulator, LLVM code) is checked
against another through :func:`compare_outputs`. Tolerances are named constants here;
loosening one needs a reason next to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: fp32 against fp32 (DESIGN.md): same math, different summation order.
F32_RTOL = 1e-4
F32_ATOL = 1e-5


def compare_outputs(
    got: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    *,
    rtol: float = F32_RTOL,
    atol: float = F32_ATOL,
) -> list[str]:
    """Differences between two output dicts, as human-readable lines (empty when they match)."""
    problems: list[str] = []
    for name, want in expected.items():
        if name not in got:
            problems.append(f"output '{name}' is missing")
            continue
        have = np.asarray(got[name])
        want = np.asarray(want)
        if have.shape != want.shape:
            problems.append(f"output '{name}' has shape {have.shape}, expected {want.shape}")
            continue
        if want.dtype.kind in "fc" or have.dtype.kind in "fc":
            a = have.astype(np.float64)
            b = want.astype(np.float64)
            bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                worst = float(np.nanmax(np.abs(a - b)[bad]))
                problems.append(
                    f"output '{name}': {int(bad.sum())} of {bad.size} elements differ (max abs diff {worst:.3g}, rtol {rtol}, atol {atol})"
                )
        elif not np.array_equal(have, want):
            problems.append(f"output '{name}': {int((have != want).sum())} of {have.size} elements differ")
    return problems
