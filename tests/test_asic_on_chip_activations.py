"""Activations kept in SRAM between kernels (memory planning's ``resident`` temporaries).

On both parts, a transformer block compiled with ``activations="on-chip"`` (the default) and
with ``"hbm"`` gives bitwise the same outputs (only where the bytes wait changes); on chip its
HBM traffic is the compulsory bytes alone (weights and inputs read once, outputs written),
its loads and stores of activations are on-chip ``dma.ld.sram``/``dma.st.sram`` copies, and it takes fewer cycles.
"""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.compare import compare_outputs, tolerances
from moecc.errors import MoeccError
from moecc.examples import build_example, example_inputs

SIZES = {"seq": 32, "hidden": 64, "heads": 4, "kv_heads": 2, "n_layers": 2, "vocab": 64}


@pytest.mark.parametrize("part", ["moe-asic-v1", "moe-asic-edge"])
def test_on_chip_activations_change_no_output_and_no_compulsory_byte(part: str) -> None:
    model = build_example("llama-block", **SIZES)
    inputs = example_inputs("llama-block", model, seed=0)
    on_chip = moecc.compile(model, target="asic", asic_target=part)
    via_hbm = moecc.compile(model, target="asic", asic_target=part, activations="hbm")
    got, expected = on_chip.run(inputs), via_hbm.run(inputs)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    rtol, atol = tolerances("f32")
    assert not compare_outputs(got, moecc.compile(model, target="ref").run(inputs), rtol=rtol, atol=atol)
    report, baseline = on_chip.report(), via_hbm.report()
    memory = report["memory"]
    assert memory["sram_resident_activations"] > 0 and baseline["memory"]["sram_resident_activations"] == 0
    output_bytes = sum(v.nbytes for v in got.values())
    # Reads: at most the compulsory bytes (an embedding gather reads only its rows); writes:
    # the outputs alone.
    assert report["hbm_bytes"]["read"] <= report["compulsory_hbm_bytes"]
    assert report["hbm_bytes"]["written"] == output_bytes
    assert baseline["hbm_bytes"]["read"] > report["hbm_bytes"]["read"]
    assert report["cycles"] < baseline["cycles"]
    assert "dma.ld.sram" in on_chip.ir("asm") and "dma.st.sram" in on_chip.ir("asm")
    assert ".sram" not in via_hbm.ir("asm")


def test_bad_activations_option_is_refused() -> None:
    with pytest.raises(MoeccError, match="activations 'sram' is not supported"):
        moecc.compile(build_example("llama-block", **SIZES), target="asic", activations="sram")
    with pytest.raises(MoeccError, match="an option of target 'asic'"):
        moecc.compile(build_example("llama-block", **SIZES), target="cpu", activations="hbm")
