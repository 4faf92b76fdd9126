"""Constant folding: evaluate ops whose operands are all constants at compile time.

The builder already folds while the frontend imports a model; this pass folds what later
rewrites expose (a canonicalized transpose of a weight, a cast of a constant mask, ...).
Each foldable op is evaluated with its reference semantics
(:func:`moecc.ir.registry.evaluate`, the same code the interpreter runs, so folding cannot
change results) and replaced by ``const`` ops that define the very same result values, so
names and uses stay as they were. The constants it consumed are left for ``dce``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from moecc.errors import MoeccError, PassError
from moecc.ir.builder import FOLD_LIMIT_BYTES, const_value
from moecc.ir.graph import Graph, Op
from moecc.ir.registry import evaluate
from moecc.passes.manager import Pass, register_pass


def fold_constant_ops(graph: Graph, max_bytes: int = FOLD_LIMIT_BYTES) -> int:
    """Replace every foldable op by constants; return how many ops were folded.

    An op folds when it has operands, all of them constants with known data (not elided),
    and its results total at most ``max_bytes``. One forward sweep folds whole chains,
    since a folded op's results are constants by the time its users are visited.
    """
    folded = 0
    new_ops: list[Op] = []
    for op in graph.ops:
        arrays = [const_value(v) for v in op.operands]
        too_big = sum(r.type.nbytes for r in op.results) > max_bytes
        if op.is_const or not op.operands or too_big or any(a is None for a in arrays):
            new_ops.append(op)
            continue
        try:
            with np.errstate(all="ignore"):
                outs = evaluate(op.kind, arrays, op.attrs, [r.type for r in op.results])  # type: ignore[arg-type]
        except MoeccError as err:
            raise err.add_context(node=op.source, location=f"folding op {op.describe()}") from None
        for result, data in zip(op.results, outs):
            # The const op takes over the result Value itself: every use stays valid.
            new_ops.append(Op("const", [], {"value": data}, [result], op.source))
        folded += 1
    graph.ops = new_ops
    return folded


@register_pass
@dataclass(frozen=True, slots=True)
class FoldConstants(Pass):
    """Evaluates ops whose operands are all constants and replaces them by constants.

    Option ``max_bytes``: results larger than this stay as ops (folding an ``expand`` of a
    scalar to a huge shape would otherwise materialise it as a weight).

    Before (``-p fold-constants``)::

        %a = const dense<[1.0, 2.0]> : tensor<2xf32>
        %b = neg(%a) : tensor<2xf32>
        %y = add(%x, %b) : tensor<2xf32>

    After (``%a`` is now unused; ``dce`` removes it)::

        %a = const dense<[1.0, 2.0]> : tensor<2xf32>
        %b = const dense<[-1.0, -2.0]> : tensor<2xf32>
        %y = add(%x, %b) : tensor<2xf32>
    """

    name: ClassVar[str] = "fold-constants"
    max_bytes: int = FOLD_LIMIT_BYTES

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise PassError(f"max_bytes must be non-negative, got {self.max_bytes}", pass_name=self.name)

    def apply(self, graph: Graph) -> bool:
        return fold_constant_ops(graph, self.max_bytes) > 0
