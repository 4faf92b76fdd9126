"""Every stage after import is a pass: the pipeline a target runs, IR after each stage, stopping early.

For each target: ``--print-pipeline`` lists the graph passes then the target's stages; the IR
printed after every pass and stage parses back with that level's parser (graph, kernel IR, asm,
LLVM); ``compile_to`` / ``--compile-to`` stop after any of them. Misplaced passes, options of
another target and stages of another target are clear errors.
"""

from __future__ import annotations

import re
from pathlib import Path

import llvmlite.binding as llvm
import pytest

import moecc
from moecc.cli import main
from moecc.driver import target_pipeline
from moecc.errors import MoeccError, PassError, UnsupportedError
from moecc.examples import build_example
from moecc.passes.compilation import Compilation
from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE, PassManager, parse_pipeline, pipeline_text
from moecc.targets import get_target

STAGES = {
    "ref": [],
    "asic": ["lower-to-tiled", "stage-for-asic", "plan-memory", "select-instructions", "compile-host-steps"],
    "cpu": ["lower-to-tiled", "emit-llvm-tiled"],
    "tiled": ["lower-to-tiled"],
}
#: Case -> (target, options, CLI flags).
CASES = {case: (case, {}, []) for case in STAGES}


def _without_options(pipeline: str) -> str:
    """``pipeline`` with each pass's ``{options}`` removed (tile sizes depend on the host)."""
    return re.sub(r"\{[^}]*\}", "", pipeline)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stages") / "llama.onnx"
    path.write_bytes(build_example("llama-block").SerializeToString())
    return path


def parse_back(level: str, text: str) -> None:
    """Parse ``text`` with the parser of IR level ``level`` (raises if it does not parse)."""
    if level == "graph":
        from moecc.ir.parser import parse_graph

        parse_graph(text)
    elif level == "kernel":
        from moecc.ir.kernel_parser import parse_kernel_module

        parse_kernel_module(text)
    elif level == "asm":
        from moecc.backend.asic.stages import asm_segments
        from moecc.isa_spec.assembler import assemble

        segments = asm_segments(text)
        assert segments
        for listing in segments:
            assemble(listing)
    elif level == "llvm":
        llvm.parse_assembly(text).verify()
    elif level == "tiled":
        from moecc.ir.tiled import parse_tiled_module

        parse_tiled_module(text)
    else:
        raise AssertionError(f"no parser for level {level}")


@pytest.mark.parametrize("case", sorted(STAGES))
def test_print_pipeline_lists_graph_passes_then_stages(case: str, model_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from moecc.targets import target_options

    target, options, flags = CASES[case]
    assert main(["compile", str(model_path), "--target", target, *flags, "--print-pipeline"]) == 0
    printed = capsys.readouterr().out.strip()
    assert _without_options(printed) == ",".join([DEFAULT_GRAPH_PIPELINE, *STAGES[case]])
    assert pipeline_text(target_pipeline(target, None, target_options(target, options))) == printed
    assert main(["compile", str(model_path), "--target", target, *flags, "-p", "dce", "--print-pipeline"]) == 0
    assert _without_options(capsys.readouterr().out.strip()) == ",".join(["dce", *STAGES[case]])


@pytest.mark.parametrize("case", ["asic", "cpu", "tiled"])
def test_ir_after_every_stage_parses_back(case: str, model_path: Path) -> None:
    dumps: list[tuple[str, str, str]] = []

    def sink(name: str, ir: object, text: str) -> None:
        dumps.append((name, getattr(ir, "level", "graph"), text))

    target, options, _ = CASES[case]
    compiled = moecc.compile(model_path, target=target, print_ir_after_all=True, dump_sink=sink,
                             ir_stream=_Discard(), **options)
    names = [name for name, _, _ in dumps]
    assert names == DEFAULT_GRAPH_PIPELINE.split(",") + STAGES[case]
    levels = {name: level for name, level, _ in dumps}
    assert levels[STAGES[case][-1]] == {"asic": "asm", "cpu": "llvm", "tiled": "tiled"}[case]
    if case == "tiled":
        return
    if case == "asic":
        assert (levels["lower-to-tiled"], levels["stage-for-asic"]) == ("tiled", "kernel")
    for name, level, text in dumps:
        try:
            parse_back(level, text)
        except MoeccError as err:
            raise AssertionError(f"IR after {name} ({level}) does not parse back: {err}") from None
    # The whole compile still runs.
    assert compiled.stopped_after is None and compiled.executable is not None


@pytest.mark.parametrize("stage", ["lower-to-tiled", "stage-for-asic", "plan-memory", "select-instructions"])
def test_compile_to_stops_after_a_stage(stage: str, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compiled = moecc.compile(model_path, target="asic", compile_to=stage)
    assert compiled.stopped_after == stage and compiled.executable is None
    text = compiled.ir(stage)
    assert text
    with pytest.raises(UnsupportedError, match="compiled only up to stage"):
        compiled.run({})
    with pytest.raises(UnsupportedError, match="compiled only up to stage"):
        compiled.save("never-written.moe")
    assert main(["compile", str(model_path), "--target", "asic", "--compile-to", stage]) == 0
    assert capsys.readouterr().out == text
    assert not Path("never-written.moe").exists()


def test_compile_to_a_graph_pass_and_unknown_stage(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compiled = moecc.compile(model_path, target="cpu", compile_to="cse")
    assert compiled.ir("cse").startswith("graph @")
    with pytest.raises(PassError, match="no such pass"):
        moecc.compile(model_path, target="cpu", compile_to="emit-asm")
    assert main(["compile", str(model_path), "--target", "ref", "--compile-to", "emit-llvm"]) == 2
    assert "emit-llvm" in capsys.readouterr().err


def test_stage_passes_refuse_a_bare_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mir = tmp_path / "g.mir"
    mir.write_text("graph @main(%x: tensor<2x3xf32>) {\n  %y = exp(%x) : tensor<2x3xf32>\n  return %y\n}\n")
    assert main(["opt", str(mir), "-p", "lower-to-tiled"]) == 2
    err = capsys.readouterr().err
    assert "lower-to-tiled" in err and "compilation stage" in err


def test_graph_pass_after_lowering_is_refused() -> None:
    from moecc.frontend.onnx_importer import import_onnx

    options = {"asic_target": "moe-asic-v1", "precision": "f32"}
    unit = Compilation(import_onnx(build_example("llama-block")), options=options)
    asic = get_target("asic")
    asic.prepare(unit)
    lower, stage = asic.stages(options)[:2]
    assert (lower.name, stage.name) == ("lower-to-tiled", "stage-for-asic")
    with pytest.raises(PassError, match="graph pass, but the compilation is already at the 'kernel' level"):
        PassManager([lower, stage, *parse_pipeline("cse")]).run(unit)


def test_options_belong_to_their_target(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnsupportedError, match="'threads' is an option of target 'cpu', not of target 'asic'"):
        moecc.compile(model_path, target="asic", threads=2)
    with pytest.raises(UnsupportedError, match="'precision' is an option of target 'asic'"):
        moecc.compile(model_path, target="cpu", precision="bf16")
    with pytest.raises(UnsupportedError, match="threads must be a positive integer"):
        moecc.compile(model_path, target="cpu", threads=0)
    assert main(["compile", str(model_path), "--target", "asic", "--threads", "2"]) == 2
    assert main(["compile", str(model_path), "--target", "asic", "--emit", "llvm"]) == 2
    assert "--target asic emits: graph, kernel, asm" in capsys.readouterr().err
    assert main(["compile", str(model_path), "--target", "cpu", "--trace", "t.json"]) == 2
    assert not Path("t.json").exists()


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
