"""The cpu target's object output and artifacts: a C program runs the emitted object and
matches the reference; a .moe artifact reloads its machine code without recompiling."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

import moecc
from moecc.backend.llvm.object_file import DTYPE_CODES, MAX_RANK
from moecc.cli import main
from moecc.compare import compare_outputs
from moecc.errors import ArtifactError
from moecc.examples import build_example, example_inputs
from moecc.ir.types import DType

C_DRIVER = r"""
#include <stdlib.h>
#include <string.h>
#include "model.h"

static size_t rounded(int64_t bytes) { return (size_t)((bytes + 63) / 64 * 64 + 64); }

int32_t drive(void *const *inputs, void *const *outputs, int32_t threads) {
    uint8_t *heap = aligned_alloc(64, rounded(moecc_heap_bytes));
    uint8_t *scratch = aligned_alloc(64, rounded(moecc_scratch_bytes));
    if (moecc_set_threads(threads) != 0 || moecc_get_threads() != threads) return -100;
    moecc_init_heap(heap);
    for (int32_t i = 0; i < moecc_input_count; ++i)
        memcpy(heap + moecc_inputs[i].offset, inputs[i], (size_t)moecc_inputs[i].nbytes);
    int32_t status = moecc_run(heap, scratch);
    for (int32_t i = 0; i < moecc_output_count; ++i)
        memcpy(outputs[i], heap + moecc_outputs[i].offset, (size_t)moecc_outputs[i].nbytes);
    moecc_set_threads(1);
    free(heap);
    free(scratch);
    return status;
}
"""


class _Tensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_int64), ("nbytes", ctypes.c_int64),
                ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_RANK)]


def _table(library: ctypes.CDLL, name: str, count: int) -> list[_Tensor]:
    return list((_Tensor * count).in_dll(library, name))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
# mixtral-block: its experts' weights are packed on first use, into a heap C allocated
# uninitialised (moecc_init_heap zeroes the flags).
@pytest.mark.parametrize("name", ["llama-block", "mixtral-block"])
def test_object_runs_from_c_and_matches_reference(tmp_path: Path, name: str) -> None:
    model = build_example(name)
    onnx_path = tmp_path / "llama.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "obj",
                 "-o", str(tmp_path / "model.o")]) == 0
    assert (tmp_path / "model.o").read_bytes()[:4] == b"\x7fELF"
    (tmp_path / "driver.c").write_text(C_DRIVER)
    library_path = tmp_path / "libmodel.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(library_path), str(tmp_path / "driver.c"), str(tmp_path / "model.o"),
                    "-I", str(tmp_path), "-lm", "-lpthread"], check=True, capture_output=True, timeout=60)
    library = ctypes.CDLL(str(library_path))
    numpy_types = {code: dtype.numpy for dtype, code in DTYPE_CODES.items()}
    inputs_table = _table(library, "moecc_inputs", ctypes.c_int32.in_dll(library, "moecc_input_count").value)
    outputs_table = _table(library, "moecc_outputs", ctypes.c_int32.in_dll(library, "moecc_output_count").value)

    feeds = example_inputs(name, model, seed=1)
    # The table describes each input in its ONNX type: the int64 token ids are passed as they are.
    assert [t.dtype for t in inputs_table] == [DTYPE_CODES[DType.I64]]
    in_arrays = [np.ascontiguousarray(feeds[t.name.decode()]) for t in inputs_table]
    assert [numpy_types[t.dtype] for t in inputs_table] == [a.dtype for a in in_arrays]
    assert [a.nbytes for a in in_arrays] == [t.nbytes for t in inputs_table]
    reference = moecc.compile(model, target="ref").run(feeds)
    results = []
    for threads in (1, 2):
        out_arrays = [np.empty(tuple(t.shape[:t.rank]), numpy_types[t.dtype]) for t in outputs_table]
        pointers = ctypes.c_void_p * len(in_arrays)
        status = library.drive(pointers(*[a.ctypes.data for a in in_arrays]),
                               (ctypes.c_void_p * len(out_arrays))(*[a.ctypes.data for a in out_arrays]), threads)
        assert status == 0
        got = {t.name.decode(): a for t, a in zip(outputs_table, out_arrays)}
        assert not compare_outputs(got, reference)
        results.append(got)
    for name, value in results[0].items():
        np.testing.assert_array_equal(results[1][name], value)  # threads do not change the numbers
    assert "int32_t moecc_run(uint8_t *heap, uint8_t *scratch);" in (tmp_path / "model.h").read_text()


def _i64_bool_gather_model() -> onnx.ModelProto:
    """``table[ids]`` (10 x 3 f32 table), ``ids + 2**40`` (i64) and ``ids > 3`` (bool)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.arange(30, dtype=np.float32).reshape(10, 3), "table"),
             numpy_helper.from_array(np.array(2**40, dtype=np.int64), "big"),
             numpy_helper.from_array(np.array(3, dtype=np.int64), "three")]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"], name="/embed/Gather", axis=0),
             helper.make_node("Add", ["ids", "big"], ["sum"], name="/add"),
             helper.make_node("Greater", ["ids", "three"], ["more"], name="/greater")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [4])],
                              [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [4, 3]),
                               helper.make_tensor_value_info("sum", TensorProto.INT64, [4]),
                               helper.make_tensor_value_info("more", TensorProto.BOOL, [4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_object_abi_holds_i64_and_bool_as_themselves(tmp_path: Path) -> None:
    """int64 in and out as int64 (a sum beyond int32 exact), bool as one byte 0/1, and an
    index out of range is fault 3 with the index in moecc_fault_detail."""
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(_i64_bool_gather_model().SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "obj",
                 "-o", str(tmp_path / "model.o")]) == 0
    (tmp_path / "driver.c").write_text(C_DRIVER)
    library_path = tmp_path / "libm.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(library_path), str(tmp_path / "driver.c"),
                    str(tmp_path / "model.o"), "-I", str(tmp_path), "-lm", "-lpthread"],
                   check=True, capture_output=True, timeout=60)
    library = ctypes.CDLL(str(library_path))
    inputs_table = _table(library, "moecc_inputs", 1)
    outputs_table = _table(library, "moecc_outputs", 3)
    assert (inputs_table[0].dtype, inputs_table[0].nbytes) == (DTYPE_CODES[DType.I64], 32)
    assert [(t.name.decode(), t.dtype, t.nbytes) for t in outputs_table] == [
        ("rows", DTYPE_CODES[DType.F32], 48), ("sum", DTYPE_CODES[DType.I64], 32), ("more", DTYPE_CODES[DType.BOOL], 4)]

    def run(ids: np.ndarray) -> tuple[int, list[np.ndarray]]:
        outs = [np.zeros((4, 3), np.float32), np.zeros(4, np.int64), np.zeros(4, np.uint8)]
        status = library.drive((ctypes.c_void_p * 1)(ids.ctypes.data),
                               (ctypes.c_void_p * 3)(*[a.ctypes.data for a in outs]), 1)
        return status, outs

    ids = np.array([0, 9, -1, 4], dtype=np.int64)
    status, (rows, total, more) = run(ids)
    assert status == 0
    np.testing.assert_array_equal(rows, np.arange(30, dtype=np.float32).reshape(10, 3)[ids])
    np.testing.assert_array_equal(total, ids + 2**40)
    np.testing.assert_array_equal(more, (ids > 3).astype(np.uint8))  # one byte, 0 or 1
    status, _ = run(np.array([1, 2**33, 3, 4], dtype=np.int64))
    assert status == 3
    assert ctypes.c_int64.in_dll(library, "moecc_fault_detail").value == 2**33
    assert ctypes.c_int64.in_dll(library, "moecc_fault_bound").value == 10  # the table's rows


def test_emit_obj_needs_output_and_cpu(tmp_path: Path) -> None:
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(build_example("gpt2-block").SerializeToString())
    assert main(["compile", str(onnx_path), "--target", "cpu", "--emit", "obj"]) == 2
    assert main(["compile", str(onnx_path), "--emit", "obj", "-o", str(tmp_path / "m.o")]) == 2
    assert not (tmp_path / "m.o").exists()


def test_cpu_artifact_reloads_machine_code_without_codegen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_example("dense-moe")
    compiled = moecc.compile(model, target="cpu")
    path = tmp_path / "m.moe"
    compiled.save(path)

    def no_codegen(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a cpu artifact must not generate code")

    import moecc.backend.llvm.jit as jit
    import moecc.backend.llvm.tiled.codegen as tiled_codegen
    import moecc.backend.llvm.tiled.program as tiled_program

    monkeypatch.setattr(tiled_codegen, "build_tiled_module", no_codegen)
    monkeypatch.setattr(tiled_program, "compile_tiled_module", no_codegen)
    monkeypatch.setattr(jit, "compile_module", no_codegen)
    monkeypatch.setattr(jit, "optimise", no_codegen)
    loaded = moecc.load(path)
    feeds = example_inputs("dense-moe", model, seed=2)
    reference = moecc.compile(model, target="ref").run(feeds)
    assert not compare_outputs(loaded.run(feeds), reference)
    assert not compare_outputs(loaded.run(feeds), reference)
    loaded.save(tmp_path / "again.moe")  # saved again, a loaded model keeps the object it came from
    assert not compare_outputs(moecc.load(tmp_path / "again.moe").run(feeds), reference)


def test_cpu_artifact_with_corrupt_object_is_an_artifact_error(tmp_path: Path) -> None:
    import json
    import zipfile

    from moecc.artifact import _sha256

    path = tmp_path / "m.moe"
    moecc.compile(build_example("gpt2-block"), target="cpu").save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    assert "kernels.o" in manifest["checksums"]
    from llvmlite import ir

    from moecc.backend.llvm.jit import emit_object

    foreign = emit_object(ir.Module(name="empty"))  # a valid object without any of the model's symbols
    for payload in (b"not an object", members["kernels.o"][:200], foreign):
        members["kernels.o"] = payload
        manifest["checksums"]["kernels.o"] = _sha256(payload)  # a consistent but wrong file
        members["manifest.json"] = json.dumps(manifest).encode()
        broken = tmp_path / "broken.moe"
        with zipfile.ZipFile(broken, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        with pytest.raises(ArtifactError):
            moecc.load(broken)
