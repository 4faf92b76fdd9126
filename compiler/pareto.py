"""Pareto fronts over table rows: which design points no other point beats on every objective.

Beside the flow, after it: :mod:`moecc.sweep` evaluates design points (a chip and compile
options per point) into rows of named columns and marks the rows this module puts on the front.
An objective is a column and a direction (``latency_s:min``, ``tokens_per_j:max``). A row
dominates another when it is no worse on every objective and better on at least one; the front
is the rows no row dominates. Equal rows do not dominate each other, so duplicates are on the
front together. Only rows with ``status == "ok"`` and a finite value for every objective take part.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.errors import OptionError

SENSES = ("min", "max")


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective: a numeric column to minimise or maximise."""

    column: str
    sense: str  # "min" or "max"

    def __str__(self) -> str:
        return f"{self.column}:{self.sense}"


def parse_objectives(text: str, columns: Collection[str]) -> list[Objective]:
    """``"latency_s:min,energy_j:min"`` as objectives over ``columns`` (the numeric columns that
    may be objectives); an unknown column, a direction other than min/max, a repeated column or
    fewer than one objective is an :class:`OptionError` naming ``--objectives``."""
    objectives: list[Objective] = []
    for item in (part.strip() for part in text.split(",")):
        column, _, sense = item.partition(":")
        if column not in columns:
            raise OptionError(f"--objectives: '{column}' is not a column a sweep can optimise",
                              remedy=f"choose among {', '.join(columns)}, each as COLUMN:min or COLUMN:max")
        if sense not in SENSES:
            raise OptionError(f"--objectives: '{item}' needs a direction",
                              remedy=f"write {column}:min or {column}:max")
        if any(o.column == column for o in objectives):
            raise OptionError(f"--objectives: '{column}' is given twice", remedy="name each column once")
        objectives.append(Objective(column, sense))
    return objectives


def _takes_part(row: Mapping[str, Any], objectives: Sequence[Objective]) -> bool:
    if row.get("status") != "ok":
        return False
    values = [row.get(o.column) for o in objectives]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def pareto_front(rows: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> list[int]:
    """Indices (ascending) of the rows on the Pareto front of ``objectives``."""
    if not objectives:
        raise OptionError("a Pareto front needs at least one objective", remedy="give e.g. latency_s:min")
    candidates = [i for i, row in enumerate(rows) if _takes_part(row, objectives)]
    if not candidates:
        return []
    # Every objective as a cost (smaller is better): a maximised column is negated.
    costs = np.array([[float(rows[i][o.column]) * (1.0 if o.sense == "min" else -1.0) for o in objectives]
                      for i in candidates])
    front = []
    for position, index in enumerate(candidates):
        no_worse = np.all(costs <= costs[position], axis=1)
        better = np.any(costs < costs[position], axis=1)
        if not np.any(no_worse & better):
            front.append(index)
    return front


__all__ = ["Objective", "parse_objectives", "pareto_front"]
