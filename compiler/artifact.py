"""The ``.moe`` artifact: a compiled model on disk.

A ``.moe`` file is a zip archive holding ``manifest.json`` (format name and version, moecc
version, target, I/O signature, options, sha256 of every other member), ``graph.mir`` (the
graph IR with constants elided) and ``weights.npz`` (constant data keyed by value name).
:func:`load_artifact` checks all of it; a corrupt, truncated, foreign or newer file is an
:class:`~moecc.errors.ArtifactError`. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from moecc import __version__
from moecc.compiled_model import CompiledModel, TensorSpec
from moecc.errors import ArtifactError, MoeccError
from moecc.fileio import atomic_write
from moecc.ir.graph import ElidedTensor

ARTIFACT_FORMAT = "moecc-artifact"
#: 2: cpu artifacts keep the weights once (in the object) and their CPU steps in the object.
ARTIFACT_VERSION = 2
_MANIFEST = "manifest.json"
_GRAPH = "graph.mir"
_WEIGHTS = "weights.npz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _weights_blob(model: CompiledModel, stored_elsewhere: frozenset[str] = frozenset()) -> bytes:
    """The graph's constants as an npz, but for those ``stored_elsewhere`` (bound on load from
    the target's own copy of the weights)."""
    arrays: dict[str, np.ndarray] = {}
    for op in model.graph.const_ops():
        if op.result.name in stored_elsewhere:
            continue
        value = op.attrs["value"]
        if isinstance(value, ElidedTensor):
            raise ArtifactError(f"constant %{op.result.name} has no data (elided)", remedy="bind the weights before saving")
        # bfloat16 is not a numpy-native type; store its bits and the dtype in the name
        arrays[op.result.name] = value.view(np.uint16) if value.dtype.name == "bfloat16" else value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_artifact(model: CompiledModel, path: str | os.PathLike[str]) -> None:
    from moecc.ir.printer import print_graph

    members = {_GRAPH: print_graph(model.graph, elide_constants=True, elide_threshold=0).encode("utf-8")}
    asic_manifest = _asic_members(model, members) if model.target == "asic" else None
    cpu_manifest = _cpu_members(model, members) if model.target == "cpu" else None
    in_object = frozenset(cpu_manifest["constants_in_object"]) if cpu_manifest is not None else frozenset()
    members[_WEIGHTS] = _weights_blob(model, in_object)
    manifest: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_VERSION,
        "moecc_version": __version__,
        "target": model.target,
        "inputs": [s.to_dict() for s in model.inputs],
        "outputs": [s.to_dict() for s in model.outputs],
        "options": model.json_options(),
        "pass_times": model.pass_times,
        "checksums": {name: _sha256(data) for name, data in members.items()},
    }
    if asic_manifest is not None:
        manifest["asic"] = asic_manifest
    if cpu_manifest is not None:
        manifest["cpu"] = cpu_manifest
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for name, data in members.items():
            archive.writestr(name, data)
    atomic_write(path, buffer.getvalue())


def read_manifest(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Open and check an artifact: its manifest and verified members."""
    file = Path(path)
    if not file.exists():
        raise ArtifactError(f"artifact '{file}' does not exist")
    if file.is_dir():
        raise ArtifactError(f"'{file}' is a directory, not a .moe artifact")
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            if _MANIFEST not in names:
                raise ArtifactError(f"'{file}' is not a moecc artifact (no manifest)", remedy="give a file written by `moecc compile -o`")
            manifest = json.loads(archive.read(_MANIFEST))
            if not isinstance(manifest, dict) or manifest.get("format") != ARTIFACT_FORMAT:
                raise ArtifactError(f"'{file}' is not a moecc artifact (foreign manifest)")
            version = manifest.get("format_version")
            if version != ARTIFACT_VERSION:
                raise ArtifactError(
                    f"'{file}' has artifact format version {version}; this moecc reads version {ARTIFACT_VERSION}",
                    remedy="recompile the model with this moecc",
                )
            checksums = manifest.get("checksums")
            if not isinstance(checksums, dict):
                raise ArtifactError(f"'{file}': manifest has no checksums")
            members: dict[str, bytes] = {}
            for name, digest in checksums.items():
                if name not in names:
                    raise ArtifactError(f"'{file}' lacks member '{name}' listed in its manifest")
                data = archive.read(name)
                if _sha256(data) != digest:
                    raise ArtifactError(f"'{file}': checksum mismatch in '{name}' (the file is corrupt)", remedy="recompile the model")
                members[name] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
        raise ArtifactError(f"'{file}' is not a readable .moe artifact ({type(exc).__name__}: {exc})", remedy="recompile the model") from None
    return manifest, members


def load_artifact(path: str | os.PathLike[str]) -> CompiledModel:
    from moecc.ir.parser import parse_graph
    from moecc.ir.verifier import verify_graph

    manifest, members = read_manifest(path)
    try:
        with np.load(io.BytesIO(members[_WEIGHTS]), allow_pickle=False) as npz:
            weights = {name: npz[name] for name in npz.files}
        graph = parse_graph(members[_GRAPH].decode("utf-8"))
        _restore_bf16(graph, weights)
        graph.bind_weights(weights)
        model = CompiledModel(graph, str(manifest["target"]), [], [], dict(manifest.get("options", {})),
                              dict(manifest.get("pass_times", {})))
        if model.target == "cpu":
            _load_cpu(model, manifest, members, path)  # binds the constants kept in the object
        unbound = [op.result.name for op in graph.const_ops() if isinstance(op.attrs["value"], ElidedTensor)]
        if unbound:
            raise ArtifactError(f"'{path}': weights missing for {', '.join(unbound[:5])}")
        verify_graph(graph)
        inputs = [TensorSpec.from_dict(d) for d in manifest["inputs"]]
        outputs = [TensorSpec.from_dict(d) for d in manifest["outputs"]]
    except ArtifactError:
        raise
    except MoeccError as err:
        raise ArtifactError(f"'{path}' holds invalid IR: {err}", remedy="recompile the model") from None
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise ArtifactError(f"'{path}' is corrupt ({type(exc).__name__}: {exc})", remedy="recompile the model") from None
    if [s.type for s in inputs] != [v.type for v in graph.inputs] or [s.type for s in outputs] != [v.type for v in graph.outputs]:
        raise ArtifactError(f"'{path}': manifest signature does not match the IR")
    model.inputs, model.outputs = inputs, outputs
    if model.target == "asic":
        _load_asic(model, manifest, members, path)
    return model


# -- the asic target's members ---------------------------------------------------------------
_KERNELS = "kernels.kir"


def _asic_members(model: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
    """Add the ASIC parts (kernel IR, program binaries and listings, the HBM image with the
    weights placed, the report) to ``members``; return their manifest entry."""
    from moecc.ir.kernel_printer import print_kernel_module
    from moecc.isa_spec import encode_program

    exe = model.asic
    members[_KERNELS] = print_kernel_module(exe.module).encode("utf-8")
    image = exe.initial_image({v.name: np.zeros(v.type.shape, v.type.dtype.numpy) for v in exe.graph.inputs})
    members["hbm_image.bin"] = image.tobytes()
    segments = []
    for index, segment in enumerate(exe.segments):
        members[f"program{index}.bin"] = encode_program(segment.program)
        members[f"program{index}.s"] = segment.listing.encode("utf-8")
        segments.append({"listing": segment.listing, "kernels": list(segment.kernels), "steps": list(segment.steps),
                         "unit_counts": dict(segment.unit_counts)})
    members["report.json"] = json.dumps(model.report(), indent=2, sort_keys=True).encode("utf-8")
    return {
        "asic_target": exe.target.name,
        "hbm_bytes": exe.hbm_bytes,
        "value_buffers": exe.value_buffers,
        "segments": segments,
        "partition": {k: v for k, v in model.partition.items() if k != "cpu_reasons"},
        "memory": model.memory,
    }


def _load_asic(model: CompiledModel, manifest: dict[str, Any], members: dict[str, bytes], path: Any) -> None:
    from moecc.asic_runtime import AsicExecutable
    from moecc.backend.asic.codegen import ProgramSegment
    from moecc.ir.kernel import verify_kernel_module
    from moecc.ir.kernel_parser import parse_kernel_module
    from moecc.isa_spec import decode_program
    from moecc.isa_spec.target import load_target

    try:
        info = manifest["asic"]
        module = parse_kernel_module(members[_KERNELS].decode("utf-8"))
        verify_kernel_module(module)
        image = np.frombuffer(members["hbm_image.bin"], dtype=np.uint8)
        weights = {}
        for buffer in module.hbm:
            if buffer.role == "weight":
                size = buffer.elements * buffer.dtype.itemsize
                weights[buffer.name] = image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy).copy()
        segments = []
        for index, meta in enumerate(info["segments"]):
            program = decode_program(members[f"program{index}.bin"])
            segments.append(ProgramSegment(program=program, listing=meta["listing"], kernels=tuple(meta["kernels"]),
                                           steps=(int(meta["steps"][0]), int(meta["steps"][1])), unit_counts=dict(meta["unit_counts"])))
        target = load_target(info["asic_target"])
    except MoeccError as err:
        raise ArtifactError(f"'{path}' holds an invalid ASIC program: {err}", remedy="recompile the model") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"'{path}': ASIC part is corrupt ({type(exc).__name__}: {exc})", remedy="recompile the model") from None
    model.asic = AsicExecutable(model.graph, module, weights, dict(info["value_buffers"]), int(info["hbm_bytes"]), target=target, segments=segments)
    model.partition = dict(info.get("partition", {}))
    model.memory = dict(info.get("memory", {}))
    _compile_host_steps(model, model.asic)


# -- the cpu target's members ----------------------------------------------------------------
_OBJECT = "kernels.o"


def _cpu_members(model: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
    """Add the cpu parts (kernel IR, the machine code of kernels and CPU steps as one
    relocatable object, which also holds the weight image) to ``members``; return their
    manifest entry. Graph constants whose bytes the object's weight image holds as they are
    are listed in ``constants_in_object`` and left out of ``weights.npz``."""
    from moecc.asic_runtime import to_hbm
    from moecc.backend.llvm.cpu_target import host_cpu_target
    from moecc.backend.llvm.object_file import executable_object, model_abi
    from moecc.ir.kernel import CpuCall
    from moecc.ir.kernel_printer import print_kernel_module

    exe = model.cpu
    cpu = host_cpu_target()
    members[_KERNELS] = print_kernel_module(exe.module).encode("utf-8")
    members[_OBJECT] = executable_object(exe, cpu)
    image = model_abi(exe).weight_image
    buffers = {b.name: b for b in exe.module.hbm}
    in_object: dict[str, str] = {}
    for op in model.graph.const_ops():
        # Constants missing from value_buffers have HBM buffers of their own name (the bytes are compared below).
        buffer = buffers.get(exe.value_buffers.get(op.result.name, op.result.name))
        value = op.attrs["value"]
        if buffer is None or buffer.role != "weight" or buffer.offset is None or isinstance(value, ElidedTensor):
            continue
        if np.dtype(value.dtype) != np.dtype(buffer.dtype.numpy):
            continue  # converted on the way to the heap (i64 -> i32, bool -> f32): keep the original
        data = to_hbm(value, buffer).tobytes()
        if image[buffer.offset: buffer.offset + len(data)] == data:
            in_object[op.result.name] = buffer.name
    host = {step.name for step in exe.program.host_steps}
    return {
        "cpu": cpu.name,
        "features": cpu.features,
        "hbm_bytes": exe.hbm_bytes,
        "value_buffers": exe.value_buffers,
        "partition": dict(model.partition),
        "native_steps": [s.name for s in exe.module.steps if isinstance(s, CpuCall) and s.name not in host],
        "constants_in_object": in_object,
    }


def _load_cpu(model: CompiledModel, manifest: dict[str, Any], members: dict[str, bytes], path: Any) -> None:
    """Rebuild the cpu executable from the stored object: no lowering, no LLVM optimisation,
    no code generation (the CPU steps are in the object too). Weights come out of the object's
    weight image, and so do the graph constants it holds as they are."""
    from moecc.asic_runtime import from_hbm
    from moecc.backend.llvm.cpu_target import host_cpu_target
    from moecc.backend.llvm.object_file import program_from_object, weight_image
    from moecc.cpu_runtime import CpuExecutable
    from moecc.ir.kernel import verify_kernel_module
    from moecc.ir.kernel_parser import parse_kernel_module

    try:
        info = manifest["cpu"]
        host = host_cpu_target()
        enabled = {f[1:] for f in host.features.split(",") if f.startswith("+")}
        missing = sorted(f[1:] for f in str(info["features"]).split(",") if f.startswith("+") and f[1:] not in enabled)
        if missing:
            raise ArtifactError(f"'{path}' was compiled for CPU '{info['cpu']}' with features this CPU "
                                f"('{host.name}') lacks: {', '.join(missing[:8])}", remedy="recompile the model on this machine")
        module = parse_kernel_module(members[_KERNELS].decode("utf-8"))
        verify_kernel_module(module)
        program = program_from_object(module, members[_OBJECT], host, [str(n) for n in info["native_steps"]])
        image = np.frombuffer(weight_image(program), dtype=np.uint8)
        buffers = {b.name: b for b in module.hbm}

        def stored(name: str) -> np.ndarray:
            buffer = buffers[name]
            size = buffer.elements * buffer.dtype.itemsize
            if buffer.offset is None or buffer.offset + size > image.size:
                raise ArtifactError(f"'{path}': weight {name} lies outside the object's weight image",
                                    remedy="recompile the model")
            return image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy).copy()

        weights = {b.name: stored(b.name) for b in module.hbm if b.role == "weight"}
        constants = {op.result.name: op for op in model.graph.const_ops()}
        bound = {}
        for value_name, buffer_name in dict(info["constants_in_object"]).items():
            op = constants[value_name]
            bound[value_name] = from_hbm(weights[buffer_name], op.result.type.dtype, op.result.type.shape)
        model.graph.bind_weights(bound)
        executable = CpuExecutable(model.graph, module, weights, dict(info["value_buffers"]), int(info["hbm_bytes"]),
                                   program=program)
    except ArtifactError:
        raise
    except MoeccError as err:
        raise ArtifactError(f"'{path}' holds an invalid cpu program: {err}", remedy="recompile the model") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"'{path}': cpu part is corrupt ({type(exc).__name__}: {exc})", remedy="recompile the model") from None
    model.cpu = executable
    model.partition = dict(info.get("partition", {}))


def _compile_host_steps(model: CompiledModel, executable: Any) -> None:
    """JIT the CPU steps' graph ops again (the artifact keeps their graph, not their code;
    the kernels themselves are not recompiled). Steps without an emitter stay interpreted."""
    if any(type(step).__name__ == "CpuCall" for step in executable.module.steps):
        from moecc.driver import _compile_cpu_steps

        _compile_cpu_steps(model, executable, {})


def _restore_bf16(graph: Any, weights: dict[str, np.ndarray]) -> None:
    import ml_dtypes

    for op in graph.const_ops():
        value = op.attrs["value"]
        name = op.result.name
        if isinstance(value, ElidedTensor) and str(value.type.dtype) == "bf16" and name in weights:
            weights[name] = weights[name].view(ml_dtypes.bfloat16)
