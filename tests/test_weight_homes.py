"""Weights kept on chip (passes/weight_homes.py): homes, fill kernels, on-chip copies."""

from __future__ import annotations

import numpy as np

import moecc
from moecc.asic_runtime import random_inputs
from moecc.backend.asic.isel import select_instructions
from moecc.examples import build_example
from moecc.ir.kernel import CpuCall, Kernel, KernelModule, Load, verify_kernel_module
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.kernel_parser import parse_kernel_module
from moecc.ir.kernel_printer import print_kernel_module
from moecc.passes.memory_plan import plan_memory
from moecc.passes.weight_homes import HOME_SUFFIX, is_fill_kernel
from tests.test_asic_codegen import RNG, V1, _two_matmul_kernels, run


def _loads(module: KernelModule) -> list:
    kernels = [s for s in module.steps if isinstance(s, Kernel)]
    return [i for i in select_instructions(module, kernels, V1) if i.mnemonic.startswith("dma.")]


def test_a_weight_read_later_is_filled_ahead_and_copied_on_chip() -> None:
    module = _two_matmul_kernels()
    planned, plan = plan_memory(module, V1)
    assert plan.weight_homes == 1 and plan.weight_home_bytes == 32 * 32 * 4
    fill, first, second = (s for s in planned.steps if isinstance(s, Kernel))
    assert is_fill_kernel(fill) and first.name != second.name
    home = planned.hbm_buffer("w2" + HOME_SUFFIX)
    assert home.role == "home" and fill.buffers[0].offset == home.offset
    # The fill is one HBM load of w2, its store to the home is left out, the second kernel's
    # two column blocks are on-chip copies; w (read by the first kernel) stays in HBM.
    dmas = _loads(planned)
    assert [i.mnemonic for i in dmas if "load w2 ->" in i.comment] == ["dma.ld"]
    assert [i.mnemonic for i in dmas if "load w2.home" in i.comment] == ["dma.ld.sram"] * 2
    assert not any("store w2.fill" in i.comment for i in dmas)
    assert [i.mnemonic for i in dmas if "load w ->" in i.comment] == ["dma.ld"]
    x, w, w2 = (RNG.standard_normal((32, 32)).astype("float32") for _ in range(3))
    got, _ = run(module, {"x": x, "w": w, "w2": w2})
    np.testing.assert_allclose(got["z"], (x @ w) @ w2, rtol=1e-4, atol=1e-4)
    # The kernel IR keeps its meaning: the interpreter runs the fill's load and store.
    verify_kernel_module(planned)
    memory = run_kernel_module(planned, {"x": x, "w": w, "w2": w2})
    np.testing.assert_allclose(memory["z"].reshape(32, 32), (x @ w) @ w2, rtol=1e-4, atol=1e-4)
    # ... and its text: role home and the fill's placed buffers print and parse back.
    text = print_kernel_module(planned)
    assert "w2.home" in text and " home @" in text
    assert parse_kernel_module(text) == planned


def test_no_home_without_a_kernel_to_fill_under_or_across_a_host_step() -> None:
    module = _two_matmul_kernels()
    # w is read by the first kernel: nothing runs before it to hide a fill.
    planned, _ = plan_memory(module, V1)
    assert not any(b.name == "w" + HOME_SUFFIX for b in planned.hbm)
    # A host step between the kernels: the SRAM starts afresh after it.
    split = KernelModule(hbm=module.hbm, steps=[module.steps[0], CpuCall("host", ("y",), ("y",)), module.steps[1]],
                         inputs=module.inputs, outputs=module.outputs)
    assert plan_memory(split, V1)[1].weight_homes == 0
    # Turned off, alone or with the activations.
    assert plan_memory(module, V1, weight_homes=False)[1].weight_homes == 0
    assert plan_memory(module, V1, on_chip=False)[1].weight_homes == 0


def test_models_keep_their_weights_on_chip_and_their_outputs() -> None:
    model = build_example("llama-block").SerializeToString()
    inputs = random_inputs(moecc.compile(model, "ref").graph, seed=1)
    reference = moecc.compile(model, "ref").run(inputs)
    homed = moecc.compile(model, "asic")
    got = homed.run(inputs)
    for name, want in reference.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5)
    report = homed.report()
    assert report["memory"]["sram_weight_homes"] > 0
    assert report["hbm_bytes"]["read"] <= moecc.compile(model, "asic", activations="hbm").report()["hbm_bytes"]["read"]
    assert any(row["kernel"].startswith("fill_weights_") for row in report["kernels"]["by_kernel"])
    assert moecc.compile(model, "asic", activations="hbm").report()["memory"]["sram_weight_homes"] == 0


def test_a_fill_of_several_weights_is_one_dma_where_they_lie_as_their_homes() -> None:
    """Memory planning lays the weights with homes out in HBM in home order, so a fill kernel of
    several weights is one ``dma.ld`` per run of them (one engine of the load queue); every
    weight still reaches its home (the model's outputs match the reference). A weight that no
    longer lies as its home does goes by itself."""
    from moecc.backend.asic.fill_dma import fill_runs
    from moecc.backend.asic.isel import Selector

    model = build_example("llama-block").SerializeToString()
    compiled = moecc.compile(model, "asic")
    asm = compiled.ir("asm")
    fills = [line for line in asm.splitlines() if "fill_weights_" in line and line.lstrip().startswith("dma.ld ")]
    several = [line for line in fills if "(one DMA)" in line]
    assert several, "no fill moved several weights in one DMA"
    inputs = random_inputs(moecc.compile(model, "ref").graph, seed=2)
    reference = moecc.compile(model, "ref").run(inputs)
    for name, want in compiled.run(inputs).items():
        np.testing.assert_allclose(want, reference[name], rtol=1e-4, atol=1e-5)
    # The run of bytes: found for a fill of the planned module, refused once one of its weights
    # no longer lies as its home does.
    planned = compiled.executable.module
    fill = next(s for s in planned.steps if is_fill_kernel(s) and sum(isinstance(t, Load) for t in s.body) > 1)
    sel = Selector(planned, V1)
    sel._enter(fill)
    loads = [(t, {}) for t in fill.body if isinstance(t, Load)]
    runs = fill_runs(sel, loads)
    assert runs is not None and len(runs) < len(loads)
    last = loads[runs[0][-1]][0].src.buffer  # moved away, it leaves the run it ended
    end = max(b.offset + b.nbytes for b in planned.hbm if b.space == "hbm" and b.role != "home")
    sel.hbm[last] = sel.hbm[last].placed(end + 4096)
    again = fill_runs(sel, loads)
    assert again is not None and [runs[0][-1]] in again and len(again) == len(runs) + 1
