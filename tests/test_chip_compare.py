"""``moecc compare``: one model on two ASIC parts, joined kernel by kernel."""

from __future__ import annotations

import json

import pytest

from moecc.chip_compare import compare_chips, format_comparison
from moecc.cli import main
from moecc.examples import build_example


@pytest.fixture(scope="module")
def model() -> bytes:
    return build_example("llama-block").SerializeToString()


def test_two_chips_kernel_by_kernel(model: bytes) -> None:
    result = compare_chips(model, "moe-asic-v1", "moe-asic-v1",
                           overrides_b={"hbm.bandwidth_bytes_per_s": "3e11"})
    assert result["b"]["part"] == "moe-asic-v1[hbm.bandwidth_bytes_per_s=3e11]"
    assert result["outputs_agree"] and result["b"]["cycles"] > result["a"]["cycles"]
    changes = [row["change"] for row in result["kernels"]]
    assert changes == sorted(changes, reverse=True) and changes[0] > 0
    assert all(row["cycles_a"] is not None and row["cycles_b"] is not None for row in result["kernels"])
    text = format_comparison(result, top=3)
    head, _, table = text.partition("kernels, most changed first")
    assert "cycles" in head and len(table.strip("\n").splitlines()) == 1 + 3  # its title's rest, then 3 kernels


def test_cli_compare(tmp_path, model: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(model)
    assert main(["compare", str(path), "--target-b", "moe-asic-edge", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["a"]["part"] == "moe-asic-v1" and result["b"]["part"] == "moe-asic-edge"
    assert main(["compare", str(path)]) == 2  # the same chip twice
    assert "same part" in capsys.readouterr().err
    assert main(["compare", str(path), "--set-b", "mxu.rows=2"]) == 2
