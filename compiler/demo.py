"""The demo behind the README's first Quick start command.

Builds the bundled example MoE transformer, compiles it for the most capable target available,
runs it on deterministic inputs, checks the outputs against an independent reference
(onnxruntime when installed, else the reference interpreter) and prints the report.
"""

from __future__ import annotations

import sys
import time

from moecc.compare import compare_outputs, tolerances
from moecc.targets import TARGETS, get_target, target_options

#: Preference order of targets for the demo: the first one implemented is used.
DEMO_TARGET_ORDER = ("asic", "cpu", "ref")


def run_demo(example: str = "moe-transformer", target: str | None = None, precision: str = "f32") -> int:
    import moecc
    from moecc.cli_model import _print_report_summary
    from moecc.examples import build_example, example_inputs

    chosen = target or next(t for t in DEMO_TARGET_ORDER if t in TARGETS)
    backend = get_target(chosen)  # a bad target or option is refused before anything is printed
    options = {"precision": precision} if "precision" in backend.option_defaults else {}
    target_options(chosen, options)
    model = build_example(example)
    inputs = example_inputs(example, model, seed=0)
    print(f"moecc demo: example '{example}' ({len(model.graph.node)} ONNX nodes), target '{chosen}'")
    start = time.perf_counter()
    compiled = moecc.compile(model, target=chosen, **options)
    print(f"compiled in {(time.perf_counter() - start) * 1000:.0f} ms")
    start = time.perf_counter()
    outputs = compiled.run(inputs)
    print(f"ran in {(time.perf_counter() - start) * 1000:.0f} ms" + (" (simulated)" if backend.simulated else ""))
    reference_name, reference = _reference_outputs(model, inputs, compiled)
    rtol, atol = tolerances(precision)
    problems = compare_outputs(outputs, reference, rtol=rtol, atol=atol)
    _print_report_summary(compiled.report())
    if problems:
        print(f"check against {reference_name}: FAILED", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    worst = max(float(abs(outputs[k].astype("float64") - reference[k].astype("float64")).max()) for k in reference)
    print(f"check against {reference_name}: OK (max abs diff {worst:.2e}, rtol {rtol}, atol {atol})")
    return 0


def _reference_outputs(model, inputs, compiled):  # type: ignore[no-untyped-def]
    try:
        import onnxruntime as ort
    except ImportError:
        from moecc.ir.interpreter import run_graph

        return "the reference interpreter", run_graph(compiled.graph, compiled.check_inputs(inputs))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return "onnxruntime", dict(zip(names, session.run(names, inputs)))
