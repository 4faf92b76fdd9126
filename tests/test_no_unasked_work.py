"""Compiling and saving do no work the user did not ask for: no simulation without a report or
a trace (#11); ``report()`` simulates once, on seeded inputs, and says so."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import moecc
from moecc.backend.asic import sim
from moecc.cli import main
from moecc.examples import build_example


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulator ran")

    monkeypatch.setattr(sim.Simulator, "run", refuse)


def test_compile_and_save_do_not_simulate(tmp_path: Path, no_simulation: None) -> None:
    model = build_example("gpt2-block")
    compiled = moecc.compile(model, target="asic")
    compiled.save(tmp_path / "m.moe")
    with zipfile.ZipFile(tmp_path / "m.moe") as archive:
        assert "report.json" not in archive.namelist()  # no figures were asked for
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    assert main(["compile", str(path), "--target", "asic", "-o", str(tmp_path / "cli.moe")]) == 0
    assert moecc.load(tmp_path / "cli.moe").options["asic_target"] == "moe-asic-v1"


def test_report_simulates_once_and_says_on_what(tmp_path: Path) -> None:
    compiled = moecc.compile(build_example("gpt2-block"), target="asic")
    first = compiled.report()
    assert first["figures_from"].startswith("seeded random inputs")
    stats = compiled.last_stats
    assert compiled.report()["cycles"] == first["cycles"] and compiled.last_stats is stats  # not run again
    compiled.save(tmp_path / "m.moe")
    with zipfile.ZipFile(tmp_path / "m.moe") as archive:
        assert json.loads(archive.read("report.json"))["cycles"] == first["cycles"]
