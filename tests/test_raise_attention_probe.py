"""The key/value view probe of attention raising, whole and sampled.

Grouped-query keys repeated kv-major (Unsqueeze/Expand/Reshape, as Hugging Face's ``repeat_kv``)
raise to an attention op that reads the unrepeated keys; keys tiled head-major (query head h
reading kv head ``h % kv_heads``) are no grouped-query attention the op can express, so the op
reads the repeated keys (four kv heads) instead. Both hold when the probe evaluates the whole
chain and when, for big tensors, it traces sampled positions back through the views; the
numbers do not change either way.
"""

from __future__ import annotations

import numpy as np
import pytest

from moecc.ir.interpreter import run_graph
from moecc.ir.parser import parse_graph
from moecc.passes import PassManager

GQA = """graph @main(%q: tensor<1x4x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>) {{
  %k5 = reshape(%k) {{shape = [{k5}]}} : tensor<{k5t}xf32>
  %ke = expand(%k5) {{shape = [{ke}]}} : tensor<{ket}xf32>
  %k4 = reshape(%ke) {{shape = [1, 4, 3, 4]}} : tensor<1x4x3x4xf32>
  %kt = transpose(%k4) {{perm = [0, 1, 3, 2]}} : tensor<1x4x4x3xf32>
  %v5 = reshape(%v) {{shape = [{k5}]}} : tensor<{k5t}xf32>
  %ve = expand(%v5) {{shape = [{ke}]}} : tensor<{ket}xf32>
  %v4 = reshape(%ve) {{shape = [1, 4, 3, 4]}} : tensor<1x4x3x4xf32>
  %s = matmul(%q, %kt) : tensor<1x4x3x3xf32>
  %p = softmax(%s) {{axis = -1}} : tensor<1x4x3x3xf32>
  %y = matmul(%p, %v4) : tensor<1x4x3x4xf32>
  return %y
}}"""

#: kv-major repeat (head h reads kv head h // 2) and head-major tiling (h reads h % 2).
FORMS = {
    "repeat_kv": dict(k5="1, 2, 1, 3, 4", k5t="1x2x1x3x4", ke="1, 2, 2, 3, 4", ket="1x2x2x3x4"),
    "tiled": dict(k5="1, 1, 2, 3, 4", k5t="1x1x2x3x4", ke="1, 2, 2, 3, 4", ket="1x2x2x3x4"),
}


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_probe_raises_repeat_kv_and_leaves_tiled_heads(form: str, sampled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    probe = importlib.import_module("moecc.passes.raise_attention")
    if sampled:  # every chain counts as big: positions traced back one by one
        monkeypatch.setattr(probe, "MAX_PROBE_ELEMENTS", 4)
        monkeypatch.setattr(probe, "PROBE_SAMPLES", 16)
    graph = parse_graph(GQA.format(**FORMS[form]))
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((1, 4, 3, 4)).astype(np.float32),
             "k": rng.standard_normal((1, 2, 3, 4)).astype(np.float32),
             "v": rng.standard_normal((1, 2, 3, 4)).astype(np.float32)}
    (before,) = run_graph(graph, feeds).values()
    PassManager("raise-composites,dce").run(graph)
    (attention,) = [op for op in graph.ops if op.kind == "attention"]
    kv_heads = attention.operands[1].type.shape[1]
    assert kv_heads == (2 if form == "repeat_kv" else 4)
    (after,) = run_graph(graph, feeds).values()
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)
