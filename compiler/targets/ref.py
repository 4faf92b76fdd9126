"""The ``ref`` target: the graph IR run on the reference interpreter (the oracle).

No stages follow the graph passes; running evaluates each op's registered numpy semantics in
order (:func:`moecc.ir.interpreter.run_graph`). Every other target is checked against it.
Compiling refuses a model with a value the interpreter could not hold
(:func:`~moecc.targets.base.refuse_values_too_big`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from moecc.targets.base import CompileTarget, refuse_values_too_big

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.passes.compilation import Compilation


class RefTarget(CompileTarget):
    name: ClassVar[str] = "ref"
    description: ClassVar[str] = "reference interpreter (numpy semantics of the graph IR); the oracle for other targets"

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        refuse_values_too_big(unit.graph, "the reference interpreter")

    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from moecc.ir.interpreter import run_graph

        return run_graph(compiled.graph, feeds)
