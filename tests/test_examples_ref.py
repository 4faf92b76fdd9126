"""Every bundled example compiles for ``ref`` and matches onnxruntime (the foundation's check)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import moecc
from moecc.examples import EXAMPLES, build_example, example_inputs

#: Example outputs vs onnxruntime on ``ref``: fp32, same math, different summation order.
EXAMPLE_RTOL = 1e-4
EXAMPLE_ATOL = 1e-5


def _ort_outputs(model, inputs):  # type: ignore[no-untyped-def]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_onnxruntime_on_ref(name: str) -> None:
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    compiled = moecc.compile(model, target="ref")
    got = compiled.run(inputs)
    want = _ort_outputs(model, inputs)
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype
        np.testing.assert_allclose(got[key], want[key], rtol=EXAMPLE_RTOL, atol=EXAMPLE_ATOL, err_msg=f"{name}:{key}")


@pytest.mark.parametrize("name", ["llama-block", "mixtral-block", "bert-layer"])
def test_dynamic_example_needs_and_takes_input_shapes(name: str) -> None:
    model = build_example(name, dynamic=True)
    with pytest.raises(moecc.ShapeError, match="--input-shape"):
        moecc.compile(model, target="ref")
    shapes = {i.name: (1, 8) for i in model.graph.input if i.name != "hidden_states"}
    compiled = moecc.compile(model, target="ref", input_shapes=shapes)
    inputs = {k: v[:1, :8] for k, v in example_inputs(name, build_example(name), seed=1).items()}
    got = compiled.run(inputs)
    want = _ort_outputs(model, inputs)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=EXAMPLE_RTOL, atol=EXAMPLE_ATOL)


def test_shape_subgraphs_fold_away() -> None:
    """Exporter-style Shape/Gather/Concat chains leave no shape ops in the graph IR."""
    compiled = moecc.compile(build_example("llama-block"), target="ref")
    kinds = {op.kind for op in compiled.graph.ops}
    assert not kinds & {"shape", "range"}
    assert "reshape" in kinds and "matmul" in kinds
