"""Host steps are part of an ASIC model's time (#11): priced by the part's host model, added to
``total_cycles`` and the roofline ratio, and named by the summary when they carry the FLOPs."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx import TensorProto, helper

import moecc
from moecc.asic_report import format_asic_summary
from moecc.errors import TargetError
from moecc.examples import build_example
from moecc.isa_spec.target import load_target, parse_target


def _host_heavy_model() -> object:
    """Two float Mods (no tiled expression computes them: host steps), each after a kernel
    (IsNaN, Cast and Add; then an Add)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])
    nodes = [helper.make_node("IsNaN", ["x"], ["n"], name="nan"), helper.make_node("Cast", ["n"], ["c"], to=1, name="cast"),
             helper.make_node("Add", ["c", "x"], ["s"], name="add"),
             helper.make_node("Mod", ["s", "x"], ["m"], fmod=1, name="fmod"),
             helper.make_node("Add", ["m", "x"], ["t"], name="add2"),
             helper.make_node("Mod", ["t", "x"], ["y"], fmod=1, name="fmod2")]
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])


def test_total_cycles_include_the_host_steps() -> None:
    compiled = moecc.compile(_host_heavy_model(), target="asic")
    report = compiled.report()
    target = load_target("moe-asic-v1")
    steps = report["host"]["per_step"]
    assert report["host"]["steps"] == len(steps) == report["kernels"]["cpu_steps"] == 2
    for row in steps:  # overhead + max(FLOPs at the host's rate, bytes over the link), in ASIC cycles
        seconds = target.host_step_overhead_s + max(row["flops"] / target.host_flops_per_s,
                                                    row["bytes"] / target.host_bytes_per_s)
        assert row["cycles"] == round(seconds * target.clock_hz) and row["bytes"] > 0
    assert report["host_cycles"] == sum(row["cycles"] for row in steps) > 0
    assert report["total_cycles"] == report["cycles"] + report["host_cycles"]
    assert report["ratio_to_roofline"] == pytest.approx(report["total_cycles"] / report["roofline_cycles"], rel=1e-2)
    summary = format_asic_summary(report)
    assert "host steps" in summary and "WARNING" in summary
    assert "mod (fmod)" in summary and "mod (fmod2)" in summary and "no tiled expression computes it" in summary
    assert "is_nan" not in summary.split("WARNING")[1]  # it runs in a kernel


def test_the_trace_puts_host_steps_on_their_own_track_on_one_time_axis() -> None:
    """Each host step is an event on the ``host (modelled)`` track lasting its modelled cycles,
    and the program segment after it starts after it: one time axis for the whole run."""
    compiled = moecc.compile(_host_heavy_model(), target="asic", trace=True)
    compiled.run({"x": __import__("numpy").full((64, 64), 3.0, dtype="float32")})
    report = compiled.report()
    events = compiled.trace()["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    host = [e for e in events if e.get("ph") == "X" and names.get(e["tid"]) == "host (modelled)"]
    cycles = {row["step"]: row["cycles"] for row in report["host"]["per_step"]}
    assert [e["args"]["modelled_cycles"] for e in host] == [cycles[e["args"]["kernel"]] for e in host]
    assert len(host) == 2
    units = [e for e in events if e.get("ph") == "X" and e not in host]
    for step in host:  # nothing on the units overlaps a host step
        start, end = step["ts"] + 1e-6, step["ts"] + step["dur"] - 1e-6  # microseconds, float sums
        assert not any(start < u["ts"] < end for u in units)
    # The kernel between the two host steps (the second Add) runs after the first one.
    first_end, second = host[0]["ts"] + host[0]["dur"], host[1]["ts"]
    assert any(first_end - 1e-6 <= u["ts"] and u["ts"] + u["dur"] <= second + 1e-6 for u in units)


def test_a_model_without_host_steps_has_no_host_cycles() -> None:
    report = moecc.compile(build_example("gpt2-block"), target="asic").report()
    assert report["host_cycles"] == 0 and report["total_cycles"] == report["cycles"]
    assert "WARNING" not in format_asic_summary(report)


def test_host_model_comes_from_the_target_description(tmp_path: Path) -> None:
    text = Path(moecc.isa_spec.__file__).with_name("target-moe-asic-v1.toml").read_text()
    base = text[:text.index("[host]")]
    default = parse_target(base)  # no [host]: the documented defaults
    assert (default.host_flops_per_s, default.host_bytes_per_s, default.host_step_overhead_s) == (1.0e11, 2.5e10, 1.0e-5)
    slow = parse_target(base + "[host]\nflops_per_s = 1.0e9\nbytes_per_s = 1.0e9\n")
    assert slow.host_flops_per_s == 1.0e9 and slow.host_step_overhead_s == 1.0e-5
    with pytest.raises(TargetError, match="host.gflops"):
        parse_target(base + "[host]\ngflops = 3\n")
    with pytest.raises(TargetError, match="host.bytes_per_s = 0.0 must be positive"):
        parse_target(base + "[host]\nbytes_per_s = 0\n")
    path = tmp_path / "slow-host.toml"
    path.write_text(base.replace('name = "moe-asic-v1"', 'name = "slow-host"') + "[host]\nflops_per_s = 1.0e8\n")
    fast = moecc.compile(_host_heavy_model(), target="asic").report()["host_cycles"]
    slowed = moecc.compile(_host_heavy_model(), target="asic", asic_target=str(path)).report()["host_cycles"]
    assert slowed > fast
