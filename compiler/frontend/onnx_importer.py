"""ONNX → graph IR: the first stage of the flow.

:func:`import_onnx` loads a model (path, bytes or ``onnx.ModelProto``; external data
included), checks it (opset range, op support — every unsupported op listed at once —, dtypes,
dynamic dims resolved from ``input_shapes``), runs ONNX shape inference to validate it, and
lowers node by node through the handler table of :mod:`moecc.frontend.onnx_context`. Handlers
emit through a folding builder, so shape-computation subgraphs (Shape → Gather → Concat →
Reshape chains) become static shapes while importing. The result is verified before it is
returned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import onnx.inliner  # a submodule `import onnx` does not load
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from moecc.errors import ModelLoadError, MoeccError, ShapeError, UnsupportedError, UnsupportedOpsError, VerificationError
from moecc.frontend import onnx_context
from moecc.frontend.onnx_context import ONNX_HANDLERS, NodeContext
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Value
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph

#: Oldest default-domain opset moecc imports; older models must be converted first.
MIN_OPSET = 13
#: Newest opset: the one the installed onnx package knows.
MAX_OPSET = onnx.defs.onnx_opset_version()
_DEFAULT_DOMAINS = ("", "ai.onnx")
#: A single initializer above this size is refused before numpy tries to hold it.
MAX_TENSOR_BYTES = 16 * 1024**3

_HANDLER_MODULES = ("onnx_elementwise", "onnx_reduction", "onnx_linalg", "onnx_shape", "onnx_indexing", "onnx_composite",
                    "onnx_contrib")

ModelSource = str | os.PathLike[str] | bytes | onnx.ModelProto
InputShapes = Mapping[str, Sequence[int]]


def _load_handlers() -> None:
    import importlib

    for name in _HANDLER_MODULES:
        importlib.import_module(f"moecc.frontend.{name}")


def supported_onnx_ops() -> dict[str, str]:
    """ONNX op types the frontend lowers, each with the opset range it imports (``"13-28"``):
    the handler's own range clipped to the importer's."""
    _load_handlers()
    return {
        name: f"{max(h.since, MIN_OPSET)}-{min(h.until or MAX_OPSET, MAX_OPSET)}"
        for name, h in sorted(onnx_context.ONNX_HANDLERS.items())
    }


# -- loading ------------------------------------------------------------------------------

def load_model(source: ModelSource) -> tuple[onnx.ModelProto, Path | None]:
    """Read a model; every failure is a :class:`ModelLoadError`.

    External data is not read: each external initializer's ``location`` is made absolute (and
    checked: the file exists and holds the tensor's bytes), and the importer maps the file
    (:func:`tensor_array`), so weights are read from disk once, when something uses them,
    and never copied into the protobuf."""
    if isinstance(source, onnx.ModelProto):
        return source, None
    if isinstance(source, bytes):
        return _parse_model_bytes(source, "<bytes>"), None
    path = Path(source)
    if not path.exists():
        raise ModelLoadError(f"model file '{path}' does not exist", remedy="check the path")
    if path.is_dir():
        raise ModelLoadError(f"'{path}' is a directory, not an ONNX model file", remedy="give the .onnx file inside it")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read '{path}': {exc.strerror}") from None
    model = _parse_model_bytes(data, str(path))
    _resolve_external_data(model, path)
    return model, path


def _resolve_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Make every external initializer's location absolute, checking that its bytes exist."""
    folder = path.parent.resolve()
    tensors = list(model.graph.initializer) + [t for node in model.graph.node for a in node.attribute
                                               if a.type == onnx.AttributeProto.TENSOR for t in (a.t,)]
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve() if location else None
        if target is None or folder not in target.parents:
            raise ModelLoadError(f"cannot load external data of '{path}': initializer '{tensor.name}' points outside "
                                 f"the model's folder ('{location}')", remedy="keep the model's .data files next to it, as exported")
        try:
            size = target.stat().st_size
        except OSError:
            raise ModelLoadError(f"cannot load external data of '{path}': '{location}' of initializer '{tensor.name}' "
                                 f"does not exist", remedy="keep the model's .data files next to it, as exported") from None
        offset, length = int(info.get("offset", 0) or 0), info.get("length")
        if offset < 0 or offset > size or (length is not None and offset + int(length) > size):
            raise ModelLoadError(f"cannot load external data of '{path}': initializer '{tensor.name}' lies past the end "
                                 f"of '{location}' ({size} bytes)", remedy="the data file is truncated; re-export the model")
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = str(target)


def _parse_model_bytes(data: bytes, where: str) -> onnx.ModelProto:
    if not data:
        raise ModelLoadError(f"'{where}' is empty", remedy="give a valid .onnx file")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"'{where}' is not a valid ONNX model (protobuf decoding failed: {exc})",
            remedy="the file is truncated or not ONNX; re-export it",
        ) from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise ModelLoadError(
            f"'{where}' is not an ONNX model (no IR version, graph or opset import)",
            remedy="give a file written by onnx.save or an ONNX exporter",
        )
    return model


def model_opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise UnsupportedError("the model imports no default-domain (ai.onnx) opset")
    opset = versions[0]
    if opset > MAX_OPSET:
        raise UnsupportedError(
            f"the model uses opset {opset}, newer than the newest moecc knows ({MAX_OPSET})",
            remedy=f"export with opset_version between {MIN_OPSET} and {MAX_OPSET}",
        )
    if opset < MIN_OPSET:
        raise UnsupportedError(
            f"the model uses opset {opset}; moecc imports opsets {MIN_OPSET} to {MAX_OPSET}",
            remedy=f"convert it: onnx.version_converter.convert_version(model, {MIN_OPSET})",
        )
    return opset


# -- checks -------------------------------------------------------------------------------

def handler_key(node: onnx.NodeProto) -> str:
    """The key of ``node``'s handler: its op type in the default domain, else ``domain::op type``."""
    return node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"


def check_supported_ops(model: onnx.ModelProto, opset: int) -> None:
    """Raise one :class:`UnsupportedOpsError` listing every unsupported op type and its nodes."""
    _load_handlers()
    missing: dict[str, list[str]] = {}
    for node in model.graph.node:
        label = handler_key(node)
        handler = ONNX_HANDLERS.get(label)
        if handler is None or not handler.supports(opset):
            missing.setdefault(label, []).append(node.name or f"#{len(missing.get(label, []))}")
    if not missing:
        return
    from moecc.frontend.onnx_contrib import REFUSED_OPS

    parts = []
    for label, names in sorted(missing.items()):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        why = f"; {REFUSED_OPS[label]}" if label in REFUSED_OPS else ""
        parts.append(f"{label} ({len(names)} node{'s' if len(names) != 1 else ''}: {shown}{why})")
    raise UnsupportedOpsError(
        f"{len(missing)} unsupported op type{'s' if len(missing) != 1 else ''} at opset {opset}: " + "; ".join(parts),
        remedy="see `moecc ops` for the supported ops",
    )


def resolve_input_types(model: onnx.ModelProto, input_shapes: InputShapes | None) -> dict[str, TensorType]:
    """Static types of the graph inputs, dynamic dims filled in from ``input_shapes``."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    shapes = dict(input_shapes or {})
    unknown = sorted(set(shapes) - {i.name for i in inputs})
    if unknown:
        raise ShapeError(
            f"--input-shape names unknown input(s) {', '.join(unknown)}",
            remedy=f"the model's inputs are {', '.join(i.name for i in inputs) or '(none)'}",
        )
    types: dict[str, TensorType] = {}
    for inp in inputs:
        if not inp.type.HasField("tensor_type"):
            raise UnsupportedError(f"input '{inp.name}' is not a tensor (sequence/map/optional inputs are not supported)")
        tt = inp.type.tensor_type
        try:
            dtype = DType.from_onnx(tt.elem_type)
        except MoeccError as err:
            raise err.add_context(location=f"input '{inp.name}'") from None
        given = shapes.get(inp.name)
        if not tt.HasField("shape"):
            if given is None:
                raise ShapeError(
                    f"input '{inp.name}' has an unknown rank",
                    remedy=f"give its shape: input_shapes={{'{inp.name}': (...)}} or --input-shape {inp.name}:1x128",
                )
            types[inp.name] = TensorType(tuple(int(d) for d in given), dtype)
            continue
        declared = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        labels = [d.dim_param if d.HasField("dim_param") else "?" for d in tt.shape.dim]
        if given is not None:
            given = [int(d) for d in given]
            if len(given) != len(declared) or any(d is not None and d != g for d, g in zip(declared, given)):
                shown = "x".join(str(d) if d is not None else lab for d, lab in zip(declared, labels))
                raise ShapeError(
                    f"input '{inp.name}' is declared {shown} but the given shape is {'x'.join(map(str, given))}",
                    remedy="give a shape of the same rank that keeps the fixed dims",
                )
            if any(g < 0 for g in given):
                raise ShapeError(f"input '{inp.name}': negative dim in given shape {given}")
            types[inp.name] = TensorType(tuple(given), dtype)
            continue
        dynamic = [(i, lab) for i, (d, lab) in enumerate(zip(declared, labels)) if d is None]
        if dynamic:
            dims = ", ".join(f"dim {i} ('{lab}')" for i, lab in dynamic)
            example = "x".join(str(d) if d is not None else "N" for d in declared)
            raise ShapeError(
                f"input '{inp.name}' has dynamic {dims}",
                remedy=f"give its shape: input_shapes={{'{inp.name}': (...)}} or --input-shape {inp.name}:{example} with N chosen",
            )
        types[inp.name] = TensorType(tuple(int(d) for d in declared), dtype)
    return types


#: Initializers with more elements than this are given to ONNX shape inference by type only
#: (weights never determine a shape; small ones may: Reshape targets, axes, pads).
INFERENCE_INITIALIZER_ELEMENTS = 4096


def _with_static_inputs(model: onnx.ModelProto, types: Mapping[str, TensorType]) -> onnx.ModelProto:
    """The model as ONNX shape inference sees it: the inputs at their static shapes, and every
    big initializer declared as an input of its type instead of carried with its data (so no
    weight bytes are serialised or copied for inference)."""
    fixed = onnx.ModelProto()
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version"):
        setattr(fixed, field, getattr(model, field))
    fixed.opset_import.extend(model.opset_import)
    fixed.functions.extend(model.functions)
    source, graph = model.graph, fixed.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.input.extend(source.input)
    graph.output.extend(source.output)
    graph.value_info.extend(source.value_info)
    graph.sparse_initializer.extend(source.sparse_initializer)
    declared = {inp.name for inp in source.input}
    for tensor in source.initializer:
        numel = int(np.prod(tensor.dims, dtype=np.int64)) if tensor.dims else 1
        if numel <= INFERENCE_INITIALIZER_ELEMENTS and tensor.data_location != onnx.TensorProto.EXTERNAL:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    for inp in graph.input:
        if inp.name in types:
            dims = inp.type.tensor_type.shape
            dims.Clear()
            for d in types[inp.name].shape:
                dims.dim.add().dim_value = d
    return fixed


def _onnx_shape_inference(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """Run ONNX's own strict shape inference: it rejects inconsistent models early, naming the node."""
    if model.ByteSize() > 1_500_000_000:
        return {}  # inference needs the model in one protobuf (2 GiB at most); weights are not in it
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "inference failed"
        raise ShapeError(f"ONNX shape inference rejects the model: {first}", remedy="fix or re-export the model") from None
    except (onnx.checker.ValidationError, RuntimeError, ValueError) as exc:
        raise ShapeError(f"ONNX shape inference failed: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    return {vi.name: vi.type for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}


def _node_order(nodes: Sequence[onnx.NodeProto], available: set[str]) -> list[int]:
    """Topological order of the nodes; dangling inputs and cycles are errors naming the nodes."""
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out:
                if out in producer or out in available:
                    raise VerificationError(f"value '{out}' is produced twice", node=node.name, op_type=node.op_type)
                producer[out] = i
    dg = nx.DiGraph()
    dg.add_nodes_from(range(len(nodes)))
    for i, node in enumerate(nodes):
        for name in node.input:
            if not name or name in available:
                continue
            if name not in producer:
                raise VerificationError(
                    f"input '{name}' is not produced by any node, initializer or graph input",
                    node=node.name,
                    op_type=node.op_type,
                    remedy="the model is malformed (dangling input); re-export it",
                )
            dg.add_edge(producer[name], i)
    try:
        return list(nx.lexicographical_topological_sort(dg))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dg)
        names = " -> ".join(nodes[a].name or nodes[a].op_type for a, _ in cycle)
        raise VerificationError(f"the model's graph has a cycle: {names}", remedy="re-export the model") from None


def tensor_array(tensor: onnx.TensorProto) -> np.ndarray:
    """An initializer (or a tensor attribute) as a numpy array of its moecc dtype; external data
    is memory-mapped (:func:`_mapped_initializer`), not read."""
    try:
        dtype = DType.from_onnx(tensor.data_type)
    except MoeccError as err:
        raise err.add_context(location=f"initializer '{tensor.name}'") from None
    numel = int(np.prod(tensor.dims, dtype=np.float64)) if tensor.dims else 1
    if numel * dtype.itemsize > MAX_TENSOR_BYTES:
        raise UnsupportedError(
            f"initializer '{tensor.name}' has shape {tuple(tensor.dims)}, {numel * dtype.itemsize / 2**30:.1f} GiB",
            remedy="the tensor is too large to hold; check the model is not corrupt",
        )
    if tensor.data_location == onnx.TensorProto.EXTERNAL and not tensor.raw_data:
        return _mapped_initializer(tensor, dtype, numel)
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, MemoryError) as exc:
        raise ModelLoadError(f"initializer '{tensor.name}' is corrupt: {exc}") from None
    if array.shape != tuple(tensor.dims):
        raise ModelLoadError(f"initializer '{tensor.name}' holds {array.size} elements, its dims {tuple(tensor.dims)} need {numel}")
    return np.asarray(array.astype(dtype.numpy, copy=False), order="C")  # ascontiguousarray would make scalars 1-D


def _mapped_initializer(tensor: onnx.TensorProto, dtype: DType, numel: int) -> np.ndarray:
    """An external initializer as a read-only memory map of its file (no copy, paged in on use)."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = Path(info.get("location", ""))
    if not location.is_absolute():
        raise ModelLoadError(
            f"initializer '{tensor.name}' keeps its data in an external file that was not loaded",
            remedy="pass the model by path so its external data can be found",
        )
    stored = np.dtype(numpy_helper.helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    offset = int(info.get("offset", 0) or 0)
    nbytes = numel * stored.itemsize
    if "length" in info and int(info["length"]) != nbytes:
        raise ModelLoadError(f"initializer '{tensor.name}' has {info['length']} bytes of external data, "
                             f"its dims {tuple(tensor.dims)} need {nbytes}", remedy="re-export the model")
    try:
        if location.stat().st_size < offset + nbytes:
            raise ModelLoadError(f"initializer '{tensor.name}' lies past the end of '{location}'",
                                 remedy="the data file is truncated; re-export the model")
        array = np.memmap(location, dtype=stored, mode="r", offset=offset, shape=tuple(int(d) for d in tensor.dims))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot map the external data of initializer '{tensor.name}': {exc}") from None
    if dtype.numpy != stored:
        return np.asarray(array.astype(dtype.numpy))  # a converted copy (e.g. big-endian data)
    return array.view(np.ndarray) if array.ndim else np.asarray(array[()])


# -- import -------------------------------------------------------------------------------

def import_onnx(
    source: ModelSource,
    input_shapes: InputShapes | None = None,
    constant_inputs: Mapping[str, np.ndarray] | None = None,
) -> Graph:
    """Import an ONNX model as a verified graph-IR :class:`Graph` with static shapes.

    ``constant_inputs`` binds graph inputs to fixed values (they become constants and leave
    the signature), for inputs that determine shapes (axes, K, target shapes) but that the
    model takes at run time.
    """
    model, _ = load_model(source)
    opset = model_opset(model)
    if model.functions:
        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as exc:  # the inliner raises plain C++ exceptions on bad functions
            raise ModelLoadError(f"cannot inline the model's local functions: {exc}") from None
    graph_proto = model.graph
    check_supported_ops(model, opset)
    frozen = dict(constant_inputs or {})
    input_types = resolve_input_types(model, {**{k: np.shape(v) for k, v in frozen.items()}, **(input_shapes or {})})
    for name, data in frozen.items():
        array = np.asarray(data)
        if TensorType.of(array) != input_types[name]:
            raise ShapeError(f"constant input '{name}' is {TensorType.of(array)}, the model takes {input_types[name]}")
    onnx_types = _onnx_shape_inference(_with_static_inputs(model, input_types))

    graph = Graph(name=_graph_name(graph_proto.name))
    builder = GraphBuilder(graph)
    env: dict[str, Value] = {}
    for tensor in graph_proto.initializer:
        env[tensor.name] = builder.const(tensor_array(tensor), tensor.name)
    for inp in graph_proto.input:
        if inp.name in frozen:
            env[inp.name] = builder.const(np.asarray(frozen[inp.name]), inp.name)
        elif inp.name in input_types:
            env[inp.name] = graph.add_input(inp.name, input_types[inp.name])

    nodes = list(graph_proto.node)
    for index in _node_order(nodes, set(env)):
        node = nodes[index]
        handler = ONNX_HANDLERS[handler_key(node)]
        inputs = [env[name] if name else None for name in node.input]
        ctx = NodeContext(node, opset, builder, inputs)
        builder.source = node.name or node.op_type
        try:
            results = list(handler.fn(ctx))
        except MoeccError as err:
            raise err.add_context(node=ctx.name, op_type=node.op_type, opset=opset) from None
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError) as exc:
            raise ShapeError(f"cannot lower this node: {type(exc).__name__}: {exc}", node=ctx.name, op_type=node.op_type, opset=opset) from None
        for pos, name in enumerate(node.output):
            if not name:
                continue
            if pos >= len(results) or results[pos] is None:
                raise UnsupportedError(f"output {pos} ('{name}') is not supported", node=ctx.name, op_type=node.op_type, opset=opset)
            value = results[pos]
            _check_against_onnx(ctx, name, value, onnx_types.get(name))
            env[name] = value
    outputs = []
    for out in graph_proto.output:
        if out.name not in env:
            raise VerificationError(f"graph output '{out.name}' is not produced by any node", remedy="the model is malformed; re-export it")
        outputs.append(env[out.name])
    graph.set_outputs(outputs, [o.name for o in graph_proto.output])
    _check_declared_outputs(graph_proto, graph)
    from moecc.passes.dce import DeadCodeElimination

    DeadCodeElimination().apply(graph)
    verify_graph(graph)
    return graph


def _check_against_onnx(ctx: NodeContext, name: str, value: Value, declared: onnx.TypeProto | None) -> None:
    """moecc's inferred type must agree with ONNX's where ONNX knows it statically."""
    if declared is None or not declared.HasField("tensor_type"):
        return
    tt = declared.tensor_type
    if tt.elem_type:
        try:
            dtype = DType.from_onnx(tt.elem_type)
        except MoeccError:
            dtype = None
        if dtype is not None and dtype != value.type.dtype:
            raise VerificationError(
                f"output '{name}' lowers to {value.type} but ONNX infers element type {dtype}",
                node=ctx.name, op_type=ctx.op_type, opset=ctx.opset, remedy="this is a moecc bug; please report it",
            )
    if tt.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) != value.type.rank or any(d is not None and d != s for d, s in zip(dims, value.type.shape)):
            raise ShapeError(
                f"output '{name}' has shape {value.type.shape} in moecc but ONNX infers "
                f"{tuple(d if d is not None else '?' for d in dims)}",
                node=ctx.name, op_type=ctx.op_type, opset=ctx.opset,
            )


def _check_declared_outputs(graph_proto: onnx.GraphProto, graph: Graph) -> None:
    for out, value in zip(graph_proto.output, graph.outputs):
        if out.type.HasField("tensor_type") and out.type.tensor_type.elem_type:
            declared = DType.from_onnx(out.type.tensor_type.elem_type)
            if declared != value.type.dtype:
                raise VerificationError(f"graph output '{out.name}' is declared {declared} but computes {value.type.dtype}")


def _graph_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned or "main"
