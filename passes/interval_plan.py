"""Offsets for buffers that live over intervals of steps: temporaries sharing one arena.

Where it sits: used by memory planning for the ASIC's HBM temporaries
(:func:`moecc.passes.memory_plan.plan_memory`) and by the CPU back end's heap plan
(:func:`moecc.backend.llvm.tiled.memory.plan_heap`). Each buffer has a size and a live
interval ``[first, last]`` of step indices; two buffers *interfere* when their intervals
overlap, and interfering buffers must not share bytes. The arena's size is what a plan is
judged by, against two bounds:

- ``lower_bound``: the most bytes live at any one step (no plan can use less);
- ``no_reuse``: the sum of all sizes (every buffer a place of its own).

The baseline is *greedy by size* (largest first, each at the lowest offset clear of the
interfering buffers placed before it). :func:`plan_intervals` also tries other orders
(by size times lifetime, by interference degree, by first use: the interference graph is a
networkx graph) with *best fit* (the smallest gap that holds the buffer) and keeps the
smallest arena; then, unless that is already at the lower bound, a deterministic hill climb
swaps pairs of the best order and keeps a swap when the arena shrinks (the search TVM's USMP
calls "hill climb"). The result says which ordering won.

    plan = plan_intervals([Interval("a", 256, 0, 2), Interval("b", 256, 3, 4)])
    plan.offsets == {"a": 0, "b": 0} and plan.end == plan.lower_bound == 256
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

#: Hill-climbing steps at most (each re-places every buffer: kept small for big models).
HILL_CLIMB_STEPS = 200
#: Work the hill climb may do in all, in buffers plus interference edges visited (each step
#: re-places every buffer against its placed neighbours), so that planning a model with
#: thousands of temporaries stays within a second or two.
HILL_CLIMB_BUDGET = 2_000_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A buffer of ``size`` bytes live from step ``first`` to step ``last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    """Offsets (bytes from the arena's start), the arena's size and its bounds."""

    offsets: dict[str, int]
    end: int
    lower_bound: int
    no_reuse: int
    algorithm: str
    #: the arena the greedy-by-size baseline needs (to show what the search saved)
    baseline_end: int


def lower_bound(intervals: Sequence[Interval]) -> int:
    """The most bytes live at one step: a sweep over interval starts and ends."""
    events: list[tuple[int, int]] = []
    for iv in intervals:
        events.append((iv.first, iv.size))
        events.append((iv.last + 1, -iv.size))
    live = best = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):  # ends (negative) before starts
        live += delta
        best = max(best, live)
    return best


def interference(intervals: Sequence[Interval]) -> nx.Graph:
    """Buffers as nodes, an edge between every two whose live intervals overlap."""
    graph = nx.Graph()
    graph.add_nodes_from(iv.name for iv in intervals)
    by_start = sorted(intervals, key=lambda iv: iv.first)
    for i, a in enumerate(by_start):
        for b in by_start[i + 1:]:
            if b.first > a.last:
                break
            graph.add_edge(a.name, b.name)
    return graph


def place(order: Sequence[Interval], graph: nx.Graph, best_fit: bool = False) -> tuple[dict[str, int], int]:
    """Offsets placing ``order`` one by one, each clear of the interfering buffers placed
    before it: at the lowest offset that fits (first fit) or in the smallest gap that holds
    it (best fit, past the end when none does). Returns the offsets and the arena's size."""
    offsets: dict[str, int] = {}
    sizes = {iv.name: iv.size for iv in order}
    end = 0
    for iv in order:
        busy = sorted((offsets[n], offsets[n] + sizes[n]) for n in graph.adj[iv.name] if n in offsets)
        chosen, cursor, gap = None, 0, None
        for lo, hi in busy:
            if lo - cursor >= iv.size:
                if not best_fit:
                    chosen = cursor
                    break
                if gap is None or lo - cursor < gap:
                    chosen, gap = cursor, lo - cursor
            cursor = max(cursor, hi)
        if chosen is None:
            chosen = cursor
        offsets[iv.name] = chosen
        end = max(end, chosen + iv.size)
    return offsets, end


def _orders(intervals: Sequence[Interval], graph: nx.Graph) -> dict[str, list[Interval]]:
    def by(key: Callable[[Interval], tuple]) -> list[Interval]:
        return sorted(intervals, key=key)

    return {
        "size": by(lambda iv: (-iv.size, iv.first, iv.name)),
        "size x lifetime": by(lambda iv: (-iv.size * (iv.last - iv.first + 1), -iv.size, iv.name)),
        "interference": by(lambda iv: (-graph.degree(iv.name), -iv.size, iv.name)),
        "first use": by(lambda iv: (iv.first, -iv.size, iv.name)),
    }


def plan_intervals(intervals: Sequence[Interval], seed: int = 0) -> IntervalPlan:
    """The smallest arena found for ``intervals`` (see the module docstring)."""
    names = [iv.name for iv in intervals]
    if len(set(names)) != len(names):
        raise ValueError("interval names must be unique")
    bound = lower_bound(intervals)
    no_reuse = sum(iv.size for iv in intervals)
    graph = interference(intervals)
    orders = _orders(intervals, graph)
    baseline_offsets, baseline_end = place(orders["size"], graph)
    best = (baseline_end, baseline_offsets, "greedy by size", orders["size"], False)
    for label, order in orders.items():
        for best_fit in (False, True):
            if (label, best_fit) == ("size", False):
                continue
            offsets, end = place(order, graph, best_fit)
            if end < best[0]:
                best = (end, offsets, f"{'best' if best_fit else 'first'} fit by {label}", order, best_fit)
    end, offsets, algorithm, order, best_fit = best
    steps = min(HILL_CLIMB_STEPS, HILL_CLIMB_BUDGET // max(1, len(intervals) + 2 * graph.number_of_edges()))
    if end > bound and len(intervals) > 1 and steps:
        rng = random.Random(seed)
        current = list(order)
        climbed = False
        for _ in range(steps):
            i, j = rng.randrange(len(current)), rng.randrange(len(current))
            if i == j:
                continue
            current[i], current[j] = current[j], current[i]
            trial_offsets, trial_end = place(current, graph, best_fit)
            if trial_end < end:
                end, offsets, climbed = trial_end, trial_offsets, True
                if end == bound:
                    break
            else:
                current[i], current[j] = current[j], current[i]
        if climbed:
            algorithm += ", hill climb"
    return IntervalPlan(dict(offsets), end, bound, no_reuse, algorithm, baseline_end)


def check_plan(intervals: Sequence[Interval], plan: IntervalPlan) -> None:
    """Raise AssertionError when two interfering buffers share a byte or one passes the end."""
    sizes = {iv.name: iv.size for iv in intervals}
    for a, b in interference(intervals).edges:
        lo_a, lo_b = plan.offsets[a], plan.offsets[b]
        assert lo_a + sizes[a] <= lo_b or lo_b + sizes[b] <= lo_a, f"{a} and {b} overlap"
    assert all(plan.offsets[n] + s <= plan.end for n, s in sizes.items())


__all__ = ["HILL_CLIMB_BUDGET", "HILL_CLIMB_STEPS", "Interval", "IntervalPlan", "check_plan", "interference",
           "lower_bound", "place", "plan_intervals"]
