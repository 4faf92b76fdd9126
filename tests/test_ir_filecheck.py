"""Textual IR tests: each case in ``tests/ir_tests/*.mir`` is input IR, a pipeline and the
exact IR expected after it (what ``moecc opt file.mir -p PIPELINE`` prints).

A ``.mir`` file holds cases separated by ``// -----`` lines. A case is::

    // PIPELINE: canonicalize,dce
    // Free comment lines say what the case is about.
    graph @main(%x: tensor<2x3xf32>) { ... }
    // EXPECT:
    graph @main(%x: tensor<2x3xf32>) { ... }

or, for a pipeline that must fail, ``// EXPECT-ERROR: <text the one-line message contains>``
instead of the ``EXPECT`` block. Besides the exact comparison, every case checks that the
expected text is what the printer prints for it (parse → print gives it back) and, when the
input's constants are all present, that the reference interpreter gives the same outputs
before and after the pipeline on random inputs (floats to within FLOAT_RTOL).

Expected blocks are refreshed only on request: ``MOECC_UPDATE_IR_TESTS=1 pytest
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

printer = pytest.importorskip("moecc.ir.printer")
parser = pytest.importorskip("moecc.ir.parser")

#: Rewrites that move data are exact, but BLAS picks a different kernel (FMA or not, other
#: summation order) for a transposed view than for a contiguous copy, so a gemm with
#: ``trans_b`` and the matmul it becomes can differ in the last bit. Far below any real bug.
FLOAT_RTOL = 1e-6
FLOAT_ATOL = 1e-6


def assert_same_numbers(actual: np.ndarray, expected: np.ndarray, err_msg: str = "") -> None:
    """Bit-identical for integers and bools; within last-bit tolerances for floats."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, err_msg
    if actual.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        np.testing.assert_allclose(
            actual.astype(np.float64), expected.astype(np.float64), rtol=FLOAT_RTOL, atol=FLOAT_ATOL, equal_nan=True, err_msg=err_msg
        )


CASES_DIR = Path(__file__).parent / "ir_tests"
UPDATE_SWITCH = "MOECC_UPDATE_IR_TESTS"

_SEPARATOR = re.compile(r"^//\s*-----\s*$")
_PIPELINE = re.compile(r"^//\s*PIPELINE:(.*)$")
_EXPECT = re.compile(r"^//\s*EXPECT:\s*$")
_EXPECT_ERROR = re.compile(r"^//\s*EXPECT-ERROR:(.*)$")


@dataclass(frozen=True, slots=True)
class IRCase:
    """One case of a ``.mir`` file; line numbers are 1-based, ``expected_span`` is the
    half-open range of file lines (0-based) holding the expected IR."""

    path: Path
    line: int
    pipeline: str
    input_text: str
    expected_text: str | None
    expected_error: str | None
    expected_span: tuple[int, int] | None
    ordinal: int = 0

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
    expect_at: int | None = None
    for index in range(start, stop):
        if m := _PIPELINE.match(lines[index]):
            pipeline = m.group(1).strip()
        elif m := _EXPECT_ERROR.match(lines[index]):
            expected_error = m.group(1).strip()
        elif _EXPECT.match(lines[index]):
            expect_at = index
    where = f"{path.name}:{start + 1}"
    if pipeline is None:
        raise ValueError(f"{where}: case has no '// PIPELINE:' line")
    if (expect_at is None) == (expected_error is None):
        raise ValueError(f"{where}: case needs exactly one of '// EXPECT:' and '// EXPECT-ERROR:'")
    input_stop = expect_at if expect_at is not None else stop
    input_text = "\n".join(line for line in lines[start:input_stop] if not line.lstrip().startswith("//"))
    expected_text = None
    span = None
    if expect_at is not None:
        body = [line for line in lines[expect_at + 1 : stop] if not line.lstrip().startswith("//")]
        expected_text = "\n".join(body).strip()
        span = (expect_at + 1, stop)
    return IRCase(path, start + 1, pipeline, input_text.strip(), expected_text, expected_error, span)


def all_cases() -> list[IRCase]:
    return [case for path in sorted(CASES_DIR.glob("*.mir")) for case in read_cases(path)]


def run_opt(text: str, pipeline: str) -> str:
    """What ``moecc opt`` does: parse, run the pipeline (verifying after each pass), print."""
    graph = parser.parse_graph(text)
    PassManager(pipeline).run(graph)
    return printer.print_graph(graph).strip()


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
def test_ir_case(case: IRCase) -> None:
    if case.expected_error is not None:
        with pytest.raises(MoeccError) as info:
            run_opt(case.input_text, case.pipeline)
        assert case.expected_error in str(info.value)
        return
    actual = run_opt(case.input_text, case.pipeline)
    if os.environ.get(UPDATE_SWITCH) == "1":
        _update_expected(case, actual)
        return
    assert actual == case.expected_text, f"{case.id}: output differs:\n{actual}"
    assert printer.print_graph(parser.parse_graph(actual)).strip() == actual, "expected IR is not canonical printer text"

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


def _update_expected(case: IRCase, actual: str) -> None:
    # Earlier updates may have moved lines: find the case again in the current file.
    current = read_cases(case.path)[case.ordinal]
    assert current.expected_span is not None
    lines = case.path.read_text().splitlines()
    begin, end = current.expected_span
    # Keep the blank line(s) that separate this case from the next one.
    trailing = 0
    while end - trailing - 1 >= begin and not lines[end - trailing - 1].strip():
        trailing += 1
    lines[begin : end - trailing] = actual.splitlines()
    case.path.write_text("\n".join(lines) + "\n")


def test_reader_rejects_malformed_cases(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mir"
    bad.write_text("graph @main() {\n  return\n}\n// EXPECT:\ngraph @main() {\n  return\n}\n")
    with pytest.raises(ValueError, match="no '// PIPELINE:' line"):
        read_cases(bad)
    bad.write_text("// PIPELINE: dce\ngraph @main() {\n  return\n}\n")
    with pytest.raises(ValueError, match="exactly one of"):
        read_cases(bad)
