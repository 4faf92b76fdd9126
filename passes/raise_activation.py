"""Activation raising: an element-wise expression of one tensor that computes SiLU or GELU becomes that op.

Part of ``raise-composites`` (:mod:`moecc.passes.raise_composites`). Exporters write the same
activation in many association orders (``0.5 * x * (1 + erf(x / sqrt(2)))``,
``x * 0.5 * (1.0 + erf(x * 0.7071))``, ``x * (1 + erf(..)) / 2``, the tanh form with ``pow(x, 3)`` or
``x * x * x``, ``x * sigmoid(x)``), so they are recognised by **what they compute**, not by shape:

1. the *cone* of a root op: the element-wise ops above it whose other operands are scalar
   constants, up to :data:`MAX_CONE_OPS`, ending at one non-constant leaf ``x`` (tried from the
   deepest value up, so ``gelu(relu(y))`` is found with ``x = relu(y)``);
2. the cone is evaluated on :data:`PROBE` (a float32 ramp over ``[-8, 8]`` plus points near 0
   and the tails) and compared with each activation's float64 formula in
   :data:`ACTIVATIONS`; it matches when every point is within ``PROBE_RTOL`` relative (and
   ``PROBE_ATOL`` absolute) of the formula, scaled by the element type's epsilon.

The tolerance is a few ulps: the tanh form differs from the erf form by up to 2e-4 and a
mistyped constant (``0.0447`` for ``0.044715``) by 1e-5, both far above it, so near-misses stay
as they are. A cone of one op is never raised (``gelu`` is already itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ml_dtypes
import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.ops.elementwise import UNARY_KINDS
from moecc.ir.registry import get_op_def
from moecc.passes.rewrite_patterns import Match, float_scalar

#: The most element-wise ops one activation may take (the tanh GELU takes 8 to 10).
MAX_CONE_OPS = 16

#: Points the cone is evaluated on: a ramp over [-8, 8], points near 0, and the tails.
PROBE = np.concatenate([np.linspace(-8.0, 8.0, 161), np.array([-1e-3, -1e-6, 0.0, 1e-6, 1e-3, -20.0, 20.0])]).astype(np.float32)

#: A cone matches an activation when it is within this many epsilons of the element type,
#: relative to the formula's magnitude (plus the same absolute margin): a few roundings of
#: each association order's intermediate steps.
PROBE_ULPS = 16.0

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


#: Activation name -> (its float64 formula, the op kind and attrs it becomes).
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str, dict[str, str]]] = {
    "silu": (_silu, "silu", {}),
    "gelu": (_gelu, "gelu", {"approximate": "none"}),
    "gelu_tanh": (_gelu_tanh, "gelu", {"approximate": "tanh"}),
}

_UNARY = frozenset(k.name for k in UNARY_KINDS if not k.returns_bool)
_BINARY = frozenset({"add", "sub", "mul", "div", "pow"})
_ELEMENTWISE = _UNARY | _BINARY
_EXPECTED = {name: formula(PROBE.astype(np.float64)) for name, (formula, _, _) in ACTIVATIONS.items()}


def _cone_from(root: Op, leaf: Value, limit: int) -> list[Op] | None:
    """The ops computing ``root`` from ``leaf`` and scalar constants only (root first), or None."""
    seen: dict[int, Op] = {}

    def visit(v: Value) -> bool:
        if v is leaf or float_scalar(v) is not None:
            return True
        producer = v.producer
        if producer is None or producer.kind not in _ELEMENTWISE or len(producer.results) != 1:
            return False
        if id(producer) in seen:
            return True
        if len(seen) >= limit:
            return False
        seen[id(producer)] = producer
        return all(visit(o) for o in producer.operands)

    if not all(visit(o) for o in root.operands):
        return None
    return [root] + [op for op in seen.values()]


def _candidate_leaves(root: Op) -> list[Value]:
    """Non-constant values feeding the element-wise ops above ``root``, deepest first."""
    order: list[Value] = []
    frontier, seen_ops = [root], {id(root)}
    while frontier and len(seen_ops) <= MAX_CONE_OPS:
        nxt: list[Op] = []
        for op in frontier:
            for v in op.operands:
                if float_scalar(v) is not None:
                    continue
                if v not in order:
                    order.append(v)
                producer = v.producer
                if producer is not None and producer.kind in _ELEMENTWISE and id(producer) not in seen_ops:
                    seen_ops.add(id(producer))
                    nxt.append(producer)
        frontier = nxt
    return order[::-1]


def _evaluate(cone: list[Op], leaf: Value) -> np.ndarray | None:
    """The cone's root computed from ``leaf = PROBE`` in the leaf's element type."""
    dtype = leaf.type.dtype.numpy
    env: dict[int, np.ndarray] = {id(leaf): PROBE.astype(dtype)}
    with np.errstate(all="ignore"):
        for op in _producers_first(cone):
            arrays = []
            for v in op.operands:
                data = env.get(id(v))
                if data is None:
                    data = const_value(v)
                if data is None:
                    return None
                arrays.append(data)
            env[id(op.result)] = np.asarray(get_op_def(op.kind).compute(arrays, op.attrs)[0])
    return env[id(cone[0].result)].reshape(-1)


def _producers_first(cone: list[Op]) -> list[Op]:
    """``cone`` ordered so that every op comes after the ops that feed it."""
    ids = {id(op) for op in cone}
    done: set[int] = set()
    order: list[Op] = []

    def place(op: Op) -> None:
        if id(op) in done:
            return
        done.add(id(op))
        for v in op.operands:
            if v.producer is not None and id(v.producer) in ids:
                place(v.producer)
        order.append(op)

    for op in cone:
        place(op)
    return order


def identify(values: np.ndarray, epsilon: float) -> str | None:
    """The activation whose formula ``values`` (computed on :data:`PROBE`) follows, or None."""
    got = values.astype(np.float64)
    if got.shape != PROBE.shape or not np.all(np.isfinite(got)):
        return None
    for name, expected in _EXPECTED.items():
        margin = PROBE_ULPS * epsilon * (1.0 + np.abs(expected))
        if np.all(np.abs(got - expected) <= margin):
            return name
    return None


def find_activation(root: Op) -> Match | None:
    """The activation ``root`` computes from one tensor, as a match binding ``x`` and naming the
    activation under ``"activation"`` (see the module docstring), or None."""
    if root.kind not in _ELEMENTWISE or len(root.results) != 1 or not root.result.type.dtype.is_float:
        return None
    shape = root.result.type.shape
    for leaf in _candidate_leaves(root):
        if leaf.type.shape != shape or leaf.type.dtype != root.result.type.dtype:
            continue
        cone = _cone_from(root, leaf, MAX_CONE_OPS)
        if cone is None or len(cone) < 2:
            continue
        values = _evaluate(cone, leaf)
        if values is None or values.size != PROBE.size:
            continue
        name = identify(values, float(ml_dtypes.finfo(leaf.type.dtype.numpy).eps))
        if name is not None:
            return Match({"x": leaf}, cone, info={"activation": name})
    return None


def rewrite_activation(m: Match, rw) -> Value:  # noqa: ANN001 - a canonicalize.Rewriter
    _, kind, attrs = ACTIVATIONS[m.info["activation"]]
    return rw.emit(kind, [m["x"]], attrs, name=m.info["activation"])


__all__ = ["ACTIVATIONS", "MAX_CONE_OPS", "PROBE", "PROBE_ULPS", "find_activation", "identify", "rewrite_activation"]
