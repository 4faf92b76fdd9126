"""ONNX node tests (``onnx.backend.test.case.node``) for every op moecc claims, on every target.

A case passes when every data set matches the expected outputs; a case moecc refuses with a
:class:`moecc.MoeccError` (an exotic dtype, a run-time-dependent shape) is skipped with the
refusal as its reason. Any wrong answer or other exception fails.
"""

from __future__ import annotations

import pytest

import moecc
from tests.onnx_node_cases import claimed_cases, run_case

PARAMS = [(target, case) for target in sorted(moecc.TARGETS) for case in claimed_cases(target)]


@pytest.mark.parametrize("target, case", PARAMS, ids=[f"{t}-{c.name}" for t, c in PARAMS])
def test_node_case(target: str, case) -> None:  # type: ignore[no-untyped-def]
    try:
        run_case(case, target)
    except moecc.MoeccError as err:
        pytest.skip(f"refused: {err}")
