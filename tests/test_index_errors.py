"""A run-time index out of range is an input error naming the node, the input, the value and
the valid range on every target (ref interpreter, ASIC simulator, cpu machine code), and the
cpu heap holds i64 and bool values as themselves (no narrowing at its boundary).

The index reaches the check by different roads: the interpreter sees it directly; on the
ASIC an i64 input is narrowed to i32 at the host boundary (a value outside int32 is refused
there) and the DMA gather faults on the wrapped index, which the runtime traces back to the
input; on the cpu an i64 index is read by a CPU step that records the value it met, and an
i32 one by a gather kernel whose fault the runtime traces back like the ASIC's.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from moecc.ir.types import DType

TARGETS = ["ref", "asic", "cpu"]
ROWS, WIDTH = 1000, 8


def embedding_model(index_type: int = TensorProto.INT64, offset: int | None = None) -> onnx.ModelProto:
    """``relu(embed.weight[input_ids (+ offset)])`` with a ROWS x WIDTH table; the Gather node
    is named ``/embed/Gather`` (the offset, if any, is added by node ``/shift``)."""
    table = np.random.default_rng(0).standard_normal((ROWS, WIDTH)).astype(np.float32)
    nodes = []
    indices = "input_ids"
    initializers = [numpy_helper.from_array(table, "embed.weight")]
    if offset is not None:
        dtype = np.int64 if index_type == TensorProto.INT64 else np.int32
        initializers.append(numpy_helper.from_array(np.array(offset, dtype=dtype), "offset"))
        nodes.append(helper.make_node("Add", ["input_ids", "offset"], ["shifted"], name="/shift"))
        indices = "shifted"
    nodes.append(helper.make_node("Gather", ["embed.weight", indices], ["h"], name="/embed/Gather", axis=0))
    nodes.append(helper.make_node("Relu", ["h"], ["y"], name="/relu"))
    graph = helper.make_graph(nodes, "embedding", [helper.make_tensor_value_info("input_ids", index_type, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, WIDTH])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def compiled() -> dict[str, moecc.CompiledModel]:
    model = embedding_model()
    return {target: moecc.compile(model, target=target) for target in TARGETS}


def expected_message(value: int, where: str = "input 'input_ids'") -> str:
    """The error's message (str(err) adds the node, the op and where it ran in front)."""
    return f"index {value} in {where} is out of range [{-ROWS}, {ROWS})"


def check_names_gather(err: moecc.MoeccError) -> None:
    assert (err.node, err.op_type) == ("/embed/Gather", "gather")
    assert str(err).startswith("node '/embed/Gather', op gather")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bad", [50000, ROWS, -ROWS - 1, 2**40, -(2**40)])
def test_index_out_of_range_names_node_input_value_and_range(compiled: dict[str, moecc.CompiledModel],
                                                             target: str, bad: int) -> None:
    ids = np.array([[1, bad, 3, 4]], dtype=np.int64)
    with pytest.raises(moecc.InputError) as info:
        compiled[target].run({"input_ids": ids})
    assert expected_message(bad) in str(info.value)
    check_names_gather(info.value)
    assert info.value.remedy  # says what to do


@pytest.mark.parametrize("target", TARGETS)
def test_indices_at_the_ends_of_the_range_run_and_agree(compiled: dict[str, moecc.CompiledModel], target: str) -> None:
    ids = np.array([[0, ROWS - 1, -1, -ROWS]], dtype=np.int64)
    got = compiled[target].run({"input_ids": ids})["y"]
    want = compiled["ref"].run({"input_ids": ids})["y"]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("target", TARGETS)
def test_the_first_bad_index_is_the_one_reported(compiled: dict[str, moecc.CompiledModel], target: str) -> None:
    ids = np.array([[2, 7000, 3, 9000]], dtype=np.int64)
    with pytest.raises(moecc.InputError, match=r"index 7000 in input 'input_ids'"):
        compiled[target].run({"input_ids": ids})


@pytest.mark.parametrize("target", TARGETS)
def test_a_run_after_a_fault_runs_normally(target: str) -> None:
    model = moecc.compile(embedding_model(), target=target)
    with pytest.raises(moecc.InputError):
        model.run({"input_ids": np.array([[1, 5000, 3, 4]], dtype=np.int64)})
    ids = np.array([[1, 2, 3, 4]], dtype=np.int64)
    np.testing.assert_array_equal(model.run({"input_ids": ids})["y"],
                                  moecc.compile(embedding_model(), target="ref").run({"input_ids": ids})["y"])


@pytest.mark.parametrize("target", TARGETS)
def test_int32_token_ids(target: str) -> None:
    """i32 indices: a gather kernel on the ASIC and the cpu (i32 is a kernel dtype)."""
    model = moecc.compile(embedding_model(TensorProto.INT32), target=target)
    with pytest.raises(moecc.InputError) as info:
        model.run({"input_ids": np.array([[1, 2, 3, 4321]], dtype=np.int32)})
    assert expected_message(4321) in str(info.value)
    check_names_gather(info.value)


@pytest.mark.parametrize("target", TARGETS)
def test_a_computed_index_names_the_node_computing_it(target: str) -> None:
    model = moecc.compile(embedding_model(offset=500), target=target)
    with pytest.raises(moecc.InputError) as info:
        model.run({"input_ids": np.array([[1, 2, 600, 4]], dtype=np.int64)})
    assert "index 1100 in %" in str(info.value) and "(computed by node '/shift')" in str(info.value)
    assert f"out of range [{-ROWS}, {ROWS})" in str(info.value)


@pytest.mark.parametrize("target", TARGETS)
def test_gather_nd_index_out_of_range(target: str) -> None:
    """gather_nd runs as a CPU step on the ASIC and the cpu: the step records the value."""
    data = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "data")
    node = helper.make_node("GatherND", ["data", "idx"], ["y"], name="/pick")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("idx", TensorProto.INT64, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [data])
    model = moecc.compile(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), target=target)
    np.testing.assert_array_equal(model.run({"idx": np.array([[0, 1], [2, -1]], dtype=np.int64)})["y"], [1.0, 11.0])
    with pytest.raises(moecc.InputError, match=r"index 4 in input 'idx' is out of range \[-4, 4\)") as info:
        model.run({"idx": np.array([[0, 1], [2, 4]], dtype=np.int64)})
    assert (info.value.node, info.value.op_type) == ("/pick", "gather_nd")


# -- the cpu heap holds i64 and bool as themselves ------------------------------------------------

def _i64_and_bool_model() -> onnx.ModelProto:
    """``x + 2**40`` (i64) and ``x > 3`` (bool) of an i64 input."""
    big = numpy_helper.from_array(np.array(2**40, dtype=np.int64), "big")
    three = numpy_helper.from_array(np.array(3, dtype=np.int64), "three")
    nodes = [helper.make_node("Add", ["x", "big"], ["sum"], name="/add"),
             helper.make_node("Greater", ["x", "three"], ["more"], name="/greater")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.INT64, [5])],
                              [helper.make_tensor_value_info("sum", TensorProto.INT64, [5]),
                               helper.make_tensor_value_info("more", TensorProto.BOOL, [5])], [big, three])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_cpu_keeps_i64_beyond_int32_and_stores_bool_as_a_byte() -> None:
    x = np.array([-(2**45), -1, 3, 4, 2**50], dtype=np.int64)
    tiled = moecc.compile(_i64_and_bool_model(), target="cpu")
    out = tiled.run({"x": x})
    assert out["sum"].dtype == np.int64 and out["more"].dtype == np.bool_
    np.testing.assert_array_equal(out["sum"], x + 2**40)
    np.testing.assert_array_equal(out["more"], x > 3)
    module = tiled.executable.module
    assert [module.buffer(n).dtype for n in tiled.executable.input_buffers] == [DType.I64]
    assert [module.buffer(n).dtype for n in module.outputs] == [v.type.dtype for v in tiled.graph.outputs]
    assert module.buffer(module.outputs[1]).elements * module.buffer(module.outputs[1]).dtype.itemsize == 5  # one byte per bool


def test_asic_refuses_an_input_beyond_int32_with_its_value() -> None:
    graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"], name="/neg")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [3])])
    model = moecc.compile(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), target="asic")
    np.testing.assert_array_equal(model.run({"x": np.array([1, -2, 2**31 - 1], dtype=np.int64)})["y"],
                                  [-1, 2, -(2**31 - 1)])
    with pytest.raises(moecc.InputError, match=r"input 'x' holds 8589934592, outside the i32"):
        model.run({"x": np.array([1, 2**33, 3], dtype=np.int64)})


@pytest.mark.parametrize("step_first", [False, True])
def test_host_step_reads_a_constant_condition_the_where_kernel_packed(step_first: bool) -> None:
    """On the asic a constant bool condition is stored as a 0/1 f32 mask (bool's storage on
    the part); the where and the and (with a run-time bool) both read it from that buffer in
    that dtype on the chip, whichever op comes first."""
    cond = np.random.default_rng(1).random((32, 32)) > 0.5  # 1024 elements: a heap weight for the step
    inits = [numpy_helper.from_array(cond, "cond"), numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    where = helper.make_node("Where", ["cond", "x", "zero"], ["y"], name="/where")
    both = helper.make_node("And", ["cond", "b"], ["n"], name="/and")
    graph = helper.make_graph([both, where] if step_first else [where, both], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 32]),
                               helper.make_tensor_value_info("b", TensorProto.BOOL, [32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [32, 32]),
                               helper.make_tensor_value_info("n", TensorProto.BOOL, [32, 32])], inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = moecc.compile(onnx_model, target="asic")
    assert model.partition["ops"] == {"asic": 2, "cpu": 0}  # the where, the and
    assert [str(b.dtype) for b in model.executable.module.hbm if b.name.startswith("cond")] == ["f32"]
    assert not model.executable.compiled_steps
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((32, 32)).astype(np.float32), rng.random((32, 32)) > 0.5
    out = model.run({"x": x, "b": b})
    np.testing.assert_array_equal(out["y"], np.where(cond, x, np.float32(0)))
    np.testing.assert_array_equal(out["n"], cond & b)
    out = moecc.compile(onnx_model, target="cpu").run({"x": x, "b": b})
    np.testing.assert_array_equal(out["y"], np.where(cond, x, np.float32(0)))
    np.testing.assert_array_equal(out["n"], cond & b)
