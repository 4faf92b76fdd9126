"""Sparse dispatch of ``moe`` ops in the tiled IR (``passes/tiled_lowering/moe_dispatch.py``).

Each case builds a graph holding one ``moe`` op, lowers it sparse and dense, and runs the tiled
module on the interpreter (the oracle of the tiled level) and as machine code, against the graph
interpreter running the op's reference semantics. Routing is varied from balanced to every
token on one expert (the run-time tile counts at their bound), with token counts that are not
multiples of the token tile.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from moecc.backend.llvm.tiled.program import run_tiled_on_cpu
from moecc.errors import PassError
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.tiled import print_tiled_module, run_tiled_module, verify_tiled_module
from moecc.ir.tiled.nodes import For, MatMul, Scatter, walk
from moecc.ir.types import DType, TensorType
from moecc.passes.tiled_lowering.context import TilingParams
from moecc.passes.tiled_lowering.lower import lower_graph
from moecc.passes.tiled_lowering.moe_dispatch import token_tile

#: A loop whose trip count is read at run time, as printed: ``for %i = 0 to %tiles[%e] max 4 {``.
DYNAMIC_LOOP = re.compile(r"\] max \d+ \{")
PARAMS = TilingParams(tile_rows=32, tile_cols=64, k_tile=64, local_bytes=64 * 1024)
#: f32: both executors sum in f32 in another order than numpy (matmul blocking).
F32_TOL = dict(rtol=1e-4, atol=1e-5)
#: bf16 results round to 8 bits of mantissa: one ulp of values near 0.1-1.
BF16_TOL = dict(rtol=2e-2, atol=2e-3)


def moe_graph(tokens: int, hidden: int, ffn: int, experts: int, top_k: int, *, gated: bool = True,
              expert_bias: bool = False, router_bias: bool = False, normalize: bool = True,
              activation: str = "silu", dtype: DType = DType.F32, skew: float = 0.0,
              seed: int = 0) -> tuple[Graph, np.ndarray]:
    """A graph ``y = moe(x, ...)`` and an input; ``skew`` adds to expert 0's router bias (a
    large skew sends every token to expert 0 first)."""
    rng = np.random.default_rng(seed)
    graph = Graph("moe")
    x = graph.add_input("x", TensorType((tokens, hidden), dtype))

    def const(name: str, shape: tuple[int, ...], scale: float = 0.1) -> object:
        data = (rng.standard_normal(shape) * scale).astype(np.float32)
        if name == "router_b":
            data[0] += skew
        return graph.add_op("const", [], {"value": data.astype(dtype.numpy)}, [TensorType(shape, dtype)],
                            names=[name]).result

    operands = [x, const("router_w", (hidden, experts), 1.0), const("w_gate", (experts, hidden, ffn))]
    if gated:
        operands.append(const("w_up", (experts, hidden, ffn)))
    operands.append(const("w_down", (experts, ffn, hidden)))
    if expert_bias:
        operands.append(const("b_gate", (experts, ffn)))
        if gated:
            operands.append(const("b_up", (experts, ffn)))
        operands.append(const("b_down", (experts, hidden)))
    if router_bias or skew:
        operands.append(const("router_b", (experts,), 1.0))
    attrs = {"top_k": top_k, "normalize": normalize, "activation": activation, "gated": gated,
             "expert_bias": expert_bias, "router_bias": bool(router_bias or skew)}
    op = graph.add_op("moe", operands, attrs, [TensorType((tokens, hidden), dtype)], names=["y"])
    graph.set_outputs([op.result])
    data = rng.standard_normal((tokens, hidden)).astype(np.float32).astype(dtype.numpy)
    return graph, data


CASES = {
    "balanced": dict(tokens=37, hidden=16, ffn=24, experts=5, top_k=2),
    "many-tokens": dict(tokens=200, hidden=32, ffn=40, experts=8, top_k=3),
    "top1": dict(tokens=64, hidden=32, ffn=48, experts=4, top_k=1),
    "all-experts": dict(tokens=20, hidden=8, ffn=12, experts=3, top_k=3),
    "plain-mlp-biases": dict(tokens=45, hidden=16, ffn=24, experts=6, top_k=2, gated=False, expert_bias=True,
                             router_bias=True, activation="gelu"),
    "gated-biases": dict(tokens=33, hidden=16, ffn=80, experts=4, top_k=2, expert_bias=True),
    "unnormalised-relu": dict(tokens=50, hidden=16, ffn=24, experts=4, top_k=2, normalize=False, activation="relu"),
    "one-hot-expert": dict(tokens=70, hidden=16, ffn=24, experts=4, top_k=2, skew=50.0),
    "bf16": dict(tokens=40, hidden=32, ffn=48, experts=4, top_k=2, dtype=DType.BF16),
    # The prefix count ranks 16 blocks of 128 choices per matmul at 8 experts: 2,200 choices
    # are a full group and a partial one; at 64 experts a group is 2 blocks, so 600 choices
    # are a loop over 2 full groups and a partial one.
    "groups-of-blocks": dict(tokens=1100, hidden=8, ffn=12, experts=8, top_k=2),
    "wide-experts": dict(tokens=150, hidden=8, ffn=12, experts=64, top_k=4),
}


@pytest.mark.parametrize("moe", ["sparse", "dense"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_moe_lowering_matches_the_reference(case: str, moe: str) -> None:
    spec = CASES[case]
    graph, data = moe_graph(**spec)
    expected = run_graph(graph, {"x": data})["y"].astype(np.float32)
    lowering = lower_graph(graph, PARAMS, moe=moe)
    verify_tiled_module(lowering.module)
    assert lowering.host_call_count == 0
    feeds = {"x": data, **lowering.weights}
    (out,) = lowering.module.outputs
    tol = BF16_TOL if spec.get("dtype") == DType.BF16 else F32_TOL
    np.testing.assert_allclose(run_tiled_module(lowering.module, feeds)[out].astype(np.float32), expected, **tol)
    np.testing.assert_allclose(run_tiled_on_cpu(lowering.module, feeds)[out].astype(np.float32), expected, **tol)


def test_sparse_lowering_loops_over_each_experts_tokens() -> None:
    """The expert loop's trip count is read at run time and results are scatter-added; the
    dense form has neither."""
    graph, _ = moe_graph(tokens=64, hidden=16, ffn=24, experts=4, top_k=2)
    sparse = lower_graph(graph, PARAMS, moe="sparse").module
    loops = [s for k in sparse.kernels for _, s, _ in walk(k.body) if isinstance(s, For)]
    dynamic = [loop for loop in loops if not isinstance(loop.count, int)]
    assert len(dynamic) == 1 and dynamic[0].max_count == 64 // token_tile(64, PARAMS.tile_rows)
    matmuls = [s for k in sparse.kernels for _, s, _ in walk(k.body) if isinstance(s, MatMul) and s.rows is not None]
    assert len(matmuls) == 3  # gate, up, down: each computes only the tile's real rows
    scatters = [s for k in sparse.kernels for _, s, _ in walk(k.body) if isinstance(s, Scatter)]
    assert any(s.accumulate for s in scatters)
    assert DYNAMIC_LOOP.search(print_tiled_module(sparse))
    dense = lower_graph(graph, PARAMS, moe="dense").module
    assert all(isinstance(s.count, int) for k in dense.kernels for _, s, _ in walk(k.body) if isinstance(s, For))


def test_token_tile_is_the_tile_rows_at_most_the_tokens() -> None:
    assert token_tile(4096, 256) == 256
    assert token_tile(5, 256) == 5


def test_unknown_moe_mode_is_refused() -> None:
    graph, _ = moe_graph(tokens=8, hidden=8, ffn=8, experts=2, top_k=1)
    with pytest.raises(PassError, match="moe='fast'"):
        lower_graph(graph, PARAMS, moe="fast")


@pytest.mark.parametrize("name", ["mixtral-block", "dense-moe", "dense-moe-einsum", "moe-transformer"])
def test_raised_examples_dispatch_sparsely_on_cpu(name: str) -> None:
    """The examples' MoE layers, raised to ``moe`` ops, run sparse (the default) and dense on
    ``cpu`` and ``tiled``, all matching the reference."""
    import moecc
    from moecc.compare import compare_outputs
    from moecc.examples import build_example, example_inputs

    model = build_example(name)
    feeds = example_inputs(name, model, seed=3)
    expected = moecc.compile(model, target="ref").run(feeds)
    sparse = moecc.compile(model, target="cpu")
    assert any(op.kind == "moe" for op in sparse.graph.ops)
    assert DYNAMIC_LOOP.search(sparse.ir("tiled"))  # a run-time trip count
    assert not compare_outputs(sparse.run(feeds), expected)
    dense = moecc.compile(model, target="cpu", moe="dense")
    assert not DYNAMIC_LOOP.search(dense.ir("tiled"))
    assert not compare_outputs(dense.run(feeds), expected)
    assert not compare_outputs(moecc.compile(model, target="tiled").run(feeds), expected)


def test_moe_option_is_checked(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    import moecc
    from moecc.cli import main
    from moecc.examples import build_example

    model = build_example("dense-moe")
    with pytest.raises(moecc.MoeccError, match="moe must be one of sparse, dense"):
        moecc.compile(model, target="cpu", moe="fast")
    with pytest.raises(moecc.MoeccError, match="moe must be one of sparse, dense"):
        moecc.compile(model, target="asic", moe="fast")
    with pytest.raises(moecc.MoeccError, match="'moe' is an option of target"):
        moecc.compile(model, target="ref", moe="dense")
    path = f"{tmp_path}/m.onnx"
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    assert main(["compile", path, "--target", "cpu", "--moe", "dense", "--emit", "tiled"]) == 0
    assert not DYNAMIC_LOOP.search(capsys.readouterr().out)


def test_cpu_report_shows_the_routing_of_each_moe_layer(capsys: pytest.CaptureFixture[str]) -> None:
    import moecc
    from moecc.examples import build_example, example_inputs
    from moecc.moe_report import expert_flops_per_row

    model = build_example("moe-transformer")
    compiled = moecc.compile(model, target="cpu")
    compiled.run(example_inputs("moe-transformer", model, seed=1))
    report = compiled.report()
    layers = report["moe"]
    assert len(layers) == 2  # one per MoE layer, in graph order
    tokens = {op.operands[0].type.shape[0] for op in compiled.graph.ops if op.kind == "moe"}.pop()
    for layer, described in zip(layers, compiled.partition["moe_layers"]):
        assert sum(layer["tokens_per_expert"]) == tokens * layer["top_k"] and layer["dropped_tokens"] == 0
        tile = described["token_tile"]
        moved = sum(-(-c // tile) * tile for c in layer["tokens_per_expert"])
        assert layer["padding_rows"] == moved - tokens * layer["top_k"] < layer["experts"] * tile
        per_row = expert_flops_per_row(described)
        assert layer["executed_expert_flops"] == tokens * layer["top_k"] * per_row  # exactly the routed rows
        assert layer["dense_expert_flops"] == tokens * layer["experts"] * per_row and layer["padding_flops"] == 0
        assert layer["imbalance"] == pytest.approx(max(layer["tokens_per_expert"]) * layer["experts"] / (tokens * layer["top_k"]), rel=1e-3)
    assert "tokens per expert" in compiled.backend.summary(report)


def test_routing_is_recorded_and_checked(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    """--record-routing writes each layer's choices; --check-routing passes on the same inputs
    and names the first differing layer and token on altered ones (exit 1)."""
    import moecc
    from moecc.cli import main
    from moecc.examples import build_example, example_inputs

    model = build_example("mixtral-block")
    compiled = moecc.compile(model, target="cpu")
    with pytest.raises(moecc.MoeccError, match="no run yet"):
        compiled.routing()
    feeds = example_inputs("mixtral-block", model, seed=0)
    compiled.run(feeds)
    (layer,) = compiled.routing()
    assert len(layer["experts"]) == feeds["input_ids"].size and all(len(set(e)) == 2 for e in layer["experts"])
    artifact, record = f"{tmp_path}/m.moe", f"{tmp_path}/routing.json"
    compiled.save(artifact)
    np.save(f"{tmp_path}/ids.npy", feeds["input_ids"])
    altered = feeds["input_ids"].copy()
    altered[0, 3] = (altered[0, 3] + 7) % 100
    np.save(f"{tmp_path}/other.npy", altered)
    assert main(["run", artifact, "--input", f"input_ids={tmp_path}/ids.npy", "--record-routing", record]) == 0
    assert main(["run", artifact, "--input", f"input_ids={tmp_path}/ids.npy", "--check-routing", record]) == 0
    assert "routing matches" in capsys.readouterr().out
    assert main(["run", artifact, "--input", f"input_ids={tmp_path}/other.npy", "--check-routing", record]) == 1
    assert "token 3: experts" in capsys.readouterr().err
    on_asic = moecc.compile(model, target="asic")
    with pytest.raises(moecc.MoeccError, match="no run yet"):
        on_asic.routing()
    on_asic.run(feeds)
    assert on_asic.routing() == compiled.routing()  # the same choices as the cpu's
