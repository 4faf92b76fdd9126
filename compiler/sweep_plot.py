"""``moecc sweep --plot``: a sweep's design points on its first two objectives, front drawn.

Beside the flow, after :func:`moecc.sweep.run_sweep`: one figure for a design review. Every
point that ran is a dot at (first objective, second objective), coloured by one knob
(``precision`` when it is varied, else the first varied knob) and shaped by the next varied
knob. The Pareto front of the two plotted objectives is a step line through its points, which
are outlined, numbered, and listed with their knob values beside the plot; with three or more
objectives, points on the whole front but not on the plotted one get a dashed ring and a grey
number. Axes carry units, in a log scale when the values span more than 10x. matplotlib is
imported only here and only when a plot is asked for (on a bare Figure: no display and no
pyplot state needed).
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moecc.errors import OptionError
from moecc.pareto import pareto_front
from moecc.sweep import Knob, Row, SweepResult

#: How each metric column is shown: the quantity, its unit, and whether the unit takes an SI prefix.
AXES: dict[str, tuple[str, str, bool]] = {
    "cycles": ("cycles per run", "cycles", False),
    "latency_s": ("latency per run", "s", True),
    "ratio_to_roofline": ("time over the roofline", "x", False),
    "mxu_utilization": ("MXU utilization", "%", False),
    "hbm_bytes": ("HBM traffic per run", "B", True),
    "energy_j": ("energy per run", "J", True),
    "average_power_w": ("average power", "W", True),
    "area_mm2": ("chip area", "mm²", False),
    "tokens_per_s": ("throughput", "tokens/s", True),
    "tokens_per_j": ("energy efficiency", "tokens/J", True),
}
_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
#: Log scale when an axis' largest value is more than this times its smallest.
LOG_SPAN = 10.0
#: Front points numbered and listed beside the plot; the table has the rest.
MAX_LISTED = 12


def require_matplotlib(path: str | os.PathLike[str] | None = None) -> None:
    """Fail early, before a sweep runs, when ``--plot`` cannot be drawn: no matplotlib, or a
    file name whose extension names no format matplotlib writes."""
    if importlib.util.find_spec("matplotlib") is None:
        raise OptionError("--plot needs matplotlib", remedy="pip install 'moecc[plot]'")
    if path is None:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    kind = Path(path).suffix.lstrip(".").lower()
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if kind and kind not in formats:
        raise OptionError(f"--plot {path}: matplotlib writes no '.{kind}' files",
                          remedy=f"name the file .png (or one of {', '.join(formats)})")


def _axis_scale(column: str, values: Sequence[float]) -> tuple[float, str]:
    """The factor to multiply ``column``'s values by and the axis label that goes with it."""
    quantity, unit, prefixed = AXES[column]
    if column == "mxu_utilization":
        return 100.0, f"{quantity} ({unit})"
    if not prefixed:
        return 1.0, f"{quantity} ({unit})"
    largest = max(abs(v) for v in values) or 1.0
    factor, prefix = next(((f, p) for f, p in _PREFIXES if largest >= f), _PREFIXES[-1])
    return 1.0 / factor, f"{quantity} ({prefix}{unit})"


def _short_label(row: Row, knobs: Sequence[Knob]) -> str:
    """The point's values of ``knobs``, e.g. ``128, 8MiB, bf16`` (a part file by its stem)."""
    return ", ".join(Path(row[k.key]).stem if k.key == "asic_target" else row[k.key] for k in knobs)


def _step_style(x_sense: str) -> str:
    """How to step between front points sorted by x so the line bounds what they dominate:
    along x first when x is minimised, along y first when it is maximised."""
    return "steps-post" if x_sense == "min" else "steps-pre"


def plot_sweep(result: SweepResult, path: str | os.PathLike[str]) -> None:
    """Draw ``result`` on its first two objectives into ``path`` (PNG, or any format matplotlib
    infers from the suffix), written atomically."""
    require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from moecc.fileio import atomic_writer

    if len(result.objectives) < 2:
        raise OptionError("--plot draws two objectives", remedy="give --objectives with two columns")
    x_obj, y_obj = result.objectives[:2]
    rows = [r for r in result.rows if r["status"] == "ok" and _finite(r[x_obj.column]) and _finite(r[y_obj.column])]
    varied = [k for k in result.knobs if len(k.values) > 1] or result.knobs[:1]
    colour_knob = next((k for k in varied if k.key == "precision"), varied[0])
    marker_knob = next((k for k in varied if k is not colour_knob), None)
    colours = {v: colormaps["tab10"](i % 10) for i, v in enumerate(colour_knob.values)}
    markers = {v: _MARKERS[i % len(_MARKERS)] for i, v in enumerate(marker_knob.values)} if marker_knob else {}

    fig = Figure(figsize=(11, 6.5), dpi=130)
    ax = fig.add_subplot()
    x_factor, x_label = _axis_scale(x_obj.column, [r[x_obj.column] for r in rows] or [1.0])
    y_factor, y_label = _axis_scale(y_obj.column, [r[y_obj.column] for r in rows] or [1.0])
    xy = {id(r): (r[x_obj.column] * x_factor, r[y_obj.column] * y_factor) for r in rows}
    plotted_front = sorted((rows[i] for i in pareto_front(rows, result.objectives[:2])), key=lambda r: xy[id(r)])
    on_plotted_front = {id(r) for r in plotted_front}
    other_front = sorted((r for r in rows if r["pareto"] and id(r) not in on_plotted_front), key=lambda r: xy[id(r)])
    for row in rows:
        on_front = id(row) in on_plotted_front
        ax.scatter(*xy[id(row)], s=80 if on_front else 36, color=colours[row[colour_knob.key]],
                   marker=markers[row[marker_knob.key]] if marker_knob else "o",
                   edgecolors="black" if on_front else "none", linewidths=1.2, alpha=1.0 if on_front else 0.7, zorder=3)
    for row in other_front:
        ax.scatter(*xy[id(row)], s=170, facecolors="none", edgecolors="grey", linestyles="--", linewidths=1.0, zorder=2)
    if plotted_front:
        ax.plot([xy[id(r)][0] for r in plotted_front], [xy[id(r)][1] for r in plotted_front], color="black",
                linewidth=1.3, alpha=0.8, zorder=2, drawstyle=_step_style(x_obj.sense))
    # Front points are numbered toward the better corner, where no point is (nothing beats them),
    # and the numbers' knob values are listed beside the plot.
    dx, dy = (-6 if x_obj.sense == "min" else 6), (-6 if y_obj.sense == "min" else 6)
    numbered = plotted_front + other_front
    for number, row in enumerate(numbered[:MAX_LISTED], start=1):
        ax.annotate(str(number), xy[id(row)], xytext=(dx, dy), textcoords="offset points", fontsize=8,
                    fontweight="bold", ha="right" if dx < 0 else "left", va="top" if dy < 0 else "bottom", zorder=4,
                    color="black" if id(row) in on_plotted_front else "dimgrey")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 10, 100 rather than 10^1, 10^2
    sparse = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:e}"[0] in "25" else "")  # 20, 50, 200, ...
    for values, set_scale, axis in (([p[0] for p in xy.values()], ax.set_xscale, ax.xaxis),
                                    ([p[1] for p in xy.values()], ax.set_yscale, ax.yaxis)):
        if values and min(values) > 0 and max(values) > LOG_SPAN * min(values):
            set_scale("log")
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(sparse)
    ax.margins(0.08)
    ax.set_xlabel(f"{x_label}, {'lower' if x_obj.sense == 'min' else 'higher'} is better")
    ax.set_ylabel(f"{y_label}, {'lower' if y_obj.sense == 'min' else 'higher'} is better")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)

    def entry(label: str, **style: Any) -> Line2D:
        return Line2D([], [], linestyle="none", label=label, **style)

    handles = [entry(f"{colour_knob.key}={v}", marker="o", color=colours[v], markersize=8) for v in colour_knob.values]
    if marker_knob:
        handles += [entry(f"{marker_knob.key}={v}", marker=markers[v], color="dimgrey", markersize=8)
                    for v in marker_knob.values]
    handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="white",
                          label=f"Pareto front of these two ({len(plotted_front)})"))
    if len(result.objectives) > 2:
        handles.append(entry(f"also on the front of all {len(result.objectives)} objectives ({len(other_front)})",
                             marker="o", markersize=11, markerfacecolor="none", markeredgecolor="grey"))
    handles.append(entry(f"front points: {', '.join(k.key for k in varied)}", marker=""))
    handles += [entry(f"{number}: {_short_label(row, varied)}", marker=f"${number}$", markersize=7,
                      color="black" if id(row) in on_plotted_front else "dimgrey")
                for number, row in enumerate(numbered[:MAX_LISTED], start=1)]
    if len(numbered) > MAX_LISTED:
        handles.append(entry(f"... {len(numbered) - MAX_LISTED} more (see the table)", marker=""))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              frameon=False)
    objectives = ", ".join(str(o) for o in result.objectives)
    ax.set_title(f"{Path(result.model).stem}: {len(result.rows)} design points ({result.sampling.method}), "
                 f"{result.failed} failed; Pareto front of {objectives}", fontsize=10)
    fig.tight_layout()
    with atomic_writer(path) as handle:
        fig.savefig(handle, format=Path(path).suffix.lstrip(".").lower() or "png")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


__all__ = ["AXES", "plot_sweep", "require_matplotlib"]
