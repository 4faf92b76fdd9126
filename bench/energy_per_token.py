"""Energy per token of models on a moe-asic part, by component (the report's energy model).

For each model (a bundled example at its realistic sizes, or an ONNX file; a file's ``.npz``
of inputs beside it is used when present, else seeded inputs), compile for ``asic`` at each
precision, run it on the simulator and print: cycles, tokens per run, microjoules per token,
each component's share of the energy, average power, tokens per second and tokens per joule.
The constants and their sources are in ``docs/architecture.md`` ("Energy and area").

    python bench/energy_per_token.py llama-block gpt2-block moe-transformer mixtral-block [--target moe-asic-v1]
    python bench/energy_per_token.py /tmp/hf_l4/llama.onnx --precisions f32,bf16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import moecc
from moecc.asic_runtime import random_inputs
from moecc.examples import build_example, list_examples, realistic_sizes


def load(name: str) -> tuple[object, dict[str, np.ndarray] | None]:
    """The model and its inputs (None: seeded inputs)."""
    if name in dict(list_examples()):
        return build_example(name, **realistic_sizes(name)), None
    path = Path(name)
    inputs = None
    if path.with_suffix(".npz").is_file():
        data = np.load(path.with_suffix(".npz"))
        inputs = {k[len("input:"):]: data[k] for k in data.files if k.startswith("input:")}
    return path, inputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="bundled example names or ONNX files")
    parser.add_argument("--target", default="moe-asic-v1")
    parser.add_argument("--precisions", default="f32,bf16")
    args = parser.parse_args()
    components = ("mxu", "vpu", "sram", "acc", "hbm", "static", "host")
    print(f"part {args.target}; shares of the energy per component")
    print(f"{'model':28} {'prec':5} {'cycles':>9} {'tokens':>6} {'uJ/token':>9} "
          + " ".join(f"{c:>6}" for c in components) + f" {'W':>6} {'tokens/s':>11} {'tokens/J':>9}")
    for name in args.models:
        model, inputs = load(name)
        for precision in args.precisions.split(","):
            compiled = moecc.compile(model, "asic", asic_target=args.target, precision=precision)
            compiled.run(inputs if inputs is not None else random_inputs(compiled.graph, seed=0))
            r = compiled.report()
            joules = r["energy_joules"]
            shares = " ".join(f"{joules[c] / joules['total'] * 100:5.1f}%" for c in components)
            print(f"{Path(str(name)).stem[:28]:28} {precision:5} {r['total_cycles']:>9,} {r['tokens']:>6} "
                  f"{joules['total'] / r['tokens'] * 1e6:>9.2f} {shares} {r['average_power_watts']:>6.1f} "
                  f"{r['tokens_per_s']:>11,.0f} {r['tokens_per_joule']:>9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
