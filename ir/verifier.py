"""Whole-graph verifier: SSA, topological order, no cycles, op contracts and types.

Run after import and after every pass (the pass manager does this). Messages name the op
(kind, result names and the ONNX node it came from).
"""

from __future__ import annotations

from moecc.errors import MoeccError, VerificationError
from moecc.ir.graph import Graph, Value
from moecc.ir.registry import check_operand_count, get_op_def, infer_types, normalize_attrs


def verify_graph(graph: Graph) -> None:
    """Raise :class:`VerificationError` on the first violated invariant."""
    defined: set[int] = set()
    names: set[str] = set()

    def define(v: Value) -> None:
        if v.name in names:
            raise VerificationError(f"value name %{v.name} is defined more than once")
        names.add(v.name)
        defined.add(id(v))

    for v in graph.inputs:
        define(v)
    all_results = {id(r) for op in graph.ops for r in op.results}
    for index, op in enumerate(graph.ops):
        where = f"op #{index} {op.describe()}"
        for pos, v in enumerate(op.operands):
            if id(v) not in defined:
                if id(v) in all_results:
                    graph.sort_topologically()  # raises naming the cycle if there is one
                    raise VerificationError(f"{where}: operand {pos} (%{v.name}) is used before it is defined")
                raise VerificationError(f"{where}: operand {pos} (%{v.name}) is not defined in the graph")
        try:
            opdef = get_op_def(op.kind)
            check_operand_count(opdef, len(op.operands))
            attrs = normalize_attrs(opdef, op.attrs)
            if set(attrs) != set(op.attrs):
                raise VerificationError("attributes are not in canonical form (defaults not filled in)")
            expected = infer_types(op.kind, [v.type for v in op.operands], attrs)
        except MoeccError as err:
            raise VerificationError(f"{where}: {err}") from None
        actual = [r.type for r in op.results]
        if expected != actual:
            raise VerificationError(
                f"{where}: result types {', '.join(map(str, actual))} do not match the inferred "
                f"{', '.join(map(str, expected))}"
            )
        for r in op.results:
            if r.producer is not op:
                raise VerificationError(f"{where}: result %{r.name} does not point back to its op")
            define(r)
    for pos, v in enumerate(graph.outputs):
        if id(v) not in defined:
            raise VerificationError(f"graph output {pos} (%{v.name}) is not defined")
    if len(graph.output_names) != len(graph.outputs):
        raise VerificationError("graph output names do not match the outputs")
