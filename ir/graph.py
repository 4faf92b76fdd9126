"""Graph IR data structures: values, ops and graphs.

The graph IR is a straight-line SSA dataflow graph of tensor ops with static types. The
frontend builds it from ONNX, passes rewrite it, the printer/parser give it a lossless text
form and the reference interpreter runs it. Op kinds and their contracts live in the op
registry (:mod:`moecc.ir.registry`); this module only holds the structure.

Weights are ``const`` ops whose ``value`` attribute holds a numpy array, or an
:class:`ElidedTensor` placeholder when parsed from elided text (bind real data with
:meth:`Graph.bind_weights`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from moecc.errors import VerificationError
from moecc.ir.types import DType, TensorType


def tensor_digest(array: np.ndarray) -> str:
    """Content hash of a constant (dtype, shape and bytes): 16 hex digits of sha256."""
    h = hashlib.sha256()
    h.update(str(array.dtype).encode())
    h.update(str(array.shape).encode())
    h.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)  # no copy of a contiguous array
    return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ElidedTensor:
    """A constant whose data was elided in IR text; only its type and content hash are known."""

    type: TensorType
    digest: str


class Value:
    """An SSA value: a graph input or one result of an op."""

    __slots__ = ("name", "type", "producer")

    def __init__(self, name: str, type: TensorType, producer: Op | None = None) -> None:
        self.name = name
        self.type = type
        self.producer = producer

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Op:
    """One operation: ``results = kind(operands) {attrs}``.

    ``source`` names the ONNX node (or pass) the op came from, for error messages and for
    mapping generated code back to the model.
    """

    __slots__ = ("kind", "operands", "attrs", "results", "source")

    def __init__(
        self,
        kind: str,
        operands: Sequence[Value],
        attrs: Mapping[str, Any],
        results: Sequence[Value],
        source: str | None = None,
    ) -> None:
        self.kind = kind
        self.operands: list[Value] = list(operands)
        self.attrs: dict[str, Any] = dict(attrs)
        self.results: list[Value] = list(results)
        self.source = source
        for r in self.results:
            r.producer = self

    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise VerificationError(f"op '{self.kind}' has {len(self.results)} results, not one")
        return self.results[0]

    @property
    def is_const(self) -> bool:
        return self.kind == "const"

    def describe(self) -> str:
        names = ", ".join(f"%{r.name}" for r in self.results)
        src = f" (from ONNX node '{self.source}')" if self.source else ""
        return f"'{self.kind}' defining {names}{src}"

    def __repr__(self) -> str:
        return f"<Op {self.describe()}>"


@dataclass(slots=True)
class Graph:
    """A function: named inputs, ops in topological order, outputs.

    ``output_names`` are the external (ONNX) names of the outputs, parallel to ``outputs``;
    two outputs may be the same value, and an output may be an input.
    """

    name: str = "main"
    inputs: list[Value] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=set, repr=False)
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    # -- construction -------------------------------------------------------------------
    def fresh_name(self, hint: str = "v") -> str:
        """A value name not used yet in this graph, derived from ``hint``."""
        base = _sanitize(hint) or "v"
        if base not in self._names and not base[0].isdigit():
            self._names.add(base)
            return base
        while True:
            candidate = f"{base}_{next(self._counter)}"
            if candidate not in self._names:
                self._names.add(candidate)
                return candidate

    def release_name(self, name: str) -> None:
        """Make ``name`` available to :meth:`fresh_name` again (its value is being replaced)."""
        self._names.discard(name)

    def reserve_name(self, name: str) -> None:
        if name in self._names:
            raise VerificationError(f"value name '%{name}' is defined twice")
        self._names.add(name)

    def add_input(self, name: str, type: TensorType) -> Value:
        value = Value(self.fresh_name(name), type)
        self.inputs.append(value)
        return value

    def add_op(
        self,
        kind: str,
        operands: Sequence[Value],
        attrs: Mapping[str, Any],
        result_types: Sequence[TensorType],
        *,
        names: Sequence[str] | None = None,
        source: str | None = None,
        index: int | None = None,
    ) -> Op:
        """Create an op with fresh result values and insert it (at the end by default)."""
        hints = list(names) if names is not None else [kind] * len(result_types)
        results = [Value(self.fresh_name(h), t) for h, t in zip(hints, result_types, strict=True)]
        op = Op(kind, operands, attrs, results, source)
        if index is None:
            self.ops.append(op)
        else:
            self.ops.insert(index, op)
        return op

    def add_const(self, array: np.ndarray, name: str = "cst", source: str | None = None, index: int | None = None) -> Value:
        arr = np.asarray(array)
        return self.add_op("const", [], {"value": arr}, [TensorType.of(arr)], names=[name], source=source, index=index).result

    def set_outputs(self, values: Sequence[Value], names: Sequence[str] | None = None) -> None:
        self.outputs = list(values)
        self.output_names = list(names) if names is not None else [v.name for v in values]

    # -- queries ----------------------------------------------------------------------
    def uses(self) -> dict[Value, list[Op | None]]:
        """Map each value to the ops using it (``None`` marks a use as graph output)."""
        table: dict[Value, list[Op | None]] = {}
        for op in self.ops:
            for v in op.operands:
                table.setdefault(v, []).append(op)
        for v in self.outputs:
            table.setdefault(v, []).append(None)
        return table

    def values(self) -> Iterator[Value]:
        yield from self.inputs
        for op in self.ops:
            yield from op.results

    def const_ops(self) -> Iterator[Op]:
        return (op for op in self.ops if op.is_const)

    def weight_bytes(self) -> int:
        return sum(op.result.type.nbytes for op in self.const_ops())

    def dataflow(self) -> nx.DiGraph:
        """The op dependency graph (networkx), nodes are op indices in ``self.ops``."""
        index = {id(op): i for i, op in enumerate(self.ops)}
        dg = nx.DiGraph()
        dg.add_nodes_from(range(len(self.ops)))
        for i, op in enumerate(self.ops):
            for v in op.operands:
                if v.producer is not None and id(v.producer) in index:
                    dg.add_edge(index[id(v.producer)], i)
        return dg

    # -- rewriting --------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        for op in self.ops:
            op.operands = [new if v is old else v for v in op.operands]
        self.outputs = [new if v is old else v for v in self.outputs]

    def remove_ops(self, dead: Sequence[Op]) -> None:
        ids = {id(op) for op in dead}
        for op in dead:
            for r in op.results:
                self._names.discard(r.name)
        self.ops = [op for op in self.ops if id(op) not in ids]

    def sort_topologically(self) -> None:
        """Reorder ops into a topological order, keeping the current order where free."""
        dg = self.dataflow()
        try:
            order = list(nx.lexicographical_topological_sort(dg))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(dg)
            names = " -> ".join(self.ops[a].describe() for a, _ in cycle)
            raise VerificationError(f"the graph has a cycle: {names}") from None
        self.ops = [self.ops[i] for i in order]

    def bind_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace elided constants by real data, looked up by value name or content digest."""
        for op in self.const_ops():
            value = op.attrs["value"]
            if not isinstance(value, ElidedTensor):
                continue
            data = weights.get(op.result.name, weights.get(value.digest))
            if data is None:
                continue
            arr = np.asarray(data)
            if TensorType.of(arr) != value.type:
                raise VerificationError(
                    f"weight for %{op.result.name} has type {TensorType.of(arr)}, the IR declares {value.type}"
                )
            op.attrs["value"] = arr

    def clone(self) -> Graph:
        """A deep copy with new Value/Op objects (constant arrays are shared, never mutated)."""
        g = Graph(self.name)
        g._names = set(self._names)
        mapping: dict[Value, Value] = {}
        for v in self.inputs:
            nv = Value(v.name, v.type)
            mapping[v] = nv
            g.inputs.append(nv)
        for op in self.ops:
            results = [Value(r.name, r.type) for r in op.results]
            for r, nr in zip(op.results, results):
                mapping[r] = nr
            g.ops.append(Op(op.kind, [mapping[v] for v in op.operands], dict(op.attrs), results, op.source))
        g.outputs = [mapping[v] for v in self.outputs]
        g.output_names = list(self.output_names)
        return g

    def structurally_equal(self, other: Graph) -> bool:
        """Same inputs, ops (kinds, attributes, types, wiring) and outputs, names aside."""
        return _structure_mismatch(self, other) is None


def attrs_equal(a: Any, b: Any) -> bool:
    """Attribute equality; arrays compare bitwise (dtype, shape and bytes), so NaNs match."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(attrs_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _structure_mismatch(a: Graph, b: Graph) -> str | None:
    """First structural difference between two graphs, or ``None`` when they match."""
    if [v.type for v in a.inputs] != [v.type for v in b.inputs]:
        return "input types differ"
    if len(a.ops) != len(b.ops):
        return f"op counts differ ({len(a.ops)} vs {len(b.ops)})"
    position: dict[int, tuple[int, int]] = {}
    for i, v in enumerate(a.inputs):
        position[id(v)] = (-1, i)
    other_position: dict[int, tuple[int, int]] = {}
    for i, v in enumerate(b.inputs):
        other_position[id(v)] = (-1, i)
    for k, (x, y) in enumerate(zip(a.ops, b.ops)):
        if x.kind != y.kind:
            return f"op {k}: kind {x.kind} vs {y.kind}"
        if [r.type for r in x.results] != [r.type for r in y.results]:
            return f"op {k} ({x.kind}): result types differ"
        if [position.get(id(v)) for v in x.operands] != [other_position.get(id(v)) for v in y.operands]:
            return f"op {k} ({x.kind}): operands differ"
        if set(x.attrs) != set(y.attrs) or not all(attrs_equal(x.attrs[n], y.attrs[n]) for n in x.attrs):
            return f"op {k} ({x.kind}): attributes differ"
        for j, (r, s) in enumerate(zip(x.results, y.results)):
            position[id(r)] = (k, j)
            other_position[id(s)] = (k, j)
    if [position.get(id(v)) for v in a.outputs] != [other_position.get(id(v)) for v in b.outputs]:
        return "outputs differ"
    if a.output_names != b.output_names:
        return "output names differ"
    return None


def _sanitize(name: str) -> str:
    out = "".join(c if (c.isalnum() or c in "_.") else "_" for c in name)
    return out.strip(".")


__all__ = [
    "DType",
    "ElidedTensor",
    "Graph",
    "Op",
    "TensorType",
    "Value",
    "attrs_equal",
    "tensor_digest",
]
