"""GPT-OSS's MoE layer: the ``moe`` op's ``clamped_swiglu`` gating and its raising.

Hugging Face's ``GptOssExperts`` fuse gate and up into one ``gate_up_proj [E, H, 2F]`` (+ bias)
with interleaved columns (gate even, up odd), clamp them (``gate <= limit``, ``|up| <= limit``),
and combine them as ``(up + 1) * gate * sigmoid(alpha * gate)``; down has a bias too, and the
router is a biased Linear whose top-k logits are softmaxed. The ONNX graphs here are built as
PyTorch's dynamo exporter writes that layer (``gather_nd`` of the stacked weights and biases by
the top-k indices, ``Slice`` with step 2, ``Clip``), raised into one ``moe`` op and compared with
onnxruntime on ``ref``, ``tiled``, ``cpu`` (sparse and dense dispatch) and ``asic``; near-misses
stay unraised (and still compute the same). The op itself is checked against a token-by-token
loop of the formula, through the text format, and for the attribute combinations it refuses.
``tests/ir_tests/raise_moe_gpt_oss.mir`` holds the textual ``moecc opt`` cases.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import moecc
from tests.moe_layer_models import layer_inputs, layer_model, moe_ops, onnxruntime_output
from moecc.errors import ShapeError
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph

T, H, F, E, K = 6, 8, 6, 4, 2


def gpt_oss_layer(*, alpha: float | None = 1.702, limit: float = 7.0, variant: str = "", seed: int = 0,
                  gate_up_scale: float = 2.0) -> onnx.ModelProto:
    """One GPT-OSS MoE layer on ``x [T, H]`` as the dynamo exporter writes it. ``alpha=None``
    writes ``sigmoid(gate)`` (no scaling mul). ``variant`` makes near-misses: ``limits-differ``
    (the up clamp is ``[-limit/2, limit/2]``), ``halves`` (gate and up are the two halves of the
    fused columns, not interleaved), ``partial`` (the step-2 slices stop before the last pair of
    columns), ``offset-two`` (``up + 2``), ``gate-clamped-both-ways`` (``clip(gate, -limit, limit)``)."""
    rng = np.random.default_rng(seed)
    f_used = F - 1 if variant == "partial" else F

    def w(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    weights = {
        "router_w": w(E, H), "router_b": w(E, scale=0.5),
        "gate_up_proj": w(E, H, 2 * F, scale=gate_up_scale), "gate_up_proj_bias": w(E, 2 * F),
        "down_proj": w(E, f_used, H, scale=1 / np.sqrt(F)), "down_proj_bias": w(E, H),
    }
    ints = {"k": [K], "ax0": [0], "ax1": [1], "rows": [T * K, H], "flat": [-1], "tkh": [T, K, H], "ex": [T, K, H]}
    up_limit = limit / 2 if variant == "limits-differ" else limit
    floats = {"limit": limit, "neg_up_limit": -up_limit, "up_limit": up_limit,
              "one": 2.0 if variant == "offset-two" else 1.0, "neg_limit": -limit}
    if alpha is not None:
        floats["alpha"] = alpha
    if variant == "halves":
        slices = {"g_start": [0], "g_end": [F], "u_start": [F], "u_end": [2 * F], "step": [1]}
    else:
        end = 2 * F - 2 if variant == "partial" else 2**63 - 1  # the exporter's "to the end"
        slices = {"g_start": [0], "g_end": [end], "u_start": [1], "u_end": [end], "step": [2]}
    inits = [numpy_helper.from_array(v, n) for n, v in weights.items()]
    inits += [numpy_helper.from_array(np.asarray(v, np.int64), n) for n, v in {**ints, **slices}.items()]
    inits += [numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in floats.items()]
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "router_w", "router_b"], ["logits"], transB=1),
        n("TopK", ["logits", "k"], ["top", "idx"], axis=-1),
        n("Softmax", ["top"], ["routing"], axis=1),
        n("Unsqueeze", ["x", "ax1"], ["x3"]),
        n("Expand", ["x3", "ex"], ["xk"]),
        n("Reshape", ["xk", "rows"], ["xr"]),
        n("Reshape", ["idx", "flat"], ["idx_flat"]),
        n("Unsqueeze", ["idx_flat", "ax1"], ["idx_nd"]),
        n("GatherND", ["gate_up_proj", "idx_nd"], ["w_gu"]),
        n("GatherND", ["gate_up_proj_bias", "idx_nd"], ["b_gu"]),
        n("Unsqueeze", ["xr", "ax1"], ["xr3"]),
        n("MatMul", ["xr3", "w_gu"], ["gu3"]),
        n("Squeeze", ["gu3", "ax1"], ["gu0"]),
        n("Add", ["gu0", "b_gu"], ["gu"]),
        n("Slice", ["gu", "g_start", "g_end", "ax1", "step"], ["gate"]),
        n("Clip", ["gate", "neg_limit", "limit"] if variant == "gate-clamped-both-ways" else ["gate", "", "limit"],
          ["gate_c"]),
        n("Slice", ["gu", "u_start", "u_end", "ax1", "step"], ["up"]),
        n("Clip", ["up", "neg_up_limit", "up_limit"], ["up_c"]),
    ]
    if alpha is not None:
        nodes += [n("Mul", ["gate_c", "alpha"], ["gate_a"]), n("Sigmoid", ["gate_a"], ["sig"])]
    else:
        nodes.append(n("Sigmoid", ["gate_c"], ["sig"]))
    nodes += [
        n("Mul", ["gate_c", "sig"], ["glu"]),
        n("Add", ["up_c", "one"], ["up1"]),
        n("Mul", ["up1", "glu"], ["hid"]),
        n("GatherND", ["down_proj", "idx_nd"], ["w_d"]),
        n("GatherND", ["down_proj_bias", "idx_nd"], ["b_d"]),
        n("Unsqueeze", ["hid", "ax1"], ["hid3"]),
        n("MatMul", ["hid3", "w_d"], ["y3"]),
        n("Squeeze", ["y3", "ax1"], ["y0"]),
        n("Add", ["y0", "b_d"], ["ye"]),
        n("Reshape", ["routing", "flat"], ["r_flat"]),
        n("Unsqueeze", ["r_flat", "ax1"], ["r_col"]),
        n("Mul", ["ye", "r_col"], ["yw"]),
        n("Reshape", ["yw", "tkh"], ["ytk"]),
        n("ReduceSum", ["ytk", "ax1"], ["y"], keepdims=0),
    ]
    return layer_model(nodes, "gpt_oss_moe", inits, T, H)


# -- raising ---------------------------------------------------------------------------------------

FORMS = {
    "config-defaults": ({}, {"swiglu_alpha": 1.702, "swiglu_limit": 7.0}),
    "tight-limit": ({"limit": 0.75, "alpha": 2.5}, {"swiglu_alpha": 2.5, "swiglu_limit": 0.75}),
    "no-alpha-mul": ({"alpha": None, "limit": 1.5}, {"swiglu_alpha": 1.0, "swiglu_limit": 1.5}),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_gpt_oss_layer_is_raised_to_one_clamped_swiglu_moe(form: str) -> None:
    kwargs, attrs = FORMS[form]
    model = gpt_oss_layer(**kwargs)
    compiled = moecc.compile(model, "ref")
    (moe,) = moe_ops(compiled)
    assert moe.attrs["gating"] == "clamped_swiglu"
    assert moe.attrs["activation"] == "silu" and moe.attrs["gated"]
    assert moe.attrs["expert_bias"] and moe.attrs["router_bias"] and moe.attrs["normalize"]
    assert moe.attrs["top_k"] == K
    for name, value in attrs.items():
        assert moe.attrs[name] == value, name
    # No gathers, slices or clips are left: the weights were de-interleaved into constants.
    assert {op.kind for op in compiled.graph.ops} <= {"moe", "const", "reshape"}
    by_name = dict(zip(("x", "router_w", "w_gate", "w_up", "w_down", "b_gate", "b_up", "b_down", "router_b"),
                       moe.operands))
    gate_up = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "gate_up_proj"))
    gate_up_b = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "gate_up_proj_bias"))
    from moecc.ir.builder import const_value

    np.testing.assert_array_equal(const_value(by_name["w_gate"]), gate_up[..., ::2])
    np.testing.assert_array_equal(const_value(by_name["w_up"]), gate_up[..., 1::2])
    np.testing.assert_array_equal(const_value(by_name["b_gate"]), gate_up_b[..., ::2])
    np.testing.assert_array_equal(const_value(by_name["b_up"]), gate_up_b[..., 1::2])
    for seed in range(3):
        inputs = layer_inputs(T, H, seed)
        np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-4, atol=1e-5)


def test_the_clamps_are_exercised() -> None:
    """The test layers' pre-activations cross the limits (else the clamps would go untested)."""
    model = gpt_oss_layer()
    x = layer_inputs(T, H)["x"]
    gate_up = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "gate_up_proj"))
    pre = np.einsum("th,ehf->tef", x, gate_up)
    assert (pre[..., ::2] > 7.0).any() and (np.abs(pre[..., 1::2]) > 7.0).any()


@pytest.mark.parametrize("target, moe", [("tiled", None), ("cpu", None), ("cpu", "dense"), ("asic", None),
                                         ("asic", "sparse")])
@pytest.mark.parametrize("form", ["config-defaults", "tight-limit"])
def test_raised_gpt_oss_layer_matches_onnxruntime_on_targets(form: str, target: str, moe: str | None) -> None:
    model = gpt_oss_layer(**FORMS[form][0])
    compiled = moecc.compile(model, target, moe=moe)
    inputs = layer_inputs(T, H)
    np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-4, atol=1e-4)


NEAR_MISSES = ["limits-differ", "halves", "partial", "offset-two", "gate-clamped-both-ways"]


@pytest.mark.parametrize("variant", NEAR_MISSES)
def test_near_miss_is_left_alone_and_still_computes(variant: str) -> None:
    model = gpt_oss_layer(variant=variant)
    compiled = moecc.compile(model, "ref")
    assert not moe_ops(compiled)
    inputs = layer_inputs(T, H)
    np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", NEAR_MISSES)
def test_near_miss_says_why(variant: str) -> None:
    from moecc.passes import raise_moe_layers

    graph = moecc.compile(gpt_oss_layer(variant=variant), "ref", pipeline="decompose-einsum,canonicalize,fold-constants").graph
    reasons: list[str] = []
    assert raise_moe_layers(graph, lambda op, why: reasons.append(why)) == 0
    assert len(reasons) == 1 and any(word in reasons[0] for word in ("SwiGLU", "interleaved", "cover"))


# -- the op ----------------------------------------------------------------------------------------


def _swiglu_graph(*, alpha: float = 1.702, limit: float = 7.0, expert_bias: bool = True,
                  router_bias: bool = True) -> tuple[Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    t, h, e, f = 7, 6, 4, 5
    shapes = {"x": (t, h), "r": (h, e), "g": (e, h, f), "u": (e, h, f), "d": (e, f, h)}
    if expert_bias:
        shapes.update(bg=(e, f), bu=(e, f), bd=(e, h))
    if router_bias:
        shapes["rb"] = (e,)
    graph = Graph("m")
    values = [graph.add_input(n, TensorType(s, DType.F32)) for n, s in shapes.items()]
    attrs = {"top_k": 2, "expert_bias": expert_bias, "router_bias": router_bias, "gating": "clamped_swiglu",
             "swiglu_alpha": alpha, "swiglu_limit": limit}
    graph.set_outputs([GraphBuilder(graph).emit1("moe", values, attrs)], ["y"])
    verify_graph(graph)
    scale = {"g": 2.0, "u": 2.0}
    return graph, {n: (rng.standard_normal(s) * scale.get(n, 0.5)).astype(np.float32) for n, s in shapes.items()}


def _reference(feeds: dict[str, np.ndarray], alpha: float, limit: float) -> np.ndarray:
    """A token-by-token loop of GptOssExperts' formula (f64)."""
    x = feeds["x"].astype(np.float64)
    logits = x @ feeds["r"] + feeds.get("rb", 0)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        p = np.exp(logits[t] - logits[t].max())
        p /= p.sum()
        chosen = np.argsort(-p, kind="stable")[:2]
        for e, weight in zip(chosen, p[chosen] / p[chosen].sum()):
            gate = np.minimum(x[t] @ feeds["g"][e] + (feeds["bg"][e] if "bg" in feeds else 0), limit)
            up = x[t] @ feeds["u"][e] + (feeds["bu"][e] if "bu" in feeds else 0)
            up = np.clip(up, -limit, limit)
            hid = (up + 1) * gate / (1 + np.exp(-alpha * gate))
            out[t] += weight * (hid @ feeds["d"][e] + (feeds["bd"][e] if "bd" in feeds else 0))
    return out


@pytest.mark.parametrize("alpha, limit, expert_bias, router_bias", [(1.702, 7.0, True, True), (1.0, 0.5, False, False),
                                                                    (2.0, 1.25, True, False)])
def test_clamped_swiglu_moe_semantics_and_text(alpha: float, limit: float, expert_bias: bool, router_bias: bool) -> None:
    from moecc.ir.parser import parse_graph
    from moecc.ir.printer import print_graph

    graph, feeds = _swiglu_graph(alpha=alpha, limit=limit, expert_bias=expert_bias, router_bias=router_bias)
    np.testing.assert_allclose(run_graph(graph, feeds)["y"], _reference(feeds, alpha, limit), rtol=1e-5, atol=1e-5)
    text = print_graph(graph, elide_constants=False)
    assert print_graph(parse_graph(text), elide_constants=False) == text
    assert f'gating = "clamped_swiglu", swiglu_alpha = {alpha}, swiglu_limit = {limit}' in text


@pytest.mark.parametrize("alpha, limit, expert_bias", [(1.702, 7.0, True), (1.0, 0.5, False)])
def test_clamped_swiglu_moe_on_the_tiled_lowering(alpha: float, limit: float, expert_bias: bool) -> None:
    from tests.test_tiled_lowering import check

    graph, feeds = _swiglu_graph(alpha=alpha, limit=limit, expert_bias=expert_bias)
    check(graph, feeds)


@pytest.mark.parametrize("moe", ["sparse", "dense"])
@pytest.mark.parametrize("target", ["cpu", "asic"])
def test_clamped_swiglu_moe_on_targets(target: str, moe: str) -> None:
    graph, feeds = _swiglu_graph(alpha=1.5, limit=0.75)
    want = run_graph(graph, feeds)["y"]
    compiled = moecc.compile_graph(graph, target=target, moe=moe)
    if target == "asic":
        assert compiled.partition["host_ops"] == []
    np.testing.assert_allclose(compiled.run(feeds)["y"], want, rtol=1e-4, atol=1e-4)


def test_moe_op_refuses_clamped_swiglu_it_cannot_express() -> None:
    graph, _ = _swiglu_graph()
    operands = list(graph.inputs)
    b = GraphBuilder(graph)
    base = {"top_k": 2, "expert_bias": True, "router_bias": True}
    swiglu = {"gating": "clamped_swiglu", "swiglu_alpha": 1.702, "swiglu_limit": 7.0}
    with pytest.raises(ShapeError, match="not to the product gating"):
        b.emit1("moe", operands, {**base, "swiglu_limit": 3.0})
    with pytest.raises(ShapeError, match="needs both swiglu_alpha and swiglu_limit"):
        b.emit1("moe", operands, {**base, "gating": "clamped_swiglu", "swiglu_limit": 3.0})
    with pytest.raises(ShapeError, match='needs gated = true and activation = "silu"'):
        b.emit1("moe", operands, {**base, **swiglu, "activation": "gelu"})
    with pytest.raises(ShapeError, match="swiglu_limit"):
        b.emit1("moe", operands, {**base, **swiglu, "swiglu_limit": -1.0})
    x, r, g, _, d, bg, _, bd, rb = operands
    with pytest.raises(ShapeError, match="needs gated = true"):
        b.emit1("moe", [x, r, g, d, bg, bd, rb], {**base, **swiglu, "gated": False})


def test_existing_moe_ops_keep_their_attributes() -> None:
    """The gating attributes are optional: a moe op without them is the product form, as before."""
    from moecc.ir.ops.composite import is_basic_moe
    from moecc.ir.registry import get_op_def, normalize_attrs

    attrs = normalize_attrs(get_op_def("moe"), {"top_k": 2})
    assert "gating" not in attrs and "swiglu_alpha" not in attrs and is_basic_moe(attrs)
    assert not is_basic_moe({**attrs, "gating": "clamped_swiglu", "swiglu_alpha": 1.702, "swiglu_limit": 7.0})
