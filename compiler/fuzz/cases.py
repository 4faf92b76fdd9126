"""Fuzz cases: a generated graph-IR graph with the recipe of its inputs, and its ``.mir`` form.

Where it sits in the flow: the strategy (:mod:`moecc.fuzz.strategy`) builds a
:class:`FuzzCase`; the runner (:mod:`moecc.fuzz.runner`) compiles its graph for each target and
feeds every target the same inputs, made here from the case's :class:`InputSpec` (a seeded
recipe, so integers used as indices are in range by construction). A failing case is written
as ``.mir`` text (:func:`case_to_mir`): the graph with every constant printed in full, after
``//`` comment lines holding the target, the symptom and one JSON line per input recipe, so
:func:`case_from_mir` rebuilds the same graph and the same inputs (a regression test).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from moecc.ir.graph import Graph
from moecc.ir.parser import parse_graph
from moecc.ir.printer import print_graph
from moecc.ir.types import DType

#: Header line prefix of an input recipe in a case's ``.mir`` text.
INPUT_PREFIX = "// fuzz-input: "


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How to make one graph input: uniform values in ``[low, high]`` (``high`` exclusive for
    integers), rounded to integers when ``integral``, from ``numpy.random.default_rng(seed)``;
    with ``special``, about three in five elements become NaN, +inf or -inf."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    low: float
    high: float
    integral: bool
    seed: int
    special: bool = False

    def make(self) -> np.ndarray:
        data = make_array(DType.parse(self.dtype), self.shape, self.low, self.high, self.integral, self.seed)
        return with_special_values(data, self.seed) if self.special else data

    def to_json(self) -> str:
        data = asdict(self)
        data["shape"] = list(self.shape)
        return json.dumps(data, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> InputSpec:
        data = json.loads(text)
        data["shape"] = tuple(int(d) for d in data["shape"])
        return InputSpec(**data)


def make_array(dtype: DType, shape: tuple[int, ...], low: float, high: float, integral: bool, seed: int) -> np.ndarray:
    """Seeded data: bools fair coins; integers in ``[low, high)``; floats uniform in
    ``[low, high]`` (integers in it when ``integral``), rounded to ``dtype``."""
    rng = np.random.default_rng(seed)
    if dtype is DType.BOOL:
        return rng.random(shape) < 0.5
    if dtype.is_int:
        return rng.integers(int(low), int(high), size=shape).astype(dtype.numpy)
    if integral:
        return rng.integers(int(low), int(high) + 1, size=shape).astype(np.float32).astype(dtype.numpy)
    return rng.uniform(low, high, size=shape).astype(np.float32).astype(dtype.numpy)


def with_special_values(data: np.ndarray, seed: int) -> np.ndarray:
    """``data`` (a float array) with a seeded choice of elements set to NaN, +inf and -inf."""
    mask = np.random.default_rng(seed + 1).integers(0, 5, size=data.shape)
    special = np.where(mask == 1, np.nan, np.where(mask == 2, np.inf, -np.inf)).astype(data.dtype)
    return np.where((mask >= 1) & (mask <= 3), special, data)


@dataclass(slots=True)
class FuzzCase:
    """A generated graph and the recipes of its inputs (parallel to ``graph.inputs``)."""

    graph: Graph
    inputs: list[InputSpec]
    #: Op kinds the strategy emitted (motif names aside), for coverage statistics.
    notes: list[str] = field(default_factory=list)

    def feeds(self) -> dict[str, np.ndarray]:
        return {spec.name: spec.make() for spec in self.inputs}

    def op_kinds(self) -> set[str]:
        return {op.kind for op in self.graph.ops if not op.is_const}

    def text(self) -> str:
        """The graph's text, every constant in full."""
        return print_graph(self.graph, elide_constants=False)


def case_to_mir(case: FuzzCase, comments: Iterable[str] = ()) -> str:
    """``.mir`` text of ``case``: ``//`` comment lines (``comments``, then the input recipes),
    then the graph with every constant printed in full."""
    lines = []
    for comment in comments:
        lines.extend(f"// {line}".rstrip() for line in str(comment).splitlines())
    lines.extend(INPUT_PREFIX + spec.to_json() for spec in case.inputs)
    return "\n".join(lines) + "\n" + case.text()


def case_from_mir(text: str) -> FuzzCase:
    """The case :func:`case_to_mir` wrote (graph parsed, not verified; inputs from the header)."""
    specs = [InputSpec.from_json(line[len(INPUT_PREFIX):]) for line in text.splitlines() if line.startswith(INPUT_PREFIX)]
    return FuzzCase(parse_graph(text), specs)


def load_case(path: str | Path) -> FuzzCase:
    return case_from_mir(Path(path).read_text(encoding="utf-8"))


__all__ = ["FuzzCase", "InputSpec", "case_from_mir", "case_to_mir", "load_case", "make_array", "with_special_values"]
