"""What the ``cpu`` target runs: a compiled tiled module over a heap.

The heap keeps the weights between runs (written on the first run); each run copies the
inputs in, runs the program (machine-code segments and host calls) and copies the outputs
out. The graph is kept so that an index fault names the graph op and its input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.backend.llvm.tiled.program import TiledCpuProgram


@dataclass(slots=True)
class TiledCpuExecutable:
    """A compiled tiled module, its weights and which graph input feeds which buffer."""

    program: TiledCpuProgram
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    input_buffers: tuple[str, ...] = ()
    graph: Any = None
    object_code: bytes | None = None  # the ELF object it was loaded from (a .moe), kept for saving again
    _heap: np.ndarray | None = None
    _scratch: np.ndarray | None = None

    @property
    def module(self) -> Any:
        return self.program.module

    def run(self, feeds: Mapping[str, np.ndarray], input_names: Sequence[str],
            output_names: Sequence[str]) -> dict[str, np.ndarray]:
        program = self.program
        if self._heap is None:
            heap = program.new_heap()
            for name, value in self.weights.items():
                program.write(heap, name, value)
            self._heap, self._scratch = heap, program.new_scratch()
        assert self._scratch is not None
        for name, buffer in zip(input_names, self.input_buffers):
            program.write(self._heap, buffer, feeds[name])
        program.run(self._heap, self._scratch, self.graph)
        return {name: program.read(self._heap, buffer) for name, buffer in zip(output_names, program.module.outputs)}

    def last_run_buffer(self, name: str) -> np.ndarray | None:
        """Global buffer ``name`` as the last run left it (a kept buffer: an output-role one), or
        None before the first run."""
        return None if self._heap is None else self.program.read(self._heap, name)


__all__ = ["TiledCpuExecutable"]
