"""Common-subexpression elimination: merge ops that compute the same thing.

Two ops are the same computation when they have the same kind, the very same operand
values (in order) and equal attributes (:func:`moecc.ir.graph.attrs_equal`: arrays bitwise,
NaN equal to NaN). Constants are the case that matters most after import: exporters repeat
the same shape vectors, scales and masks many times; they merge when their data is equal
(content digest first, then an exact byte compare). Every op is pure, so merging is safe.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from moecc.ir.graph import ElidedTensor, Graph, Op, Value, attrs_equal, tensor_digest
from moecc.passes.manager import Pass, register_pass


#: Constants up to this size are keyed by a digest of all their bytes.
DIGEST_WHOLE_BYTES = 1 << 20
#: Bytes hashed from each of the start, middle and end of a bigger constant.
SAMPLE_BYTES = 1 << 14


def _attr_key(value: Any) -> Hashable:
    """A hashable key that is equal for any two values :func:`attrs_equal` accepts (it may
    also be equal for some it rejects; candidates are compared exactly afterwards)."""
    if isinstance(value, np.ndarray):
        if value.nbytes <= DIGEST_WHOLE_BYTES:
            return ("array", tensor_digest(value))
        # A big constant (a weight, often a map of its file): its type and three slices. Equal
        # arrays get equal keys; the rare unequal pair that collides is told apart by the exact
        # compare, and no weight is read whole just to be hashed.
        flat = value.reshape(-1)
        step = max(1, SAMPLE_BYTES // value.itemsize)
        middle = flat.size // 2
        parts = (flat[:step], flat[middle: middle + step], flat[-step:])
        return ("array", str(value.dtype), value.shape, tuple(tensor_digest(np.ascontiguousarray(p)) for p in parts))
    if isinstance(value, float) and value != value:
        return ("nan",)
    if isinstance(value, (tuple, list)):
        return tuple(_attr_key(v) for v in value)
    if isinstance(value, ElidedTensor) or isinstance(value, Hashable):
        return value
    return ("unhashable", type(value).__name__)


def _attrs_key(attrs: Mapping[str, Any]) -> Hashable:
    return tuple(sorted((name, _attr_key(v)) for name, v in attrs.items()))


def _same_computation(a: Op, b: Op) -> bool:
    return (
        a.kind == b.kind
        and len(a.operands) == len(b.operands)
        and all(x is y for x, y in zip(a.operands, b.operands))
        and set(a.attrs) == set(b.attrs)
        and all(attrs_equal(a.attrs[k], b.attrs[k]) for k in a.attrs)
        and [r.type for r in a.results] == [r.type for r in b.results]
    )


def eliminate_common_subexpressions(graph: Graph) -> int:
    """Merge duplicate ops into their first occurrence; return how many were removed."""
    replacement: dict[int, Value] = {}
    seen: dict[Hashable, list[Op]] = {}
    duplicates: list[Op] = []
    for op in graph.ops:
        if replacement:
            op.operands = [replacement.get(id(v), v) for v in op.operands]
        key = (op.kind, tuple(id(v) for v in op.operands), _attrs_key(op.attrs))
        bucket = seen.setdefault(key, [])
        original = next((other for other in bucket if _same_computation(other, op)), None)
        if original is None:
            bucket.append(op)
            continue
        for dup, kept in zip(op.results, original.results):
            replacement[id(dup)] = kept
        duplicates.append(op)
    if duplicates:
        graph.outputs = [replacement.get(id(v), v) for v in graph.outputs]
        graph.remove_ops(duplicates)
    return len(duplicates)


@register_pass
@dataclass(frozen=True, slots=True)
class CommonSubexpressionElimination(Pass):
    """Merges ops with the same kind, operands and attributes, and equal constants.

    Before (``-p cse``)::

        %c0 = const dense<[1, 4]> : tensor<2xi64>
        %c1 = const dense<[1, 4]> : tensor<2xi64>
        %a = exp(%x) : tensor<4xf32>
        %b = exp(%x) : tensor<4xf32>
        %y = add(%a, %b) : tensor<4xf32>

    After::

        %c0 = const dense<[1, 4]> : tensor<2xi64>
        %a = exp(%x) : tensor<4xf32>
        %y = add(%a, %a) : tensor<4xf32>
    """

    name: ClassVar[str] = "cse"

    def apply(self, graph: Graph) -> bool:
        return eliminate_common_subexpressions(graph) > 0
