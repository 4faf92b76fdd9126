"""Declarative patterns over the graph IR: what the raising rules of ``raise-composites`` match.

A pattern reads as the expression it matches, in the manner of tinygrad's ``UPat`` or MLIR's
declarative rewrite rules::

    X = value("x")
    SILU = op("mul", X, op("sigmoid", X))

``op(kind, *operands)`` matches a value produced by an op of that kind (or of one of several
kinds) whose operands match in order; for the commutative kinds (:data:`COMMUTATIVE`) both
operand orders are tried. ``value(name)`` matches any value and binds it; a name bound twice
must bind the same value both times (``X`` above is the sigmoid's operand *and* the mul's).
``constant(name, where)`` matches a constant with known data (optionally satisfying ``where``),
``either(a, b, ...)`` the first alternative that matches, and ``maybe_cast(p)`` ``p`` with or
without a ``cast`` around it (as exporters write a norm's f32 upcast of an f16 model). Matching
backtracks: a later operand that fails undoes what the earlier ones bound.

:func:`match` returns a :class:`Match` with the bound values and every op the pattern
matched (the root's first); the raising driver checks that the matched ops' results are used
only inside the match before it replaces the root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value

#: Binary kinds whose operands may be swapped.
COMMUTATIVE = frozenset({"add", "mul", "max", "min"})


@dataclass(frozen=True, slots=True)
class Pattern:
    """One node of a pattern; build them with :func:`op`, :func:`value`, :func:`constant`,
    :func:`either` and :func:`maybe_cast`."""

    kinds: tuple[str, ...] | None = None  # None: a leaf (any value, or a constant)
    operands: tuple[Pattern, ...] = ()
    name: str | None = None
    attrs: Callable[[Mapping[str, Any]], bool] | None = None  # a predicate on the op's attrs
    data: Callable[[np.ndarray], bool] | None = None  # a leaf: constant data satisfying this
    alternatives: tuple[Pattern, ...] = ()

    def named(self, name: str) -> Pattern:
        """This pattern, binding what it matches to ``name``."""
        return Pattern(self.kinds, self.operands, name, self.attrs, self.data, self.alternatives)


def op(kinds: str | tuple[str, ...], *operands: Pattern, name: str | None = None,
       attrs: Callable[[Mapping[str, Any]], bool] | None = None) -> Pattern:
    """A value produced by an op of ``kinds`` whose operands match ``operands``."""
    return Pattern((kinds,) if isinstance(kinds, str) else tuple(kinds), tuple(operands), name, attrs)


def value(name: str | None = None) -> Pattern:
    """Any value."""
    return Pattern(name=name)


def constant(name: str | None = None, where: Callable[[np.ndarray], bool] | None = None) -> Pattern:
    """A constant with known data (satisfying ``where``)."""
    return Pattern(name=name, data=where or (lambda _: True))


def scalar(name: str | None = None, where: Callable[[float], bool] | None = None) -> Pattern:
    """A constant with exactly one element (of any rank), optionally satisfying ``where``."""
    def ok(data: np.ndarray) -> bool:
        return data.size == 1 and data.dtype.kind in "fiu" and (where is None or bool(where(float(data.reshape(-1)[0]))))
    return constant(name, ok)


def float_scalar(v: Value) -> float | None:
    """The value of a one-element float constant (of any rank), else None."""
    data = const_value(v)
    if data is None or data.size != 1 or data.dtype.kind != "f":
        return None
    return float(data.reshape(()))


def broadcasts_to(shape: tuple[int, ...], full: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``full`` without growing it."""
    try:
        return len(shape) <= len(full) and np.broadcast_shapes(shape, full) == full
    except ValueError:
        return False


def either(*alternatives: Pattern, name: str | None = None) -> Pattern:
    """The first of ``alternatives`` that matches."""
    return Pattern(name=name, alternatives=tuple(alternatives))


def maybe_cast(inner: Pattern) -> Pattern:
    """``inner``, or a ``cast`` of it."""
    return either(op("cast", inner), inner)


@dataclass(slots=True)
class Match:
    """What a pattern bound: values by name, and the ops it matched (root first)."""

    values: dict[str, Value]
    ops: list[Op] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # what a procedural matcher found besides values

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def get(self, name: str) -> Value | None:
        return self.values.get(name)

    def data(self, name: str) -> np.ndarray:
        """The constant data bound to ``name``."""
        data = const_value(self.values[name])
        assert data is not None, f"{name} is not a constant"
        return data


def match(pattern: Pattern, root: Value) -> Match | None:
    """The first way ``pattern`` matches ``root``, or None."""
    for bound, ops in _match(pattern, root, {}, ()):
        return Match(dict(bound), list(ops))
    return None


Bound = Mapping[str, Value]


def _bind(pattern: Pattern, v: Value, bound: Bound) -> Bound | None:
    if pattern.name is None:
        return bound
    if pattern.name in bound:
        return bound if bound[pattern.name] is v else None
    return {**bound, pattern.name: v}


def _match(pattern: Pattern, v: Value, bound: Bound, ops: tuple[Op, ...]) -> Iterator[tuple[Bound, tuple[Op, ...]]]:
    if pattern.alternatives:
        for alternative in pattern.alternatives:
            for inner, inner_ops in _match(alternative, v, bound, ops):
                named = _bind(pattern, v, inner)
                if named is not None:
                    yield named, inner_ops
        return
    if pattern.kinds is None:  # a leaf
        if pattern.data is not None:
            data = const_value(v)
            if data is None or not pattern.data(data):
                return
        named = _bind(pattern, v, bound)
        if named is not None:
            yield named, ops
        return
    producer = v.producer
    if producer is None or producer.kind not in pattern.kinds or len(producer.operands) != len(pattern.operands):
        return
    if len(producer.results) != 1 or (pattern.attrs is not None and not pattern.attrs(producer.attrs)):
        return
    named = _bind(pattern, v, bound)
    if named is None:
        return
    orders = [producer.operands]
    if producer.kind in COMMUTATIVE and len(producer.operands) == 2:
        orders.append(producer.operands[::-1])
    for operands in orders:
        yield from _match_all(pattern.operands, operands, named, ops + (producer,))


def _match_all(patterns: tuple[Pattern, ...], vs: list[Value], bound: Bound,
               ops: tuple[Op, ...]) -> Iterator[tuple[Bound, tuple[Op, ...]]]:
    if not patterns:
        yield bound, ops
        return
    for inner, inner_ops in _match(patterns[0], vs[0], bound, ops):
        yield from _match_all(patterns[1:], vs[1:], inner, inner_ops)


__all__ = ["COMMUTATIVE", "Match", "Pattern", "broadcasts_to", "constant", "either", "float_scalar", "match", "maybe_cast",
           "op", "scalar", "value"]
