"""External data is mapped, not read (#11): an exported model's weights are memory maps of its
``.data`` file (no copy in the protobuf or in numpy), ONNX shape inference sees big weights by
type only, and broken references are load errors naming the tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from moecc.compare import compare_outputs
from moecc.examples import build_example, example_inputs
from moecc.frontend.onnx_importer import import_onnx


def _save_external(model: onnx.ModelProto, path: Path) -> Path:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # saving moves the data out of the proto it is given
    onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)
    return path


def test_weights_are_maps_of_the_data_file_and_compile_as_inline_ones(tmp_path: Path) -> None:
    model = build_example("llama-block")
    path = _save_external(model, tmp_path / "llama.onnx")
    assert (tmp_path / "llama.onnx.data").stat().st_size > 100_000
    graph = import_onnx(str(path))
    initializers = {t.name for t in model.graph.initializer}
    big = [op.attrs["value"] for op in graph.const_ops() if op.attrs["value"].size >= 4096 and op.result.name in initializers]
    assert big and all(not a.flags.owndata and not a.flags.writeable for a in big)  # views of a read-only map
    feeds = example_inputs("llama-block", model)
    expected = moecc.compile(model, target="ref").run(feeds)
    for target in ("ref", "cpu", "asic"):
        compiled = moecc.compile(str(path), target=target)
        assert not compare_outputs(compiled.run(feeds), expected), target
    compiled.save(tmp_path / "m.moe")
    assert not compare_outputs(moecc.load(tmp_path / "m.moe").run(feeds), expected)


def _matmul_model(weight_shape: tuple[int, int], x_shape: tuple[int, int] = (2, 64)) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.ones(weight_shape, np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_inference_still_checks_big_external_weights(tmp_path: Path) -> None:
    path = _save_external(_matmul_model((48, 80)), tmp_path / "bad.onnx")  # x is [2, 64]: K differs
    with pytest.raises(moecc.ShapeError, match="MatMul|dimension"):
        moecc.compile(str(path), target="ref")


@pytest.mark.parametrize("damage, message", [
    ("missing", "does not exist"),
    ("truncated", "past the end"),
    ("outside", "outside the model's folder"),
])
def test_broken_external_data_is_a_load_error(damage: str, message: str, tmp_path: Path) -> None:
    path = _save_external(_matmul_model((64, 80)), tmp_path / "m.onnx")
    data = tmp_path / "m.onnx.data"
    if damage == "missing":
        data.unlink()
    elif damage == "truncated":
        data.write_bytes(data.read_bytes()[:100])
    else:
        model = onnx.load(str(path), load_external_data=False)
        for entry in model.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = "../elsewhere.data"
        path.write_bytes(model.SerializeToString())
    with pytest.raises(moecc.ModelLoadError, match=message):
        moecc.compile(str(path), target="ref")


def test_cse_keys_big_constants_by_samples_and_compares_them_exactly() -> None:
    """Big constants are keyed without reading them whole; equal ones still merge, and two that
    differ only outside the sampled slices are kept apart by the exact compare."""
    from moecc.ir.graph import Graph
    from moecc.ir.types import DType, TensorType
    from moecc.passes.manager import get_pass

    base = np.random.default_rng(0).standard_normal(1 << 19).astype(np.float32)  # 2 MiB
    other = base.copy()
    other[100_000] += 1.0  # outside the start, middle and end samples
    graph = Graph("g")
    x = graph.add_input("x", TensorType((1 << 19,), DType.F32))
    values = [graph.add_op("const", [], {"value": a}, [TensorType(a.shape, DType.F32)], names=[n]).result
              for n, a in (("a", base), ("b", base.copy()), ("c", other))]
    outs = [graph.add_op("add", [x, v], {}, [TensorType(base.shape, DType.F32)]).result for v in values]
    graph.set_outputs(outs)
    get_pass("cse").apply(graph)
    consts = [op for op in graph.ops if op.is_const]
    assert len(consts) == 2  # a and b merged, c kept
