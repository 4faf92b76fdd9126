"""The ONNX project's own node tests, filtered to the op types moecc claims.

Shared by the per-target node-test modules: :func:`claimed_cases` lists the cases whose every
op is claimed for a target, :func:`run_case` compiles one and compares all its data sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

import moecc

#: Tolerances of the node-test comparison (the foundation issue fixes these).
NODE_TEST_RTOL = 1e-3
NODE_TEST_ATOL = 1e-5
#: Half-precision outputs: 1e-3 is below one ulp of bf16 (2**-8 = 3.9e-3) and about two of f16.
#: The "expanded" node tests round every intermediate to the half type while their expected
#: values were computed in f32, so a chain of ~10 ops drifts a few ulps: allow ~5 ulps.
HALF_RTOL = {np.dtype(ml_dtypes.bfloat16): 2e-2, np.dtype(np.float16): 2.5e-3}


@dataclass(frozen=True)
class NodeCase:
    name: str
    model: onnx.ModelProto
    data_sets: list


def _op_types(graph: onnx.GraphProto) -> set[tuple[str, str]]:
    found = set()
    for node in graph.node:
        found.add((node.domain, node.op_type))
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                found |= _op_types(attr.g)
    return found


def claimed_cases(target: str) -> list[NodeCase]:
    claimed = set(moecc.supported_onnx_ops(target))
    out = []
    for case in collect_testcases():
        if case.model is None or not case.data_sets:
            continue
        ops = _op_types(case.model.graph)
        if ops and all(domain in ("", "ai.onnx") and op in claimed for domain, op in ops):
            out.append(NodeCase(case.name, case.model, case.data_sets))
    return sorted(out, key=lambda c: c.name)


def as_array(data: object) -> np.ndarray:
    """A data-set entry as numpy: some cases (bf16/f16/float8 casts) store TensorProtos."""
    return numpy_helper.to_array(data) if isinstance(data, onnx.TensorProto) else np.asarray(data)


def compare_outputs(name: str, got: np.ndarray, expected: np.ndarray) -> None:
    expected = as_array(expected)
    got = np.asarray(got)
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != expected {expected.dtype}"
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != expected {expected.shape}"
    if expected.dtype.kind in "fc" or expected.dtype == ml_dtypes.bfloat16:
        np.testing.assert_allclose(
            got.astype(np.float64),
            expected.astype(np.float64),
            rtol=HALF_RTOL.get(expected.dtype, NODE_TEST_RTOL),
            atol=NODE_TEST_ATOL,
            equal_nan=True,
            err_msg=name,
        )
    else:
        np.testing.assert_array_equal(got, expected, err_msg=name)


#: Phrase of the ShapeError raised when a shape-determining input is only known at run time.
RUNTIME_SHAPE_INPUT = "must be known at compile time"


def run_case(case: NodeCase, target: str) -> str:
    """Compile the case's model and check every data set; MoeccError propagates (a refusal).

    moecc compiles for static shapes, so an input that determines a shape (axes, K, a target
    shape) must be a constant. Node tests feed those as run-time inputs; such a case is run
    again with its integer and scalar inputs bound as constants (``constant_inputs``), once per data set.
    Returns ``"run"`` or ``"run with constant shape inputs"``.
    """
    try:
        _run_case(case, target, freeze_integer_inputs=False)
        return "run"
    except moecc.ShapeError as err:
        if RUNTIME_SHAPE_INPUT not in str(err):
            raise
    _run_case(case, target, freeze_integer_inputs=True)
    return "run with constant shape inputs"


def _run_case(case: NodeCase, target: str, freeze_integer_inputs: bool) -> None:
    graph_inputs = [i.name for i in case.model.graph.input if i.name not in {t.name for t in case.model.graph.initializer}]
    output_names = [o.name for o in case.model.graph.output]
    compiled = None
    for inputs, expected in case.data_sets:
        feeds = dict(zip(graph_inputs, (as_array(i) for i in inputs)))
        frozen = {k: v for k, v in feeds.items() if freeze_integer_inputs and (v.dtype.kind in "iu" or v.ndim == 0)}
        feeds = {k: v for k, v in feeds.items() if k not in frozen}
        if compiled is None or frozen:
            shapes = {k: v.shape for k, v in feeds.items()}
            compiled = moecc.compile(case.model, target=target, input_shapes=shapes, constant_inputs=frozen)
        outs = compiled.run(feeds)
        for name, exp in zip(output_names, expected):
            compare_outputs(f"{case.name}:{name}", outs[name], exp)
