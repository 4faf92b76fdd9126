"""Builds graph-IR ops with type inference and eager constant folding.

The frontend and the passes create ops through :class:`GraphBuilder`: it normalises
attributes against the registry, infers result types and, when every operand is a known
constant, evaluates the op with its reference semantics instead of emitting it. That is what
folds PyTorch's Shape → Gather → Concat → Reshape chains to static shapes at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moecc.ir.graph import ElidedTensor, Graph, Value
from moecc.ir.registry import evaluate, get_op_def, infer_types, normalize_attrs
from moecc.ir.types import TensorType

#: Results larger than this are not folded at build time (a folded Expand of a huge
#: shape would otherwise materialise it in memory); the op stays in the graph.
FOLD_LIMIT_BYTES = 64 * 1024 * 1024


def const_value(value: Value) -> np.ndarray | None:
    """The data of ``value`` when it is produced by a ``const`` op with known data."""
    producer = value.producer
    if producer is None or producer.kind != "const":
        return None
    data = producer.attrs["value"]
    return None if isinstance(data, ElidedTensor) else data


class GraphBuilder:
    """Appends ops to ``graph`` (or inserts them at ``insert_at``), folding constants."""

    def __init__(self, graph: Graph, *, fold: bool = True, source: str | None = None) -> None:
        self.graph = graph
        self.fold = fold
        self.source = source
        self.insert_at: int | None = None

    def _insert_index(self) -> int | None:
        if self.insert_at is None:
            return None
        index = self.insert_at
        self.insert_at += 1
        return index

    def const(self, array: np.ndarray | float | int | bool, name: str = "cst", dtype: Any = None) -> Value:
        arr = np.asarray(array, dtype=dtype)
        return self.graph.add_const(arr, name, source=self.source, index=self._insert_index())

    def emit(
        self,
        kind: str,
        operands: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> list[Value]:
        """Create ``kind(operands) {attrs}`` and return its results (possibly folded consts)."""
        opdef = get_op_def(kind)
        norm = normalize_attrs(opdef, attrs or {})
        types = infer_types(kind, [v.type for v in operands], norm)
        hint = name or kind
        if self.fold and kind != "const" and sum(t.nbytes for t in types) <= FOLD_LIMIT_BYTES:
            arrays = [const_value(v) for v in operands]
            if all(a is not None for a in arrays):
                outs = evaluate(kind, arrays, norm, types)  # type: ignore[arg-type]
                return [self.const(a, hint) for a in outs]
        op = self.graph.add_op(
            kind,
            operands,
            norm,
            types,
            names=[hint] * len(types),
            source=self.source,
            index=self._insert_index(),
        )
        return op.results

    def emit1(self, kind: str, operands: Sequence[Value], attrs: Mapping[str, Any] | None = None, *, name: str | None = None) -> Value:
        """:meth:`emit` for single-result ops."""
        return self.emit(kind, operands, attrs, name=name)[0]

    @staticmethod
    def type_of(value: Value) -> TensorType:
        return value.type
