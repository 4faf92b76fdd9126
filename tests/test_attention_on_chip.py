"""No attention writes a sequence x sequence score tensor to global memory.

Walks the tiled IR of every bundled transformer example (as exporters write attention:
decomposed, with grouped-query repeats, causal and padding masks) lowered for the ``tiled``
target and with the moe-asic parts' tiling, and checks that no global temporary has trailing
axes ``[seq, seq]``: ``raise-composites`` makes each attention one op whose kernel keeps its
score rows in locals. With the pass disabled the same walk finds the scores (so the check can
fail), and the raised programs still give the reference's outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.backend.asic.staging.params import asic_tiling_params
from moecc.compare import compare_outputs, tolerances
from moecc.examples import build_example, example_inputs
from moecc.isa_spec.target import load_target
from moecc.ir.tiled.nodes import TiledModule
from moecc.passes.tiled_lowering.lower import lower_graph

SEQ = 24
#: Examples with attention, at sizes where no other activation has trailing axes [SEQ, SEQ].
MODELS = {
    "llama-block": {"seq": SEQ, "hidden": 64, "heads": 4, "kv_heads": 2, "n_layers": 1, "vocab": 64},
    "gpt2-block": {"seq": SEQ, "hidden": 64, "heads": 4, "n_layers": 1, "vocab": 64},
    "bert-layer": {"seq": SEQ, "hidden": 64, "heads": 4, "n_layers": 1, "vocab": 64},
    "mixtral-block": {"seq": SEQ, "hidden": 64, "heads": 4, "kv_heads": 2, "n_layers": 1, "vocab": 64},
    "moe-transformer": {"seq": SEQ, "hidden": 64, "heads": 4, "kv_heads": 2, "n_layers": 1, "vocab": 64},
}


def score_buffers(module: TiledModule) -> list[str]:
    """Global temporaries shaped like attention scores: trailing axes [SEQ, SEQ]."""
    return [b.name for b in module.buffers
            if b.space == "global" and b.role == "temp" and len(b.shape) >= 2 and b.shape[-2:] == (SEQ, SEQ)]


def _model(name: str):  # noqa: ANN202
    sizes = {k: v for k, v in MODELS[name].items() if k in _sizes_of(name)}
    return build_example(name, **sizes)


def _sizes_of(name: str) -> set[str]:
    from moecc.examples import EXAMPLES

    return set(EXAMPLES[name].default_sizes)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_scores_in_global_memory(name: str) -> None:
    model = _model(name)
    compiled = moecc.compile(model, target="tiled")
    assert "attention" in {op.kind for op in compiled.graph.ops}, "attention was not raised"
    assert score_buffers(compiled.executable.module) == []
    for part in ("moe-asic-v1", "moe-asic-edge"):
        for precision in ("f32", "bf16"):
            params = asic_tiling_params(load_target(part), precision)
            assert score_buffers(lower_graph(compiled.graph, params, moe="sparse").module) == [], (part, precision)
    inputs = example_inputs(name, model, seed=0)
    rtol, atol = tolerances("f32")
    reference = moecc.compile(model, target="ref", disable_passes=["raise-composites"]).run(inputs)
    assert not compare_outputs(compiled.run(inputs), reference, rtol=rtol, atol=atol)


def test_the_walk_finds_decomposed_scores() -> None:
    """Without raising, the softmax's input and output are [.., SEQ, SEQ] global temporaries."""
    compiled = moecc.compile(_model("llama-block"), target="tiled", disable_passes=["raise-composites"])
    assert len(score_buffers(compiled.executable.module)) >= 2


def test_asic_runs_raised_attention_like_the_reference() -> None:
    """The raised attention on the ASIC simulator, both precisions, against the reference."""
    model = _model("llama-block")
    inputs = example_inputs("llama-block", model, seed=0)
    reference = moecc.compile(model, target="ref", disable_passes=["raise-composites"]).run(inputs)
    for precision in ("f32", "bf16"):
        compiled = moecc.compile(model, target="asic", precision=precision)
        rtol, atol = tolerances(precision)
        got = compiled.run(inputs)
        assert not compare_outputs(got, reference, rtol=rtol, atol=atol), precision
        assert all(np.isfinite(v).all() for v in got.values())


SINKS = """graph @main(%q: tensor<2x4x6x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x8xf32>, %m: tensor<2x1x6x6xbool>) {
  %a = attention(%q, %k, %v, %m) {scale = 0.35, sinks = [0.5, -1.0, 2.0, 0.0]} : tensor<2x4x6x8xf32>
  return %a
}"""


@pytest.mark.parametrize("target", ["tiled", "cpu", "asic"])
def test_attention_sinks_on_every_target(target: str) -> None:
    """Sinks with grouped-query heads and a boolean mask that blocks some rows entirely (those
    rows give zeros): every target agrees with the reference and with the formula."""
    from moecc.ir.parser import parse_graph

    graph = parse_graph(SINKS)
    rng = np.random.default_rng(3)
    feeds = {"q": rng.standard_normal((2, 4, 6, 8)).astype(np.float32),
             "k": rng.standard_normal((2, 2, 6, 8)).astype(np.float32),
             "v": rng.standard_normal((2, 2, 6, 8)).astype(np.float32),
             "m": rng.random((2, 1, 6, 6)) < 0.6}
    feeds["m"][0, 0, 2, :] = False  # a row with no attendable key
    reference = moecc.compile_graph(graph, "ref").run(feeds)
    k, v = np.repeat(feeds["k"], 2, axis=1), np.repeat(feeds["v"], 2, axis=1)
    scores = np.where(feeds["m"], feeds["q"] @ k.swapaxes(-1, -2) * np.float32(0.35), -np.inf)
    sinks = np.broadcast_to(np.array([0.5, -1.0, 2.0, 0.0], np.float32).reshape(1, 4, 1, 1), (2, 4, 6, 1))
    full = np.concatenate([scores, sinks], axis=-1)
    weights = np.exp(full - full.max(-1, keepdims=True))
    expected = (weights / weights.sum(-1, keepdims=True))[..., :6] @ v
    (got,) = reference.values()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.all(got[0, :, 2] == 0)
    (out,) = moecc.compile_graph(graph, target).run(feeds).values()
    np.testing.assert_allclose(out, got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", ["causal", "bool-mask", "float-mask-sinks", "softcap"])
def test_long_keys_walk_key_tiles_with_an_online_softmax(form: str) -> None:
    """Keys too long for whole score rows at a full query tile: the kernel walks key tiles
    (its locals stay within the budget) and agrees with the reference."""
    from moecc.ir.interpreter import run_graph
    from moecc.ir.parser import parse_graph
    from moecc.ir.tiled.interpreter import run_tiled_module
    from moecc.passes.tiled_lowering.context import TilingParams

    mask_type = {"bool-mask": "bool", "float-mask-sinks": "f32"}.get(form)
    attrs = {"causal": "is_causal = true", "bool-mask": "", "float-mask-sinks": "sinks = [0.5, -1.0, 2.0, 0.0]",
             "softcap": "softcap = 2.5, is_causal = true"}[form]
    inputs = "%q: tensor<2x4x6x8xf32>, %k: tensor<2x2x40x8xf32>, %v: tensor<2x2x40x8xf32>"
    inputs += f", %m: tensor<2x1x6x40x{mask_type}>" if mask_type else ""
    operands = "%q, %k, %v" + (", %m" if mask_type else "")
    text = (f"graph @main({inputs}) {{\n  %a = attention({operands}) {{scale = 0.35{', ' + attrs if attrs else ''}}}"
            " : tensor<2x4x6x8xf32>\n  return %a\n}")
    graph = parse_graph(text)
    rng = np.random.default_rng(5)
    feeds = {"q": rng.standard_normal((2, 4, 6, 8)).astype(np.float32),
             "k": rng.standard_normal((2, 2, 40, 8)).astype(np.float32),
             "v": rng.standard_normal((2, 2, 40, 8)).astype(np.float32)}
    if mask_type == "bool":
        feeds["m"] = rng.random((2, 1, 6, 40)) < 0.5
        feeds["m"][0, 0, 1, :] = False  # a row with no attendable key: zeros
    elif mask_type == "f32":
        feeds["m"] = np.where(rng.random((2, 1, 6, 40)) < 0.5, np.float32(-1e9), np.float32(0))
    params = TilingParams(tile_rows=8, tile_cols=8, k_tile=16, local_bytes=2048)
    lowering = lower_graph(graph, params)
    (kernel,) = lowering.module.kernels
    assert any(b.name.startswith("new_max") for b in kernel.buffers), "the key-tile form was not chosen"
    assert sum(b.elements * b.dtype.itemsize for b in kernel.buffers) <= params.local_bytes
    assert score_buffers(lowering.module) == []
    (expected,) = run_graph(graph, feeds).values()
    (got,) = run_tiled_module(lowering.module, {**feeds, **lowering.weights}).values()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if mask_type == "bool":
        assert np.all(got[0, :, 1] == 0)


def test_long_causal_attention_on_the_edge_part_walks_key_tiles() -> None:
    """Sequence 512 on the edge part (256 KiB of locals per kernel): key tiles on the simulator."""
    from moecc.ir.parser import parse_graph

    graph = parse_graph("""graph @main(%q: tensor<1x2x512x32xf32>, %k: tensor<1x1x512x32xf32>, %v: tensor<1x1x512x32xf32>) {
  %a = attention(%q, %k, %v) {scale = 0.1767766952966369, is_causal = true} : tensor<1x2x512x32xf32>
  return %a
}""")
    rng = np.random.default_rng(2)
    feeds = {"q": rng.standard_normal((1, 2, 512, 32)).astype(np.float32),
             "k": rng.standard_normal((1, 1, 512, 32)).astype(np.float32),
             "v": rng.standard_normal((1, 1, 512, 32)).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    compiled = moecc.compile_graph(graph, "asic", asic_target="moe-asic-edge")
    assert "new_max" in compiled.ir("kernel")
    (got,) = compiled.run(feeds).values()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("length", [64, 80])  # keys = queries, and a cache of 16 earlier keys
def test_causal_attention_on_the_cpu_skips_hidden_keys(length: int) -> None:
    """On the cpu target a causal attention's query tiles compute only the keys their rows can
    see (the tiles' products shrink towards the diagonal) and give the reference's outputs,
    grouped-query heads included."""
    from moecc.ir.parser import parse_graph
    from moecc.ir.tiled.nodes import MatMul, walk
    from moecc.passes.tiled_lowering.composite import CAUSAL_MIN_QUERY_ROWS

    s = 2 * CAUSAL_MIN_QUERY_ROWS
    graph = parse_graph(f"""graph @main(%q: tensor<1x4x{s}x16xf32>, %k: tensor<1x2x{length}x16xf32>, \
%v: tensor<1x2x{length}x16xf32>) {{
  %a = attention(%q, %k, %v) {{scale = 0.25, is_causal = true}} : tensor<1x4x{s}x16xf32>
  return %a
}}""")
    rng = np.random.default_rng(4)
    feeds = {"q": rng.standard_normal((1, 4, s, 16)).astype(np.float32),
             "k": rng.standard_normal((1, 2, length, 16)).astype(np.float32),
             "v": rng.standard_normal((1, 2, length, 16)).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    compiled = moecc.compile_graph(graph, "cpu", threads=2)
    (kernel,) = compiled.executable.module.kernels
    key_extents = sorted({st.dst.shape[-1] for _, st, _ in walk(kernel.body)  # q @ k^T: [queries, keys]
                          if isinstance(st, MatMul) and st.dst.buffer.startswith("scores")})
    assert key_extents[0] < length and key_extents[-1] == length, key_extents
    (got,) = compiled.run(feeds).values()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("part,seq", [("moe-asic-v1", 256), ("moe-asic-edge", 512)])  # one-pass, key tiles
def test_causal_attention_on_the_asic_skips_hidden_key_tiles(part: str, seq: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The ASIC's causal attention computes only the keys each query tile can see: fewer MXU
    cycles than the whole masked square, and the same outputs (to f32 reassociation)."""
    from moecc.ir.parser import parse_graph
    from moecc.passes.tiled_lowering import composite

    graph = parse_graph(f"""graph @main(%q: tensor<1x2x{seq}x32xf32>, %k: tensor<1x1x{seq}x32xf32>, \
%v: tensor<1x1x{seq}x32xf32>) {{
  %a = attention(%q, %k, %v) {{scale = 0.1767766952966369, is_causal = true}} : tensor<1x2x{seq}x32xf32>
  return %a
}}""")
    rng = np.random.default_rng(6)
    feeds = {name: rng.standard_normal(value.type.shape).astype(np.float32) for name, value in zip("qkv", graph.inputs)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    busy = {}
    for skip in (False, True):
        monkeypatch.setattr(composite, "SKIP_HIDDEN_KEYS", skip)
        compiled = moecc.compile_graph(graph, "asic", asic_target=part)
        (got,) = compiled.run(feeds).values()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        busy[skip] = compiled.report()["kernels"]["by_kernel"][0]["busy_cycles"]["mxu"]
    assert busy[True] <= 0.8 * busy[False], busy


def _sliding_window_model(seq: int, window: int, heads: int = 4, dim: int = 64) -> bytes:
    """ONNX ``Attention`` (opset 25), causal with a left window: its structural mask folds to a
    constant the lowering reads."""
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, heads, seq, dim]) for n in "qkv"]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, heads, seq, dim])
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1, left_window_size=window)
    graph = helper.make_graph([node], "sliding", ins, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)]).SerializeToString()


@pytest.mark.parametrize("target,kwargs", [("asic", {}), ("asic", {"asic_target": "moe-asic-edge"}), ("cpu", {})])
def test_sliding_window_attention_skips_keys_outside_the_window(target: str, kwargs: dict,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A sliding window (a constant mask) hides whole key tiles from the query tiles far from
    the start: each tile computes only the keys ``[lo, hi)`` some row of it sees, with the
    reference's outputs; on the ASIC far fewer MXU cycles than the whole masked square."""
    from moecc.ir.tiled.nodes import MatMul, walk
    from moecc.passes.tiled_lowering import composite

    model = _sliding_window_model(512, 64)
    rng = np.random.default_rng(9)
    feeds = {n: rng.standard_normal((1, 4, 512, 64)).astype(np.float32) for n in "qkv"}
    (expected,) = moecc.compile(model, "ref").run(feeds).values()
    busy = {}
    for skip in (False, True):
        monkeypatch.setattr(composite, "SKIP_HIDDEN_KEYS", skip)
        compiled = moecc.compile(model, target, **kwargs)
        (got,) = compiled.run(feeds).values()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        if target == "asic":
            busy[skip] = compiled.report()["units"]["mxu"]["busy_cycles"]
        elif skip:
            (kernel,) = compiled.executable.module.kernels
            extents = {st.dst.shape[-1] for _, st, _ in walk(kernel.body)
                       if isinstance(st, MatMul) and st.dst.buffer.startswith("scores")}
            assert max(extents) < 512, extents  # no tile computes every key
    if busy:
        assert busy[True] <= 0.6 * busy[False], busy
