"""Numerics of element-wise tile operations: the one definition of what they compute.

Every executor of the tiled levels applies these tables: the kernel-IR interpreter
(:mod:`moecc.ir.kernel_interpreter`, per ``Vector`` statement) and the moe-asic simulator
(:mod:`moecc.backend.asic.sim`, per VPU instruction), so they agree to the last bit. It lives in
the IR layer (which imports nothing of the ISA or the back ends); the ISA's VPU instructions are
specified to compute these. Keys are the op names without the ``vpu.`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def erf(x: np.ndarray) -> np.ndarray:
    """The VPU's erf: Abramowitz & Stegun 7.1.26 in float64 (|error| < 1.5e-7, below f32
    resolution near 1), as a hardware polynomial unit would compute it."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _row_max(a: np.ndarray) -> np.ndarray:
    return a.max(axis=1, keepdims=True) if a.shape[1] else np.full((a.shape[0], 1), -np.inf, dtype=a.dtype)


BINARY_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
    "cmpgt": lambda a, b: (a > b).astype(a.dtype),
    "cmpge": lambda a, b: (a >= b).astype(a.dtype),
    "cmpeq": lambda a, b: (a == b).astype(a.dtype),
}

UNARY_OPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mov": lambda a: a,
    "cvt": lambda a: a,
    "neg": np.negative,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "rsqrt": lambda a: 1.0 / np.sqrt(a),
    "rcp": lambda a: 1.0 / a,
    "tanh": np.tanh,
    "erf": lambda a: erf(a.astype(np.float64)),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "sqrt": np.sqrt,
    "rsum": lambda a: a.sum(axis=1, keepdims=True, dtype=a.dtype),
    "rmax": _row_max,
}

SCALAR_OPS: dict[str, Callable[[np.ndarray, object], np.ndarray]] = {
    "adds": lambda a, s: a + s,
    "muls": lambda a, s: a * s,
    "maxs": lambda a, s: np.maximum(a, s),
    "mins": lambda a, s: np.minimum(a, s),
    "fill": lambda a, s: np.full_like(a, s),
}

#: Ops that need a float dtype (an i32 operand is a fault).
FLOAT_ONLY_OPS = frozenset({"div", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt"})


def topk_order(src: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """Column indices of the ``k`` largest (``largest``) or smallest elements of each row of
    ``src``, descending or ascending; NaN counts as larger than every number (as the graph IR's
    ``top_k`` and ``arg_max`` say: first among the largest, last among the smallest) and ties
    keep the lower index first."""
    nan = np.isnan(src) if src.dtype.kind == "f" else np.zeros(src.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        keys = np.where(nan, 0, -src if largest else src)
    # lexsort is stable and sorts by its last key first: NaNs (first or last), then the keys.
    return np.lexsort((keys, ~nan if largest else nan), axis=-1)[..., :k]
