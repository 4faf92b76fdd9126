"""The ``raise-moe`` pass: MoE layers written as exporters write them become one ``moe`` op.

Hand-built graphs (the builders below; ``tests/ir_tests/raise_moe*.mir`` hold the same forms as
textual ``moecc opt`` cases) check each form that must match, with the op's attributes and
canonical weights, and near-misses that must not. End to end, every MoE example is compiled with
and without the pass: the ``moe`` op count is as expected and the outputs agree on ``ref``,
``tiled``, ``cpu`` and ``asic`` (and with onnxruntime). The extended ``moe`` forms (plain MLP,
expert biases, router bias) are checked on the tiled lowering and on the ``asic`` target.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import moecc
from moecc.examples import build_example, example_inputs
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Value
from moecc.ir.interpreter import run_graph
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph
from moecc.passes import DEFAULT_GRAPH_PIPELINE, PassManager, get_pass, parse_pipeline, raise_moe_layers
from moecc.passes.raise_moe import RaiseMoe

T, H, F, E, K = 3, 4, 4, 3, 2
UNRAISED = DEFAULT_GRAPH_PIPELINE.replace("raise-moe,", "")


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Weights with one decimal, so the .mir cases print short constants."""
    return np.round(rng.standard_normal(shape), 1).astype(np.float32)


def _silu(b: GraphBuilder, v: Value) -> Value:
    return b.emit1("mul", [v, b.emit1("sigmoid", [v])])


def _graph(x_shape: tuple[int, ...], body: Callable[[GraphBuilder, Value, np.random.Generator], Value], seed: int = 0) -> Graph:
    graph = Graph("main")
    x = graph.add_input("x", TensorType(x_shape, DType.F32))
    b = GraphBuilder(graph, fold=False)
    graph.set_outputs([body(b, x, np.random.default_rng(seed))], ["y"])
    verify_graph(graph)
    return graph


def _router(b: GraphBuilder, x: Value, rng: np.random.Generator, *, experts: int = E, softmax_axis: int = -1,
            router_bias: bool = False) -> tuple[Value, Value, Value]:
    logits = b.emit1("matmul", [x, b.const(_w(rng, H, experts), "router")])
    if router_bias:
        logits = b.emit1("add", [logits, b.const(_w(rng, experts), "router_b")])
    probs = b.emit1("softmax", [logits], {"axis": softmax_axis})
    top, idx = b.emit("top_k", [probs], {"k": K})
    return probs, top, idx


def _renormalised(b: GraphBuilder, top: Value) -> Value:
    return b.emit1("div", [top, b.emit1("reduce_sum", [top], {"axes": (-1,), "keepdims": True})])


def gathered(*, normalize: bool = True, activation: str = "silu", gated: bool = True, table_experts: int = E,
             sum_slots: int = K, router_bias: bool = False, expert_out_escapes: bool = False,
             softmax_axis: int = -1, variant: str = "") -> Graph:
    """Mixtral's ``batched_mm`` experts as the mixtral example writes them: per (token, slot)
    ``gather`` of state-dict weights (w1/w3 ``[E, F, H]``, w2 ``[E, H, F]``), transposed, and
    ``[T, 1, 1, H] @ [T, k, H, F]`` matmuls; weighted by the top-k probabilities and summed.

    ``variant`` makes near-misses: ``smallest`` (top_k of the smallest probabilities),
    ``up-slots-reversed`` (w3 gathered by the indices in reversed slot order),
    ``weights-misordered`` (routing weights read in [k, T] order), ``sum-over-features``."""

    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        _, top, idx = _router(b, x, rng, softmax_axis=softmax_axis, router_bias=router_bias)
        if variant == "smallest":
            top, idx = b.emit("top_k", [top.producer.operands[0]], {"k": K, "largest": False})
        weights = _renormalised(b, top) if normalize else top
        if variant == "weights-misordered":
            weights = b.emit1("reshape", [b.emit1("transpose", [weights], {"perm": (1, 0)})], {"shape": (T, K)})
        rows = b.emit1("reshape", [x], {"shape": (T, 1, 1, H)})

        def picked(name: str, shape: tuple[int, ...]) -> Value:
            index = idx
            if variant == "up-slots-reversed" and name == "w3":
                index = b.emit1("slice", [idx], {"starts": (K - 1,), "ends": (-1,), "axes": (1,), "steps": (-1,)})
            g = b.emit1("gather", [b.const(_w(rng, table_experts, *shape), name), index], {"axis": 0})
            return b.emit1("transpose", [g], {"perm": (0, 1, 3, 2)})

        h = b.emit1("matmul", [rows, picked("w1", (F, H))])
        h = _silu(b, h) if activation == "silu" else b.emit1(activation, [h])
        if gated:
            h = b.emit1("mul", [h, b.emit1("matmul", [rows, picked("w3", (F, H))])])
        down = b.emit1("matmul", [h, picked("w2", (H, F))])
        per_slot = b.emit1("reshape", [down], {"shape": (T, K, H)})
        weighted = b.emit1("mul", [per_slot, b.emit1("reshape", [weights], {"shape": (T, K, 1)})])
        if sum_slots != K:
            weighted = b.emit1("slice", [weighted], {"starts": (0,), "ends": (sum_slots,), "axes": (1,), "steps": (1,)})
        out = b.emit1("reduce_sum", [weighted], {"axes": (2 if variant == "sum-over-features" else 1,), "keepdims": False})
        if expert_out_escapes:
            return b.emit1("add", [out, b.emit1("reduce_sum", [per_slot], {"axes": (1,), "keepdims": False})])
        return out

    return _graph((T, H), body)


def gathered_fused(*, normalize: bool = False) -> Graph:
    """The form PyTorch's dynamo exporter writes for Hugging Face Mixtral/Qwen2-MoE: ``gather_nd``
    of a fused ``gate_up`` weight ``[E, 2F, H]`` at ``idx[..., None]`` on the left of a
    ``[T*k, H, 1]`` column of expanded tokens, split by two slices; ``down`` ``[E, H, F]``."""

    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        _, top, idx = _router(b, x, rng)
        weights = _renormalised(b, top) if normalize else top
        cols = b.emit1("reshape", [b.emit1("expand", [b.emit1("reshape", [x], {"shape": (T, 1, H)})], {"shape": (T, K, H)})],
                       {"shape": (T * K, H, 1)})
        rows_idx = b.emit1("reshape", [idx], {"shape": (T * K, 1)})
        gate_up = b.emit1("gather_nd", [b.const(_w(rng, E, 2 * F, H), "gate_up_proj"), rows_idx])
        h = b.emit1("reshape", [b.emit1("matmul", [gate_up, cols])], {"shape": (T * K, 2 * F)})
        gate = b.emit1("slice", [h], {"starts": (0,), "ends": (F,), "axes": (1,), "steps": (1,)})
        up = b.emit1("slice", [h], {"starts": (F,), "ends": (2 * F,), "axes": (1,), "steps": (1,)})
        act = b.emit1("reshape", [b.emit1("mul", [_silu(b, gate), up])], {"shape": (T * K, F, 1)})
        down = b.emit1("gather_nd", [b.const(_w(rng, E, H, F), "down_proj"), rows_idx])
        y = b.emit1("reshape", [b.emit1("matmul", [down, act])], {"shape": (T * K, H)})
        y = b.emit1("mul", [y, b.emit1("reshape", [weights], {"shape": (T * K, 1)})])
        return b.emit1("reduce_sum", [b.emit1("reshape", [y], {"shape": (T, K, H)})], {"axes": (1,), "keepdims": False})

    return _graph((T, H), body)


def dense_experts(*, mask: str = "scatter", normalize: bool = True, mask_indices: str = "top_k") -> Graph:
    """The dense-moe example's form: one MatMul chain per expert (fc1 + bias, relu, fc2 + bias)
    on ``[1, T, H]``, concatenated on a new expert axis, weighted by ``probs * mask``
    (renormalised) and summed over the experts. ``mask``: ``scatter`` (ones scattered at the
    top-k indices) or ``onehot``; ``mask_indices="const"`` scatters at fixed indices instead."""

    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        probs, _, idx = _router(b, x, rng)
        if mask_indices == "const":
            idx = b.const(np.tile(np.array([0, 2], dtype=np.int64), (1, T, 1)), "fixed")
        if mask == "scatter":
            ones = b.const(np.ones((1, T, K), np.float32), "ones")
            m = b.emit1("scatter_elements", [b.const(np.zeros((1, T, E), np.float32), "zeros"), idx, ones], {"axis": 2})
        else:
            oh = b.emit1("one_hot", [idx, b.const(np.array([0.0, 1.0], np.float32), "off_on")], {"depth": E, "axis": 3})
            m = b.emit1("reduce_sum", [oh], {"axes": (2,), "keepdims": False})
        weights = b.emit1("mul", [probs, m])
        if normalize:
            weights = b.emit1("div", [weights, b.emit1("reduce_sum", [weights], {"axes": (2,), "keepdims": True})])
        outs = []
        for e in range(E):
            h = b.emit1("add", [b.const(_w(rng, F), f"b1_{e}"), b.emit1("matmul", [x, b.const(_w(rng, H, F), f"fc1_{e}")])])
            y = b.emit1("matmul", [b.emit1("relu", [h]), b.const(_w(rng, F, H), f"fc2_{e}")])
            y = b.emit1("add", [b.const(_w(rng, H), f"b2_{e}"), y])
            outs.append(b.emit1("reshape", [y], {"shape": (1, T, 1, H)}))
        stacked = b.emit1("concat", outs, {"axis": 2})
        weighted = b.emit1("mul", [stacked, b.emit1("reshape", [weights], {"shape": (1, T, E, 1)})])
        return b.emit1("reduce_sum", [weighted], {"axes": (2,), "keepdims": False})

    return _graph((1, T, H), body)


def dense_stacked() -> Graph:
    """The dense-moe-einsum example after decompose-einsum: ``x @ W[H, E*F]`` for gate and up,
    ``[E, T, F] @ w_down[E, F, H]``, weighted by the renormalised top-k probabilities scattered
    into zeros."""

    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        _, top, idx = _router(b, x, rng)
        gates = b.emit1("scatter_elements", [b.const(np.zeros((T, E), np.float32), "zeros"), idx, _renormalised(b, top)],
                        {"axis": 1})

        def project(name: str) -> Value:
            return b.emit1("reshape", [b.emit1("matmul", [x, b.const(_w(rng, H, E * F), name)])], {"shape": (T, E, F)})

        act = b.emit1("mul", [_silu(b, project("w_gate")), project("w_up")])
        down = b.emit1("matmul", [b.emit1("transpose", [act], {"perm": (1, 0, 2)}), b.const(_w(rng, E, F, H), "w_down")])
        down = b.emit1("transpose", [down], {"perm": (1, 0, 2)})
        weighted = b.emit1("mul", [b.emit1("reshape", [gates], {"shape": (T, E, 1)}), down])
        return b.emit1("reduce_sum", [weighted], {"axes": (1,), "keepdims": False})

    return _graph((T, H), body)


def dense_batched() -> Graph:
    """Stacked expert weights applied as batched matmuls: the tokens broadcast over
    ``w_gate``/``w_up`` ``[E, H, F]`` (``[T, H] @ [E, H, F] -> [E, T, F]``), ``w_down``
    ``[E, F, H]``; the routing weights are the probabilities times a one-hot mask, not
    renormalised."""

    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        probs, _, idx = _router(b, x, rng)
        oh = b.emit1("one_hot", [idx, b.const(np.array([0.0, 1.0], np.float32), "off_on")], {"depth": E, "axis": 2})
        weights = b.emit1("mul", [b.emit1("reduce_sum", [oh], {"axes": (1,), "keepdims": False}), probs])
        gate = b.emit1("matmul", [x, b.const(_w(rng, E, H, F), "w_gate")])
        up = b.emit1("matmul", [x, b.const(_w(rng, E, H, F), "w_up")])
        down = b.emit1("matmul", [b.emit1("mul", [_silu(b, gate), up]), b.const(_w(rng, E, F, H), "w_down")])
        weighted = b.emit1("mul", [down, b.emit1("reshape", [b.emit1("transpose", [weights], {"perm": (1, 0)})],
                                                  {"shape": (E, T, 1)})])
        return b.emit1("reduce_sum", [weighted], {"axes": (0,), "keepdims": False})

    return _graph((T, H), body)


#: Forms that must be raised: builder -> the moe op's attributes (beyond top_k).
MATCHING: dict[str, tuple[Callable[[], Graph], dict[str, object]]] = {
    "gathered": (gathered, {"normalize": True, "gated": True, "activation": "silu"}),
    "gathered-no-renorm": (lambda: gathered(normalize=False), {"normalize": False}),
    "gathered-plain-gelu-router-bias": (lambda: gathered(gated=False, activation="gelu", router_bias=True),
                                        {"gated": False, "activation": "gelu", "router_bias": True}),
    "gathered-relu": (lambda: gathered(activation="relu"), {"activation": "relu", "gated": True}),
    "gathered-fused-gate-up": (gathered_fused, {"normalize": False, "gated": True}),
    "dense-scatter-mask": (dense_experts, {"normalize": True, "gated": False, "activation": "relu", "expert_bias": True}),
    "dense-onehot-mask": (lambda: dense_experts(mask="onehot"), {"gated": False, "expert_bias": True}),
    "dense-mask-no-renorm": (lambda: dense_experts(normalize=False), {"normalize": False}),
    "dense-stacked": (dense_stacked, {"normalize": True, "gated": True, "expert_bias": False}),
    "dense-batched": (dense_batched, {"normalize": False, "gated": True}),
}

#: Near-misses that must be left alone.
NEAR_MISSES: dict[str, Callable[[], Graph]] = {
    "softmax-over-tokens": lambda: gathered(softmax_axis=0),
    "table-of-other-expert-count": lambda: gathered(table_experts=E + 1),
    "sum-over-one-slot": lambda: gathered(sum_slots=1),
    "expert-output-used-outside": lambda: gathered(expert_out_escapes=True),
    "mask-at-fixed-indices": lambda: dense_experts(mask_indices="const"),
    "top-k-of-the-smallest": lambda: gathered(variant="smallest"),
    "up-gathered-in-other-slot-order": lambda: gathered(variant="up-slots-reversed"),
    "routing-weights-misordered": lambda: gathered(variant="weights-misordered"),
    "sum-over-features": lambda: gathered(variant="sum-over-features"),
}


def _inputs(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs}


@pytest.mark.parametrize("form", sorted(MATCHING))
def test_form_is_raised_to_one_moe_op(form: str) -> None:
    build, attrs = MATCHING[form]
    graph = build()
    before = graph.clone()
    PassManager("raise-moe,cse,dce").run(graph)
    moes = [op for op in graph.ops if op.kind == "moe"]
    assert len(moes) == 1, [op.kind for op in graph.ops]
    moe = moes[0]
    assert moe.attrs["top_k"] == K
    for name, value in attrs.items():
        assert moe.attrs[name] == value, name
    # Only the moe, the token reshape and constants are left.
    assert {op.kind for op in graph.ops} <= {"moe", "const", "reshape"}
    w_gate = moe.operands[2]
    assert w_gate.type.shape == (E, H, F)
    for seed in range(4):
        feeds = _inputs(before, seed)
        want, got = run_graph(before, feeds), run_graph(graph, feeds)
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", sorted(NEAR_MISSES))
def test_near_miss_is_left_alone(form: str) -> None:
    graph = NEAR_MISSES[form]()
    reasons: list[str] = []
    assert raise_moe_layers(graph, lambda op, why: reasons.append(why)) == 0
    assert "moe" not in {op.kind for op in graph.ops}
    assert reasons  # the pass says why


def test_topk_feeding_no_mixture_is_left_alone() -> None:
    def body(b: GraphBuilder, x: Value, rng: np.random.Generator) -> Value:
        _, top, _ = _router(b, x, rng)
        return _renormalised(b, top)

    graph = _graph((T, H), body)
    assert raise_moe_layers(graph) == 0


def test_registered_and_after_fold_constants_in_the_default_pipeline() -> None:
    assert get_pass("raise-moe") == RaiseMoe()
    names = [p.name for p in parse_pipeline(DEFAULT_GRAPH_PIPELINE)]
    assert names.index("fold-constants") < names.index("raise-moe") < names.index("cse") < names.index("dce")


# -- the extended op ------------------------------------------------------------------------------


def _extended_moe_graph(gated: bool, expert_bias: bool, router_bias: bool, activation: str) -> tuple[Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    t, h, e, f = 5, 6, 4, 8
    shapes = {"x": (t, h), "r": (h, e), "g": (e, h, f)}
    if gated:
        shapes["u"] = (e, h, f)
    shapes["d"] = (e, f, h)
    if expert_bias:
        shapes["bg"] = (e, f)
        if gated:
            shapes["bu"] = (e, f)
        shapes["bd"] = (e, h)
    if router_bias:
        shapes["rb"] = (e,)
    graph = Graph("m")
    values = [graph.add_input(n, TensorType(s, DType.F32)) for n, s in shapes.items()]
    attrs = {"top_k": 2, "gated": gated, "expert_bias": expert_bias, "router_bias": router_bias, "activation": activation}
    graph.set_outputs([GraphBuilder(graph).emit1("moe", values, attrs)], ["y"])
    verify_graph(graph)
    return graph, {n: (rng.standard_normal(s) * 0.5).astype(np.float32) for n, s in shapes.items()}


def _reference_moe(feeds: dict[str, np.ndarray], gated: bool, expert_bias: bool, router_bias: bool,
                   activation: str) -> np.ndarray:
    """A token-by-token loop of the extended moe semantics."""
    act = {"relu": lambda v: np.maximum(v, 0), "silu": lambda v: v / (1 + np.exp(-v))}[activation]
    x = feeds["x"].astype(np.float64)
    logits = x @ feeds["r"] + (feeds["rb"] if router_bias else 0)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        p = np.exp(logits[t] - logits[t].max())
        p /= p.sum()
        chosen = np.argsort(-p, kind="stable")[:2]
        w = p[chosen] / p[chosen].sum()
        for e, weight in zip(chosen, w):
            hid = x[t] @ feeds["g"][e] + (feeds["bg"][e] if expert_bias else 0)
            hid = act(hid)
            if gated:
                hid = hid * (x[t] @ feeds["u"][e] + (feeds["bu"][e] if expert_bias else 0))
            out[t] += weight * (hid @ feeds["d"][e] + (feeds["bd"][e] if expert_bias else 0))
    return out


EXTENDED = [(True, True, False, "silu"), (False, True, False, "relu"), (False, False, True, "silu"),
            (True, False, True, "relu"), (True, True, True, "silu")]


@pytest.mark.parametrize("gated, expert_bias, router_bias, activation", EXTENDED)
def test_extended_moe_op_semantics_and_text(gated: bool, expert_bias: bool, router_bias: bool, activation: str) -> None:
    from moecc.ir.parser import parse_graph
    from moecc.ir.printer import print_graph

    graph, feeds = _extended_moe_graph(gated, expert_bias, router_bias, activation)
    got = run_graph(graph, feeds)["y"]
    np.testing.assert_allclose(got, _reference_moe(feeds, gated, expert_bias, router_bias, activation), rtol=1e-5, atol=1e-5)
    text = print_graph(graph, elide_constants=False)
    assert print_graph(parse_graph(text), elide_constants=False) == text
    assert ("gated = false" in text) == (not gated) and ("expert_bias = true" in text) == expert_bias


def test_default_moe_prints_as_before() -> None:
    from moecc.ir.printer import print_graph

    graph, _ = _extended_moe_graph(True, False, False, "silu")
    line = next(line for line in print_graph(graph).splitlines() if "moe(" in line)
    assert line.strip() == "%moe = moe(%x, %r, %g, %u, %d) {top_k = 2} : tensor<5x6xf32>"


def test_moe_op_refuses_operands_that_do_not_fit_its_attributes() -> None:
    from moecc.errors import ShapeError

    graph, _ = _extended_moe_graph(False, False, False, "relu")
    x, r, g, d = graph.inputs
    with pytest.raises(ShapeError, match="operands are x, router_w, w_gate, w_up, w_down"):
        GraphBuilder(graph).emit1("moe", [x, r, g, d], {"top_k": 2})


@pytest.mark.parametrize("gated, expert_bias, router_bias, activation", EXTENDED)
def test_extended_moe_on_the_tiled_lowering(gated: bool, expert_bias: bool, router_bias: bool, activation: str) -> None:
    from tests.test_tiled_lowering import check

    graph, feeds = _extended_moe_graph(gated, expert_bias, router_bias, activation)
    check(graph, feeds)


@pytest.mark.parametrize("gated, expert_bias, router_bias, activation", EXTENDED)
def test_extended_moe_on_the_asic(gated: bool, expert_bias: bool, router_bias: bool, activation: str) -> None:
    """Each form staged for the ASIC (through the tiled IR) computes the op's numbers."""
    graph, feeds = _extended_moe_graph(gated, expert_bias, router_bias, activation)
    want = run_graph(graph, feeds)["y"]
    compiled = moecc.compile_graph(graph, target="asic")
    assert compiled.partition["host_ops"] == []
    np.testing.assert_allclose(compiled.run(feeds)["y"], want, rtol=1e-4, atol=1e-4)


# -- end to end on the examples ---------------------------------------------------------------

SMALL = {"hidden": 16, "intermediate": 32, "seq": 4, "batch": 1}
LM = {"vocab": 32, "heads": 2, "kv_heads": 1, "max_positions": 16}
EXAMPLE_CASES: dict[str, tuple[str, dict[str, object], int]] = {
    "mixtral-block": ("mixtral-block", {**SMALL, **LM}, 1),
    "mixtral-block-gathernd": ("mixtral-block", {**SMALL, **LM, "expert_gather": "gathernd"}, 1),
    "moe-transformer": ("moe-transformer", {**SMALL, **LM}, 2),
    "dense-moe": ("dense-moe", SMALL, 1),
    "dense-moe-onehot": ("dense-moe", {**SMALL, "mask_op": "onehot"}, 1),
    "dense-moe-einsum": ("dense-moe-einsum", SMALL, 1),
    "dense-moe-einsum-mul": ("dense-moe-einsum", {**SMALL, "combine": "mul"}, 1),
}


def _compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], tol: float = 1e-4) -> None:
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("case", sorted(EXAMPLE_CASES))
def test_example_is_raised_and_matches_the_unraised_graph(case: str) -> None:
    name, sizes, expected = EXAMPLE_CASES[case]
    model = build_example(name, **sizes)
    inputs = example_inputs(name, model, seed=0)
    raised = moecc.compile(model, "ref")
    plain = moecc.compile(model, "ref", pipeline=UNRAISED)
    kinds = [op.kind for op in raised.graph.ops]
    assert kinds.count("moe") == expected
    assert not {"top_k", "gather_nd", "scatter_elements", "one_hot"} & set(kinds)
    assert "moe" not in {op.kind for op in plain.graph.ops}
    want = plain.run(inputs)
    _compare(raised.run(inputs), want)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    _compare(dict(zip(names, session.run(None, inputs))), want)


@pytest.mark.parametrize("name", ["llama-block", "gpt2-block", "bert-layer"])
def test_examples_without_moe_are_left_alone(name: str) -> None:
    model = build_example(name, seq=4)
    raised = moecc.compile(model, "ref")
    plain = moecc.compile(model, "ref", pipeline=UNRAISED)
    assert raised.graph.structurally_equal(plain.graph)


def test_dynamic_export_is_raised_at_the_given_shapes() -> None:
    model = build_example("mixtral-block", **{**SMALL, **LM}, dynamic=True)
    compiled = moecc.compile(model, "ref", input_shapes={"input_ids": (2, 3)})
    assert [op.kind for op in compiled.graph.ops].count("moe") == 1
    ids = np.random.default_rng(0).integers(0, 32, (2, 3))
    want = moecc.compile(model, "ref", input_shapes={"input_ids": (2, 3)}, pipeline=UNRAISED).run({"input_ids": ids})
    _compare(compiled.run({"input_ids": ids}), want)


@pytest.mark.parametrize("target", ["tiled", "cpu", "asic"])
@pytest.mark.parametrize("case", ["mixtral-block", "dense-moe", "dense-moe-einsum"])
def test_example_targets_match_after_raising(case: str, target: str) -> None:
    name, sizes, _ = EXAMPLE_CASES[case]
    model = build_example(name, **sizes)
    inputs = example_inputs(name, model, seed=0)
    want = moecc.compile(model, "ref", pipeline=UNRAISED).run(inputs)
    compiled = moecc.compile(model, target)
    _compare(compiled.run(inputs), want)
    if target == "asic":
        # The asic runs the op densely (moe=dense): the experts' matmuls run on the ASIC.
        assert float(compiled.report()["flops_on_asic_fraction"]) > 0.9


def test_bf16_asic_keeps_the_router_in_f32() -> None:
    """At precision bf16 the router stays f32 (a bf16 router flips near-tied expert choices):
    the moe op's kernels are routing kernels (:func:`moecc.backend.asic.precision.routing_matmuls`)."""
    from moecc.compare import compare_outputs

    model = build_example("dense-moe")
    inputs = example_inputs("dense-moe", model, seed=0)
    got = moecc.compile(model, "asic", precision="bf16").run(inputs)
    want = moecc.compile(model, "ref", pipeline=UNRAISED).run(inputs)
    assert not compare_outputs(got, want, rtol=0.02, atol=0.05)


def test_moe_transformer_on_asic() -> None:
    name, sizes, _ = EXAMPLE_CASES["moe-transformer"]
    model = build_example(name, **sizes)
    inputs = example_inputs(name, model, seed=0)
    _compare(moecc.compile(model, "asic").run(inputs), moecc.compile(model, "ref", pipeline=UNRAISED).run(inputs))


# -- soundness under mutation ---------------------------------------------------------------------


def _mutated(graph: Graph, rng: np.random.Generator) -> Graph | None:
    """``graph`` with one random change that keeps it valid: an operand replaced by another
    value of its type defined earlier, a transpose's perm, a slice's window, a reduce_sum's or
    softmax's axis. None when the change drawn is not possible."""
    import itertools

    from moecc.ir.registry import infer_types

    g = graph.clone()
    ops = [op for op in g.ops if not op.is_const]
    kind = ["operand", "perm", "slice", "axis"][int(rng.integers(4))]
    if kind == "operand":
        op = ops[int(rng.integers(len(ops)))]
        index = g.ops.index(op)
        position = int(rng.integers(len(op.operands)))
        old = op.operands[position]
        earlier = list(g.inputs) + [r for o in g.ops[:index] for r in o.results]
        choices = [v for v in earlier if v.type == old.type and v is not old]
        if not choices:
            return None
        op.operands[position] = choices[int(rng.integers(len(choices)))]
    elif kind == "perm":
        transposes = [op for op in ops if op.kind == "transpose"]
        if not transposes:
            return None
        op = transposes[int(rng.integers(len(transposes)))]
        shape = op.operands[0].type.shape
        perms = [p for p in itertools.permutations(range(len(shape)))
                 if tuple(shape[a] for a in p) == op.result.type.shape and p != tuple(op.attrs["perm"])]
        if not perms:
            return None
        op.attrs["perm"] = perms[int(rng.integers(len(perms)))]
    elif kind == "slice":
        slices = [op for op in ops if op.kind == "slice" and op.attrs["steps"] == (1,)]
        if not slices:
            return None
        op = slices[int(rng.integers(len(slices)))]
        n = op.attrs["ends"][0] - op.attrs["starts"][0]
        start = int(rng.integers(op.operands[0].type.shape[op.attrs["axes"][0]] - n + 1))
        op.attrs["starts"], op.attrs["ends"] = (start,), (start + n,)
    else:
        reductions = [op for op in ops if op.kind in ("reduce_sum", "softmax")]
        if not reductions:
            return None
        op = reductions[int(rng.integers(len(reductions)))]
        axis = int(rng.integers(op.operands[0].type.rank))
        op.attrs["axes" if op.kind == "reduce_sum" else "axis"] = (axis,) if op.kind == "reduce_sum" else axis
        if infer_types(op.kind, [v.type for v in op.operands], op.attrs)[0] != op.result.type:
            return None
    try:
        verify_graph(g)
    except Exception:
        return None
    return g


@pytest.mark.parametrize("form", sorted(MATCHING))
def test_mutated_forms_are_raised_only_when_equal(form: str) -> None:
    """Random valid changes to each form: whatever the pass still raises computes the same."""
    rng = np.random.default_rng(sorted(MATCHING).index(form))
    base = MATCHING[form][0]()
    raised = 0
    for _ in range(40):
        graph = _mutated(base, rng)
        if graph is None:
            continue
        after = graph.clone()
        if raise_moe_layers(after) == 0:
            continue
        raised += 1
        verify_graph(after)
        for seed in range(2):
            feeds = _inputs(graph, seed)
            np.testing.assert_allclose(run_graph(after, feeds)["y"], run_graph(graph, feeds)["y"], rtol=1e-4, atol=1e-4)
    assert raised > 0
