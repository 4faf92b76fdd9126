"""Energy, power, area and tokens of an ``asic`` run: the report's co-design figures.

Where it sits: :func:`moecc.asic_report.asic_report` calls :func:`energy_figures` with the run's
statistics. The dynamic energy comes from the simulator, which priced every instruction's events
with the part's energy table as they ran (:mod:`moecc.backend.asic.energy`); this module adds

- ``static``: the die's static power (``energy.static_watts_per_mm2`` x its area) over the whole
  time of the run, host steps included (the chip idles, powered, while the host works);
- ``host``: the host steps' modelled seconds at ``energy.host_watts``;

and the die area from the part's sizes (:meth:`~moecc.isa_spec.target.Target.area_mm2`).

Tokens per run are read off the model's inputs (:func:`tokens_per_run`): the elements of the
first integer input (token ids), else the leading dimensions of the first input of rank two or
more (a ``[batch, seq, hidden]`` embedding input), else one. The report says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from moecc.ir.graph import Graph

PJ = 1e-12


def tokens_per_run(graph: Graph) -> tuple[int, str]:
    """How many tokens one run of ``graph`` processes, and where that count comes from."""
    for value in graph.inputs:
        if value.type.dtype.is_int and value.type.shape:
            return max(1, prod(value.type.shape)), f"elements of integer input '{value.name}' {list(value.type.shape)}"
    for value in graph.inputs:
        if len(value.type.shape) >= 2:
            return max(1, prod(value.type.shape[:-1])), \
                f"leading dimensions of input '{value.name}' {list(value.type.shape)}"
    return 1, "one per run (no input has a token dimension)"


def energy_figures(graph: Graph, target: Any, dynamic_pj: Mapping[str, float], asic_seconds: float,
                   host_seconds: float) -> dict[str, Any]:
    """The report's ``energy_joules`` (by component and ``total``), ``average_power_watts``,
    ``area_mm2`` (by block and ``total``), ``tokens``, ``tokens_from``, ``tokens_per_s`` and
    ``tokens_per_joule``."""
    area = target.area_mm2()
    seconds = asic_seconds + host_seconds
    joules = {name: pj * PJ for name, pj in dynamic_pj.items()}
    joules["static"] = static_watts(target) * seconds
    joules["host"] = target.energy.host_watts * host_seconds
    joules["total"] = sum(joules.values())
    tokens, tokens_from = tokens_per_run(graph)
    return {
        "energy_joules": joules,
        "average_power_watts": joules["total"] / seconds if seconds > 0 else 0.0,
        "area_mm2": area,
        "tokens": tokens,
        "tokens_from": tokens_from,
        "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
        "tokens_per_joule": tokens / joules["total"] if joules["total"] > 0 else 0.0,
    }


def static_watts(target: Any) -> float:
    """The die's static power: ``energy.static_watts_per_mm2`` over its area."""
    return target.energy.static_watts_per_mm2 * target.area_mm2()["total"]


def kernel_energy_joules(work: Mapping[str, Any], cycles: int, target: Any, static: float) -> float:
    """One kernel's energy: its instructions' dynamic energy and the die's ``static`` power
    (:func:`static_watts`) over the cycles it accounts for."""
    return float(work.get("energy_pj", 0.0)) * PJ + static * cycles / target.clock_hz


def format_energy_line(report: Mapping[str, Any]) -> str:
    """The summary's energy line."""
    joules = report["energy_joules"]
    parts = ", ".join(f"{name} {value * 1e6:.1f}" for name, value in joules.items() if name != "total")
    return (f"energy      {joules['total'] * 1e6:,.1f} uJ ({parts} uJ), {report['average_power_watts']:.1f} W average; "
            f"{report['tokens_per_s']:,.0f} tokens/s, {report['tokens_per_joule']:,.0f} tokens/J "
            f"({report['tokens']} tokens per run); die {report['area_mm2']['total']:.1f} mm^2")


__all__ = ["energy_figures", "format_energy_line", "kernel_energy_joules", "static_watts", "tokens_per_run"]
