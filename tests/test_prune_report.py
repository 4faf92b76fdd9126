"""``moecc prune-report`` and the break-even advisor: accuracy against the unpruned model, the
savings measured on the simulator, and a verdict per matmul."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moecc.cli import main
from moecc.examples import build_example
from moecc.prune_advisor import PAYS_OFF, advise, tile_pruned, two_four
from moecc.prune_report import format_prune_report, prune_report
from moecc.ir.sparse24 import is_2_4


@pytest.fixture(scope="module")
def llama() -> bytes:
    """A Llama-style block whose projections contract over 256 (two MXU folds)."""
    return build_example("llama-block", batch=1, seq=64, hidden=256, heads=4, kv_heads=2,
                         intermediate=512).SerializeToString()


@pytest.fixture(scope="module")
def report_2_4(llama: bytes) -> dict:
    return prune_report(llama, "2:4", calibration=2)


def test_report_measures_2_4_savings_on_the_asic(report_2_4: dict) -> None:
    report = report_2_4
    assert report["score"] == "wanda" and report["evaluated_on"].startswith("2 seeded")
    assert report["weights"], "every pruned projection gets a row"
    for row in report["weights"]:
        assert row["stored_as"] == "2:4" and row["sparsity"] == pytest.approx(0.5, abs=0.01)
        stored = row["hbm_bytes_stored"]
        assert stored["pruned"] <= 0.65 * stored["unpruned"]
        alone = row["matmul_alone"]
        assert alone["pruned"]["mxu_cycles"] <= 0.6 * alone["unpruned"]["mxu_cycles"]
        assert alone["pruned"]["hbm_bytes_read"] < alone["unpruned"]["hbm_bytes_read"]
    whole = report["model_figures"]
    assert whole["pruned"]["mxu_cycles"] < whole["unpruned"]["mxu_cycles"]
    assert whole["pruned"]["cycles"] < whole["unpruned"]["cycles"]
    (row,) = [r for r in report["accuracy"] if r["output"] == "logits"]
    assert 0.5 < row["cosine"] < 1.0 and row["top1_agreement"] is not None


def test_report_prints_every_part(report_2_4: dict) -> None:
    text = format_prune_report(report_2_4)
    for part in ("accuracy", "cosine", "whole model", "per pruned weight", "break-even advisor", "2:4"):
        assert part in text


def test_wanda_keeps_logits_closer_than_magnitude(llama: bytes, report_2_4: dict,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured on the same input sets (Wanda's calibration sets), Wanda's logits are at least
    as close to the unpruned model's as magnitude pruning's."""
    import moecc.prune_report as module

    monkeypatch.setattr(module, "EVAL_SETS", 2)  # without calibration: the same 2 seeded sets
    magnitude = prune_report(llama, "2:4", advise=False)
    assert magnitude["score"] == "magnitude" and magnitude["evaluated_on"] == report_2_4["evaluated_on"]
    (wanda_row,) = [r for r in report_2_4["accuracy"] if r["output"] == "logits"]
    (mag_row,) = [r for r in magnitude["accuracy"] if r["output"] == "logits"]
    assert wanda_row["cosine"] >= mag_row["cosine"]


def test_cpu_target_reports_accuracy_and_no_savings(llama: bytes) -> None:
    report = prune_report(llama, "magnitude:0.5", target="cpu", calibration=1)
    assert report["weights"] == [] and "densely" in report["note"]
    assert all(row["verdict"] == "neither" for row in report["advice"])
    assert report["accuracy"][0]["cosine"] < 1.0


def test_advisor_verdicts() -> None:
    big = advise(256, 512, 128, "asic")
    assert big["verdict"] == "2:4" and big["ratios"]["2:4"] <= PAYS_OFF
    small = advise(16, 16, 1, "asic")
    assert small["verdict"] == "neither" and "fixed costs" in small["why"]
    assert advise(256, 512, 128, "cpu")["verdict"] == "neither"


def test_advisor_weights_have_the_forms_they_claim() -> None:
    assert is_2_4(two_four(256, 128))
    w = tile_pruned(256, 256, 0.5, 128)
    tiles = w.reshape(2, 128, 2, 128).transpose(0, 2, 1, 3).reshape(4, -1)
    assert int((~tiles.any(axis=1)).sum()) == 2


def test_cli_prune_report(tmp_path, llama: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "llama.onnx"
    path.write_bytes(llama)
    assert main(["prune-report", str(path), "--prune", "2:4", "--no-advice", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prune"] == "2:4" and report["advice"] == []
    assert main(["prune-report", str(path), "--prune", "tile:2"]) == 2
    assert "prune" in capsys.readouterr().err
    assert main(["prune-report", str(path), "--prune", "2:4", "--target", "cpu", "--precision", "bf16"]) == 2
    assert np.isfinite(report["accuracy"][0]["cosine"])
