"""Artifacts hold each weight once and stream big members uncompressed (#11)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

import moecc
from moecc.artifact import STORE_ABOVE_BYTES
from moecc.compare import compare_outputs
from moecc.examples import build_example, example_inputs


def test_asic_artifact_keeps_each_weight_once(tmp_path: Path) -> None:
    model = build_example("llama-block")
    compiled = moecc.compile(model, target="asic")
    path = tmp_path / "m.moe"
    compiled.save(path)
    with zipfile.ZipFile(path) as archive:
        with np.load(archive.open("weights.npz")) as npz:
            in_npz = set(npz.files)
        image = archive.getinfo("hbm_image.bin")
        stored = image.file_size > STORE_ABOVE_BYTES  # big members are written as they are
        assert image.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    big = {op.result.name for op in compiled.graph.const_ops() if op.attrs["value"].size >= 4096}
    assert big and not big & in_npz  # the big constants live in the HBM image only
    weights = sum(b.nbytes for b in compiled.executable.module.hbm if b.role == "weight")
    assert weights <= image.file_size < compiled.executable.hbm_bytes  # up to the last weight only
    feeds = example_inputs("llama-block", model)
    assert not compare_outputs(moecc.load(path).run(feeds), compiled.run(feeds))
