"""Model CLI commands: version, ops, example, compile flags (emit, pipelines, IR printing, timing)."""

from __future__ import annotations

from pathlib import Path

import pytest

import moecc
from moecc.cli import main


@pytest.fixture(scope="module")
def llama_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "llama.onnx"
    assert main(["example", "llama-block", "-o", str(path)]) == 0
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert moecc.__version__ in capsys.readouterr().out


def test_ops_lists_claimed_ops_with_opset_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "MatMul" in out and "RotaryEmbedding" in out and "23-" in out
    assert main(["ops", "--target", "nope"]) == 2


def test_example_list_and_unknown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["example", "--list"]) == 0
    assert "moe-transformer" in capsys.readouterr().out
    assert main(["example", "no-such-model", "-o", str(tmp_path / "x.onnx")]) == 2
    assert not (tmp_path / "x.onnx").exists()


def test_emit_graph_and_full_constants(llama_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(llama_onnx), "--emit", "graph"]) == 0
    elided = capsys.readouterr().out
    assert "elided" in elided and "rms" not in elided.split("{")[0]
    assert main(["compile", str(llama_onnx), "--emit", "graph", "--elide-constants", "no"]) == 0
    assert "elided" not in capsys.readouterr().out


def test_print_ir_after_and_time_passes(llama_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(llama_onnx), "--emit", "graph", "-p", "canonicalize,dce", "--print-ir-after", "dce", "--time-passes"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After dce" in err and "IR Dump After canonicalize" not in err
    assert "import-onnx" in err and "total" in err
    assert main(["compile", str(llama_onnx), "--emit", "graph", "-p", "canonicalize,dce", "--print-ir-after-all"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After canonicalize" in err and "IR Dump After dce" in err


def test_bad_pipeline_is_exit_2(llama_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(llama_onnx), "--emit", "graph", "-p", "no-such-pass"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-pass" in err[0]


def test_disable_pass_drops_a_graph_pass(llama_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--disable-pass drops graph passes (the printed pipeline and the run show it); a stage or
    an unknown name is exit 2 naming what can be disabled."""
    assert main(["compile", str(llama_onnx), "--target", "asic", "--print-pipeline", "--disable-pass", "cse",
                 "--disable-pass", "raise-moe"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("decompose-einsum,canonicalize,fold-constants,raise-composites,dce,lower-to-tiled")
    assert main(["compile", str(llama_onnx), "--emit", "graph", "--disable-pass", "fold-constants",
                 "--print-ir-after-all"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After canonicalize" in err and "IR Dump After fold-constants" not in err
    for name, words in (("plan-memory", "cannot be disabled"), ("no-such-pass", "no pass 'no-such-pass'")):
        assert main(["compile", str(llama_onnx), "--target", "asic", "--disable-pass", name]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "canonicalize" in lines[0]


def test_disable_passes_in_the_api_reach_nested_groups() -> None:
    import moecc
    from moecc.errors import PassError
    from moecc.examples import build_example
    from moecc.passes.manager import parse_pipeline, pipeline_text, without_passes

    passes = without_passes(parse_pipeline("fixed-point{max_iterations=3}(cse,dce),canonicalize"), ["cse"])
    assert pipeline_text(passes) == "fixed-point{max_iterations=3}(dce),canonicalize"
    assert pipeline_text(without_passes(parse_pipeline("fixed-point(cse),dce"), ["cse"])) == "dce"
    compiled = moecc.compile(build_example("mixtral-block"), target="ref", disable_passes=["raise-moe"])
    assert compiled.options["pipeline"] == "decompose-einsum,canonicalize,fold-constants,cse,raise-composites,dce"
    assert pipeline_text(without_passes(parse_pipeline("cse,dce,canonicalize"), "cse, dce")) == "canonicalize"
    assert not any(op.kind == "moe" for op in compiled.graph.ops)
    with pytest.raises(PassError):
        moecc.compile(build_example("mixtral-block"), target="ref", disable_passes=["lower-to-tiled"])


def test_profile_prints_every_kernel_most_cycles_first(llama_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", str(llama_onnx), "--precision", "bf16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "moe-asic-v1 (bf16 MXU), seeded inputs (seed 0)" in lines[0] and "roofline" in lines[0]
    assert "mxu busy" in lines[1] and "bound" in lines[1]
    cycles = [int(line.split()[0].replace(",", "")) for line in lines[2:]]
    assert cycles == sorted(cycles, reverse=True) and len(cycles) > 5
    assert main(["profile", str(llama_onnx), "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 3 and "the 3 with the most cycles" in out[0]
    assert main(["profile", str(llama_onnx), "--top", "-1"]) == 2


def test_opt_round_trips_compiled_ir(llama_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(llama_onnx), "--emit", "graph", "--elide-constants", "no"]) == 0
    text = capsys.readouterr().out
    mir = tmp_path / "llama.mir"
    mir.write_text(text)
    assert main(["opt", str(mir)]) == 0
    assert capsys.readouterr().out == text
    assert main(["opt", str(tmp_path / "missing.mir")]) == 2


def test_dump_dir_writes_numbered_stage_files(llama_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dumps"
    assert main(["compile", str(llama_onnx), "--target", "asic", "--emit", "graph", "--dump-dir", str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE

    first = DEFAULT_GRAPH_PIPELINE.split(",")[0]
    assert names[0] == f"00-after-{first}.mir" and names[-1].endswith("-after-compile-host-steps.s")
    assert any(n.endswith("-after-lower-to-tiled.tir") for n in names)
    assert any(n.endswith("-after-stage-for-asic.kir") for n in names)
    assert any(n.endswith("-after-plan-memory.kir") for n in names)
    assert "IR Dump" not in capsys.readouterr().err  # dumps go to files unless --print-ir-after-all
