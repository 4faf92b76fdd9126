"""#14's what-if checks on real compiled programs: more bandwidth where bandwidth bounds, a bigger
MXU where compute bounds, each lowering cycles and neither changing the outputs."""

from __future__ import annotations

import numpy as np

import moecc
from moecc.asic_runtime import random_inputs
from moecc.compare import F32_ATOL, F32_RTOL, compare_outputs
from moecc.examples import build_example, realistic_sizes


def _run(model: bytes, inputs: dict, **overrides: object) -> tuple[dict, dict]:
    compiled = moecc.compile(model, "asic", target_overrides=overrides)
    outputs = compiled.run(inputs)
    return outputs, compiled.report()


def test_doubling_hbm_bandwidth_where_it_bounds_lowers_cycles_and_keeps_outputs() -> None:
    model = build_example("llama-block").SerializeToString()
    inputs = random_inputs(moecc.compile(model, "ref").graph, seed=0)
    slow_out, slow = _run(model, inputs, **{"hbm.bandwidth_bytes_per_s": "2.5e10"})
    fast_out, fast = _run(model, inputs, **{"hbm.bandwidth_bytes_per_s": "5e10"})
    assert slow["roofline_bound"] == "memory"
    assert fast["total_cycles"] < 0.8 * slow["total_cycles"]  # measured 13,989 -> 8,858
    for name in slow_out:  # the same program's arithmetic, only its timing moved
        np.testing.assert_array_equal(fast_out[name], slow_out[name])


def test_doubling_the_mxu_where_compute_bounds_lowers_cycles_and_keeps_outputs() -> None:
    model = build_example("llama-block", **realistic_sizes("llama-block")).SerializeToString()
    inputs = random_inputs(moecc.compile(model, "ref").graph, seed=0)
    small_out, small = _run(model, inputs)
    big_out, big = _run(model, inputs, **{"mxu.rows": 256, "mxu.cols": 256})
    assert small["roofline_bound"] == "compute"
    assert big["total_cycles"] < 0.8 * small["total_cycles"]
    # Other tiles sum in another order: equal within f32's tolerance.
    assert compare_outputs(big_out, small_out, rtol=F32_RTOL, atol=F32_ATOL) == []
