"""The reference interpreter: runs a graph with each op's numpy semantics from the registry.

It is moecc's own oracle, independent of onnxruntime: the ``ref`` target runs models with it,
and every other executor (ASIC simulator, LLVM code) is compared against it. An error an op
raises is reported with the op's ONNX node; an index out of range names the input it came
from and the valid range too (:func:`~moecc.ir.ops.indexing.index_out_of_range`), as the
other targets report it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from moecc.errors import InputError, MoeccError
from moecc.ir.graph import Graph, Op
from moecc.ir.ops.indexing import IndexRangeError, index_out_of_range
from moecc.ir.registry import evaluate
from moecc.ir.types import TensorType


#: Called with each op and its operand arrays just before the op runs (see :func:`run_graph`).
Observer = Callable[[Op, Sequence[np.ndarray]], None]


def run_graph(graph: Graph, inputs: Mapping[str, np.ndarray], *, observe: Observer | None = None) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``inputs`` (keyed by input value name); outputs keyed by output name.

    ``observe(op, operand_arrays)``, when given, sees every op's operands before it runs (how
    calibration measures the activations feeding the weights without keeping intermediates:
    each is freed after its last use as usual)."""
    env: dict[int, np.ndarray] = {}
    for v in graph.inputs:
        if v.name not in inputs:
            raise InputError(f"missing input '{v.name}'")
        arr = np.asarray(inputs[v.name])
        if TensorType.of(arr) != v.type:
            raise InputError(f"input '{v.name}' is {TensorType.of(arr)}, the graph takes {v.type}")
        env[id(v)] = arr
    remaining = {id(v): 0 for v in graph.values()}
    for op in graph.ops:
        for v in op.operands:
            remaining[id(v)] = remaining.get(id(v), 0) + 1
    keep = {id(v) for v in graph.outputs}
    with np.errstate(all="ignore"):
        for op in graph.ops:
            args = [env[id(v)] for v in op.operands]
            if observe is not None:
                observe(op, args)
            try:
                outs = evaluate(op.kind, args, op.attrs, [r.type for r in op.results])
            except IndexRangeError as err:
                raise index_out_of_range(op, err.index, err.size) from None
            except MoeccError as err:
                raise err.add_context(node=op.source, location=f"op {op.describe()}") from None
            for r, a in zip(op.results, outs):
                env[id(r)] = a
            for v in op.operands:  # free intermediates as soon as their last use ran
                remaining[id(v)] -= 1
                if remaining[id(v)] == 0 and id(v) not in keep and v.producer is not None and not v.producer.is_const:
                    env.pop(id(v), None)
    return {name: env[id(v)] for name, v in zip(graph.output_names, graph.outputs)}
