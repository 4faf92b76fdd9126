"""cpu target with threads=N: big matmuls split by columns across threads give the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import moecc
from moecc.backend.llvm import parallel_matmul
from moecc.errors import MoeccError, UnsupportedError
from moecc.examples import build_example, example_inputs


@pytest.fixture
def split_every_matmul(monkeypatch: pytest.MonkeyPatch) -> None:
    # The examples' default sizes are far below the threshold; split every matmul instead.
    monkeypatch.setattr(parallel_matmul, "PARALLEL_MIN_FLOPS", 0)


@pytest.mark.parametrize("name", ["gpt2-block", "llama-block"])
def test_two_threads_match_one_bitwise(name: str, split_every_matmul: None) -> None:
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    single = moecc.compile(model, target="cpu").run(inputs)
    compiled = moecc.compile(model, target="cpu", threads=2)
    assert compiled.options["threads"] == 2
    assert compiled.executable.program.threads == 2
    for _ in range(2):
        parallel = compiled.run(inputs)
        for key, value in single.items():
            np.testing.assert_array_equal(parallel[key], value)


def test_set_threads_back_and_forth(split_every_matmul: None) -> None:
    model = build_example("gpt2-block")
    inputs = example_inputs("gpt2-block", model, seed=1)
    compiled = moecc.compile(model, target="cpu")
    program = compiled.executable.program
    expected = compiled.run(inputs)
    for threads in (2, 1, 3, 2, 1):
        compiled.options["threads"] = threads
        outputs = compiled.run(inputs)
        assert program.threads == threads
        for key, value in expected.items():
            np.testing.assert_array_equal(outputs[key], value)
    with pytest.raises(MoeccError):
        program.set_threads(0)


def test_threads_kept_in_artifact_and_cli(tmp_path: Path, split_every_matmul: None) -> None:
    from moecc.cli import main

    model = build_example("gpt2-block")
    inputs = example_inputs("gpt2-block", model, seed=0)
    compiled = moecc.compile(model, target="cpu", threads=2)
    path = tmp_path / "gpt2.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    assert loaded.options["threads"] == 2
    outputs = loaded.run(inputs)
    assert loaded.executable.program.threads == 2
    for key, value in compiled.run(inputs).items():
        np.testing.assert_array_equal(outputs[key], value)
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--threads", "2", "-o", str(tmp_path / "t.moe")]) == 0
    assert moecc.load(tmp_path / "t.moe").options["threads"] == 2
    assert main(["compile", str(onnx_path), "--threads", "2"]) == 2  # threads need --target cpu
    with pytest.raises(UnsupportedError):
        moecc.compile(model, target="ref", threads=2)


def test_dropping_a_threaded_model_then_exiting_does_not_crash(tmp_path) -> None:
    """Workers spin in the JIT's machine code: a dropped model (compiled or loaded) must not free
    that code under them, and exit must stop them first (a segfault at exit before the fix)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import gc, moecc
        from moecc.examples import build_example, example_inputs
        m = build_example("llama-block")
        f = example_inputs("llama-block", m, seed=0)
        for _ in range(2):
            cm = moecc.compile(m, target="cpu", threads=2)
            cm.run(f)
            cm.save(r"{tmp_path / 'm.moe'}")
            loaded = moecc.load(r"{tmp_path / 'm.moe'}")
            loaded.run(f)
            del cm, loaded
            gc.collect()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit code {done.returncode}: {done.stderr[-2000:]}"
