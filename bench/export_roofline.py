"""Simulated ASIC cycles of exported models (``examples/export_hf.py`` output) against the roofline.

For each ``MODEL.onnx`` given (with its ``MODEL.npz`` of inputs and onnxruntime outputs beside
it): compile for ``asic`` at each precision, run on the simulator with the export's inputs,
and print cycles, the ratio to the roofline of the same work, HBM bytes moved over the
compulsory bytes, the planned HBM activation bytes over their lower bound, how many
activations stayed on chip, and the largest difference from onnxruntime's outputs. Exit 1
when an f32 output differs from onnxruntime's by more than ``--atol``.

    python examples/export_hf.py --out /tmp/hf_l4 --models llama gpt2 --batch 1 --seq 128 --hidden 256 --layers 4
    python bench/export_roofline.py /tmp/hf_l4/llama.onnx /tmp/hf_l4/gpt2.onnx [--target moe-asic-v1] [--precisions f32,bf16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import moecc


def measure(path: Path, target: str, precision: str, activations: str) -> dict[str, object]:
    data = np.load(path.with_suffix(".npz"))
    inputs = {k[len("input:"):]: data[k] for k in data.files if k.startswith("input:")}
    expected = {k[len("output:"):]: data[k] for k in data.files if k.startswith("output:")}
    compiled = moecc.compile(path, target="asic", asic_target=target, precision=precision, activations=activations)
    got = compiled.run(inputs)
    report = compiled.report()
    memory = report["memory"]
    moved = report["hbm_bytes"]["read"] + report["hbm_bytes"]["written"]
    return {
        "model": f"{path.parent.name}/{path.stem}",
        "precision": precision,
        "cycles": report["cycles"],
        "ratio": report["ratio_to_roofline"],
        "hbm": moved / max(1, report["compulsory_hbm_bytes"]),
        "plan": memory["hbm_activation_bytes"] / max(1, memory["hbm_activation_lower_bound"]),
        "resident": memory["sram_resident_activations"],
        "kernels": report["kernels"]["count"],
        "error": max(float(np.abs(got[k].astype(np.float32) - expected[k]).max()) for k in expected),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="MODEL.onnx files with MODEL.npz beside them")
    parser.add_argument("--target", default="moe-asic-v1")
    parser.add_argument("--precisions", default="f32,bf16")
    parser.add_argument("--activations", default="on-chip", choices=["on-chip", "hbm"])
    parser.add_argument("--atol", type=float, default=1e-4, help="largest f32 difference from onnxruntime accepted")
    args = parser.parse_args()
    rows = [measure(path, args.target, precision, args.activations)
            for path in args.models for precision in args.precisions.split(",")]
    print(f"### {args.target}, activations {args.activations}\n")
    print("| model | precision | cycles | vs roofline | HBM bytes / compulsory | HBM activations / lower bound "
          "| activations on chip | kernels | max diff from onnxruntime |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['cycles']:,} | {r['ratio']:.2f}x | {r['hbm']:.2f} | "
              f"{r['plan']:.2f} | {r['resident']} | {r['kernels']} | {r['error']:.2e} |")
    wrong = [r for r in rows if r["precision"] == "f32" and float(r["error"]) > args.atol]  # type: ignore[arg-type]
    if wrong:
        print("f32 outputs differ from onnxruntime's:", ", ".join(str(r["model"]) for r in wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
