"""Pareto fronts over sweep rows: parsing objectives, the front on small tables, and the defining
property (front rows undominated, every other ok row dominated by a front row) on random tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.errors import OptionError
from moecc.pareto import Objective, parse_objectives, pareto_front

COLUMNS = ("latency_s", "energy_j", "area_mm2", "tokens_per_s")


def _dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Sequence[Objective]) -> bool:
    """The definition, written out independently of the module: no worse everywhere, better somewhere."""
    no_worse = all((a[o.column] <= b[o.column]) if o.sense == "min" else (a[o.column] >= b[o.column]) for o in objectives)
    better = any((a[o.column] < b[o.column]) if o.sense == "min" else (a[o.column] > b[o.column]) for o in objectives)
    return no_worse and better


def test_parse_objectives() -> None:
    assert parse_objectives("latency_s:min, tokens_per_s:max", COLUMNS) == [
        Objective("latency_s", "min"), Objective("tokens_per_s", "max")]
    assert [str(o) for o in parse_objectives("energy_j:min", COLUMNS)] == ["energy_j:min"]
    with pytest.raises(OptionError, match="'speed' is not a column"):
        parse_objectives("speed:max", COLUMNS)
    with pytest.raises(OptionError, match="needs a direction.*latency_s:min or latency_s:max"):
        parse_objectives("latency_s", COLUMNS)
    with pytest.raises(OptionError, match="needs a direction"):
        parse_objectives("latency_s:fast", COLUMNS)
    with pytest.raises(OptionError, match="given twice"):
        parse_objectives("latency_s:min,latency_s:max", COLUMNS)


def test_front_of_a_small_table() -> None:
    objectives = [Objective("latency_s", "min"), Objective("energy_j", "min")]
    rows = [
        {"status": "ok", "latency_s": 1.0, "energy_j": 5.0},  # front: fastest
        {"status": "ok", "latency_s": 2.0, "energy_j": 2.0},  # front
        {"status": "ok", "latency_s": 2.0, "energy_j": 2.0},  # front: a duplicate of the one above
        {"status": "ok", "latency_s": 3.0, "energy_j": 2.0},  # dominated by the two above
        {"status": "ok", "latency_s": 4.0, "energy_j": 1.0},  # front: least energy
        {"status": "failed", "latency_s": None, "energy_j": None},
        {"status": "ok", "latency_s": 0.5, "energy_j": None},  # no energy figure: takes no part
    ]
    assert pareto_front(rows, objectives) == [0, 1, 2, 4]
    # Maximising throughput instead of minimising energy flips which rows win.
    rows = [{"status": "ok", "latency_s": 1.0, "tokens_per_s": 10.0},
            {"status": "ok", "latency_s": 2.0, "tokens_per_s": 30.0},
            {"status": "ok", "latency_s": 2.0, "tokens_per_s": 20.0}]
    assert pareto_front(rows, [Objective("latency_s", "min"), Objective("tokens_per_s", "max")]) == [0, 1]
    assert pareto_front([], objectives) == []
    with pytest.raises(OptionError, match="at least one objective"):
        pareto_front(rows, [])


_value = st.one_of(st.integers(0, 4).map(float), st.none())
_row = st.fixed_dictionaries({
    "status": st.sampled_from(["ok", "ok", "ok", "failed"]),
    "latency_s": _value, "energy_j": _value, "area_mm2": _value,
})


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_row, max_size=25),
       senses=st.lists(st.sampled_from(["min", "max"]), min_size=3, max_size=3),
       count=st.integers(1, 3))
def test_front_property(rows: list[dict[str, Any]], senses: list[str], count: int) -> None:
    objectives = [Objective(c, s) for c, s in zip(("latency_s", "energy_j", "area_mm2"), senses)][:count]
    front = pareto_front(rows, objectives)
    taking_part = [i for i, r in enumerate(rows)
                   if r["status"] == "ok" and all(r[o.column] is not None for o in objectives)]
    assert set(front) <= set(taking_part) and front == sorted(front)
    for i in front:  # nothing dominates a front row ...
        assert not any(_dominates(rows[j], rows[i], objectives) for j in taking_part)
    for i in set(taking_part) - set(front):  # ... and a front row dominates every other row
        assert any(_dominates(rows[j], rows[i], objectives) for j in front)
