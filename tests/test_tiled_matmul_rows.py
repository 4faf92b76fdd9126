"""A tiled ``matmul`` with a run-time row count (``rows %buf[OFF]``): text form, verifier,
interpreter and machine code agree; only the first ``rows`` rows are computed."""

from __future__ import annotations

import numpy as np
import pytest

from moecc.backend.llvm.tiled.program import run_tiled_on_cpu
from moecc.errors import VerificationError
from moecc.ir.tiled import parse_tiled_module, print_tiled_module, run_tiled_module, verify_tiled_module

TEXT = """tiled_module(%a, %b, %n) {
  global %a : f32[6, 5] input
  global %b : f32[5, 7] input
  global %n : i32[3] input
  global %c : f32[3, 6, 7] output
  kernel @k {
    for %i = 0 to 3 {
      matmul %c[42*%i; 6x7; 7, 1] = %a[0; 6x5; 5, 1] @ %b[0; 5x7; 7, 1] : f32 rows %n[%i]
    }
  }
  return %c
}
"""


def test_rows_round_trip_and_compute_only_the_first_rows() -> None:
    module = parse_tiled_module(TEXT)
    verify_tiled_module(module)
    assert print_tiled_module(module) == TEXT
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((5, 7)).astype(np.float32)
    counts = np.array([0, 4, 9], dtype=np.int32)  # none, some, all (clamped to 6)
    inputs = {"a": a, "b": b, "n": counts}
    for run in (run_tiled_module, run_tiled_on_cpu):
        out = run(module, inputs)["c"]
        for i, n in enumerate(counts):
            rows = min(int(n), 6)
            np.testing.assert_allclose(out[i, :rows], (a @ b)[:rows], rtol=1e-5, atol=1e-5)
    out = run_tiled_module(module, inputs)["c"]
    assert not out[0].any() and not out[1, 4:].any()  # the interpreter leaves the other rows alone


@pytest.mark.parametrize("change, message", [
    ("%n : i32[3]", "outside buffer"),  # replaced below by a too-small buffer
    (": f32 rows", "must be a float contraction"),
    ("i32[3] input", "integer buffer"),
])
def test_rows_are_verified(change: str, message: str) -> None:
    if message == "outside buffer":
        text = TEXT.replace("global %n : i32[3] input", "global %n : i32[2] input")
    elif message == "integer buffer":
        text = TEXT.replace("global %n : i32[3] input", "global %n : f32[3] input")
    else:
        text = TEXT.replace("f32[6, 5]", "i32[6, 5]").replace("f32[5, 7]", "i32[5, 7]").replace(
            "f32[3, 6, 7]", "i32[3, 6, 7]").replace(": f32 rows", ": i32 rows")
    with pytest.raises(VerificationError, match=message):
        verify_tiled_module(parse_tiled_module(text))
