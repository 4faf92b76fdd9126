"""Dead-code elimination: drop ops none of whose results reach a graph output.

Every graph-IR op is pure (no side effects, no state), so an op is dead exactly when no
result feeds a live op or a graph output. Graph inputs always stay, used or not: they are
the model's signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from moecc.ir.graph import Graph
from moecc.passes.manager import Pass, register_pass


def remove_dead_ops(graph: Graph) -> int:
    """Remove every op that does not contribute to an output; return how many went.

    One backward sweep reaches the fixed point because ops are in topological order: by
    the time an op is visited, every op that could use its results has been decided.
    """
    live_values: set[int] = {id(v) for v in graph.outputs}
    dead = []
    for op in reversed(graph.ops):
        if any(id(r) in live_values for r in op.results):
            live_values.update(id(v) for v in op.operands)
        else:
            dead.append(op)
    if dead:
        graph.remove_ops(dead)
    return len(dead)


@register_pass
@dataclass(frozen=True, slots=True)
class DeadCodeElimination(Pass):
    """Removes ops whose results are unused, transitively; graph inputs stay.

    Before (``-p dce``)::

        %t = transpose(%x) {perm = [1, 0]} : tensor<3x2xf32>
        %u = neg(%t) : tensor<3x2xf32>
        %y = relu(%x) : tensor<2x3xf32>
        return %y

    After::

        %y = relu(%x) : tensor<2x3xf32>
        return %y
    """

    name: ClassVar[str] = "dce"

    def apply(self, graph: Graph) -> bool:
        return remove_dead_ops(graph) > 0
