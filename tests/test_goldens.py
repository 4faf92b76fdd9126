"""Golden-output regression tests: every example on every target against stored outputs.

Goldens live in ``tests/goldens/`` and change only with ``pytest --update-goldens`` (then
review the diff). Outputs are compared with the target's tolerance; the ``asic`` target's
assembly listing of each example is a reviewed snapshot too, so codegen changes show up in
diffs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import moecc
from moecc.compare import compare_outputs, tolerances
from moecc.examples import EXAMPLES, build_example, example_inputs

GOLDENS = Path(__file__).parent / "goldens"
#: (target, precision) pairs with goldens.
CONFIGS = [("ref", "f32")] + ([("asic", "f32"), ("asic", "bf16")] if "asic" in moecc.TARGETS else [])


def _compile(name: str, target: str, precision: str) -> moecc.CompiledModel:
    options = {"precision": precision} if target == "asic" else {}
    return moecc.compile(build_example(name), target=target, **options)


@pytest.mark.parametrize("target, precision", CONFIGS)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_golden(name: str, target: str, precision: str, update_goldens: bool) -> None:
    model = build_example(name)
    compiled = _compile(name, target, precision)
    outputs = compiled.run(example_inputs(name, model, seed=0))
    stem = f"{name}.{target}" + (f".{precision}" if target != "ref" else "")
    golden = GOLDENS / f"{stem}.npz"
    if update_goldens:
        GOLDENS.mkdir(exist_ok=True)
        np.savez_compressed(golden, **outputs)
        if target == "asic" and precision == "f32":
            (GOLDENS / f"{name}.asic.s").write_text(compiled.ir("asm"))
        return
    if not golden.exists():
        pytest.fail(f"no golden {golden.name}; create it with `pytest tests/test_goldens.py --update-goldens` and review it")
    with np.load(golden) as stored:
        expected = {k: stored[k] for k in stored.files}
    rtol, atol = tolerances(precision)
    assert not compare_outputs(outputs, expected, rtol=rtol, atol=atol)
    if target != "ref":
        reference = _compile(name, "ref", "f32").run(example_inputs(name, model, seed=0))
        assert not compare_outputs(outputs, reference, rtol=rtol, atol=atol)
    if target == "asic" and precision == "f32":
        snapshot = GOLDENS / f"{name}.asic.s"
        assert snapshot.exists(), "no reviewed asm snapshot; run with --update-goldens"
        assert compiled.ir("asm") == snapshot.read_text(), f"asm of {name} changed; review and run --update-goldens"
