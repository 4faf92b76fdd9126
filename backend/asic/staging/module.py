"""Staging a whole tiled module into the ASIC kernel IR.

- Global buffers become HBM buffers in the target's storage dtypes (``Target.storage_dtypes``:
  i64 as i32, bool as f32 0/1, f16 as f32), with their roles; weights are converted into those
  dtypes as ``LoweringContext.weight`` does on the kernel path.
- A small global temporary only one kernel touches becomes a local of it (:mod:`.private`).
- Each tiled kernel becomes one kernel: its runs of element-wise statements are done block by
  block (:mod:`.blocks`), live ranges of a local used through a view that is not dense get
  buffers of their own (:mod:`.webs`); its locals become SRAM buffers (2-D, flat), or
  accumulator buffers when a ``matmul`` writes them; each statement is staged
  (:mod:`.statements`). A kernel with anything staging cannot express becomes a host step
  with the reason (:mod:`.host`); so does a host call, re-keyed onto the graph's ops.
- The MXU dtype is bf16 at ``precision="bf16"``, f32 otherwise and in kernels implementing a
  routing matmul (:func:`~moecc.backend.asic.precision.routing_matmuls`, matched by ONNX node).
- Multi-buffering (:mod:`.buffering`) then gives the iteration-private tiles of innermost
  loops up to four slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from moecc.ir.graph import Graph
from moecc.ir.kernel import Buffer as KBuffer
from moecc.ir.kernel import CpuCall, Kernel as KKernel, KernelModule, Load
from moecc.ir.kernel import walk as kwalk
from moecc.ir.tiled.nodes import Buffer, For, HostCall, Kernel, MatMul, TiledModule, host_inputs, kernel_statements, stmt_views, walk
from moecc.ir.types import DType
from moecc.isa_spec.target import Target
from moecc.backend.asic.precision import routing_matmuls

from moecc.backend.asic.staging.buffering import double_buffer
from moecc.backend.asic.staging.prefetch import prefetch_next_iteration
from moecc.backend.asic.staging.context import StageContext
from moecc.backend.asic.staging.host import touched_globals
from moecc.backend.asic.staging.statements import stage_statement
from moecc.backend.asic.staging.tiles import KernelStager, NotStageable
from moecc.backend.asic.staging.blocks import align_runs, fuse_runs
from moecc.backend.asic.staging.private import PRIVATE_TEMP_SHARES, localize, private_temps
from moecc.backend.asic.staging.webs import split_webs
from moecc.backend.asic.staging.sparse_weights import SparsePlan, mark_skippable_loads, plan_sparse_weights
from moecc.passes.memory_plan import kernel_fits


@dataclass(slots=True)
class StagedModule:
    """What staging produced: the kernel module, HBM weight data (storage dtypes), graph value
    name -> HBM buffer, the kernels left to the host (name -> tiled kernel and the globals it
    touches) and one report row per host step."""

    module: KernelModule
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    value_buffers: dict[str, str] = field(default_factory=dict)
    host_kernels: dict[str, tuple[Kernel, tuple[Buffer, ...]]] = field(default_factory=dict)
    host_rows: list[dict[str, str]] = field(default_factory=list)
    slow_paths: int = 0
    sparse: SparsePlan = field(default_factory=SparsePlan)  # weights multiplied sparse


def stage_module(tiled: TiledModule, weights: dict[str, np.ndarray], graph: Graph, input_buffers: tuple[str, ...],
                 target: Target, precision: str = "f32") -> StagedModule:
    storage = target.storage_dtypes
    globals_ = {b.name: b for b in tiled.buffers}
    hbm_dtypes = {b.name: storage[b.dtype] for b in tiled.buffers}
    routing = RoutingKernels(graph)
    for name in _mxu_only_weights(tiled, routing) if precision == "bf16" else ():
        hbm_dtypes[name] = DType.BF16
    for name in _block_masks(tiled):
        hbm_dtypes[name] = DType.U8  # as mxu.mmsp reads a mask: one byte per block
    module = KernelModule(
        hbm=[KBuffer(b.name, "hbm", hbm_dtypes[b.name], tuple(b.shape) or (1,), role=b.role) for b in tiled.buffers],
        inputs=list(tiled.inputs),
        outputs=list(dict.fromkeys(tiled.outputs)),
    )
    staged = StagedModule(module)
    sparse = plan_sparse_weights(tiled, weights, hbm_dtypes, target)
    module.hbm += sparse.buffers
    weights = {**weights, **sparse.data}
    for buf in sparse.buffers:
        hbm_dtypes[buf.name] = buf.dtype
    for name, data in weights.items():
        if name in hbm_dtypes:
            staged.weights[name] = np.ascontiguousarray(np.asarray(data).astype(hbm_dtypes[name].numpy, copy=False)).reshape(-1)
    private = [private_temps(tiled, target, share) for share in PRIVATE_TEMP_SHARES]
    for step in tiled.steps:
        if isinstance(step, HostCall):
            staged.module.steps.append(_host_call(step, staged))
            continue
        mxu = DType.BF16 if precision == "bf16" and not routing.holds(step) else DType.F32
        step = align_runs(step)
        try:
            kernel, slow, dense = _stage_with_private(step, [p.get(step.name, []) for p in private], tiled,
                                                      hbm_dtypes, weights, target, mxu, sparse)
        except NotStageable as err:
            touched = touched_globals(step, globals_)
            staged.host_kernels[step.name] = (step, tuple(globals_[n] for n in touched))
            staged.module.steps.append(CpuCall(step.name, touched, touched, ()))
            for source in step.sources or (step.name,):
                staged.host_rows.append({"op": f"@{step.name}", "kind": "kernel", "onnx_node": source,
                                         "reason": err.message})
            continue
        staged.slow_paths += slow
        sparse.dense_reads |= dense
        staged.module.steps.append(kernel)
    host_inputs = {name for step in staged.host_kernels.values() for name in (b.name for b in step[1])}
    host_inputs |= {name for step in tiled.steps if isinstance(step, HostCall) for name in step.inputs}
    loaded = {stmt.src.buffer for kernel in module.kernels for stmt, _ in kwalk(kernel.body) if isinstance(stmt, Load)}
    unused = sparse.unused_dense(host_inputs) | sparse.drop_unread(loaded)
    module.hbm = [b for b in module.hbm if b.name not in unused]
    for name in unused:
        staged.weights.pop(name, None)
    staged.sparse = sparse
    for value, buffer in zip(graph.outputs, tiled.outputs):
        # A value returned twice has a second buffer the first is copied into: the value
        # itself (what a host step that makes it writes) is the first.
        staged.value_buffers.setdefault(value.name, buffer)
    for value, buffer in zip(graph.inputs, input_buffers):
        staged.value_buffers[value.name] = buffer
    return staged


#: Share of the SRAM the blocks of one run of statements done block by block may take.
FUSED_SHARE = 8


class RoutingKernels:
    """Which kernels implement a routing matmul (kept f32 at precision bf16): those of a
    matmul feeding a top-k (by ONNX node), and of a ``moe`` op only its ``<result>_route``
    kernel (the lowering gives the router a kernel of its own; the experts run in bf16)."""

    def __init__(self, graph: Graph) -> None:
        ops = routing_matmuls(graph)
        self.nodes = {op.source for op in ops if op.source and op.kind != "moe"}
        # Kernel names are the lowering's step names: the hint with other characters as "_".
        self.moe_routes = {"".join(c if c.isalnum() or c in "_." else "_" for c in f"{op.result.name}_route").strip(".")
                           for op in ops if op.kind == "moe"}

    def holds(self, kernel: Kernel) -> bool:
        return bool(self.nodes.intersection(kernel.sources)) or any(
            kernel.name == route or kernel.name.startswith(route + "_") for route in self.moe_routes)


def _mxu_only_weights(tiled: TiledModule, routing: RoutingKernels) -> set[str]:
    """f32 weights read only as matmul operands of bf16 kernels: held in HBM as bf16 (as the
    kernel path packs them), so they load at half the bytes and need no conversion."""
    weights = {b.name for b in tiled.buffers if b.role == "weight" and b.dtype == DType.F32}
    other = host_inputs(tiled)
    used: set[str] = set()
    for step, stmt in kernel_statements(tiled):
        if isinstance(stmt, MatMul) and not routing.holds(step):
            used.update({stmt.a.buffer, stmt.b.buffer} & weights)
            other.add(stmt.dst.buffer)
        else:
            other.update(v.buffer for _, v in stmt_views(stmt))
    return (used & weights) - other


def _block_masks(tiled: TiledModule) -> set[str]:
    """u8 weights read only as matmuls' block masks (:attr:`MatMul.blocks`): held in HBM as
    bytes, the form ``mxu.mmsp`` reads, instead of the u8 storage dtype."""
    masks = {b.name for b in tiled.buffers if b.role == "weight" and b.dtype == DType.U8}
    used: set[str] = set()
    other = host_inputs(tiled)
    for _, stmt in kernel_statements(tiled):
        views = stmt_views(stmt)
        if isinstance(stmt, MatMul) and stmt.blocks is not None:
            used.add(stmt.blocks.buffer)
            views = [(access, view) for access, view in views if view is not stmt.blocks]
        other.update(view.buffer for _, view in views)
    return (used & masks) - other


def _host_call(call: HostCall, staged: StagedModule) -> CpuCall:
    for value, buffer in zip(call.graph.inputs, call.inputs):
        staged.value_buffers.setdefault(value.name, buffer)
    for value, buffer in zip(call.graph.outputs, call.outputs):
        staged.value_buffers[value.name] = buffer
    ops = tuple(op.results[0].name for op in call.graph.ops if not op.is_const)
    for op in call.graph.ops:
        if not op.is_const:
            staged.host_rows.append({"op": f"%{op.results[0].name}", "kind": op.kind, "onnx_node": op.source or "",
                                     "reason": call.reason})
    return CpuCall(call.name, tuple(dict.fromkeys(call.inputs)), tuple(dict.fromkeys(call.outputs)), ops)


def _stage_with_private(step: Kernel, choices: list[list[Buffer]], tiled: TiledModule, hbm_dtypes: dict[str, DType],
                        weights: dict[str, np.ndarray], target: Target, mxu: DType,
                        sparse: SparsePlan) -> tuple[KKernel, int, set[str]]:
    """``step`` staged with the first of ``choices`` (sets of its private temporaries, largest
    first; see :mod:`.private`) whose staged kernel fits the SRAM, else with none."""
    tried: set[tuple[str, ...]] = set()
    for buffers in choices:
        key = tuple(b.name for b in buffers)
        if not buffers or key in tried:
            continue
        tried.add(key)
        staged = _stage_kernel(localize(step, buffers), tiled, hbm_dtypes, weights, target, mxu, sparse)
        if kernel_fits(staged[0], target):
            return staged
    return _stage_kernel(step, tiled, hbm_dtypes, weights, target, mxu, sparse)


def _stage_kernel(kernel: Kernel, tiled: TiledModule, hbm_dtypes: dict[str, DType], weights: dict[str, np.ndarray],
                  target: Target, mxu: DType, sparse: SparsePlan) -> tuple[KKernel, int, set[str]]:
    """The staged kernel; staged again without the transformations that hold more tiles in
    SRAM at once (statement blocks, hoisted and resident operands) when it would not fit."""
    staged = _stage_kernel_once(kernel, tiled, hbm_dtypes, weights, target, mxu, sparse, conservative=False)
    if kernel_fits(staged[0], target):
        return staged
    return _stage_kernel_once(kernel, tiled, hbm_dtypes, weights, target, mxu, sparse, conservative=True)


def _stage_kernel_once(kernel: Kernel, tiled: TiledModule, hbm_dtypes: dict[str, DType], weights: dict[str, np.ndarray],
                       target: Target, mxu: DType, sparse: SparsePlan,
                       conservative: bool) -> tuple[KKernel, int, set[str]]:
    """The staged kernel, its slow paths, and the sparse weights a block of it read dense."""
    storage = target.storage_dtypes
    names = {b.name for b in tiled.buffers}
    if not conservative:
        kernel = fuse_runs(kernel, names, target.sram_capacity_bytes // FUSED_SHARE, {b.name: b for b in tiled.buffers})
    kernel = split_webs(kernel, names)
    acc_locals = {stmt.dst.buffer for _, stmt, _ in walk(kernel.body) if isinstance(stmt, MatMul)}
    stager = KernelStager(kernel.name, dict(hbm_dtypes))
    dtypes = {b.name: b.dtype for b in tiled.buffers}
    roles = {b.name: b.role for b in tiled.buffers}
    for buf in kernel.buffers:
        dtypes[buf.name] = buf.dtype
        roles[buf.name] = "local"
        elements = max(1, buf.elements)
        cols = buf.shape[-1] if buf.shape and buf.shape[-1] > 0 else 1
        shape = (elements // cols, cols)
        if buf.name in acc_locals:
            if buf.dtype != DType.F32:
                raise NotStageable(f"a {buf.dtype} matmul destination (the accumulator holds f32)")
            stager.locals_[buf.name] = KBuffer(buf.name, "acc", DType.F32, shape)
        else:
            stager.locals_[buf.name] = KBuffer(buf.name, "sram", storage[buf.dtype], shape)
    written = frozenset(v.buffer for _, stmt, _ in walk(kernel.body) if not isinstance(stmt, For)
                        for access, v in stmt_views(stmt) if access != "read")
    for buf in sparse.buffers:
        dtypes[buf.name], roles[buf.name] = buf.dtype, "weight"
    ctx = StageContext(stager, target, dtypes, roles, weights, mxu, written, conservative=conservative,
                       sparse=sparse, dense_reads=set())
    for stmt in kernel.body:
        stage_statement(ctx, stmt)
    body = mark_skippable_loads(stager.body, sparse, ctx.dense_reads)
    body = double_buffer(body, {b.name for b in stager.temps}, set(stager.locals_), stager, target)
    body = prefetch_next_iteration(body, stager, target)
    return KKernel(kernel.name, stager.buffers(), body, kernel.sources), stager.slow_paths, ctx.dense_reads


__all__ = ["StagedModule", "stage_module"]
