"""Target descriptions as data: ``target_overrides`` / ``--set KEY=VALUE`` set entries of a part's
TOML, validated with errors naming the entry; the compiler re-tiles for a small SRAM."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from moecc.cli import main
from moecc.errors import TargetError
from moecc.examples import build_example, example_inputs
from moecc.isa_spec.target import load_target


def _matmul(m: int, k: int, n: int) -> bytes:
    w = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                              [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_overrides_set_entries_and_name_the_part() -> None:
    part = load_target("moe-asic-v1", {"sram.capacity_bytes": "8MiB", "mxu.rows": 256,
                                       "hbm.bandwidth_bytes_per_s": "4e11", "mxu.dtypes": "f32,bf16"})
    assert (part.sram_capacity_bytes, part.mxu_rows, part.hbm_bandwidth_bytes_per_s) == (8 << 20, 256, 4e11)
    assert part.name == ("moe-asic-v1[hbm.bandwidth_bytes_per_s=4e11, mxu.dtypes=f32,bf16, mxu.rows=256, "
                         "sram.capacity_bytes=8MiB]")
    assert load_target("moe-asic-v1", {}).name == "moe-asic-v1"


@pytest.mark.parametrize("entry,value,message", [
    ("mxu.rows", 3, r"mxu.rows = 3 is below the smallest MXU side, 8"),
    ("hbm.bandwidth_bytes_per_s", 0, r"hbm.bandwidth_bytes_per_s = 0.0 must be positive"),
    ("sram.size", 1, r"has no entry 'sram.size'.*sram.capacity_bytes"),
    ("sram.capacity_bytes", "lots", r"sram.capacity_bytes=lots: not an integer"),
])
def test_bad_overrides_name_the_entry(entry: str, value: object, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        load_target("moe-asic-v1", {entry: value})
    with pytest.raises(TargetError, match=message):  # refused before anything compiles
        moecc.compile(_matmul(8, 64, 64), "asic", target_overrides={entry: value})


def test_bandwidth_and_array_size_move_the_cycles_not_the_outputs() -> None:
    x_wide = np.random.default_rng(1).standard_normal((8, 1024)).astype(np.float32)
    x_tall = np.random.default_rng(2).standard_normal((1024, 256)).astype(np.float32)
    cases = [  # (model, input, the entry doubled): bandwidth-bound, then compute-bound
        (_matmul(8, 1024, 1024), x_wide, {"hbm.bandwidth_bytes_per_s": "2.4e12"}),
        (_matmul(1024, 256, 256), x_tall, {"mxu.rows": 256, "mxu.cols": 256}),
    ]
    for model, x, doubled in cases:
        base = moecc.compile(model, "asic")
        more = moecc.compile(model, "asic", target_overrides=doubled)
        base_out, more_out = base.run({"x": x})["y"], more.run({"x": x})["y"]
        np.testing.assert_allclose(more_out, base_out, rtol=1e-5, atol=1e-4)
        assert more.report()["cycles"] < base.report()["cycles"], doubled
    assert load_target("moe-asic-v1").hbm_bandwidth_bytes_per_s == 1.2e12  # the doubling above


def test_a_small_sram_compiles_by_retiling_and_a_tiny_one_names_the_entry() -> None:
    model = build_example("llama-block")
    feeds = example_inputs("llama-block", model)
    expected = moecc.compile(model, "ref").run(feeds)
    small = moecc.compile(model, "asic", target_overrides={"sram.capacity_bytes": "64KiB"})
    got = small.run(feeds)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-4)
    assert small.report()["asic_target"] == "moe-asic-v1[sram.capacity_bytes=64KiB]"
    with pytest.raises(TargetError, match=r"sram.capacity_bytes = 1024 is too small"):
        moecc.compile(model, "asic", target_overrides={"sram.capacity_bytes": "1KiB"})


def test_cli_set_and_artifacts_keep_the_overrides(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mm.onnx"
    path.write_bytes(_matmul(64, 256, 256))
    out = tmp_path / "mm.moe"
    assert main(["compile", str(path), "--target", "asic", "--set", "mxu.rows=64", "--set", "mxu.cols=64",
                 "-o", str(out), "--report", "-"]) == 0
    assert "moe-asic-v1[mxu.cols=64, mxu.rows=64]" in capsys.readouterr().out
    loaded = moecc.load(out)
    assert loaded.executable.target.mxu_rows == 64
    x = np.random.default_rng(3).standard_normal((64, 256)).astype(np.float32)
    np.testing.assert_allclose(loaded.run({"x": x})["y"], moecc.compile(path, "ref").run({"x": x})["y"],
                               rtol=1e-5, atol=1e-4)
    assert main(["compile", str(path), "--target", "asic", "--set", "mxu.rows", "-o", str(out)]) == 2
    assert main(["compile", str(path), "--target", "cpu", "--set", "mxu.rows=64", "-o", str(out)]) == 2
