"""DeepSeek-V3's MoE layer: the ``moe`` op's sigmoid routing attributes and their raising.

Hugging Face's ``DeepseekV3TopkRouter`` scores experts by ``sigmoid(x @ W^T)``, chooses them by
the scores plus ``e_score_correction_bias`` within the ``topk_group`` best of ``n_group`` groups
(a group scored by the sum of its top 2), weights the chosen experts by their uncorrected scores
(renormalised if ``norm_topk_prob``) times ``routed_scaling_factor``; ``DeepseekV3MoE`` adds a
shared expert. The ONNX graphs here are built as PyTorch's dynamo exporter writes that layer
(``batched_mm`` experts: ``GatherND`` of the fused ``gate_up_proj [E, 2F, H]`` and of ``down_proj``
by the top-k indices, the two halves of the fused projection, a weighted sum over the slots; the
router's ``TopK`` of a ``[T, G, E/G]`` view, ``ScatterElements`` of group marks, ``Where`` with
``-inf``, ``GatherElements`` of the sigmoid scores), raised into one ``moe`` op and compared with
onnxruntime on ``ref``, ``cpu`` (sparse and dense dispatch) and ``asic``; near-misses stay
unraised (and still compute the same). The op itself is checked against a token-by-token loop of
the formula, through the text format, and for the attribute combinations it refuses.
``tests/ir_tests/raise_moe_deepseek.mir`` holds the textual ``moecc opt`` cases.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from tests.moe_layer_models import layer_inputs, layer_model, moe_ops, onnxruntime_output
from moecc.errors import ShapeError
from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph

T, H, F, E, G, TG, K = 6, 8, 4, 8, 4, 2, 2
SCALE = 2.5


def deepseek_layer(*, variant: str = "", bias: bool = True, groups: bool = True, normalize: bool = True,
                   eps: bool = False, scale: float | None = SCALE, shared: bool = True, keep_where: bool = False,
                   gather: bool = True, seed: int = 0) -> onnx.ModelProto:
    """One DeepSeek-V3 MoE layer on ``x [T, H]`` as the dynamo exporter writes it. ``bias``: the
    selection bias; ``groups``: the group-limited choice (else a top-k of the corrected scores);
    ``eps``: ``+ 1e-20`` in the renormalisation's denominator; ``keep_where``: ``Where(mask,
    choice, -inf)`` instead of ``Where(Not(mask), -inf, choice)``. ``variant`` makes near-misses:
    ``bias-in-weights`` (the weights gather the corrected scores), ``group-max`` (a group scored
    by its max), ``group-top1-sum`` (by the sum of its top 1), ``zero-fill`` (masked experts set
    to 0 while the selection bias has negative entries)."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    select_b = w(E, scale=0.2)
    weights = {
        "router_w": w(E, H), "gate_up_proj": w(E, 2 * F, H, scale=0.5), "down_proj": w(E, H, F, scale=0.5),
        "select_b": select_b,
        "shared_gate": w(H, F, scale=0.5), "shared_up": w(H, F, scale=0.5), "shared_down": w(F, H, scale=0.5),
    }
    size = E // G
    ints = {"k": [K], "k2": [1 if variant == "group-top1-sum" else 2], "kg": [TG], "ax1": [1], "ax2": [2],
            "ax_last": [-1], "grouped": [T, G, size], "gmark": [T, G, 1], "gexp": [T, G, size], "flat_e": [T, E],
            "flat": [-1], "col": [T * K, 1], "rows": [T * K, 1, H], "tkh": [T, K, H], "ex": [T, K, H]}
    floats = {"neg_inf": 0.0 if variant == "zero-fill" else -np.inf, "eps": 1e-20, "scale": scale or 1.0}
    inits = [numpy_helper.from_array(v, n) for n, v in weights.items()]
    inits += [numpy_helper.from_array(np.asarray(v, np.int64), n) for n, v in ints.items()]
    inits += [numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in floats.items()]
    inits += [numpy_helper.from_array(np.zeros((T, G), np.float32), "zeros"),
              numpy_helper.from_array(np.ones((T, TG), np.float32), "ones")]
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "router_w"], ["logits"], transB=1),
        n("Sigmoid", ["logits"], ["scores"]),
    ]
    choice = "scores"
    if bias:
        nodes.append(n("Add", ["scores", "select_b"], ["choice"]))
        choice = "choice"
    candidates = choice
    if groups:
        nodes.append(n("Reshape", [choice, "grouped"], ["choice_g"]))
        if variant == "group-max":
            nodes.append(n("ReduceMax", ["choice_g", "ax_last"], ["group_score"], keepdims=0))
        else:
            nodes += [n("TopK", ["choice_g", "k2"], ["g_top", "g_top_i"], axis=-1),
                      n("ReduceSum", ["g_top", "ax_last"], ["group_score"], keepdims=0)]
        nodes += [
            n("TopK", ["group_score", "kg"], ["g_kept", "g_idx"], axis=-1, sorted=0),
            n("ScatterElements", ["zeros", "g_idx", "ones"], ["g_mark"], axis=1),
            n("Reshape", ["g_mark", "gmark"], ["g_mark3"]),
            n("Expand", ["g_mark3", "gexp"], ["g_mark_e"]),
            n("Reshape", ["g_mark_e", "flat_e"], ["e_mark"]),
            n("Cast", ["e_mark"], ["e_keep"], to=TensorProto.BOOL),
        ]
        if keep_where:
            nodes.append(n("Where", ["e_keep", choice, "neg_inf"], ["masked"]))
        else:
            nodes += [n("Not", ["e_keep"], ["e_drop"]), n("Where", ["e_drop", "neg_inf", choice], ["masked"])]
        candidates = "masked"
    nodes.append(n("TopK", [candidates, "k"], ["top", "idx"], axis=-1, sorted=0))
    if gather:
        nodes.append(n("GatherElements", [choice if variant == "bias-in-weights" else "scores", "idx"], ["picked"],
                       axis=1))
    else:
        nodes.append(n("Identity", ["top"], ["picked"]))
    routing = "picked"
    if normalize:
        nodes.append(n("ReduceSum", ["picked", "ax_last"], ["total"], keepdims=1))
        denominator = "total"
        if eps:
            nodes.append(n("Add", ["total", "eps"], ["total_eps"]))
            denominator = "total_eps"
        nodes.append(n("Div", ["picked", denominator], ["renorm"]))
        routing = "renorm"
    if scale is not None:
        nodes.append(n("Mul", [routing, "scale"], ["scaled"]))
        routing = "scaled"
    nodes += [
        # The experts (batched_mm): per (token, slot) the expert's fused gate_up, then down.
        n("Unsqueeze", ["x", "ax1"], ["x3"]),
        n("Expand", ["x3", "ex"], ["xk"]),
        n("Reshape", ["xk", "rows"], ["xr"]),
        n("Reshape", ["idx", "col"], ["idx_nd"]),
        n("GatherND", ["gate_up_proj", "idx_nd"], ["w_gu"]),
        n("Transpose", ["w_gu"], ["w_gu_t"], perm=[0, 2, 1]),
        n("MatMul", ["xr", "w_gu_t"], ["gu3"]),
        n("Squeeze", ["gu3", "ax1"], ["gu"]),
        n("Split", ["gu"], ["gate", "up"], axis=1, num_outputs=2),
        n("Sigmoid", ["gate"], ["gate_sig"]),
        n("Mul", ["gate", "gate_sig"], ["gate_act"]),
        n("Mul", ["gate_act", "up"], ["hid"]),
        n("GatherND", ["down_proj", "idx_nd"], ["w_d"]),
        n("Transpose", ["w_d"], ["w_d_t"], perm=[0, 2, 1]),
        n("Unsqueeze", ["hid", "ax1"], ["hid3"]),
        n("MatMul", ["hid3", "w_d_t"], ["y3"]),
        n("Squeeze", ["y3", "ax1"], ["ye"]),
        n("Reshape", [routing, "col"], ["r_col"]),
        n("Mul", ["ye", "r_col"], ["yw"]),
        n("Reshape", ["yw", "tkh"], ["ytk"]),
        n("ReduceSum", ["ytk", "ax1"], ["routed" if shared else "y"], keepdims=0),
    ]
    if shared:
        nodes += [
            n("MatMul", ["x", "shared_gate"], ["s_gate"]),
            n("Sigmoid", ["s_gate"], ["s_sig"]),
            n("Mul", ["s_gate", "s_sig"], ["s_act"]),
            n("MatMul", ["x", "shared_up"], ["s_up"]),
            n("Mul", ["s_act", "s_up"], ["s_hid"]),
            n("MatMul", ["s_hid", "shared_down"], ["s_out"]),
            n("Add", ["routed", "s_out"], ["y"]),
        ]
    return layer_model(nodes, "deepseek_moe", inits, T, H)


# -- raising ---------------------------------------------------------------------------------------

FORMS = {
    "deepseek-v3": ({}, {"selection_bias": True, "n_group": G, "topk_group": TG, "routed_scaling": SCALE}),
    "eps-keep-where": ({"eps": True, "keep_where": True}, {"selection_bias": True, "n_group": G, "topk_group": TG,
                                                           "routed_scaling": SCALE}),
    "no-bias": ({"bias": False}, {"n_group": G, "topk_group": TG, "routed_scaling": SCALE}),
    "no-bias-top-values": ({"bias": False, "gather": False}, {"n_group": G, "topk_group": TG,
                                                              "routed_scaling": SCALE}),
    "no-groups": ({"groups": False}, {"selection_bias": True, "routed_scaling": SCALE}),
    "unnormalised-unscaled": ({"normalize": False, "scale": None}, {"selection_bias": True, "n_group": G,
                                                                    "topk_group": TG}),
    "no-shared-expert": ({"shared": False}, {"selection_bias": True, "n_group": G, "topk_group": TG,
                                             "routed_scaling": SCALE}),
}
ROUTING_ATTRS = ("selection_bias", "n_group", "topk_group", "routed_scaling")


@pytest.mark.parametrize("form", sorted(FORMS))
def test_deepseek_layer_is_raised_to_one_sigmoid_routed_moe(form: str) -> None:
    kwargs, attrs = FORMS[form]
    model = deepseek_layer(**kwargs)
    compiled = moecc.compile(model, "ref")
    (moe,) = moe_ops(compiled)
    assert moe.attrs["scoring"] == "sigmoid" and moe.attrs["top_k"] == K
    assert moe.attrs["normalize"] == kwargs.get("normalize", True)
    assert moe.attrs["gated"] and moe.attrs["activation"] == "silu" and not moe.attrs["expert_bias"]
    for name in ROUTING_ATTRS:
        assert moe.attrs.get(name) == attrs.get(name), name
    # The router's top-ks, scatter, where and gather are gone; the shared expert stays.
    kinds = {op.kind for op in compiled.graph.ops}
    assert not kinds & {"top_k", "scatter_elements", "where", "gather_elements", "gather_nd", "sigmoid"} - (
        {"sigmoid"} if kwargs.get("shared", True) else set())
    if kwargs.get("bias", True):
        select_b = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "select_b"))
        np.testing.assert_array_equal(const_value(moe.operands[-1]), select_b)
    for seed in range(3):
        inputs = layer_inputs(T, H, seed)
        np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-3, atol=1e-4)


def test_the_group_limit_and_the_selection_bias_change_the_choice() -> None:
    """On the test inputs, the group limit and the selection bias each change which experts
    some token gets (else they would go untested)."""
    from moecc.ir.ops.composite import moe_route

    model = deepseek_layer()
    router = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "router_w"))
    select_b = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "select_b"))
    logits = layer_inputs(T, H)["x"] @ router.T
    full = {"top_k": K, "normalize": True, "n_group": G, "topk_group": TG, "scoring": "sigmoid"}
    chosen, _ = moe_route(logits, full, select_b)
    ungrouped, _ = moe_route(logits, {"top_k": K, "normalize": True, "scoring": "sigmoid"}, select_b)
    unbiased, _ = moe_route(logits, full)
    assert (np.sort(chosen, -1) != np.sort(ungrouped, -1)).any()
    assert (np.sort(chosen, -1) != np.sort(unbiased, -1)).any()


@pytest.mark.parametrize("target, moe", [("tiled", None), ("cpu", None), ("cpu", "dense"), ("asic", None),
                                         ("asic", "sparse")])
@pytest.mark.parametrize("form", ["deepseek-v3", "unnormalised-unscaled"])
def test_raised_deepseek_layer_matches_onnxruntime_on_targets(form: str, target: str, moe: str | None) -> None:
    model = deepseek_layer(**FORMS[form][0])
    compiled = moecc.compile(model, target, moe=moe)
    assert len(moe_ops(compiled)) == 1
    if target == "asic":
        assert compiled.partition["host_ops"] == []
    for seed in range(2):
        inputs = layer_inputs(T, H, seed)
        np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-3, atol=1e-4)


NEAR_MISSES = {
    "bias-in-weights": "selection bias is in the weights",
    "group-max": "not a sum",
    "group-top1-sum": "top 1, not its top 2",
    "zero-fill": "not below every corrected score",
}


@pytest.mark.parametrize("variant", sorted(NEAR_MISSES))
def test_near_miss_is_left_alone_and_still_computes(variant: str) -> None:
    model = deepseek_layer(variant=variant)
    compiled = moecc.compile(model, "ref")
    assert not moe_ops(compiled)
    inputs = layer_inputs(T, H)
    np.testing.assert_allclose(compiled.run(inputs)["y"], onnxruntime_output(model, inputs), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("variant", sorted(NEAR_MISSES))
def test_near_miss_says_why(variant: str) -> None:
    from moecc.passes import raise_moe_layers

    graph = moecc.compile(deepseek_layer(variant=variant), "ref",
                          pipeline="decompose-einsum,canonicalize,fold-constants").graph
    reasons: list[str] = []
    assert raise_moe_layers(graph, lambda op, why: reasons.append(why)) == 0
    assert any(NEAR_MISSES[variant] in why for why in reasons), reasons


# -- the op ----------------------------------------------------------------------------------------


def _sigmoid_graph(*, selection_bias: bool = True, n_group: int | None = 4, topk_group: int | None = 2,
                   routed_scaling: float | None = 2.5, normalize: bool = True, top_k: int = 3,
                   experts: int = 8, router_bias: bool = False) -> tuple[Graph, dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(5)
    t, h, f = 9, 6, 5
    shapes = {"x": (t, h), "r": (h, experts), "g": (experts, h, f), "u": (experts, h, f), "d": (experts, f, h)}
    if router_bias:
        shapes["rb"] = (experts,)
    if selection_bias:
        shapes["sb"] = (experts,)
    graph = Graph("m")
    values = [graph.add_input(name, TensorType(s, DType.F32)) for name, s in shapes.items()]
    attrs = {"top_k": top_k, "normalize": normalize, "router_bias": router_bias, "scoring": "sigmoid",
             "selection_bias": selection_bias or None, "n_group": n_group, "topk_group": topk_group,
             "routed_scaling": routed_scaling}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    graph.set_outputs([GraphBuilder(graph).emit1("moe", values, attrs)], ["y"])
    verify_graph(graph)
    scale = {"r": 1.5, "sb": 0.3}
    feeds = {name: (rng.standard_normal(s) * scale.get(name, 0.5)).astype(np.float32) for name, s in shapes.items()}
    return graph, feeds, attrs


def _reference(feeds: dict[str, np.ndarray], attrs: dict) -> np.ndarray:
    """A token-by-token loop of DeepseekV3TopkRouter's and the experts' formula (f64)."""
    x = feeds["x"].astype(np.float64)
    logits = x @ feeds["r"] + feeds.get("rb", 0)
    experts = logits.shape[1]
    n_group, topk_group = attrs.get("n_group", 1), attrs.get("topk_group", 1)
    size = experts // n_group
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        scores = 1 / (1 + np.exp(-logits[t]))
        choice = scores + feeds.get("sb", 0)
        group_scores = [sum(sorted(choice[g * size:(g + 1) * size])[-2:]) for g in range(n_group)]
        kept = sorted(range(n_group), key=lambda g: -group_scores[g])[:topk_group]
        candidates = [e for e in range(experts) if e // size in kept]
        chosen = sorted(candidates, key=lambda e: -choice[e])[: attrs["top_k"]]
        weights = scores[chosen]
        if attrs["normalize"]:
            weights = weights / weights.sum()
        weights = weights * attrs.get("routed_scaling", 1.0)
        for e, weight in zip(chosen, weights):
            gate = x[t] @ feeds["g"][e]
            hid = gate / (1 + np.exp(-gate)) * (x[t] @ feeds["u"][e])
            out[t] += weight * (hid @ feeds["d"][e])
    return out


OP_FORMS = {
    "deepseek-v3": {},
    "no-selection-bias": {"selection_bias": False},
    "no-groups": {"n_group": None, "topk_group": None},
    "one-group-kept": {"topk_group": 1, "top_k": 2},
    "unnormalised-unscaled-router-bias": {"normalize": False, "routed_scaling": None, "router_bias": True},
    "sixteen-experts": {"experts": 16, "n_group": 8, "topk_group": 3, "top_k": 4},
}


@pytest.mark.parametrize("form", sorted(OP_FORMS))
def test_sigmoid_routed_moe_semantics_and_text(form: str) -> None:
    from moecc.ir.parser import parse_graph
    from moecc.ir.printer import print_graph

    graph, feeds, attrs = _sigmoid_graph(**OP_FORMS[form])
    np.testing.assert_allclose(run_graph(graph, feeds)["y"], _reference(feeds, attrs), rtol=1e-5, atol=1e-5)
    text = print_graph(graph, elide_constants=False)
    assert print_graph(parse_graph(text), elide_constants=False) == text
    assert 'scoring = "sigmoid"' in text


@pytest.mark.parametrize("form", sorted(OP_FORMS))
def test_sigmoid_routed_moe_on_the_tiled_lowering(form: str) -> None:
    from tests.test_tiled_lowering import check

    graph, feeds, _ = _sigmoid_graph(**OP_FORMS[form])
    check(graph, feeds)


@pytest.mark.parametrize("moe", ["sparse", "dense"])
@pytest.mark.parametrize("target", ["cpu", "asic"])
@pytest.mark.parametrize("form", ["deepseek-v3", "sixteen-experts"])
def test_sigmoid_routed_moe_on_targets(form: str, target: str, moe: str) -> None:
    graph, feeds, _ = _sigmoid_graph(**OP_FORMS[form])
    want = run_graph(graph, feeds)["y"]
    compiled = moecc.compile_graph(graph, target=target, moe=moe)
    if target == "asic":
        assert compiled.partition["host_ops"] == []
    np.testing.assert_allclose(compiled.run(feeds)["y"], want, rtol=1e-4, atol=1e-4)


def test_moe_op_refuses_routing_it_cannot_express() -> None:
    graph, _, attrs = _sigmoid_graph()
    operands = list(graph.inputs)
    b = GraphBuilder(graph)
    with pytest.raises(ShapeError, match="n_group and topk_group go together"):
        b.emit1("moe", operands, {**attrs, "topk_group": None})
    with pytest.raises(ShapeError, match="divide the 8 experts"):
        b.emit1("moe", operands, {**attrs, "n_group": 3})
    with pytest.raises(ShapeError, match="too small"):
        b.emit1("moe", operands, {**attrs, "n_group": 8, "topk_group": 2, "top_k": 2})
    with pytest.raises(ShapeError, match="topk_group 5 must be in"):
        b.emit1("moe", operands, {**attrs, "topk_group": 5})
    with pytest.raises(ShapeError, match="exceeds the 2 experts"):
        b.emit1("moe", operands, {**attrs, "topk_group": 1, "top_k": 3})
    with pytest.raises(ShapeError, match="routed_scaling"):
        b.emit1("moe", operands, {**attrs, "routed_scaling": 0.0})
    with pytest.raises(ShapeError, match="selection_bias=False the operands are"):
        b.emit1("moe", operands, {**attrs, "selection_bias": False})
    x, r, g, u, d, sb = operands
    with pytest.raises(ShapeError, match="select_b must have shape"):
        b.emit1("moe", [x, r, g, u, d, g], attrs)
    with pytest.raises(Exception, match="scoring"):
        b.emit1("moe", operands, {**attrs, "scoring": "tanh"})


def test_existing_moe_ops_keep_their_attributes() -> None:
    """The routing attributes are optional: a moe op without them routes by softmax, as before."""
    from moecc.ir.ops.composite import is_basic_moe, is_softmax_routed
    from moecc.ir.registry import get_op_def, normalize_attrs

    attrs = normalize_attrs(get_op_def("moe"), {"top_k": 2})
    assert not set(ROUTING_ATTRS + ("scoring",)) & set(attrs)
    assert is_basic_moe(attrs) and is_softmax_routed(attrs)
    assert not is_basic_moe({**attrs, "scoring": "sigmoid"})
    assert not is_softmax_routed({**attrs, "routed_scaling": 2.5})
