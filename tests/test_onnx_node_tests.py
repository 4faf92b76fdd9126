"""ONNX node tests (``onnx.backend.test.case.node``) for every op moecc claims, on ``ref``.

A case passes when every data set matches the expected outputs; a case moecc refuses with a
:class:`moecc.MoeccError` (an exotic dtype, a run-time-dependent shape) is skipped with the
refusal as its reason. Any wrong answer or other exception fails.
"""

from __future__ import annotations

import pytest

import moecc
from tests.onnx_node_cases import claimed_cases, run_case

CASES = claimed_cases("ref")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case_on_ref(case) -> None:
    try:
        run_case(case, "ref")
    except moecc.MoeccError as err:
        pytest.skip(f"refused: {err}")
