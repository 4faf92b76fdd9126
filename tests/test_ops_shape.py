"""Shape-family graph-IR ops and their ONNX lowering.

The IR ops are checked through GraphBuilder + the reference interpreter against numpy; the
ONNX handlers through one-node models checked against ``onnx.reference`` (:func:`check_node`,
shared with the indexing and composite tests). Shape-valued operands (Reshape's shape,
Slice's starts...) are initializers there, the way exported models give them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from moecc.errors import ShapeError, UnsupportedError
from moecc.frontend.onnx_importer import import_onnx
from moecc.ir import Graph, GraphBuilder, TensorType, DType, run_graph


def single_node_model(
    op_type: str,
    inputs: Mapping[str, np.ndarray | None],
    outputs: Sequence[str],
    *,
    constants: Sequence[str] = (),
    opset: int = 23,
    **attrs: Any,
) -> onnx.ModelProto:
    """A model of one ``op_type`` node; ``None`` inputs are omitted ("" in the node),
    names in ``constants`` become initializers, the rest graph inputs."""
    names = [name if value is not None else "" for name, value in inputs.items()]
    node = helper.make_node(op_type, names, list(outputs), **attrs)
    graph_inputs, initializers = [], []
    for name, value in inputs.items():
        if value is None:
            continue
        arr = np.asarray(value)
        if name in constants:
            initializers.append(numpy_helper.from_array(arr, name))
        else:
            elem = helper.np_dtype_to_tensor_dtype(arr.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, arr.shape))
    graph_outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outputs if o]
    graph = helper.make_graph([node], "single", graph_inputs, graph_outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def run_both(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> tuple[Graph, list[np.ndarray], list[np.ndarray]]:
    """Import and run ``model`` with moecc and with onnx.reference; (graph, moecc, reference)."""
    graph = import_onnx(model)
    by_name = {v.name: feeds[v.name] for v in graph.inputs}
    ours = run_graph(graph, by_name)
    names = [o.name for o in model.graph.output]
    theirs = ReferenceEvaluator(model).run(None, dict(feeds))
    return graph, [ours[n] for n in names], list(theirs)


def check_node(
    op_type: str,
    inputs: Mapping[str, np.ndarray | None],
    outputs: Sequence[str] = ("y",),
    *,
    constants: Sequence[str] = (),
    opset: int = 23,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    **attrs: Any,
) -> Graph:
    """Assert moecc matches onnx.reference on a one-node model; returns the imported graph."""
    model = single_node_model(op_type, inputs, outputs, constants=constants, opset=opset, **attrs)
    feeds = {k: np.asarray(v) for k, v in inputs.items() if v is not None and k not in constants}
    graph, ours, theirs = run_both(model, feeds)
    for name, got, want in zip([o for o in outputs if o], ours, theirs):
        want = np.asarray(want)
        assert got.dtype == want.dtype, f"{op_type} {name}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{op_type} {name}: shape {got.shape} != {want.shape}"
        if want.dtype.kind == "f" or want.dtype.name == "bfloat16":
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    return graph


def build_and_run(kind: str, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any] | None = None) -> list[np.ndarray]:
    """Emit one IR op on graph inputs (no folding) and run it on the reference interpreter."""
    graph = Graph()
    values = [graph.add_input(f"in{i}", TensorType.of(np.asarray(a))) for i, a in enumerate(arrays)]
    results = GraphBuilder(graph).emit(kind, values, attrs or {})
    graph.set_outputs(results, [f"out{i}" for i in range(len(results))])
    outs = run_graph(graph, {v.name: np.asarray(a) for v, a in zip(values, arrays)})
    return [outs[f"out{i}"] for i in range(len(results))]


RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4)).astype(np.float32)


# -- IR ops ----------------------------------------------------------------------------------

def test_reshape_transpose_concat_ir() -> None:
    (y,) = build_and_run("reshape", [X], {"shape": (6, 4)})
    np.testing.assert_array_equal(y, X.reshape(6, 4))
    (y,) = build_and_run("transpose", [X], {"perm": (2, 0, 1)})
    np.testing.assert_array_equal(y, X.transpose(2, 0, 1))
    (y,) = build_and_run("concat", [X, X[:, :1]], {"axis": 1})
    np.testing.assert_array_equal(y, np.concatenate([X, X[:, :1]], axis=1))


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [(0, 3, 1), (1, 4, 2), (3, -1, -1), (3, 0, -2), (2, -1, -3), (4, 4, 1)],
)
def test_slice_ir_canonical_bounds(start: int, end: int, step: int) -> None:
    (y,) = build_and_run("slice", [X], {"starts": [start], "ends": [end], "axes": [2], "steps": [step]})
    expected = X[:, :, start : (end if end >= 0 else None) : step]
    np.testing.assert_array_equal(y, expected)


def test_slice_ir_rejects_unclamped_bounds() -> None:
    with pytest.raises(ShapeError, match="slice"):
        build_and_run("slice", [X], {"starts": [-1], "ends": [4], "axes": [2], "steps": [1]})


def test_expand_tile_trilu_ir() -> None:
    (y,) = build_and_run("expand", [X[:, :1]], {"shape": (5, 2, 3, 4)})
    np.testing.assert_array_equal(y, np.broadcast_to(X[:, :1], (5, 2, 3, 4)))
    (y,) = build_and_run("tile", [X], {"repeats": (1, 2, 3)})
    np.testing.assert_array_equal(y, np.tile(X, (1, 2, 3)))
    (y,) = build_and_run("trilu", [X], {"upper": False, "k": -1})
    np.testing.assert_array_equal(y, np.tril(X, -1))
    (y,) = build_and_run("trilu", [X.astype(np.int32)], {"k": 2})
    np.testing.assert_array_equal(y, np.triu(X.astype(np.int32), 2))


def test_shape_ir_errors_name_the_op() -> None:
    with pytest.raises(ShapeError, match="'reshape'"):
        build_and_run("reshape", [X], {"shape": (5, 5)})
    with pytest.raises(ShapeError, match="'transpose'"):
        build_and_run("transpose", [X], {"perm": (0, 0, 1)})
    with pytest.raises(ShapeError, match="'expand'"):
        build_and_run("expand", [X], {"shape": (2, 5, 4)})
    with pytest.raises(ShapeError, match="'concat'"):
        build_and_run("concat", [X, X.astype(np.float16)], {"axis": 0})


def test_shape_ops_fold_on_constants() -> None:
    graph = Graph()
    builder = GraphBuilder(graph)
    folded = builder.emit("transpose", [builder.const(X)], {"perm": (1, 0, 2)})[0]
    assert folded.producer is not None and folded.producer.kind == "const"


# -- ONNX handlers ---------------------------------------------------------------------------

I64 = np.int64


@pytest.mark.parametrize(
    ("shape", "allowzero"),
    [([4, 6], 0), ([-1, 4], 0), ([0, -1], 0), ([2, 0, 4, 1], 0), ([4, 2, 3], 1), ([24], 0)],
)
def test_reshape_onnx(shape: list[int], allowzero: int) -> None:
    check_node("Reshape", {"x": X, "shape": np.array(shape, I64)}, constants=["shape"], allowzero=allowzero)


def test_reshape_with_runtime_shape_is_a_shape_error() -> None:
    model = single_node_model("Reshape", {"x": X, "shape": np.array([4, 6], I64)}, ["y"])
    with pytest.raises(ShapeError, match="Reshape"):
        import_onnx(model)


@pytest.mark.parametrize("perm", [None, [0, 2, 1], [2, 0, 1]])
def test_transpose_onnx(perm: list[int] | None) -> None:
    attrs = {} if perm is None else {"perm": perm}
    check_node("Transpose", {"x": X}, **attrs)


@pytest.mark.parametrize("axes", [None, [2], [-1, 0]])
def test_squeeze_onnx(axes: list[int] | None) -> None:
    x = RNG.standard_normal((1, 3, 1)).astype(np.float32)
    check_node("Squeeze", {"x": x, "axes": None if axes is None else np.array(axes, I64)}, constants=["axes"])


@pytest.mark.parametrize("axes", [[0], [3], [-1, 1], [4, 0]])
def test_unsqueeze_onnx(axes: list[int]) -> None:
    check_node("Unsqueeze", {"x": X, "axes": np.array(axes, I64)}, constants=["axes"])


def test_squeeze_of_a_non_unit_axis_is_a_shape_error() -> None:
    model = single_node_model("Squeeze", {"x": X, "axes": np.array([1], I64)}, ["y"], constants=["axes"])
    with pytest.raises(ShapeError, match="Squeeze"):
        import_onnx(model)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
def test_flatten_onnx(axis: int) -> None:
    check_node("Flatten", {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32)}, axis=axis)


def test_concat_onnx() -> None:
    check_node("Concat", {"a": X, "b": X[:, :2]}, axis=-2)


@pytest.mark.parametrize(
    ("split", "num_outputs", "outputs", "opset"),
    [(None, None, 3, 13), ([1, 3, 1], None, 3, 13), (None, 3, 3, 18), (None, 2, 2, 18), ([0, 5], None, 2, 18)],
)
def test_split_onnx(split: list[int] | None, num_outputs: int | None, outputs: int, opset: int) -> None:
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    attrs = {"axis": 1} | ({} if num_outputs is None else {"num_outputs": num_outputs})
    if split is None and num_outputs is None:
        x = np.arange(18, dtype=np.float32).reshape(3, 6)
    split_arr = None if split is None else np.array(split, I64)
    check_node("Split", {"x": x, "split": split_arr}, [f"y{i}" for i in range(outputs)], constants=["split"], opset=opset, **attrs)


@pytest.mark.parametrize(
    ("starts", "ends", "axes", "steps"),
    [
        ([0, 1], [2, 3], None, None),
        ([-2], [1000], [2], None),
        ([1], [-1], [-1], [1]),
        ([20], [-1000], [1], [-1]),
        ([-1, 0], [-1000, 9223372036854775807], [2, 0], [-2, 1]),
        ([3], [0], [2], [-2]),
        ([5], [9], [2], [1]),
        ([2], [1], [1], [1]),
    ],
)
def test_slice_onnx(starts: list[int], ends: list[int], axes: list[int] | None, steps: list[int] | None) -> None:
    inputs = {
        "x": X,
        "starts": np.array(starts, I64),
        "ends": np.array(ends, I64),
        "axes": None if axes is None else np.array(axes, I64),
        "steps": None if steps is None else np.array(steps, I64),
    }
    check_node("Slice", inputs, constants=["starts", "ends", "axes", "steps"])


@pytest.mark.parametrize("shape", [[2, 3, 4], [3, 1], [2, 1, 1, 1], [1]])
def test_expand_onnx(shape: list[int]) -> None:
    check_node("Expand", {"x": X[:, :1], "shape": np.array(shape, I64)}, constants=["shape"])


@pytest.mark.parametrize(("start", "end"), [(None, None), (1, None), (-1, None), (0, -1), (-10, 10)])
def test_shape_size_onnx(start: int | None, end: int | None) -> None:
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    graph = check_node("Shape", {"x": X}, opset=15, **attrs)
    assert all(op.kind == "const" for op in graph.ops)
    check_node("Size", {"x": X})


@pytest.mark.parametrize(
    "value", [None, np.array([2.5], np.float32), np.array([7], np.int32), np.array([True])]
)
def test_constant_of_shape_onnx(value: np.ndarray | None) -> None:
    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    check_node("ConstantOfShape", {"shape": np.array([2, 3], I64)}, constants=["shape"], **attrs)


@pytest.mark.parametrize(
    ("start", "limit", "delta"),
    [(3, 9, 3), (10, 4, -2), (1.0, 2.0, 0.3), (5, 5, 1), (np.int32(0), np.int32(7), np.int32(2))],
)
def test_range_onnx(start: Any, limit: Any, delta: Any) -> None:
    dtype = np.float32 if isinstance(start, float) else np.asarray(start).dtype if isinstance(start, np.generic) else I64
    inputs = {k: np.array(v, dtype) for k, v in (("start", start), ("limit", limit), ("delta", delta))}
    check_node("Range", inputs, constants=list(inputs))


def test_range_with_runtime_input_is_a_shape_error() -> None:
    inputs = {k: np.array(v, I64) for k, v in (("start", 0), ("limit", 5), ("delta", 1))}
    with pytest.raises(ShapeError, match="Range"):
        import_onnx(single_node_model("Range", inputs, ["y"], constants=["start", "delta"]))


def test_tile_onnx() -> None:
    check_node("Tile", {"x": X, "repeats": np.array([2, 1, 3], I64)}, constants=["repeats"])


@pytest.mark.parametrize(("upper", "k"), [(1, None), (0, None), (1, -1), (0, 2), (1, 10), (0, -10)])
def test_trilu_onnx(upper: int, k: int | None) -> None:
    inputs = {"x": X, "k": None if k is None else np.array(k, I64)}
    check_node("Trilu", inputs, constants=["k"], upper=upper)


@pytest.mark.parametrize(
    "attrs",
    [
        {"value": numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3))},
        {"value_float": 1.5},
        {"value_floats": [1.0, 2.0]},
        {"value_int": 3},
        {"value_ints": [3, 4, 5]},
    ],
)
def test_constant_onnx(attrs: dict[str, Any]) -> None:
    check_node("Constant", {}, **attrs)


def test_sparse_constant_is_unsupported() -> None:
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.0], np.float32), "v"), numpy_helper.from_array(np.array([0], I64), "i"), [2]
    )
    with pytest.raises(UnsupportedError, match="sparse"):
        import_onnx(single_node_model("Constant", {}, ["y"], sparse_value=sparse))
