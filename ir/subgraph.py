"""A run of a graph's ops as a graph of its own.

Used wherever a few ops of a model must run apart from the rest: the tiled lowering's host
calls hold their ops inline as a sub-graph (:mod:`moecc.passes.tiled_lowering.lower`), and
the ``asic`` target compiles each host step between its programs from one
(:mod:`moecc.backend.llvm.host_steps`). The sub-graph's values keep the names (and its ops
the ONNX node names) of the originals, so that an error raised while running it names the
model's node.
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.ir.graph import Graph, Op, Value


def extract_subgraph(name: str, ops: Sequence[Op], exported: Sequence[Value]) -> tuple[Graph, list[Value]]:
    """A graph named ``name`` running ``ops`` (in graph order) and returning ``exported`` (results
    of ``ops``), and the outside values it reads, in the order of its inputs.

    An operand produced by a constant outside ``ops`` travels inside the sub-graph as a
    ``const`` op; every other operand not produced by ``ops`` becomes an input."""
    produced = {r for op in ops for r in op.results}
    sub = Graph(name)
    mapping: dict[Value, Value] = {}
    inputs: list[Value] = []
    for op in ops:
        for value in op.operands:
            if value in mapping or value in produced:
                continue
            producer = value.producer
            if producer is not None and producer.is_const:
                mapping[value] = sub.add_op("const", [], dict(producer.attrs), [value.type], names=[value.name],
                                            source=producer.source).result
                continue
            inputs.append(value)
            mapping[value] = sub.add_input(value.name, value.type)
        new = sub.add_op(op.kind, [mapping[v] for v in op.operands], dict(op.attrs), [r.type for r in op.results],
                         names=[r.name for r in op.results], source=op.source)
        mapping.update(zip(op.results, new.results))
    sub.set_outputs([mapping[r] for r in exported])
    return sub, inputs


__all__ = ["extract_subgraph"]
