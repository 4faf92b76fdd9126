"""Sparse MoE dispatch on the ASIC: the tiled dispatch (passes/tiled_lowering/moe_dispatch.py)
staged onto run-time-count loops and scatter-adds (backend/asic/staging), run on the simulator."""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.compare import compare_outputs, tolerances
from moecc.examples import build_example, example_inputs
from moecc.ir.interpreter import run_graph
from moecc.ir.types import DType
from tests.test_moe_dispatch import CASES, F32_TOL, moe_graph

MOE_EXAMPLES = ("dense-moe", "dense-moe-einsum", "mixtral-block", "moe-transformer")


def _models(name: str):
    model = build_example(name)
    return model, example_inputs(name, model, seed=3)


@pytest.mark.parametrize("name", MOE_EXAMPLES)
def test_sparse_dispatch_runs_every_expert_on_the_chip_and_matches_the_reference(name: str) -> None:
    model, feeds = _models(name)
    compiled = moecc.compile(model, target="asic", moe="sparse")
    got = compiled.run(feeds)
    want = moecc.compile(model, target="ref").run(feeds)
    rtol, atol = tolerances("f32")
    assert not compare_outputs(got, want, rtol=rtol, atol=atol)
    report = compiled.report()
    assert report["host_ops"] == [] and report["flops_on_asic_fraction"] == 1.0
    listing = compiled.ir("asm")
    # Per-expert tile loops read their trip counts at run time; tokens are gathered and the
    # weighted expert outputs scatter-added back.
    for mnemonic in ("lds ", "blt ", "dma.gather", "dma.scatter_add", "dma.scatter "):
        assert mnemonic in listing, mnemonic


def test_dispatch_routes_like_the_cpu_and_reports_executed_and_padding_flops() -> None:
    model, feeds = _models("moe-transformer")
    asic = moecc.compile(model, target="asic", moe="sparse")
    cpu = moecc.compile(model, target="cpu")
    asic.run(feeds)
    cpu.run(feeds)
    on_asic, on_cpu = asic.report()["moe"], cpu.report()["moe"]
    assert [r["tokens_per_expert"] for r in on_asic] == [r["tokens_per_expert"] for r in on_cpu]
    for row in on_asic:
        tokens = sum(row["tokens_per_expert"])
        per_row = row["dense_expert_flops"] // (row["experts"] * (tokens // row["top_k"]))
        # The experts' matmuls stream each tile's real rows (mxu.mmr): the padding rows are
        # gathered and scattered but not multiplied, as on the cpu.
        assert row["padding_flops"] == 0
        assert row["executed_expert_flops"] == tokens * per_row
    for row in on_cpu:  # the cpu's matmuls take the real row count: no padding FLOPs
        assert row["padding_flops"] == 0
    program = "\n".join(s.listing for s in asic.executable.segments)
    assert "mxu.mmr" in program
    assert "tokens per expert" in asic.backend.summary(asic.report())


def test_with_more_tokens_than_a_tile_only_the_routed_tiles_run() -> None:
    graph, data = moe_graph(**CASES["many-tokens"])  # 200 tokens, 8 experts, top-3: 32-row tiles
    sparse = moecc.compile_graph(graph, target="asic", moe="sparse")
    dense = moecc.compile_graph(graph, target="asic", moe="dense")
    sparse.run({"x": data})
    dense.run({"x": data})
    (row,) = sparse.report()["moe"]
    assert sum(row["tokens_per_expert"]) == 200 * 3
    assert row["padding_flops"] == 0
    assert row["executed_expert_flops"] == row["dense_expert_flops"] * 3 // 8  # exactly the routed rows
    assert dense.report()["moe"][0]["executed_expert_flops"] == row["dense_expert_flops"]


def test_dense_option_runs_every_expert_on_every_token() -> None:
    model, feeds = _models("dense-moe")
    dense = moecc.compile(model, target="asic", moe="dense")
    sparse = moecc.compile(model, target="asic", moe="sparse")
    np.testing.assert_allclose(dense.run(feeds)["output"], sparse.run(feeds)["output"], rtol=1e-5, atol=1e-5)
    (row,) = dense.report()["moe"]
    assert row["executed_expert_flops"] == row["dense_expert_flops"]
    assert "dma.scatter_add" not in dense.ir("asm")


@pytest.mark.parametrize("asic_target,precision", [("moe-asic-v1", "bf16"), ("moe-asic-edge", "f32")])
def test_sparse_dispatch_on_other_parts_and_precisions(asic_target: str, precision: str) -> None:
    model, feeds = _models("mixtral-block")
    compiled = moecc.compile(model, target="asic", moe="sparse", asic_target=asic_target, precision=precision)
    got = compiled.run(feeds)
    want = moecc.compile(model, target="ref").run(feeds)
    rtol, atol = tolerances(precision)
    assert not compare_outputs(got, want, rtol=rtol, atol=atol)
    assert compiled.report()["host_ops"] == []


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c].get("dtype") != DType.BF16))
def test_dispatch_cases_on_the_chip(case: str) -> None:
    """The tiled dispatch's cases (balanced, tokens not a multiple of the tile, top-1, every
    expert chosen, biases, unnormalised weights, every token on one expert: tile loops at their
    bound and experts that run no tile) staged for the ASIC, against the graph reference."""
    graph, data = moe_graph(**CASES[case])
    expected = run_graph(graph, {"x": data})["y"]
    compiled = moecc.compile_graph(graph, target="asic", moe="sparse")
    assert compiled.report()["host_ops"] == []
    np.testing.assert_allclose(compiled.run({"x": data})["y"], expected, **F32_TOL)


def test_experts_that_fill_the_edge_parts_sram() -> None:
    """On moe-asic-edge (2 MiB SRAM) an expert's weights at hidden 256 x 512 fill most of it:
    8-row token tiles, and the experts kernel's buffers wrap around the SRAM ring onto the
    route kernel's. The experts' weights must then load in their own kernel (selected in the
    route kernel, they came before its own use of those bytes and were overwritten: every
    output row wrong, found by comparing a benchmark's outputs)."""
    graph, data = moe_graph(tokens=96, hidden=256, ffn=512, experts=8, top_k=2)
    expected = run_graph(graph, {"x": data})["y"]
    compiled = moecc.compile_graph(graph, target="asic", asic_target="moe-asic-edge", moe="sparse")
    rtol, atol = tolerances("f32")
    assert not compare_outputs(compiled.run({"x": data}), {"y": expected}, rtol=rtol, atol=atol)


# -- routing what-ifs (passes/tiled_lowering/routing_whatif.py) --------------------------------

def test_routing_what_if_replaces_the_choices_and_says_so(tmp_path) -> None:
    import json

    model, feeds = _models("mixtral-block")
    cpu = moecc.compile(model, target="cpu")
    cpu.run(feeds)
    recorded = cpu.routing()
    runs = {}
    for spec in ("uniform", "zipf:3"):
        compiled = moecc.compile(model, target="asic", routing=spec)
        compiled.run(feeds)
        report = compiled.report()
        assert report["routing_source"] == spec
        assert f"routing what-if {spec}" in compiled.backend.summary(report)
        runs[spec] = report["moe"][0]
    assert runs["zipf:3"]["imbalance"] > runs["uniform"]["imbalance"]
    assert runs["zipf:3"]["tokens_per_expert"][0] == max(runs["zipf:3"]["tokens_per_expert"])  # expert 0 most popular
    # A recorded routing replays exactly.
    path = tmp_path / "routing.json"
    path.write_text(json.dumps({"routing": recorded}))
    replay = moecc.compile(model, target="asic", routing=str(path))
    replay.run(feeds)
    assert replay.routing() == recorded
    # A histogram is realised exactly.
    tokens = len(recorded[0]["experts"])
    top_k = len(recorded[0]["experts"][0])
    experts = runs["uniform"]["experts"]
    histogram = [tokens, tokens * top_k - tokens] + [0] * (experts - 2)  # top-2: every token on 0 and 1
    hist_path = tmp_path / "hist.json"
    hist_path.write_text(json.dumps({"tokens_per_expert": [histogram]}))
    skewed = moecc.compile(model, target="asic", routing=str(hist_path))
    skewed.run(feeds)
    assert skewed.report()["moe"][0]["tokens_per_expert"] == histogram


@pytest.mark.parametrize("spec,message", [
    ("zipf:-1", "zipf exponent"),
    ("zipf:x", "zipf exponent"),
    ("nonsense", "is not uniform, zipf:ALPHA or a JSON file"),
])
def test_bad_routing_specs_are_refused(spec: str, message: str) -> None:
    model, _ = _models("dense-moe")
    with pytest.raises(moecc.MoeccError, match=message):
        moecc.compile(model, target="asic", routing=spec)


def test_bad_routing_files_are_refused(tmp_path) -> None:
    import json

    model, _ = _models("dense-moe")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(moecc.MoeccError, match="routing file"):
        moecc.compile(model, target="asic", routing=str(bad_json))
    infeasible = tmp_path / "hist.json"
    infeasible.write_text(json.dumps({"tokens_per_expert": [[1, 2, 3, 4]]}))
    with pytest.raises(moecc.MoeccError, match="is not a routing of"):
        moecc.compile(model, target="asic", routing=str(infeasible))
    with pytest.raises(moecc.MoeccError, match="moe='sparse'"):
        moecc.compile(model, target="asic", routing="uniform", moe="dense")
    for malformed in ({"routing": [{"layer": 0}]}, {"routing": [{"experts": [[0, 1], [2]]}]},
                      {"tokens_per_expert": [["a", "b"]]}, {"tokens_per_expert": [None]}):
        (tmp_path / "malformed.json").write_text(json.dumps(malformed))
        with pytest.raises(moecc.MoeccError, match="not a list of integers"):
            moecc.compile(model, target="asic", routing=str(tmp_path / "malformed.json"))


def test_routing_option_on_the_command_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from moecc.cli import main

    model, _ = _models("dense-moe")
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    assert main(["compile", str(path), "--target", "asic", "--routing", "zipf:1.2", "-o", str(tmp_path / "m.moe")]) == 0
    assert main(["compile", str(path), "--target", "asic", "--routing", "zipf:", "-o", str(tmp_path / "n.moe")]) == 2
    assert "zipf exponent" in capsys.readouterr().err


# -- capacity factor ------------------------------------------------------------------------------

def _moe_with_capacity(graph, data: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:
    """numpy: the graph's one moe op (gated SiLU, normalised top-k, no expert biases) where each expert
    takes its first ``capacity`` (token, choice) pairs in token order; and the pairs dropped."""
    from moecc.ir.ops.composite import moe_operand_layout

    op = next(o for o in graph.ops if o.kind == "moe")
    consts = {o.result.name: np.asarray(o.attrs["value"], dtype=np.float64) for o in graph.const_ops()}
    w = {name: consts[v.name] for name, v in zip(moe_operand_layout(op.attrs), op.operands) if name != "x"}
    x = data.astype(np.float64)
    logits = x @ w["router_w"] + w.get("router_b", 0.0)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    k = op.attrs["top_k"]
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    weights = np.take_along_axis(probs, top, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    out = np.zeros_like(x)
    taken = np.zeros(w["router_w"].shape[1], dtype=int)
    dropped = 0
    for t in range(x.shape[0]):
        for j in range(k):
            e = top[t, j]
            if taken[e] >= capacity:
                dropped += 1
                continue
            taken[e] += 1
            gate, up = x[t] @ w["w_gate"][e], x[t] @ w["w_up"][e]
            out[t] += weights[t, j] * ((gate / (1 + np.exp(-gate)) * up) @ w["w_down"][e])
    return out, dropped


@pytest.mark.parametrize("target", ["asic", "cpu", "tiled"])
def test_capacity_factor_drops_the_tokens_past_each_experts_capacity(target: str) -> None:
    from moecc.passes.tiled_lowering.moe_dispatch import expert_capacity

    spec = dict(CASES["many-tokens"], skew=0.8)  # 200 tokens, top-3 of 8 experts, expert 0 popular
    graph, data = moe_graph(**spec)
    factor = 1.0
    capacity = expert_capacity(factor, spec["tokens"], spec["top_k"], spec["experts"])
    want, dropped = _moe_with_capacity(graph, data, capacity)
    assert dropped > 0
    compiled = moecc.compile_graph(graph, target=target, capacity_factor=factor)
    got = compiled.run({"x": data})["y"]
    np.testing.assert_allclose(got, want, **F32_TOL)
    if target != "tiled":
        (row,) = compiled.report()["moe"]
        assert (row["dropped_tokens"], row["capacity"]) == (dropped, capacity)
        assert sum(min(c, capacity) for c in row["tokens_per_expert"]) == spec["tokens"] * spec["top_k"] - dropped
        assert f"{dropped} dropped (capacity {capacity})" in compiled.backend.summary(compiled.report())


def test_capacity_factor_is_checked() -> None:
    model, _ = _models("dense-moe")
    with pytest.raises(moecc.MoeccError, match="capacity_factor must be a number >= 0"):
        moecc.compile(model, target="cpu", capacity_factor=-1)
    with pytest.raises(moecc.MoeccError, match="moe='dense' dispatches none"):
        moecc.compile(model, target="asic", capacity_factor=1.25, moe="dense")
    with pytest.raises(moecc.MoeccError, match="'capacity_factor' is an option of target"):
        moecc.compile(model, target="ref", capacity_factor=1.25)


def test_report_says_which_kernels_the_cycles_go_to(tmp_path) -> None:
    model, feeds = _models("mixtral-block")
    compiled = moecc.compile(model, target="asic", moe="sparse")
    compiled.run(feeds)
    report = compiled.report()
    rows = report["kernels"]["by_kernel"]
    assert {row["kernel"] for row in rows} == {k.name for k in compiled.executable.module.kernels}
    total = sum(row["cycles"] for row in rows)
    assert 0.95 * report["cycles"] <= total <= report["cycles"]
    assert all(row["onnx_nodes"] for row in rows)
    experts = [row for row in rows if row["kernel"].endswith("_experts")]
    assert experts and experts[0]["cycles"] > 0
    assert "where the cycles go" in compiled.backend.summary(report)
    # Each kernel's work and what bounds it: the rows' FLOPs and bytes add up to the run's.
    assert sum(row["flops"] for row in rows) == report["mxu_flops"]
    assert sum(row["hbm_bytes"] for row in rows) == report["hbm_bytes"]["read"] + report["hbm_bytes"]["written"]
    for row in rows:
        assert set(row["busy_cycles"]) <= {"ctrl", "ld", "st", "mxu", "vpu"}
        assert row["bound"] in ("compute", "bandwidth", "stalls") or row["bound"].endswith(" busy")
        assert 0 <= row["stall_cycles"] <= row["cycles"] and row["roofline_cycles"] >= 0
    assert experts[0]["flops"] > 0 and experts[0]["busy_cycles"]["mxu"] > 0
    path = tmp_path / "m.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    loaded.run(feeds)
    assert [r["cycles"] for r in loaded.report()["kernels"]["by_kernel"]] == [r["cycles"] for r in rows]


def test_trace_labels_each_experts_work_with_its_layer_and_expert() -> None:
    model, feeds = _models("mixtral-block")
    compiled = moecc.compile(model, target="asic", trace=True, moe="sparse")
    compiled.run(feeds)
    events = [e for e in compiled.trace()["traceEvents"] if e.get("ph") == "X"]
    assert all("kernel" in e["args"] and "statement" in e["args"] for e in events)
    (row,) = compiled.report()["moe"]
    labelled = [e for e in events if "expert" in e["args"]]
    assert {e["args"]["moe_layer"] for e in labelled} == {row["layer"]}
    # Every expert that received tokens has work on the units, named after it.
    busy = {e["args"]["expert"] for e in labelled if e["args"]["kernel"].endswith("_experts")
            and not e["name"].endswith((": li", ": barrier", ": blt", ": lds"))}
    assert busy >= {i for i, n in enumerate(row["tokens_per_expert"]) if n}
    assert all(e["name"].startswith(f"{row['layer']} expert {e['args']['expert']}: ") for e in labelled)


@pytest.mark.parametrize("asic_target,precision,want", [
    ("moe-asic-v1", "f32", "sparse"),   # ~32 rows per expert stream 128 cycles per fold: 3x fewer than dense
    ("moe-asic-v1", "bf16", "dense"),   # one pass: every fold costs its 128-cycle weight load anyway
    ("moe-asic-edge", "f32", "sparse"),
    ("moe-asic-edge", "bf16", "sparse"),  # a 32-row array: 32 rows per expert fill a fold
])
def test_auto_picks_the_dispatch_the_part_favours(asic_target: str, precision: str, want: str) -> None:
    graph, data = moe_graph(tokens=128, hidden=32, ffn=48, experts=8, top_k=2)
    compiled = moecc.compile_graph(graph, target="asic", asic_target=asic_target, precision=precision)
    compiled.run({"x": data})
    (row,) = compiled.report()["moe"]
    assert (row["dispatch"], row["chosen_by"]) == (want, "auto")
    assert f"({want}, chosen by auto)" in compiled.backend.summary(compiled.report())
    # A capacity factor or a routing what-if needs the dispatch.
    capped = moecc.compile_graph(graph, target="asic", asic_target=asic_target, precision=precision,
                                 capacity_factor=2.0)
    capped.run({"x": data})
    assert capped.report()["moe"][0]["dispatch"] == "sparse"


@pytest.mark.parametrize("case", ["many-tokens", "one-hot-expert"])
def test_no_two_conflicting_instructions_overlap_in_the_simulated_run(case: str) -> None:
    """The expert loops' iterations overlap (double-buffered tiles, unit marks at the guards and
    loop ends instead of barriers): in the simulated timeline no instruction may start before an earlier one
    on another unit that touches the same bytes (one writing) has finished. Iterations past an
    expert's count are skipped here (every token on one expert in ``one-hot-expert``)."""
    import moecc.backend.asic.codegen as codegen
    from moecc.backend.asic.isel import is_label

    streams = []
    schedule = codegen.schedule

    def capture(stream, *args, **kwargs):
        result = schedule(stream, *args, **kwargs)
        streams.append(result[0])
        return result

    graph, data = moe_graph(**CASES[case])
    codegen.schedule = capture
    try:
        compiled = moecc.compile_graph(graph, target="asic", moe="sparse", trace=True)
    finally:
        codegen.schedule = schedule
    compiled.run({"x": data})
    times = {e["args"]["pc"]: (e["args"]["begin_cycle"], e["args"]["end_cycle"])
             for e in compiled.trace()["traceEvents"] if "pc" in e.get("args", {})}
    program = [item.inst for item in streams[0] if not is_label(item.inst)]
    queued = ("ld", "st", "mxu", "vpu")

    def real(inst) -> bool:  # unit marks touch no memory: their ranges only stand for others'
        return inst.unit in queued and not inst.mnemonic.endswith(".mark")

    for j, b in enumerate(program):
        if not real(b) or j not in times:
            continue
        for i in range(max(0, j - 600), j):
            a = program[i]
            if not real(a) or a.unit == b.unit or i not in times:
                continue
            conflict = any(w.overlaps(r) for w in a.writes for r in b.reads) or \
                any(w.overlaps(o) for w in b.writes for o in a.reads + a.writes)
            assert not (conflict and times[j][0] < times[i][1]), (i, a.mnemonic, a.comment, j, b.mnemonic, b.comment)


def test_a_big_expert_shrinks_its_token_tile_to_fit_the_part() -> None:
    """On the 2 MiB edge part an expert of 3 x 256 x 512 f32 weights (1.5 MiB, resident while
    its tiles run) leaves no room for 32-row tiles: the tile shrinks and the kernel fits."""
    from moecc.examples import build_example, realistic_sizes
    from moecc.passes.tiled_lowering.moe_dispatch import MIN_FITTED_TILE, fitting_token_tile

    assert fitting_token_tile(32, 256, 512, True, 1 << 20) == MIN_FITTED_TILE
    assert fitting_token_tile(128, 256, 256, True, 12 << 20) == 128  # moe-asic-v1: room to spare
    assert fitting_token_tile(32, 256, 512, True, 0) == 32  # no budget: no limit
    model = build_example("dense-moe-einsum", **{**realistic_sizes("dense-moe-einsum"), "batch": 1})
    compiled = moecc.compile(model, target="asic", asic_target="moe-asic-edge", moe="sparse")
    assert compiled.partition["moe_layers"][0]["token_tile"] == MIN_FITTED_TILE
