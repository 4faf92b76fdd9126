"""The ``.moe`` artifact: a compiled model on disk.

A ``.moe`` file is a zip archive holding ``manifest.json`` (format name and version, moecc
version, target, I/O signature, options, sha256 of every other member), ``graph.mir`` (the
graph IR with constants elided), ``weights.npz`` (constant data keyed by value name) and the
target's own members (kernel IR, programs, objects: :meth:`CompileTarget.save_members
<moecc.targets.base.CompileTarget.save_members>`), with the target's manifest entry under its name
(and, for a model compiled with pruned weights, its report's ``"pruning"`` section under ``pruning``).
:func:`load_artifact` checks all of it; a corrupt, truncated, foreign or newer file is an
:class:`~moecc.errors.ArtifactError`. Files are written atomically, streamed into the destination folder.
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
from moecc.fileio import atomic_writer
from moecc.ir.graph import ElidedTensor

ARTIFACT_FORMAT = "moecc-artifact"
#: 2: cpu artifacts keep the weights once (in the object) and their CPU steps in the object.
ARTIFACT_VERSION = 2
_MANIFEST = "manifest.json"
_GRAPH = "graph.mir"
_WEIGHTS = "weights.npz"
#: Members bigger than this are stored uncompressed (streamed straight into the archive).
STORE_ABOVE_BYTES = 1 << 20


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
    backend = model.backend
    target_entry = backend.save_members(model, members)
    members[_WEIGHTS] = _weights_blob(model, backend.constants_stored_elsewhere(target_entry))
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
    if target_entry is not None:
        manifest[backend.name] = target_entry  # the target's own part, under its name
    if model.pruning is not None:
        manifest["pruning"] = model.pruning
    with atomic_writer(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True), zipfile.ZIP_DEFLATED)
        for name, data in members.items():
            # Weights, images and machine code barely compress: store them (deflating 300 MB took 15 s).
            archive.writestr(name, data, zipfile.ZIP_STORED if len(data) > STORE_ABOVE_BYTES else zipfile.ZIP_DEFLATED)


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
        backend = model.backend
        # Before the check for unbound constants: a target may bind those its own members hold.
        backend.load_members(model, manifest.get(backend.name), members, path)
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
    model.pruning = manifest.get("pruning")
    return model


def _restore_bf16(graph: Any, weights: dict[str, np.ndarray]) -> None:
    import ml_dtypes

    for op in graph.const_ops():
        value = op.attrs["value"]
        name = op.result.name
        if isinstance(value, ElidedTensor) and str(value.type.dtype) == "bf16" and name in weights:
            weights[name] = weights[name].view(ml_dtypes.bfloat16)
