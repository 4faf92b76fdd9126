"""The public Python API: compile, run (input checks), ir, report, save/load and artifact errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import moecc
from moecc.examples import build_example, example_inputs


@pytest.fixture(scope="module")
def gpt2():  # type: ignore[no-untyped-def]
    model = build_example("gpt2-block")
    return model, moecc.compile(model, target="ref"), example_inputs("gpt2-block", model, seed=0)


def test_run_returns_onnx_names_and_dtypes(gpt2) -> None:  # type: ignore[no-untyped-def]
    model, cm, inputs = gpt2
    outs = cm.run(inputs)
    assert list(outs) == [o.name for o in model.graph.output]
    assert outs["logits"].dtype == np.float32


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: {}, "missing input"),
        (lambda d: {**d, "bogus": np.zeros(1)}, "unknown input"),
        (lambda d: {k: v.astype(np.int32) for k, v in d.items()}, "dtype int32"),
        (lambda d: {k: v[:, :3] for k, v in d.items()}, "shape"),
    ],
)
def test_run_checks_inputs(gpt2, mutate, message) -> None:  # type: ignore[no-untyped-def]
    _, cm, inputs = gpt2
    with pytest.raises(moecc.InputError, match=message):
        cm.run(mutate(inputs))


def test_ir_and_report(gpt2) -> None:  # type: ignore[no-untyped-def]
    _, cm, _ = gpt2
    text = cm.ir("graph")
    assert text.startswith("graph @") and "matmul" in text
    with pytest.raises(moecc.UnsupportedError):
        cm.ir("asm")
    report = cm.report()
    json.dumps(report)
    assert report["target"] == "ref" and report["op_count"] > 0 and "import-onnx" in report["pass_times"]


def test_save_load_round_trip(gpt2, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cm, inputs = gpt2
    path = tmp_path / "m.moe"
    cm.save(path)
    loaded = moecc.load(path)
    assert loaded.graph.structurally_equal(cm.graph)
    for key, value in cm.run(inputs).items():
        np.testing.assert_array_equal(loaded.run(inputs)[key], value)


def _rewrite_member(path: Path, member: str, transform) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[member] = transform(members[member])
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_corrupt_artifacts_are_clear_errors(gpt2, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cm, _ = gpt2
    good = tmp_path / "good.moe"
    cm.save(good)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.moe"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(moecc.ArtifactError):
        moecc.load(truncated)

    foreign = tmp_path / "foreign.moe"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(moecc.ArtifactError, match="not a moecc artifact"):
        moecc.load(foreign)

    tampered = tmp_path / "tampered.moe"
    tampered.write_bytes(data)
    _rewrite_member(tampered, "graph.mir", lambda b: b.replace(b"matmul", b"matmux", 1))
    with pytest.raises(moecc.ArtifactError, match="checksum"):
        moecc.load(tampered)

    future = tmp_path / "future.moe"
    future.write_bytes(data)
    from moecc.artifact import ARTIFACT_VERSION

    current = f'"format_version": {ARTIFACT_VERSION}'.encode()
    _rewrite_member(future, "manifest.json", lambda b: b.replace(current, b'"format_version": 99'))
    with pytest.raises(moecc.ArtifactError, match="version 99"):
        moecc.load(future)

    with pytest.raises(moecc.ArtifactError):
        moecc.load(tmp_path / "missing.moe")


def test_supported_ops_claim_the_issue_list() -> None:
    wanted = """Add Sub Mul Div Pow Neg Abs Exp Log Sqrt Reciprocal Tanh Erf Sigmoid Relu LeakyRelu Gelu Softplus
    HardSigmoid HardSwish Mish Max Min Where Equal Less Greater LessOrEqual GreaterOrEqual Not And Or IsNaN IsInf Cast
    CastLike Clip Identity Dropout MatMul Gemm Einsum LayerNormalization RMSNormalization Softmax LogSoftmax ReduceSum
    ReduceMean ReduceMax ReduceMin ReduceProd ArgMax ArgMin Reshape Transpose Squeeze Unsqueeze Flatten Concat Split
    Slice Expand Shape Size ConstantOfShape Range Tile Trilu Gather GatherElements GatherND ScatterElements ScatterND
    OneHot TopK CumSum Constant Attention RotaryEmbedding""".split()
    claimed = moecc.supported_onnx_ops("ref")
    assert not [op for op in wanted if op not in claimed]
    with pytest.raises(moecc.TargetError):
        moecc.supported_onnx_ops("gpu")


def test_cli_compile_run_inspect_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from moecc.cli import main

    onnx_path = tmp_path / "m.onnx"
    assert main(["example", "dense-moe", "-o", str(onnx_path)]) == 0
    moe = tmp_path / "m.moe"
    assert main(["compile", str(onnx_path), "-o", str(moe), "--report", str(tmp_path / "r.json"), "--time-passes"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["target"] == "ref"
    model = build_example("dense-moe")
    inputs = example_inputs("dense-moe", model)
    for name, value in inputs.items():
        np.save(tmp_path / f"{name}.npy", value)
    args = ["run", str(moe), "--output-dir", str(tmp_path / "out"), "--check"]
    args += [f"--input={name}={tmp_path / (name + '.npy')}" for name in inputs]
    assert main(args) == 0
    assert (tmp_path / "out" / "output.npy").exists()
    capsys.readouterr()
    assert main(["inspect", str(moe)]) == 0
    assert "moecc-artifact" in capsys.readouterr().out
    assert main(["run", str(moe)]) == 2  # missing inputs
