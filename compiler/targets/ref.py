"""The ``ref`` target: the graph IR run on the reference interpreter (the oracle).

No stages follow the graph passes; running evaluates each op's registered numpy semantics in
order (:func:`moecc.ir.interpreter.run_graph`). Every other target is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from moecc.targets.base import CompileTarget

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel


class RefTarget(CompileTarget):
    name: ClassVar[str] = "ref"
    description: ClassVar[str] = "reference interpreter (numpy semantics of the graph IR); the oracle for other targets"

    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from moecc.ir.interpreter import run_graph

        return run_graph(compiled.graph, feeds)
