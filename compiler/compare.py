"""Comparing two executors' outputs with named tolerances.

Every executor (reference interpreter, onnxruntime, the ASIC simulator, LLVM code) is checked
against another through :func:`compare_outputs`. Tolerances are named constants here;
loosening one needs a reason next to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: fp32 against fp32: same math, different summation order.
F32_RTOL = 1e-4
F32_ATOL = 1e-5
#: The MXU in bf16 (8-bit mantissa operands, f32 accumulation) against the f32 reference.
#: Each bf16 operand carries up to 2**-9 relative rounding; over a block (QKV, scores,
#: context, MLP, lm_head) the outputs drift by ~1% of their scale: measured on the bundled
#: examples, max abs error 0.046 on logits whose largest magnitude is 3.8 (relative L2 error
#: ≤ 1e-2). Routing matmuls stay f32 (backend.asic.precision.routing_matmuls), so no top-k
#: choice flips. A wrong tile or layout is an O(1) error and still fails.
#: ATOL was 5e-2 until the realistic-size Llama block (hidden 256, vocab 2048, `moecc sweep`'s
#: model) measured 0.065 on logits up to 4.9: 1.3% of their scale, bf16's own rounding over
#: two layers, on every MXU size (the error does not depend on the tiling).
BF16_RTOL = 2e-2
BF16_ATOL = 8e-2


def tolerances(precision: str) -> tuple[float, float]:
    """(rtol, atol) for comparing a target run at ``precision`` against the f32 reference."""
    return (BF16_RTOL, BF16_ATOL) if precision == "bf16" else (F32_RTOL, F32_ATOL)


def _is_float(dtype: np.dtype) -> bool:
    # numpy reports ml_dtypes' bfloat16 as kind 'V': compare it as a float, not bit for bit.
    return dtype.kind in "fc" or dtype.name == "bfloat16"


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
        if _is_float(want.dtype) or _is_float(have.dtype):
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
