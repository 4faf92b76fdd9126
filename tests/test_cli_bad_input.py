"""Bad input through the CLI: exit 2, one line on stderr, no traceback, no output file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from moecc.cli import main


def _model(nodes, inputs, outputs, initializers=(), opset: int = 18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def good_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    return _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                  [_vi("x", TensorProto.FLOAT, [2, 4])], [_vi("y", TensorProto.FLOAT, [2, 4])], [w])


def _write_model(path: Path, model: onnx.ModelProto) -> None:
    path.write_bytes(model.SerializeToString())


def _bad_files() -> dict[str, Callable[[Path], Path]]:
    def empty(tmp: Path) -> Path:
        p = tmp / "empty.onnx"
        p.write_bytes(b"")
        return p

    def truncated(tmp: Path) -> Path:
        data = good_model().SerializeToString()
        p = tmp / "truncated.onnx"
        p.write_bytes(data[: len(data) // 2])
        return p

    def random_bytes(tmp: Path) -> Path:
        p = tmp / "random.onnx"
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return p

    def unknown_ops(tmp: Path) -> Path:
        m = _model([helper.make_node("FooBar", ["x"], ["a"], name="f1"), helper.make_node("FooBar", ["a"], ["b"], name="f2"),
                    helper.make_node("Bazinga", ["b"], ["y"], name="z1")],
                   [_vi("x", TensorProto.FLOAT, [2])], [_vi("y", TensorProto.FLOAT, [2])])
        p = tmp / "unknown.onnx"
        _write_model(p, m)
        return p

    def dangling(tmp: Path) -> Path:
        m = _model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")],
                   [_vi("x", TensorProto.FLOAT, [2])], [_vi("y", TensorProto.FLOAT, [2])])
        p = tmp / "dangling.onnx"
        _write_model(p, m)
        return p

    def cycle(tmp: Path) -> Path:
        m = _model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2")],
                   [_vi("x", TensorProto.FLOAT, [2])], [_vi("b", TensorProto.FLOAT, [2])])
        p = tmp / "cycle.onnx"
        _write_model(p, m)
        return p

    def bad_reshape(tmp: Path) -> Path:
        shape = numpy_helper.from_array(np.array([4, 4], np.int64), "shape")
        m = _model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
                   [_vi("x", TensorProto.FLOAT, [2, 3])], [_vi("y", TensorProto.FLOAT, None)], [shape])
        p = tmp / "reshape.onnx"
        _write_model(p, m)
        return p

    def bad_matmul(tmp: Path) -> Path:
        w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
        m = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                   [_vi("x", TensorProto.FLOAT, [2, 3])], [_vi("y", TensorProto.FLOAT, None)], [w])
        p = tmp / "matmul.onnx"
        _write_model(p, m)
        return p

    def dynamic(tmp: Path) -> Path:
        m = _model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                   [_vi("x", TensorProto.FLOAT, ["batch", 4])], [_vi("y", TensorProto.FLOAT, ["batch", 4])])
        p = tmp / "dynamic.onnx"
        _write_model(p, m)
        return p

    def future_opset(tmp: Path) -> Path:
        m = good_model()
        m.opset_import[0].version = 99
        p = tmp / "future.onnx"
        _write_model(p, m)
        return p

    def strings(tmp: Path) -> Path:
        m = _model([helper.make_node("Identity", ["x"], ["y"], name="id")],
                   [_vi("x", TensorProto.STRING, [2])], [_vi("y", TensorProto.STRING, [2])])
        p = tmp / "strings.onnx"
        _write_model(p, m)
        return p

    def huge_tensor(tmp: Path) -> Path:
        # dims claim 4 TiB; the data is 16 bytes (helper.make_tensor would refuse to build it)
        big = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=bytes(16))
        m = _model([helper.make_node("Add", ["x", "big"], ["y"], name="add")],
                   [_vi("x", TensorProto.FLOAT, [1 << 20, 1 << 20])], [_vi("y", TensorProto.FLOAT, [1 << 20, 1 << 20])], [big])
        p = tmp / "huge.onnx"
        _write_model(p, m)
        return p

    def missing(tmp: Path) -> Path:
        return tmp / "does-not-exist.onnx"

    def directory(tmp: Path) -> Path:
        d = tmp / "a-directory.onnx"
        d.mkdir()
        return d

    return {f.__name__: f for f in (empty, truncated, random_bytes, unknown_ops, dangling, cycle, bad_reshape, bad_matmul,
                                    dynamic, future_opset, strings, huge_tensor, missing, directory)}


BAD_FILES = _bad_files()


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_model_exits_2_with_one_line(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = BAD_FILES[kind](tmp_path)
    out = tmp_path / "out.moe"
    code = main(["compile", str(model_path), "-o", str(out)])
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("moecc: error:")
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.moe.*")), "a temporary file was left behind"


def test_unknown_ops_are_all_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD_FILES["unknown_ops"](tmp_path)
    assert main(["compile", str(path), "--emit", "graph"]) == 2
    err = capsys.readouterr().err
    assert "FooBar (2 nodes: f1, f2)" in err and "Bazinga (1 node: z1)" in err


def test_dynamic_dims_error_names_input_and_remedy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD_FILES["dynamic"](tmp_path)
    assert main(["compile", str(path), "--emit", "graph"]) == 2
    err = capsys.readouterr().err
    assert "input 'x'" in err and "--input-shape" in err
    assert main(["compile", str(path), "--emit", "graph", "--input-shape", "x:3x4"]) == 0
    assert "tensor<3x4xf32>" in capsys.readouterr().out


def test_bad_input_shape_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD_FILES["dynamic"](tmp_path)
    for flag in ("x3x4", "x:3xq", "nope:3x4", "x:3x4x5", "x:5x3"):
        assert main(["compile", str(path), "--emit", "graph", "--input-shape", flag]) == 2, flag
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD_FILES["empty"](tmp_path)
    assert main(["--debug", "compile", str(path)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_console_script_end_to_end(tmp_path: Path) -> None:
    path = BAD_FILES["random_bytes"](tmp_path)
    proc = subprocess.run([sys.executable, "-m", "moecc", "compile", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("moecc: error:")
    assert not list(tmp_path.glob("*.moe"))


@pytest.mark.parametrize("target", ["ref", "cpu", "tiled", "asic"])
def test_a_tensor_no_target_can_hold_is_refused_at_compile_time(target: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A 4 PiB Relu: refused when compiling (naming the value), not when running."""
    shape = [1 << 25, 1 << 25]
    path = tmp_path / "huge_relu.onnx"
    _write_model(path, _model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                              [_vi("x", TensorProto.FLOAT, shape)], [_vi("y", TensorProto.FLOAT, shape)]))
    assert main(["compile", str(path), "--target", target, "-o", str(tmp_path / "m.moe")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("%x" in err or "HBM" in err)
    assert not (tmp_path / "m.moe").exists()


def test_output_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    path = tmp_path / "m.onnx"
    _write_model(path, good_model())
    old = os.umask(0o022)
    try:
        assert main(["compile", str(path), "-o", str(tmp_path / "m.moe"), "--report", str(tmp_path / "r.json")]) == 0
        os.umask(0o077)
        assert main(["compile", str(path), "-o", str(tmp_path / "private.moe")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m.moe").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.moe").stat().st_mode & 0o777 == 0o600


def test_demo_refuses_a_bad_target_before_printing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--target", "BAD"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown target 'BAD'" in err
