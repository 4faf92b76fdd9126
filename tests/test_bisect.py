"""``moecc bisect`` finds deliberately broken lowering rules, staging and passes: it names the op (with
its ONNX node) and the pass or stage, and exits 1; on a correct compile it exits 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from moecc.bisect import bisect_model
from moecc.cli import main


def _model(path: Path) -> Path:
    """x @ w -> relu -> + b -> tanh: four ops, each its own ONNX node."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w"),
             numpy_helper.from_array(np.full((16,), 0.5, np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "b"], ["s"], name="bias"), helper.make_node("Tanh", ["s"], ["y"], name="tanh")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 16])], inits)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


@pytest.mark.parametrize("target", ["cpu", "asic", "tiled"])
def test_a_correct_compile_bisects_clean(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bisect", str(_model(tmp_path / "m.onnx")), "--target", target]) == 0
    assert "every output matches" in capsys.readouterr().out


def test_a_broken_tiled_rule_is_found_in_lower_to_tiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from moecc.ir.tiled.nodes import Unary
    from moecc.passes.tiled_lowering import elementwise

    monkeypatch.setitem(elementwise.UNARY, "relu", lambda x, attrs, t: Unary("abs", x))  # wrong on negatives
    assert main(["bisect", str(_model(tmp_path / "m.onnx")), "--target", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "first op:   %r = relu (ONNX node 'relu')" in out
    assert "first pass: lower-to-tiled (the tiled interpreter differs too)" in out


def test_a_broken_staging_is_found_in_stage_for_asic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moecc.backend.asic.staging import expressions

    monkeypatch.setitem(expressions._SCALAR_FORMS, "max", "mins")  # relu = max(x, 0) staged as min(x, 0)
    result = bisect_model(_model(tmp_path / "m.onnx"), "asic")
    assert result.differs and result.first_op is not None
    assert (result.first_op["kind"], result.first_op["onnx_node"]) == ("relu", "relu")
    assert result.first_pass == "stage-for-asic (the tiled interpreter agrees; the kernel-IR interpreter does not)"
    assert bisect_model(_model(tmp_path / "m.onnx"), "cpu").differs is False  # the cpu does not stage for the ASIC


def test_a_broken_graph_pass_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moecc.passes import canonicalize

    def drop_any_add(op, rw):  # type: ignore[no-untyped-def]
        lhs = op.operands[0]
        return [lhs] if lhs.type == op.result.type else None

    broken = canonicalize.RewritePattern("drop-add", "add", drop_any_add)
    monkeypatch.setitem(canonicalize._PATTERNS_BY_KIND, "add", (broken,))
    for target in ("cpu", "asic"):
        result = bisect_model(_model(tmp_path / "m.onnx"), target)
        assert result.differs and result.first_op is not None and result.first_op["onnx_node"] == "bias"
        assert result.first_pass is not None and result.first_pass.startswith("canonicalize (graph pass")


def test_bad_bisect_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _model(tmp_path / "m.onnx")
    assert main(["bisect", str(path), "--target", "cpu", "--precision", "bf16"]) == 2
    assert main(["bisect", str(path), "--target", "nope"]) == 2
    assert main(["bisect", str(path), "--target", "cpu", "--input", "x"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3
