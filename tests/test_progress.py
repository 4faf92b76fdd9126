"""The progress line (#11): shown on a terminal, one rewritten line naming each step; nothing
when the stream is not a terminal or with ``--quiet``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import moecc
from moecc.cli import main
from moecc.examples import build_example
from moecc.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_each_pass_and_stage_is_shown_then_cleared() -> None:
    terminal = FakeTerminal()
    progress = Progress(stream=terminal)
    moecc.compile(build_example("gpt2-block"), target="asic", progress=progress)
    progress.clear()
    text = terminal.getvalue()
    for step in ("import-onnx", "canonicalize", "lower-to-tiled", "stage-for-asic", "select-instructions",
                 "building the asic executable"):
        assert step in text
    assert "[1/" in text and "\n" not in text  # one line, rewritten with \r
    assert text.endswith("\r") and text.split("\r")[-2].strip() == ""  # cleared


def test_nothing_is_written_off_a_terminal_or_when_quiet() -> None:
    plain = io.StringIO()
    Progress(stream=plain).step("import-onnx", 1, 3)
    quiet = FakeTerminal()
    Progress(quiet=True, stream=quiet).step("import-onnx", 1, 3)
    assert plain.getvalue() == "" and quiet.getvalue() == ""


def test_cli_compile_off_a_terminal_prints_no_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(build_example("gpt2-block").SerializeToString())
    assert main(["compile", str(path), "--target", "cpu", "-o", str(tmp_path / "m.moe")]) == 0
    assert main(["compile", str(path), "--target", "cpu", "--quiet", "-o", str(tmp_path / "q.moe")]) == 0
    err = capsys.readouterr().err
    assert "moecc: [" not in err and "\r" not in err
