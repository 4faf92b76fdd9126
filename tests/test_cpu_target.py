"""The cpu target: every example compiled with LLVM matches the reference; IR stages; artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

import moecc
from moecc.cli import main
from moecc.compare import compare_outputs
from moecc.examples import EXAMPLES, build_example, example_inputs


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_reference_on_cpu(name: str) -> None:
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    compiled = moecc.compile(model, target="cpu")
    reference = moecc.compile(model, target="ref").run(inputs)
    assert not compare_outputs(compiled.run(inputs), reference)
    assert not compare_outputs(compiled.run(inputs), reference)  # a second run reuses the heap


def test_cpu_ir_stages_and_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_example("gpt2-block")
    compiled = moecc.compile(model, target="cpu")  # graph, tiled, llvm
    assert "define void" in compiled.ir("llvm")
    assert compiled.ir("tiled").startswith("tiled_module")
    with pytest.raises(moecc.MoeccError, match="stage 'kernel' is not available for target 'cpu'"):
        compiled.ir("kernel")
    with pytest.raises(moecc.MoeccError, match="'asic_target' is an option of target 'asic'"):
        moecc.compile(model, target="cpu", asic_target="moe-asic-edge")
    path = tmp_path / "gpt2.moe"
    compiled.save(path)
    inputs = example_inputs("gpt2-block", model)
    loaded = moecc.load(path)
    assert not compare_outputs(loaded.run(inputs), compiled.run(inputs))
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "llvm"]) == 0
    assert "moecc_sgemm" in capsys.readouterr().out
    assert main(["compile", str(onnx_path), "--emit", "llvm"]) == 2  # llvm needs --target cpu
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "kernel"]) == 2  # no kernel IR on cpu
    capsys.readouterr()
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "tiled"]) == 0
    assert capsys.readouterr().out.startswith("tiled_module")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_whole_model_runs_as_one_native_sequence(name: str) -> None:
    compiled = moecc.compile(build_example(name), target="cpu")  # one segment, no host call
    program = compiled.executable.program
    assert program.host_calls == () and program.built.schedule == (0,)
    assert compiled.partition["interpreter_ops"] == {} and compiled.partition["host_calls"] == 0


def test_index_out_of_range_on_cpu_names_the_node() -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GatherElements", ["data", "idx"], ["y"], axis=1)], "g",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    # A gather kernel: the error names the node, the index and the range.
    compiled = moecc.compile(model, target="cpu")
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert compiled.executable.program.host_calls == ()
    np.testing.assert_array_equal(compiled.run({"data": data, "idx": np.array([[0, 2], [1, -1]])})["y"], [[0, 2], [4, 5]])
    with pytest.raises(moecc.MoeccError, match=r"GatherElements.*index 3 in input 'idx' is out of range \[-3, 3\)"):
        compiled.run({"data": data, "idx": np.array([[0, 3], [1, 0]])})
    np.testing.assert_array_equal(compiled.run({"data": data, "idx": np.array([[1, 1], [0, 0]])})["y"], [[1, 1], [3, 3]])


def test_cpu_artifact_keeps_the_weights_once(tmp_path: Path) -> None:
    import zipfile

    import numpy as np

    model = build_example("llama-block")
    compiled = moecc.compile(model, target="cpu")
    path = tmp_path / "llama.moe"
    compiled.save(path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        with np.load(archive.open("weights.npz")) as npz:
            in_npz = set(npz.files)
    assert "hbm_image.bin" not in names and "kernels.o" in names
    constants = {op.result.name: op.attrs["value"] for op in compiled.graph.const_ops()}
    big = {name for name, value in constants.items() if value.size >= 1024}
    assert big and not big & in_npz  # every weight matrix is only in the object
    loaded = moecc.load(path)
    for op in loaded.graph.const_ops():
        np.testing.assert_array_equal(op.attrs["value"], constants[op.result.name])
    inputs = example_inputs("llama-block", model)
    assert not compare_outputs(loaded.run(inputs), moecc.compile(model, target="ref").run(inputs))


def test_cpu_report_says_where_ops_run_and_how_long_a_run_took(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = build_example("dense-moe")
    compiled = moecc.compile(model, target="cpu", threads=2)
    report = compiled.report()["cpu"]
    assert report["last_run_source"].startswith("seeded random inputs")
    assert report["threads"] == 2 and report["cpu_steps_interpreted"] == 0 and report["host_calls"] == 0
    assert report["kernels"] == len(compiled.executable.module.kernels) > 0
    assert report["heap_bytes"] > 0 and report["scratch_bytes_per_thread"] > 0 and report["vector_floats"] >= 4
    assert compiled.partition["host_ops"] == [] and report["partition"]["host_ops"] == []
    compiled.run(example_inputs("dense-moe", model))
    assert compiled.report()["cpu"]["last_run_source"] == "last run()" and compiled.report()["cpu"]["last_run_ms"] > 0
    assert {"emit-llvm-tiled", "lower-to-tiled"} <= set(compiled.pass_times)
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--report", "-", "-o", str(tmp_path / "m.moe")]) == 0
    out = capsys.readouterr().out
    assert "0 host calls on the interpreter" in out and "tiles" in out and "run time" in out


def test_wide_lm_head_is_one_matmul_kernel_on_cpu() -> None:
    """A vocabulary row wider than the ASIC's DMA stride field (2^18 bytes) is still one sgemm
    kernel on the cpu (no DMA fields there); on the asic, staging splits what the field cannot
    span and the matmul still runs on the chip."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from moecc.ir.tiled.nodes import MatMul, walk

    hidden, vocab = 8, 70_000  # 280,000-byte rows
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((hidden, vocab)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"], name="lm_head")], "lm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, hidden])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, vocab])],
        [numpy_helper.from_array(weight, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = rng.standard_normal((1, 4, hidden)).astype(np.float32)
    cpu = moecc.compile(model, target="cpu")
    assert cpu.partition["host_ops"] == [] and cpu.partition["host_calls"] == 0
    # One kernel for the one node; its contractions (full column tiles and the edge tile) are sgemm calls.
    (kernel,) = cpu.executable.module.kernels
    assert kernel.sources == ("lm_head",)
    kinds = {type(stmt).__name__ for _, stmt, _ in walk(kernel.body)}
    assert "MatMul" in kinds and kinds <= {"MatMul", "For", "Copy"}
    report = cpu.report()["cpu"]
    assert report["kernels"] == 1 and report["cpu_steps_interpreted"] == 0
    assert report["sgemm_matmuls"] == sum(isinstance(s, MatMul) for _, s, _ in walk(kernel.body))
    np.testing.assert_allclose(cpu.run({"x": x})["logits"], x @ weight, rtol=1e-5, atol=1e-5)
    asic = moecc.compile(model, target="asic")
    assert asic.partition["host_ops"] == [] and asic.partition["ops"] == {"asic": 1, "cpu": 0}
    np.testing.assert_allclose(asic.run({"x": x})["logits"], x @ weight, rtol=1e-5, atol=1e-5)


def test_tile_limits_come_from_the_isa_table() -> None:
    from moecc.isa_spec.spec import load_isa
    from moecc.isa_spec.target import isa_tile_limits, load_target

    limits = isa_tile_limits()
    fields = {f.name: f.width for inst in load_isa().instructions if inst.mnemonic in ("dma.ld", "vpu.topk", "vpu.add")
              for f in inst.fields}
    assert limits.tile_dim == (1 << fields["rows"]) - 1 and limits.topk == (1 << fields["k"]) - 1
    assert limits.stride_bytes == (1 << fields["sstride"]) - 1 and limits.row_bytes == (1 << fields["row_bytes"]) - 1
    assert load_target("moe-asic-edge").limits == limits
