"""Weight pruning (``moecc.passes.prune``): specs, the three masks in k x n orientation, Wanda
scores from calibration, which weights are never pruned, the compile option, the report, the
CLI, and the accuracy report (``moecc.accuracy``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import moecc
from moecc.accuracy import accuracy_report, format_table
from moecc.cli import main
from moecc.errors import MoeccError, OptionError
from moecc.examples import build_example, example_inputs
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.types import DType, TensorType
from moecc.ir.sparse24 import compress_2_4, expand_2_4, is_2_4
from moecc.passes.prune import PruneSpec, prune_graph
from moecc.passes.prune_calibration import activation_norms, load_calibration, seeded_batches

F32 = DType.F32


def _mlp(w1: np.ndarray, w2: np.ndarray, tokens: int = 8, *, trans_b: bool = False) -> Graph:
    """``relu(x @ fc1) @ fc2`` (fc1 stored n x k and read by a gemm with ``trans_b`` if asked)."""
    graph = Graph()
    k = w1.shape[1] if trans_b else w1.shape[0]
    x = graph.add_input("x", TensorType((tokens, k), F32))
    b = GraphBuilder(graph, fold=False)
    fc1 = b.const(w1.astype(np.float32), "fc1.weight")
    fc2 = b.const(w2.astype(np.float32), "fc2.weight")
    b.source = "/mlp/fc1/Gemm" if trans_b else "/mlp/fc1/MatMul"
    h = b.emit1("gemm", [x, fc1], {"trans_b": True}) if trans_b else b.emit1("matmul", [x, fc1])
    b.source = "/mlp/act/Relu"
    h = b.emit1("relu", [h])
    b.source = "/mlp/fc2/MatMul"
    graph.set_outputs([b.emit1("matmul", [h, fc2])], ["y"])
    return graph


def _weight(graph: Graph, name: str) -> np.ndarray:
    return next(op.attrs["value"] for op in graph.const_ops() if op.result.name == name)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- specs -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "method", "fraction", "tile"), [
    ("2:4", "2:4", 0.5, (128, 128)), ("tile:0.5", "tile", 0.5, (128, 128)),
    ("tile:0.25:64x32", "tile", 0.25, (64, 32)), ("magnitude:0.3", "magnitude", 0.3, (128, 128)),
])
def test_spec_forms_parse_and_print_back(text: str, method: str, fraction: float, tile: tuple[int, int]) -> None:
    spec = PruneSpec.parse(text)
    assert (spec.method, spec.fraction, (spec.tile_rows, spec.tile_cols)) == (method, fraction, tile)
    assert PruneSpec.parse(spec.text) == spec


@pytest.mark.parametrize("text", ["", "2:5", "4:8", "tile", "tile:1", "tile:0", "tile:-0.5", "magnitude:abc",
                                  "tile:0.5:0x4", "tile:0.5:4", "magnitude:0.5:4x4", "wanda:0.5"])
def test_bad_spec_names_the_option_and_the_valid_forms(text: str) -> None:
    with pytest.raises(OptionError, match=r"^prune .*valid forms: 2:4 .*tile:FRACTION.*magnitude:FRACTION"):
        PruneSpec.parse(text)
    with pytest.raises(MoeccError, match="prune"):
        moecc.compile(build_example("llama-block"), "ref", prune=text)


def test_calibration_and_filter_need_prune_and_a_bad_regex_is_refused() -> None:
    model = build_example("llama-block")
    with pytest.raises(OptionError, match="calibration applies only with prune"):
        moecc.compile(model, "ref", calibration=4)
    with pytest.raises(OptionError, match="prune_filter"):
        moecc.compile(model, "ref", prune="2:4", prune_filter="(")
    with pytest.raises(OptionError, match="at least 1"):
        moecc.compile(model, "ref", prune="2:4", calibration=0)


# -- the masks ---------------------------------------------------------------------------------

def test_2_4_matmul_weight_is_2_4_and_keeps_the_two_largest_of_each_group() -> None:
    w1, w2 = _rng().standard_normal((64, 32)), _rng(1).standard_normal((32, 8))
    graph = _mlp(w1, w2)
    original = _weight(graph, "fc1.weight")
    result = prune_graph(graph, PruneSpec.parse("2:4"))
    pruned = _weight(graph, "fc1.weight")
    assert pruned is not original and np.array_equal(original, w1.astype(np.float32))  # the old array untouched
    assert is_2_4(pruned) and not is_2_4(original)
    np.testing.assert_array_equal(expand_2_4(*compress_2_4(pruned)), pruned)
    groups, kept = np.abs(original).reshape(16, 4, 32), pruned.reshape(16, 4, 32) != 0
    assert (kept.sum(axis=1) == 2).all()
    assert (np.where(kept, groups, np.inf).min(axis=1) >= np.where(kept, -np.inf, groups).max(axis=1)).all()
    row = result.to_report()["weights"][0]
    assert (row["name"], row["onnx_nodes"], row["orientation"], row["sparsity"]) == (
        "fc1.weight", ["/mlp/fc1/MatMul"], "k x n", 0.5)


def test_2_4_gemm_trans_b_weight_is_2_4_in_k_by_n() -> None:
    stored = _rng().standard_normal((32, 64))  # n x k
    graph = _mlp(stored, _rng(1).standard_normal((32, 8)), trans_b=True)
    result = prune_graph(graph, PruneSpec.parse("2:4"))
    pruned = _weight(graph, "fc1.weight")
    assert pruned.shape == (32, 64) and is_2_4(pruned.T)
    assert not is_2_4(pruned)  # pruned along k, not along the stored rows
    assert result.pruned[0].orientation == "n x k (gemm trans_b)"


def test_2_4_leaves_a_weight_whose_k_is_no_multiple_of_4_and_says_so() -> None:
    graph = _mlp(_rng().standard_normal((6, 8)), _rng(1).standard_normal((8, 4)))
    result = prune_graph(graph, PruneSpec.parse("2:4"))
    assert not result.pruned
    assert [(s.name, s.reason) for s in result.skipped if s.name == "fc1.weight"] == [
        ("fc1.weight", "k = 6 is not a multiple of 4 (2:4 prunes groups of 4 rows along k)")]
    assert np.array_equal(_weight(graph, "fc1.weight"), _rng().standard_normal((6, 8)).astype(np.float32))


def test_tile_half_zeroes_exactly_the_half_of_the_tiles_with_the_smallest_norms() -> None:
    scale = np.array([[3.0, 0.5, 7.0, 0.25], [0.75, 6.0, 0.1, 5.0]])  # per 128x128 tile of a 256x512 weight
    w1 = _rng().uniform(0.5, 1.0, (256, 512)) * np.repeat(np.repeat(scale, 128, axis=0), 128, axis=1)
    graph = _mlp(w1, _rng(1).standard_normal((512, 4)))
    result = prune_graph(graph, PruneSpec.parse("tile:0.5"))
    tiles = _weight(graph, "fc1.weight").reshape(2, 128, 4, 128).transpose(0, 2, 1, 3)
    zero = (tiles == 0).all(axis=(2, 3))
    assert zero.sum() == 4
    np.testing.assert_array_equal(zero, scale < 1.0)
    assert (tiles[~zero] != 0).all()  # the kept tiles are whole
    row = result.pruned[0]
    assert (row.zero_tiles_before, row.zero_tiles_after, row.tiles, row.sparsity) == (0, 4, 8, 0.5)


def test_magnitude_half_zeroes_the_smaller_half_of_every_column() -> None:
    w1 = _rng().standard_normal((64, 32))
    graph = _mlp(w1, _rng(1).standard_normal((32, 8)))
    prune_graph(graph, PruneSpec.parse("magnitude:0.5"))
    pruned = _weight(graph, "fc1.weight")
    assert ((pruned == 0).sum(axis=0) == 32).all()
    kept = np.where(pruned != 0, np.abs(w1), np.inf).min(axis=0)
    dropped = np.where(pruned == 0, np.abs(w1), -np.inf).max(axis=0)
    assert (kept >= dropped).all()


# -- Wanda --------------------------------------------------------------------------------------

def _wanda_case() -> tuple[Graph, list[dict[str, np.ndarray]]]:
    """Channels 0, 1 of every group of 4 carry large activations through small weights, channels
    2, 3 tiny activations through large weights: magnitude keeps 2, 3; Wanda must keep 0, 1."""
    rng = _rng(3)
    big = np.tile([True, True, False, False], 4)
    w1 = np.where(big[:, None], 0.1, 1.0) * rng.uniform(0.8, 1.2, (16, 32)) * rng.choice([-1, 1], (16, 32))
    graph = _mlp(w1, rng.standard_normal((32, 8)), tokens=32)
    scales = np.where(big, 10.0, 0.01).astype(np.float32)
    batches = [{"x": (rng.standard_normal((32, 16)) * scales).astype(np.float32)} for _ in range(2)]
    return graph, batches


def test_wanda_keeps_the_channels_the_activations_use_and_magnitude_does_not() -> None:
    graph, batches = _wanda_case()
    norms = activation_norms(graph, batches)
    x = np.concatenate([b["x"] for b in batches])
    np.testing.assert_allclose(norms["fc1.weight"], np.linalg.norm(x, axis=0), rtol=1e-5)
    by_magnitude, by_wanda = graph.clone(), graph.clone()
    prune_graph(by_magnitude, PruneSpec.parse("2:4"))
    wanda = prune_graph(by_wanda, PruneSpec.parse("2:4"), norms)
    rows_kept = {name: (_weight(g, "fc1.weight") != 0).reshape(4, 4, 32).all(axis=(0, 2))
                 for name, g in (("magnitude", by_magnitude), ("wanda", by_wanda))}
    assert rows_kept["magnitude"].tolist() == [False, False, True, True]
    assert rows_kept["wanda"].tolist() == [True, True, False, False]
    assert wanda.score == "wanda" and wanda.pruned[0].score == "wanda"


def test_wanda_output_error_on_the_calibration_inputs_is_far_below_magnitudes() -> None:
    graph, batches = _wanda_case()
    by_magnitude, by_wanda = graph.clone(), graph.clone()
    prune_graph(by_magnitude, PruneSpec.parse("2:4"))
    prune_graph(by_wanda, PruneSpec.parse("2:4"), activation_norms(graph, batches))
    for batch in batches:
        reference = run_graph(graph, batch)
        magnitude = accuracy_report(reference, run_graph(by_magnitude, batch))[0]["relative_error"]
        wanda = accuracy_report(reference, run_graph(by_wanda, batch))[0]["relative_error"]
        assert wanda < magnitude / 10, (wanda, magnitude)


def test_gated_mlp_and_moe_norms_measure_what_each_weight_multiplies() -> None:
    compiled = moecc.compile(build_example("llama-block"), "ref")
    graph = compiled.graph
    batches = seeded_batches(graph, 2)
    norms = activation_norms(graph, batches)
    mlp = next(op for op in graph.ops if op.kind == "gated_mlp")
    seen: dict[str, list[np.ndarray]] = {"x": [], "h": []}

    def observe(op, args):  # type: ignore[no-untyped-def]
        if op is mlp:
            x = args[0].reshape(-1, args[0].shape[-1])
            seen["x"].append(x)
            seen["h"].append((x @ args[1]) / (1 + np.exp(-(x @ args[1]))) * (x @ args[2]))

    for batch in batches:
        run_graph(graph, batch, observe=observe)
    np.testing.assert_allclose(norms[mlp.operands[1].name], np.linalg.norm(np.concatenate(seen["x"]), axis=0), rtol=1e-5)
    np.testing.assert_allclose(norms[mlp.operands[3].name], np.linalg.norm(np.concatenate(seen["h"]), axis=0), rtol=1e-4)


def test_moe_expert_norms_count_only_the_tokens_routed_to_each_expert() -> None:
    graph = moecc.compile(build_example("moe-transformer"), "ref").graph
    batches = seeded_batches(graph, 2)
    norms = activation_norms(graph, batches)
    moe = next(op for op in graph.ops if op.kind == "moe")
    tokens: list[np.ndarray] = []
    for batch in batches:
        run_graph(graph, batch, observe=lambda op, args: tokens.append(args[0]) if op is moe else None)
    x = np.concatenate(tokens)
    top = np.argsort(-(x @ moe.operands[1].producer.attrs["value"]), axis=-1)[:, : moe.attrs["top_k"]]
    want = np.stack([np.linalg.norm(x[(top == e).any(axis=-1)], axis=0) for e in range(4)])
    np.testing.assert_allclose(norms[moe.operands[2].name], want, rtol=1e-5)  # w_gate, per expert
    np.testing.assert_allclose(norms[moe.operands[1].name], np.linalg.norm(x, axis=0), rtol=1e-5)  # the router
    assert norms[moe.operands[4].name].shape == (4, 128)  # w_down: the experts' hidden width


# -- which weights --------------------------------------------------------------------------------

def _constants(compiled: moecc.CompiledModel) -> dict[str, np.ndarray]:
    return {op.result.name: op.attrs["value"] for op in compiled.graph.const_ops()}


def test_router_embedding_and_lm_head_are_never_pruned_even_when_the_filter_matches() -> None:
    model = build_example("moe-transformer")
    dense, pruned = moecc.compile(model, "ref"), moecc.compile(model, "ref", prune="2:4", prune_filter=".", calibration=2)
    report = pruned.report()["pruning"]
    roles = sorted(row["role"] for row in report["skipped"])
    assert roles == ["embedding", "lm_head", "router", "router"]
    before, after = _constants(dense), _constants(pruned)
    for row in report["skipped"]:
        assert np.array_equal(before[row["name"]], after[row["name"]]), row
    moe_ops = [op for op in pruned.graph.ops if op.kind == "moe"]
    assert [op.operands[1].name for op in moe_ops] == [r["name"] for r in report["skipped"] if r["role"] == "router"]
    for op in moe_ops:
        for stack in (op.operands[2], op.operands[3], op.operands[4]):
            assert all(is_2_4(expert) for expert in after[stack.name])
    assert {row["role"] for row in report["weights"]} == {"attention", "expert"}
    assert report["score"] == "wanda" and report["filter"] == "."


def test_filter_regex_chooses_weights_by_name_or_onnx_node() -> None:
    compiled = moecc.compile(build_example("llama-block"), "ref", prune="magnitude:0.5", prune_filter=r"q_proj")
    report = compiled.report()["pruning"]
    assert [row["onnx_nodes"] for row in report["weights"]] == [["/model/layers.0/self_attn/q_proj/MatMul"]]
    unmatched = [row for row in report["skipped"] if row["reason"] == "not matched by prune_filter 'q_proj'"]
    assert len(unmatched) == 6  # k, v, o and the gated MLP's three
    by_node = moecc.compile(build_example("llama-block"), "ref", prune="2:4", prune_filter="mlp/down_proj/MatMul")
    assert [row["role"] for row in by_node.report()["pruning"]["weights"]] == ["mlp"] * 3  # the gated_mlp's node


def test_a_shared_weight_is_pruned_once_and_one_read_otherwise_is_left() -> None:
    graph = Graph()
    x = graph.add_input("x", TensorType((8, 8), F32))
    b = GraphBuilder(graph, fold=False)
    shared = b.const(_rng().standard_normal((8, 8)).astype(np.float32), "shared.weight")
    added = b.const(_rng(1).standard_normal((8, 8)).astype(np.float32), "added.weight")
    for node in ("/first/MatMul", "/second/MatMul"):
        b.source = node
        x = b.emit1("relu", [b.emit1("matmul", [x, shared])])
    b.source = "/third/MatMul"
    h = b.emit1("relu", [b.emit1("add", [b.emit1("matmul", [x, added]), added])])
    graph.set_outputs([b.emit1("reduce_sum", [h], {"axes": (1,)})], ["y"])
    result = prune_graph(graph, PruneSpec.parse("2:4"))
    assert [(w.name, w.nodes) for w in result.pruned] == [("shared.weight", ("/first/MatMul", "/second/MatMul"))]
    assert sum(op.operands[1].name == "shared.weight" for op in graph.ops if op.kind == "matmul") == 2
    assert [(s.name, s.reason.split(" (")[0]) for s in result.skipped] == [("added.weight", "also read by add")]


# -- calibration inputs ------------------------------------------------------------------------------

def test_calibration_file_with_or_without_a_leading_axis_and_seeded_sets(tmp_path: Path) -> None:
    graph = moecc.compile(build_example("llama-block"), "ref").graph
    ids = _rng().integers(0, 256, (3, 2, 16))
    np.savez(tmp_path / "three.npz", input_ids=ids)
    np.savez(tmp_path / "one.npz", input_ids=ids[0].astype(np.int32))
    three, one = load_calibration(tmp_path / "three.npz", graph), load_calibration(tmp_path / "one.npz", graph)
    assert len(three) == 3 and np.array_equal(three[2]["input_ids"], ids[2])
    assert len(one) == 1 and one[0]["input_ids"].dtype == np.int64
    seeded = seeded_batches(graph, 4)
    tokens = np.concatenate([b["input_ids"] for b in seeded])
    assert len(seeded) == 4 and tokens.min() >= 0 and tokens.max() < 256 and tokens.max() >= 2  # the vocabulary
    assert np.array_equal(seeded[3]["input_ids"], seeded_batches(graph, 4)[3]["input_ids"])


def test_bad_calibration_files_name_the_file_and_the_remedy(tmp_path: Path) -> None:
    graph = moecc.compile(build_example("llama-block"), "ref").graph
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "keys.npz", tokens=np.zeros((2, 16), np.int64))
    np.savez(tmp_path / "kind.npz", input_ids=np.zeros((2, 16), np.float32))
    np.savez(tmp_path / "shape.npz", input_ids=np.zeros((2, 15), np.int64))
    for name, what in (("missing.npz", "does not exist"), ("text.npz", "is not an .npz"),
                       ("keys.npz", "no array for input.s. input_ids; unknown key.s. tokens"),
                       ("kind.npz", "is float32, the model takes"), ("shape.npz", "has shape \\[2, 15\\]")):
        with pytest.raises(OptionError, match=f"calibration file '.*{name}'.*{what}.*; (give|save)"):
            load_calibration(tmp_path / name, graph)
    with pytest.raises(MoeccError, match="pass 'prune-weights': calibration file .*kind.npz"):
        moecc.compile(build_example("llama-block"), "ref", prune="2:4", calibration=tmp_path / "kind.npz")
    with pytest.raises(OptionError, match="calibration file .*missing.npz' does not exist"):
        moecc.compile(build_example("llama-block"), "ref", prune="2:4", calibration=str(tmp_path / "missing.npz"))


# -- compile, report, targets, artifacts ------------------------------------------------------------

def test_compile_with_prune_reports_it_and_without_changes_nothing() -> None:
    model = build_example("llama-block")
    feeds = example_inputs("llama-block", model, seed=0)
    plain, explicit = moecc.compile(model, "ref"), moecc.compile(model, "ref", prune=None, calibration=None)
    pruned = moecc.compile(model, "ref", prune="2:4")
    assert plain.graph.structurally_equal(explicit.graph) and plain.options == explicit.options
    assert all(np.array_equal(a, b) for a, b in zip(_constants(plain).values(), _constants(explicit).values()))
    assert plain.run(feeds)["logits"].tobytes() == explicit.run(feeds)["logits"].tobytes()
    assert "pruning" not in plain.report() and "prune" not in plain.options
    report = pruned.report()
    section = report["pruning"]
    assert (section["method"], section["score"], section["calibration"], section["filter"]) == ("2:4", "magnitude",
                                                                                                None, None)
    assert section["pruned_weights"] == 7 and section["sparsity"] == 0.5
    assert set(section["weights"][0]) >= {"name", "onnx_nodes", "role", "shape", "orientation", "method", "score",
                                          "sparsity", "zero_tiles_before", "zero_tiles_after"}
    assert report["options"]["prune"] == "2:4"
    assert not np.array_equal(pruned.run(feeds)["logits"], plain.run(feeds)["logits"])


def test_compile_graph_prunes_a_copy_and_every_target_gets_the_same_weights() -> None:
    w1 = _rng().standard_normal((64, 32))
    graph = _mlp(w1, _rng(1).standard_normal((32, 8)))
    original = _weight(graph, "fc1.weight")
    ref = moecc.compile_graph(graph, "ref", prune="2:4", calibration=2)
    tiled = moecc.compile_graph(graph, "tiled", prune="2:4", calibration=2)
    assert _weight(graph, "fc1.weight") is original and np.array_equal(original, w1.astype(np.float32))
    assert is_2_4(_weight(ref.graph, "fc1.weight"))
    assert all(np.array_equal(a, b) for a, b in zip(_constants(ref).values(), _constants(tiled).values()))
    feeds = {"x": _rng(2).standard_normal((8, 64)).astype(np.float32)}
    np.testing.assert_allclose(tiled.run(feeds)["y"], ref.run(feeds)["y"], rtol=1e-5, atol=1e-5)


def test_the_step_runs_after_the_graph_passes_and_the_section_survives_an_artifact(tmp_path: Path) -> None:
    from moecc.driver import target_pipeline
    from moecc.passes.prune import pruning_pass

    names = [p.name for p in target_pipeline("cpu", None, None, (), pruning_pass("2:4"))]
    assert names[names.index("dce") + 1] == "prune-weights" and names.index("lower-to-tiled") > names.index("dce")
    with pytest.raises(MoeccError, match="pass 'prune-weights': runs because prune is given.*compile without prune"):
        moecc.compile(build_example("llama-block"), "ref", prune="2:4", disable_passes=["cse", "prune-weights"])
    compiled = moecc.compile(build_example("llama-block"), "ref", prune="tile:0.5:32x32")
    compiled.save(tmp_path / "m.moe")
    assert moecc.load(tmp_path / "m.moe").report()["pruning"] == compiled.report()["pruning"]


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_prune_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "llama.onnx"
    assert main(["example", "llama-block", "-o", str(model)]) == 0
    out = str(tmp_path / "m.moe")
    assert main(["compile", str(model), "--prune", "2:4", "--calibration", "2", "--prune-filter", "mlp",
                 "--report", "-", "-o", out]) == 0
    text = capsys.readouterr().out
    assert "pruning       2:4, wanda scores on 2 seeded input sets (seed 0): 3 weights at 50.0% zeros" in text
    assert main(["compile", str(model), "--prune", "magnitude:0.5", "--calibration", "8", "--print-pipeline"]) == 0
    assert ",dce,prune-weights{spec=magnitude:0.5,calibration=8}\n" in capsys.readouterr().out
    assert main(["compile", str(model), "--prune", "half", "-o", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("moecc: error: prune 'half' is not a pruning spec; valid forms")
    assert main(["compile", str(model), "--calibration", "4", "-o", out]) == 2
    assert "calibration applies only with prune" in capsys.readouterr().err


# -- accuracy report --------------------------------------------------------------------------------

def test_accuracy_report_rows_and_table() -> None:
    logits = _rng().standard_normal((2, 4, 64)).astype(np.float32)
    hidden = _rng(1).standard_normal((4, 8)).astype(np.float32)
    flipped = logits.copy()
    flipped[0, 0] = -flipped[0, 0]  # one token's arg-max moves
    rows = accuracy_report({"logits": logits, "hidden": hidden}, {"logits": flipped, "hidden": hidden * 2})
    assert [r["output"] for r in rows] == ["logits", "hidden"]
    assert rows[0]["top1_agreement"] == 7 / 8 and rows[1]["top1_agreement"] is None
    assert rows[1]["relative_error"] == pytest.approx(1.0) and rows[1]["cosine"] == pytest.approx(1.0)
    assert rows[0]["max_abs_error"] == pytest.approx(2 * np.abs(logits[0, 0]).max())
    same = accuracy_report({"logits": logits}, {"logits": logits})[0]
    assert (same["max_abs_error"], same["relative_error"], same["top1_agreement"]) == (0.0, 0.0, 1.0)
    table = format_table(rows).splitlines()
    assert table[0].split() == ["output", "shape", "max", "abs", "err", "rel", "err", "cosine", "top-1"]
    assert table[1].split()[:2] == ["logits", "2x4x64"] and table[1].endswith("87.5%") and table[2].endswith("-")
    with pytest.raises(MoeccError, match="lack hidden"):
        accuracy_report({"hidden": hidden}, {})
