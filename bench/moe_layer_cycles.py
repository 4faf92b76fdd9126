"""Simulated ASIC cycles of the MoE layers alone, dispatched sparsely against run densely.

For each example with MoE layers, part and precision: compile for ``asic`` twice (``moe="sparse"``
and ``moe="dense"``), run both on the same seeded inputs (outputs checked: in f32 against the
reference interpreter's, in bf16 sparse against dense; exit with the difference when they
disagree), and add up, from
``report()["kernels"]["by_kernel"]``, the cycles of the kernels made from each MoE layer's ONNX
node (router, dispatch, experts; the shares add up to the run's cycles). Prints the two sums,
their ratio and the sparse run's executed expert FLOPs as a share of dense (the issue's check:
at most 1.15 x top_k / experts), one row per example, part and precision.

    python bench/moe_layer_cycles.py [--targets moe-asic-v1,moe-asic-edge] [--precisions f32,bf16] [--examples a,b]
"""

from __future__ import annotations

import argparse
import platform

import moecc
from moecc.compare import compare_outputs, tolerances
from moecc.examples import build_example, example_inputs, realistic_sizes

#: The sizes ``bench/asic_roofline.py`` runs these examples at (one layer of the blocks).
SIZE_OVERRIDES: dict[str, dict[str, int]] = {
    "mixtral-block": {"n_layers": 1, "intermediate": 256},
    "moe-transformer": {"intermediate": 256},
}
MOE_EXAMPLES = ("mixtral-block", "dense-moe", "dense-moe-einsum", "moe-transformer")


def moe_layer_cycles(compiled: moecc.CompiledModel) -> tuple[int, dict]:
    """The cycles of the run's MoE-layer kernels, and the first layer's routing row."""
    report = compiled.report()
    layers = {row["layer"] for row in report["moe"]}
    cycles = sum(k["cycles"] for k in report["kernels"]["by_kernel"] if layers & set(k["onnx_nodes"]))
    return cycles, report["moe"][0]


def measure(name: str, target: str, precision: str) -> dict[str, object]:
    sizes = {**realistic_sizes(name), "batch": 1, **SIZE_OVERRIDES.get(name, {})}
    model = build_example(name, **sizes)
    inputs = example_inputs(name, model, seed=0)
    runs = {}
    # A figure of a wrong program is no figure. In f32 both runs are checked against the
    # reference interpreter; in bf16 the sparse run against the dense one (against f32, bf16
    # activations may flip a near-tied expert choice: a whole token's output, not a rounding).
    reference = moecc.compile(model, target="ref").run(inputs) if precision == "f32" else None
    rtol, atol = tolerances(precision)
    for moe in ("dense", "sparse"):
        compiled = moecc.compile(model, target="asic", asic_target=target, precision=precision, moe=moe)
        outputs = compiled.run(inputs)
        problems = compare_outputs(outputs, reference, rtol=rtol, atol=atol) if reference is not None else []
        if problems:
            raise SystemExit(f"{name} on {target} {precision}, moe {moe}: outputs differ from the reference: "
                             + "; ".join(problems))
        reference = reference if reference is not None else outputs
        runs[moe] = moe_layer_cycles(compiled)
    (sparse, row), (dense, _) = runs["sparse"], runs["dense"]
    return {"example": name, "target": target, "precision": precision, "sparse": sparse, "dense": dense,
            "flops": row["executed_expert_flops"] / row["dense_expert_flops"], "tokens": row["tokens_per_expert"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="moe-asic-v1,moe-asic-edge")
    parser.add_argument("--precisions", default="f32,bf16")
    parser.add_argument("--examples", default=",".join(MOE_EXAMPLES))
    args = parser.parse_args()
    print(f"`python bench/moe_layer_cycles.py` on {platform.machine()} ({platform.python_implementation()} "
          f"{platform.python_version()}); simulated cycles, seeded inputs (seed 0)")
    print()
    print("| example | part | precision | MoE layers, sparse | MoE layers, dense | sparse / dense | executed / dense FLOPs |")
    print("|---|---|---|---|---|---|---|")
    for name in args.examples.split(","):
        for target in args.targets.split(","):
            for precision in args.precisions.split(","):
                r = measure(name, target, precision)
                print(f"| {r['example']} | {r['target']} | {r['precision']} | {r['sparse']:,} | {r['dense']:,} | "
                      f"{r['sparse'] / r['dense']:.2f} | {r['flops']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
