"""``moecc prune-report``: what pruning a model costs in accuracy and buys on a target.

Beside the flow, over it: the model is compiled twice for the target, as it is and with
``prune=`` (:mod:`moecc.passes.prune`), and both run on the same input sets (the calibration
sets when given, else :data:`EVAL_SETS` seeded ones). The report holds

- **accuracy**, per output over all sets (:mod:`moecc.accuracy`): the largest absolute error, the
  relative error and cosine similarity of all sets' values together, and for logits the top-1
  agreement;
- **the model's figures** unpruned and pruned (the ASIC's simulated cycles, MXU busy cycles and
  HBM bytes of the last set's run);
- **per pruned weight**: the sparsity reached, its HBM bytes as stored unpruned and pruned, and
  the cycles, MXU cycles and HBM bytes of its matmul alone, unpruned and pruned, on the
  simulator (:func:`moecc.prune_advisor.simulate_matmul`, at the rows the model multiplies it
  with; an expert stack by its first expert);
- **the break-even advisor** per candidate weight (:func:`moecc.prune_advisor.advise`).

On the ``cpu`` target only accuracy is reported (it runs 2:4 densely and skips only all-zero
runs of rows of packed weights), and the advisor prices nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Seeded input sets the report runs on when no calibration is given.
EVAL_SETS = 4


def prune_report(model: Any, prune: str, *, target: str = "asic", calibration: int | str | os.PathLike[str] | None = None,
                 prune_filter: str | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
                 advise: bool = True, **options: Any) -> dict[str, Any]:
    """The report (JSON values) of pruning ``model`` by ``prune`` for ``target`` (see the
    module docstring); ``options`` are the target's compile options."""
    import moecc
    from moecc.accuracy import accuracy_report
    from moecc.frontend.onnx_importer import load_model
    from moecc.passes.prune import pruning_pass

    proto, _ = load_model(model)  # read once (external data too); both compiles share it
    shapes = dict(input_shapes) if input_shapes else None
    dense = moecc.compile(proto, target, input_shapes=shapes, **options)
    pruned = moecc.compile(proto, target, input_shapes=shapes, prune=prune, calibration=calibration,
                           prune_filter=prune_filter, **options)
    # The calibration sets, read as the pruning step reads them; without any, EVAL_SETS seeded ones.
    step = pruning_pass(prune, EVAL_SETS if calibration is None else calibration, prune_filter)
    assert step is not None
    sets, source = step.input_sets(dense.graph)
    reference: dict[str, list[np.ndarray]] = {}
    changed: dict[str, list[np.ndarray]] = {}
    for feeds in sets:
        for store, compiled in ((reference, dense), (changed, pruned)):
            for name, value in compiled.run(feeds).items():
                store.setdefault(name, []).append(np.asarray(value))
    accuracy = accuracy_report({k: np.stack(v) for k, v in reference.items()},
                               {k: np.stack(v) for k, v in changed.items()})
    dense_report, pruned_report = dense.report(), pruned.report()
    pruning = pruned_report.get("pruning", {})
    report: dict[str, Any] = {
        "model": getattr(model, "name", None) or (os.fspath(model) if isinstance(model, (str, os.PathLike)) else ""),
        "target": target, "options": {k: v for k, v in options.items() if v is not None},
        "prune": prune, "score": pruning.get("score"), "evaluated_on": source,
        "accuracy": accuracy, "pruning": pruning,
        "model_figures": {"unpruned": _figures(dense_report), "pruned": _figures(pruned_report)},
        "weights": [], "advice": [],
    }
    if target == "asic":
        report["weights"] = _weight_rows(dense, pruned, dense_report, pruned_report, options)
    else:
        report["note"] = (f"the {target} target runs 2:4 weights densely and skips only all-zero runs of 32 rows of "
                          f"packed weights (tile pruning); its times are not measured here")
    if advise:
        report["advice"] = _advice(dense, target, options)
    return report


def _figures(report: Mapping[str, Any]) -> dict[str, Any]:
    if report.get("target") != "asic":
        return {}
    return {"cycles": report["cycles"], "mxu_cycles": report["units"]["mxu"]["busy_cycles"],
            "hbm_bytes_read": report["hbm_bytes"]["read"]}


def _logical_matrix(array: np.ndarray, transposed: bool) -> np.ndarray:
    """The first ``k x n`` matrix of a weight (an expert stack's first expert)."""
    matrix = array.reshape(-1, *array.shape[-2:])[0]
    return np.ascontiguousarray(matrix.T if transposed else matrix)


def _weight_rows(dense: Any, pruned: Any, dense_report: Mapping[str, Any], pruned_report: Mapping[str, Any],
                 options: Mapping[str, Any]) -> list[dict[str, Any]]:
    from moecc.passes.prune_candidates import find_candidates
    from moecc.prune_advisor import matmul_rows, simulate_matmul

    candidates = {c.name: c for c in find_candidates(dense.graph)}
    after = {op.result.name: op.attrs["value"] for op in pruned.graph.const_ops()}
    stored = {row["weight"]: row for row in pruned_report.get("sparse_weights", [])}
    rows = []
    for weight in pruned_report.get("pruning", {}).get("weights", []):
        name = weight["name"]
        candidate = candidates.get(name)
        if candidate is None or name not in after:
            continue
        before = np.asarray(candidate.const.attrs["value"], dtype=np.float32)
        m = matmul_rows(candidate.uses)
        transposed = candidate.transposed
        unpruned = simulate_matmul(_logical_matrix(before, transposed), m, options.get("asic_target"),
                                   options.get("precision"))
        pruned_cost = simulate_matmul(_logical_matrix(np.asarray(after[name], dtype=np.float32), transposed), m,
                                      options.get("asic_target"), options.get("precision"))
        sparse = stored.get(name, {})
        rows.append({
            "weight": name, "onnx_nodes": weight["onnx_nodes"], "role": weight["role"], "rows": m,
            "sparsity": weight["sparsity"], "stored_as": sparse.get("form", "dense"),
            "hbm_bytes_stored": {"unpruned": int(before.size * (2 if options.get("precision") == "bf16" else 4)),
                                 "pruned": sparse.get("stored_bytes")},
            "matmul_alone": {"unpruned": unpruned.to_dict(), "pruned": pruned_cost.to_dict()},
        })
    return rows


def _advice(dense: Any, target: str, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    from moecc.passes.prune_candidates import find_candidates
    from moecc.prune_advisor import advise, matmul_rows

    rows = []
    for candidate in find_candidates(dense.graph):
        if candidate.reason is not None:
            continue
        shape = tuple(candidate.const.result.type.shape)
        if len(shape) < 2:
            continue
        k, n = (shape[-1], shape[-2]) if candidate.transposed else (shape[-2], shape[-1])
        m = matmul_rows(candidate.uses)
        verdict = advise(k, n, m, target, options.get("asic_target"), options.get("precision"))
        rows.append({"weight": candidate.name, "onnx_nodes": list(candidate.nodes), "role": candidate.role,
                     "k": k, "n": n, "rows": m, **verdict})
    return rows


def format_prune_report(report: Mapping[str, Any]) -> str:
    """The report as text: accuracy, the model's figures, per weight and the advisor."""
    from moecc.accuracy import format_table

    lines = [f"prune-report: {report['prune']} ({report.get('score') or 'magnitude'} scores) on {report['target']}"
             + (f" {report['options']}" if report.get("options") else ""),
             f"evaluated on {report['evaluated_on']}", "", "accuracy (pruned against unpruned, all sets):",
             format_table(report["accuracy"]).rstrip("\n")]
    pruning = report.get("pruning") or {}
    if pruning:
        lines.append(f"\n{pruning.get('pruned_weights', 0)} weights pruned to {pruning.get('sparsity', 0) * 100:.1f}% "
                     f"zeros; {len(pruning.get('skipped', []))} left alone: "
                     + ", ".join(f"{s['name']} ({s['role']})" for s in pruning.get("skipped", [])))
    figures = report.get("model_figures", {})
    if figures.get("unpruned"):
        u, p = figures["unpruned"], figures["pruned"]
        lines.append("\nwhole model (last set's run):")
        lines += [f"  {label:<15} {u[key]:>12,} -> {p[key]:>12,}  ({p[key] / max(u[key], 1):.3f}x)"
                  for label, key in (("cycles", "cycles"), ("MXU cycles", "mxu_cycles"),
                                     ("HBM bytes read", "hbm_bytes_read"))]
    if report.get("note"):
        lines.append(f"\n{report['note']}")
    if report.get("weights"):
        lines.append("\nper pruned weight (its matmul alone on the simulator, unpruned -> pruned):")
        header = ("weight", "node", "role", "rows", "sparsity", "stored", "HBM bytes stored", "MXU cycles", "cycles")
        body = []
        for row in report["weights"]:
            a, b = row["matmul_alone"]["unpruned"], row["matmul_alone"]["pruned"]
            stored = row["hbm_bytes_stored"]
            body.append((row["weight"], _node(row), row["role"], str(row["rows"]), f"{row['sparsity'] * 100:.1f}%", row["stored_as"],
                         f"{stored['unpruned']:,} -> {stored['pruned'] or stored['unpruned']:,}",
                         f"{a['mxu_cycles']:,} -> {b['mxu_cycles']:,} ({b['mxu_cycles'] / max(a['mxu_cycles'], 1):.2f}x)",
                         f"{a['cycles']:,} -> {b['cycles']:,}"))
        lines.append(_table(header, body))
    if report.get("advice"):
        lines.append("\nbreak-even advisor (one-matmul programs on the simulator; pays off at <= "
                     f"{_pays_off():.2f}x the dense cycles):")
        header = ("weight", "node", "role", "k x n", "rows", "2:4", "tile:0.5", "verdict")
        body = [(row["weight"], _node(row), row["role"], f"{row['k']}x{row['n']}", str(row["rows"]),
                 _ratio(row.get("ratios", {}).get("2:4")), _ratio(row.get("ratios", {}).get("tile:0.5")),
                 row["verdict"]) for row in report["advice"]]
        lines.append(_table(header, body))
        reasons = {row["why"] for row in report["advice"] if row["verdict"] == "neither"}
        lines += [f"  neither: {why}" for why in sorted(reasons)[:3]]
    return "\n".join(lines) + "\n"


def _node(row: Mapping[str, Any]) -> str:
    nodes = row.get("onnx_nodes") or []
    return str(nodes[0]) + (f" +{len(nodes) - 1}" if len(nodes) > 1 else "") if nodes else "-"


def _pays_off() -> float:
    from moecc.prune_advisor import PAYS_OFF

    return PAYS_OFF


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    return "\n".join("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *body])


__all__ = ["EVAL_SETS", "format_prune_report", "prune_report"]
