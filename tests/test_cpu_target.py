"""The cpu target: every example compiled with LLVM matches the reference; IR stages; artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

import moecc
from moecc.cli import main
from moecc.compare import compare_outputs
from moecc.examples import EXAMPLES, build_example, example_inputs


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_reference_on_cpu(name: str) -> None:
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    compiled = moecc.compile(model, target="cpu")
    reference = moecc.compile(model, target="ref").run(inputs)
    assert not compare_outputs(compiled.run(inputs), reference)
    assert not compare_outputs(compiled.run(inputs), reference)  # a second run reuses the heap


def test_cpu_ir_stages_and_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_example("gpt2-block")
    compiled = moecc.compile(model, target="cpu")
    assert "define void" in compiled.ir("llvm")
    assert compiled.ir("kernel").startswith("kernel_module")
    path = tmp_path / "gpt2.moe"
    compiled.save(path)
    inputs = example_inputs("gpt2-block", model)
    loaded = moecc.load(path)
    assert not compare_outputs(loaded.run(inputs), compiled.run(inputs))
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "llvm"]) == 0
    assert "moecc_sgemm" in capsys.readouterr().out
    assert main(["compile", str(onnx_path), "--emit", "llvm"]) == 2  # llvm needs --target cpu
