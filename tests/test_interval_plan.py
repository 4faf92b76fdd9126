"""passes/interval_plan.py: temporaries sharing an arena by liveness (the ASIC's HBM, the CPU heap)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moecc
from moecc.examples import build_example, realistic_sizes
from moecc.passes.interval_plan import Interval, check_plan, interference, lower_bound, plan_intervals


def test_bounds_of_a_small_case() -> None:
    ivs = [Interval("a", 256, 0, 2), Interval("b", 256, 3, 4), Interval("c", 128, 1, 3)]
    assert lower_bound(ivs) == 384  # b and c live at step 3, a and c at 1-2
    assert {frozenset(e) for e in interference(ivs).edges} == {frozenset(("a", "c")), frozenset(("b", "c"))}
    plan = plan_intervals(ivs)
    check_plan(ivs, plan)
    assert plan.end == plan.lower_bound == 384 and plan.no_reuse == 640
    assert plan.offsets["a"] == plan.offsets["b"]  # disjoint lifetimes share bytes


def test_the_search_beats_greedy_by_size_where_it_can() -> None:
    """Greedy by size needs 960 bytes here; the most live at once is 896, which first fit
    ordered by size times lifetime reaches."""
    ivs = [Interval("t0", 256, 2, 2), Interval("t1", 128, 6, 6), Interval("t2", 192, 5, 7),
           Interval("t3", 256, 0, 5), Interval("t4", 192, 4, 5), Interval("t5", 256, 2, 6)]
    plan = plan_intervals(ivs)
    check_plan(ivs, plan)
    assert plan.baseline_end == 960 and plan.end == plan.lower_bound == 896
    assert plan.algorithm != "greedy by size"


def test_names_must_be_unique() -> None:
    with pytest.raises(ValueError):
        plan_intervals([Interval("a", 1, 0, 0), Interval("a", 1, 1, 1)])


intervals = st.lists(
    st.tuples(st.integers(1, 64).map(lambda n: n * 64), st.integers(0, 20), st.integers(0, 8)),
    min_size=0, max_size=30,
).map(lambda rows: [Interval(f"t{i}", size, first, first + length) for i, (size, first, length) in enumerate(rows)])


@settings(max_examples=150, deadline=None)
@given(intervals)
def test_random_plans_are_valid_and_between_their_bounds(ivs: list[Interval]) -> None:
    plan = plan_intervals(ivs)
    check_plan(ivs, plan)
    assert plan.lower_bound <= plan.end <= plan.baseline_end <= plan.no_reuse


@pytest.mark.parametrize("name", ["llama-block", "gpt2-block", "mixtral-block"])
def test_reports_give_the_activation_memory_and_its_bounds(name: str) -> None:
    """The asic report's ``memory`` and the cpu report give the temporaries' planned bytes,
    the lower bound and the no-reuse sum; at the examples' realistic sizes the plan is within
    5% of the bound."""
    model = build_example(name, **{**realistic_sizes(name), "batch": 1})
    memory = moecc.compile(model, target="asic").report()["memory"]
    assert memory["hbm_activation_lower_bound"] <= memory["hbm_activation_bytes"] <= memory["hbm_activation_no_reuse"]
    assert memory["hbm_activation_bytes"] <= 1.05 * memory["hbm_activation_lower_bound"]
    assert memory["hbm_activation_planner"]
    cpu = moecc.compile(model, target="cpu").report()["cpu"]
    assert cpu["heap_activation_lower_bound"] <= cpu["heap_activation_bytes"] <= cpu["heap_activation_no_reuse"]
    assert cpu["heap_activation_bytes"] <= 1.05 * cpu["heap_activation_lower_bound"]
