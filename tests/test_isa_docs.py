"""ISA.md is generated from the table and covers every instruction; the table is well formed."""

from __future__ import annotations

from pathlib import Path

from moecc.isa_spec import available_targets, load_isa, load_target
from moecc.isa_spec.docgen import render

ISA_MD = Path(__file__).resolve().parents[1] / "isa_spec" / "ISA.md"


def test_isa_md_is_current() -> None:
    assert ISA_MD.read_text(encoding="utf-8") == render(), \
        "ISA.md is stale: run `python -m moecc.isa_spec.docgen`"


def test_isa_md_covers_every_instruction() -> None:
    text = ISA_MD.read_text(encoding="utf-8")
    for inst in load_isa().instructions:
        assert f"#### `{inst.mnemonic}`" in text
        assert inst.semantics.replace("|", "/") in text


def test_every_timing_class_is_priced_by_every_target() -> None:
    classes = {i.timing for i in load_isa().instructions}
    priced_elsewhere = {"dma_copy", "dma_local", "dma_gather", "dma_scatter", "dma_scatter_add", "mxu_dense", "mxu_sparse", "mxu_preload", "mxu_24"}
    for name in available_targets():
        target = load_target(name)
        for timing in classes - priced_elsewhere:
            assert target.cycles(timing) > 0
    assert {"moe-asic-v1", "moe-asic-edge"} <= set(available_targets())


def test_units_and_opcodes() -> None:
    isa = load_isa()
    assert {i.unit for i in isa.instructions} == {"ctrl", "ld", "st", "mxu", "vpu"}
    assert all(0 <= i.opcode < 128 for i in isa.instructions)
