"""Textual IR tests: each case in ``tests/ir_tests/*.mir`` is input IR, a pipeline and the
exact IR expected after it (what ``moecc opt file.mir -p PIPELINE`` prints).

A ``.mir`` file holds cases separated by ``// -----`` lines (MLIR's split-input-file marker).
Everything the runner reads besides the input graph is a comment, so each case is itself
valid input for ``moecc opt``::

    // PIPELINE: canonicalize,dce
    // Free comment lines say what the case is about.
    graph @main(%x: tensor<2x3xf32>) { ... }
    // EXPECT: graph @main(%x: tensor<2x3xf32>) {
    // EXPECT:   %y = exp(%x) : tensor<2x3xf32>
    // EXPECT:   return %y
    // EXPECT: }

``// EXPECT: `` lines (one space after the colon, then the line) form the whole expected
output, compared exactly. A pipeline that must fail has one ``// EXPECT-ERROR: <text>``
line instead, naming text the one-line message contains. Each case runs twice: through
the pass manager directly and through ``moecc opt`` (in-process; same output, or exit code 2
and the message on stderr). Besides the exact comparison, every case checks that the
expected text is what the printer prints for it (parse → print gives it back) and, when
the input's constants are all present, that the reference
interpreter gives the same outputs before and after the pipeline on random inputs (floats
to within FLOAT_RTOL).

Expected lines are refreshed only on request: ``MOECC_UPDATE_IR_TESTS=1 pytest
tests/test_ir_filecheck.py`` rewrites them from the current output (review the diff).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from moecc.errors import MoeccError
from moecc.ir import ElidedTensor, Graph, run_graph
from moecc.passes import PassManager
from tests.ir_test_helpers import assert_same_numbers

printer = pytest.importorskip("moecc.ir.printer")
parser = pytest.importorskip("moecc.ir.parser")



CASES_DIR = Path(__file__).parent / "ir_tests"
UPDATE_SWITCH = "MOECC_UPDATE_IR_TESTS"

_SEPARATOR = re.compile(r"^//\s*-----\s*$")
_PIPELINE = re.compile(r"^//\s*PIPELINE:(.*)$")
_EXPECT_LINE = re.compile(r"^//\s*EXPECT:(?: (.*))?$")
_EXPECT_ERROR = re.compile(r"^//\s*EXPECT-ERROR:(.*)$")


@dataclass(frozen=True, slots=True)
class IRCase:
    """One case of a ``.mir`` file; ``line`` is 1-based, ``expected_span`` the half-open
    range of 0-based file lines holding the ``// EXPECT:`` lines."""

    path: Path
    line: int
    pipeline: str
    input_text: str
    expected_text: str | None
    expected_error: str | None
    expected_span: tuple[int, int] | None
    ordinal: int = 0
    raw_text: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def read_cases(path: Path) -> list[IRCase]:
    lines = path.read_text().splitlines()
    cases: list[IRCase] = []
    start = 0
    for index in range(len(lines) + 1):
        if index == len(lines) or _SEPARATOR.match(lines[index]):
            if any(line.strip() for line in lines[start:index]):
                case = _read_case(path, lines, start, index)
                cases.append(dataclasses.replace(case, ordinal=len(cases)))
            start = index + 1
    return cases


def _read_case(path: Path, lines: list[str], start: int, stop: int) -> IRCase:
    pipeline: str | None = None
    expected_error: str | None = None
    expect_lines: list[int] = []
    for index in range(start, stop):
        if m := _PIPELINE.match(lines[index]):
            pipeline = m.group(1).strip()
        elif m := _EXPECT_ERROR.match(lines[index]):
            expected_error = m.group(1).strip()
        elif _EXPECT_LINE.match(lines[index]):
            expect_lines.append(index)
    where = f"{path.name}:{start + 1}"
    if pipeline is None:
        raise ValueError(f"{where}: case has no '// PIPELINE:' line")
    if bool(expect_lines) == (expected_error is not None):
        raise ValueError(f"{where}: case needs either '// EXPECT:' lines or one '// EXPECT-ERROR:' line")
    if expect_lines and expect_lines != list(range(expect_lines[0], expect_lines[-1] + 1)):
        raise ValueError(f"{where}: the '// EXPECT:' lines must be one contiguous block")
    input_text = "\n".join(line for line in lines[start:stop] if not line.lstrip().startswith("//"))
    expected_text = None
    span = None
    if expect_lines:
        body = [_EXPECT_LINE.match(lines[i]).group(1) or "" for i in expect_lines]  # type: ignore[union-attr]
        expected_text = "\n".join(body).strip()
        span = (expect_lines[0], expect_lines[-1] + 1)
    raw_text = "\n".join(lines[start:stop])
    return IRCase(path, start + 1, pipeline, input_text.strip(), expected_text, expected_error, span, raw_text=raw_text)


def all_cases() -> list[IRCase]:
    return [case for path in sorted(CASES_DIR.glob("*.mir")) for case in read_cases(path)]


def run_opt(text: str, pipeline: str) -> str:
    """What ``moecc opt`` does: parse, run the pipeline (verifying after each pass), print."""
    graph = parser.parse_graph(text)
    PassManager(pipeline).run(graph)
    return printer.print_graph(graph, elide_constants=False).strip()


def _has_all_constant_data(graph: Graph) -> bool:
    return not any(isinstance(op.attrs["value"], ElidedTensor) for op in graph.const_ops())


def _random_inputs(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for v in graph.inputs:
        dtype = v.type.dtype
        if dtype.is_float:
            inputs[v.name] = rng.standard_normal(v.type.shape).astype(dtype.numpy)
        elif dtype.is_int:
            inputs[v.name] = rng.integers(0, 3, v.type.shape).astype(dtype.numpy)
        else:
            inputs[v.name] = rng.random(v.type.shape) < 0.5
    return inputs


CASES = all_cases()


def test_case_files_exist() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ir_case(case: IRCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The case as written, comments and all, is what `moecc opt` reads.
    assert parser.parse_graph(case.raw_text).structurally_equal(parser.parse_graph(case.input_text))
    if case.expected_error is not None:
        with pytest.raises(MoeccError) as info:
            run_opt(case.input_text, case.pipeline)
        assert case.expected_error in str(info.value)
        code, _, err = _run_cli_opt(case, tmp_path, capsys)
        assert code == 2 and case.expected_error in err
        return
    actual = run_opt(case.input_text, case.pipeline)
    if os.environ.get(UPDATE_SWITCH) == "1":
        _update_expected(case, actual)
        return
    assert actual == case.expected_text, f"{case.id}: output differs:\n{actual}"
    assert printer.print_graph(parser.parse_graph(actual), elide_constants=False).strip() == actual, (
        "expected IR is not canonical printer text"
    )
    code, out, err = _run_cli_opt(case, tmp_path, capsys)
    assert code == 0, err
    assert out.strip() == case.expected_text, "`moecc opt` prints something else than the pass manager run"

    before = parser.parse_graph(case.input_text)
    after = parser.parse_graph(actual)
    if _has_all_constant_data(before) and _has_all_constant_data(after):
        for seed in (0, 1):
            inputs = _random_inputs(before, seed)
            expected = run_graph(before, inputs)
            got = run_graph(after, inputs)
            assert expected.keys() == got.keys()
            for name in expected:
                assert_same_numbers(got[name], expected[name], err_msg=f"{case.id}: output {name}")


def _run_cli_opt(case: IRCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``moecc opt <case file> -p <pipeline>`` in-process: (exit code, stdout, stderr)."""
    from moecc.cli import main

    source = tmp_path / "case.mir"
    source.write_text(case.raw_text + "\n")
    capsys.readouterr()
    code = main(["opt", str(source), "-p", case.pipeline])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _update_expected(case: IRCase, actual: str) -> None:
    # Earlier updates may have moved lines: find the case again in the current file.
    current = read_cases(case.path)[case.ordinal]
    assert current.expected_span is not None
    lines = case.path.read_text().splitlines()
    begin, end = current.expected_span
    lines[begin:end] = [f"// EXPECT: {line}".rstrip() for line in actual.splitlines()]
    case.path.write_text("\n".join(lines) + "\n")


def test_reader_rejects_malformed_cases(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mir"
    bad.write_text("graph @main() {\n  return\n}\n// EXPECT: graph @main() {\n// EXPECT: }\n")
    with pytest.raises(ValueError, match="no '// PIPELINE:' line"):
        read_cases(bad)
    bad.write_text("// PIPELINE: dce\ngraph @main() {\n  return\n}\n")
    with pytest.raises(ValueError, match="either '// EXPECT:' lines"):
        read_cases(bad)
    bad.write_text("// PIPELINE: dce\n// EXPECT: a\ngraph @main() {\n  return\n}\n// EXPECT: b\n")
    with pytest.raises(ValueError, match="contiguous"):
        read_cases(bad)


def test_reader_splits_cases_and_strips_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "two.mir"
    path.write_text(
        "// PIPELINE: dce\n// about\ngraph @main() {\n  return\n}\n// EXPECT: graph @main() {\n// EXPECT:   return\n"
        "// EXPECT: }\n\n// -----\n// PIPELINE: cse\ngraph @main() {\n  return\n}\n// EXPECT-ERROR: boom\n"
    )
    first, second = read_cases(path)
    assert first.pipeline == "dce" and first.input_text == "graph @main() {\n  return\n}"
    assert first.expected_text == "graph @main() {\n  return\n}" and first.expected_span == (5, 8)
    assert second.line == 11 and second.expected_error == "boom" and second.expected_text is None
