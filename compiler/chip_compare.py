"""``moecc compare``: one model on two chips, kernel by kernel.

Beside the flow, over it: the model is compiled for two ASIC parts (each a packaged part or a
TOML file, with entries set by ``target_overrides``: :mod:`moecc.isa_spec.target_overrides`),
both run on the same seeded inputs, and their reports are joined by kernel name: per kernel the
cycles on each chip, their ratio, and what bounds it on each (compute, bandwidth, a unit, or
stalls: ``report()["kernels"]``) and its energy on each (its instructions' events and the die's
static power over its cycles: :mod:`moecc.energy_report`). The kernels whose cycles changed most
come first. The whole model's cycles, MXU busy cycles, HBM bytes, energy, die area and tokens
per joule head the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def compare_chips(model: Any, part_a: str, part_b: str, *, overrides_a: Mapping[str, Any] | None = None,
                  overrides_b: Mapping[str, Any] | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
                  seed: int = 0, **options: Any) -> dict[str, Any]:
    """The comparison (JSON values) of ``model`` on ``part_a`` and ``part_b``; ``options`` are
    the ``asic`` target's other compile options (precision, moe, ...), the same for both."""
    import moecc
    from moecc.asic_runtime import random_inputs
    from moecc.frontend.onnx_importer import load_model

    proto, _ = load_model(model)  # read once; both compiles share it
    shapes = dict(input_shapes) if input_shapes else None
    sides = {}
    outputs = {}
    for side, part, overrides in (("a", part_a, overrides_a), ("b", part_b, overrides_b)):
        compiled = moecc.compile(proto, "asic", input_shapes=shapes, asic_target=part,
                                 target_overrides=dict(overrides or {}), **options)
        outputs[side] = compiled.run(random_inputs(compiled.graph, seed=seed))
        sides[side] = compiled.report()
    a, b = sides["a"], sides["b"]
    rows_a = {row["kernel"]: row for row in a["kernels"]["by_kernel"]}
    rows_b = {row["kernel"]: row for row in b["kernels"]["by_kernel"]}
    kernels = []
    for name in list(rows_a) + [n for n in rows_b if n not in rows_a]:
        ra, rb = rows_a.get(name), rows_b.get(name)
        ca, cb = (ra or {}).get("cycles"), (rb or {}).get("cycles")
        kernels.append({"kernel": name, "onnx_nodes": (ra or rb or {}).get("onnx_nodes", []),
                        "cycles_a": ca, "cycles_b": cb,
                        "ratio": (cb / ca) if ca and cb is not None else None,
                        "bound_a": (ra or {}).get("bound"), "bound_b": (rb or {}).get("bound"),
                        "energy_joules_a": (ra or {}).get("energy_joules"),
                        "energy_joules_b": (rb or {}).get("energy_joules"),
                        "change": abs((cb or 0) - (ca or 0))})
    kernels.sort(key=lambda row: -row["change"])

    def whole(report: Mapping[str, Any]) -> dict[str, Any]:
        return {"part": report["asic_target"], "cycles": report["total_cycles"],
                "mxu_cycles": report["units"]["mxu"]["busy_cycles"],
                "hbm_bytes": report["hbm_bytes"]["read"] + report["hbm_bytes"]["written"],
                "ratio_to_roofline": report["ratio_to_roofline"],
                "energy_joules": report["energy_joules"]["total"], "area_mm2": report["area_mm2"]["total"],
                "average_power_watts": report["average_power_watts"], "tokens_per_joule": report["tokens_per_joule"]}

    import numpy as np

    same = all(np.allclose(outputs["a"][k], outputs["b"][k], rtol=1e-3, atol=1e-3) for k in outputs["a"])
    return {"a": whole(a), "b": whole(b), "kernels": kernels, "inputs": f"seeded random inputs (seed {seed})",
            "outputs_agree": bool(same)}


def format_comparison(result: Mapping[str, Any], top: int = 0) -> str:
    """The comparison as text: the whole model, then the kernels, most changed first."""
    a, b = result["a"], result["b"]
    lines = [f"A: {a['part']}", f"B: {b['part']}", f"on {result['inputs']}; outputs agree: "
             f"{'yes' if result['outputs_agree'] else 'NO'}", "",
             f"{'':16}{'A':>14}{'B':>14}{'B / A':>9}"]
    for label, key in (("cycles", "cycles"), ("MXU busy", "mxu_cycles"), ("HBM bytes", "hbm_bytes")):
        lines.append(f"{label:16}{a[key]:>14,}{b[key]:>14,}{b[key] / max(a[key], 1):>8.2f}x")
    lines.append(f"{'x roofline':16}{a['ratio_to_roofline']:>14.2f}{b['ratio_to_roofline']:>14.2f}")
    for label, key, scale, unit in (("energy", "energy_joules", 1e6, "uJ"), ("power", "average_power_watts", 1, "W"),
                                    ("die area", "area_mm2", 1, "mm^2"), ("tokens / J", "tokens_per_joule", 1, "")):
        lines.append(f"{label + (f' ({unit})' if unit else ''):16}{a[key] * scale:>14,.1f}{b[key] * scale:>14,.1f}"
                     f"{b[key] / a[key] if a[key] else 0:>8.2f}x")
    rows = result["kernels"][:top] if top else result["kernels"]
    lines += ["", "kernels, most changed first: cycles on A and B, B / A, what bounds it on A and B, energy (uJ) on A and B"]
    for row in rows:
        ca = "-" if row["cycles_a"] is None else f"{row['cycles_a']:,}"
        cb = "-" if row["cycles_b"] is None else f"{row['cycles_b']:,}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        nodes = ", ".join(row["onnx_nodes"][:2]) + (", ..." if len(row["onnx_nodes"]) > 2 else "")
        ea, eb = (("-" if e is None else f"{e * 1e6:,.2f}") for e in (row["energy_joules_a"], row["energy_joules_b"]))
        lines.append(f"  {ca:>10} {cb:>10} {ratio:>7}  {str(row['bound_a']):9} {str(row['bound_b']):9} "
                     f"{ea:>9} {eb:>9}  {row['kernel']} ({nodes})")
    return "\n".join(lines) + "\n"


__all__ = ["compare_chips", "format_comparison"]
