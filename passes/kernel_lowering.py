"""Graph IR → kernel IR for the moe-asic: partitioning, then one kernel per ASIC op.

Position in the flow: after the graph passes, before memory planning and instruction
selection. Each graph op kind the ASIC can run has an :class:`AsicLowering` in
:data:`ASIC_LOWERINGS` (registered by the ``tiling_*`` modules beside this one): ``supports``
says whether this particular op (shapes, dtypes, attributes) fits the target, and ``lower``
emits its tiled kernel(s) through a :class:`LoweringContext`. Ops without a lowering, or whose
lowering declines, run on the host as :class:`~moecc.ir.kernel.CpuCall` steps; consecutive
CPU ops share one step. The partition is recorded so reports can say what ran where and why.

Graph values become HBM buffers (one per value; a reshape aliases its operand's buffer),
each in the storage dtype the target gives the value's graph dtype
(:attr:`~moecc.isa_spec.target.Target.storage_dtypes`: the ASIC's HBM holds i64 as i32 and bool
as f32 0/1, the CPU's heap holds every dtype as itself). Kernels work in the kernel IR's dtypes
only (:data:`~moecc.ir.kernel.KERNEL_DTYPES`), so an op any of whose values the target stores
otherwise runs as a CPU step (:func:`storage_reason`), unless its rule only aliases buffers
(reshape) or packs that constant operand itself. Constants become ``weight`` buffers whose
data the context collects in ``weights``, in the layout and dtype the kernels read (e.g. bf16
copies of matmul weights at ``precision="bf16"``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import MoeccError, UnsupportedError
from moecc.ir.builder import const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.kernel import KERNEL_DTYPES, Buffer, CpuCall, For, Kernel, KernelModule, Stmt
from moecc.ir.types import DType
from moecc.isa_spec.target import Target

PRECISIONS: tuple[str, ...] = ("f32", "bf16")
#: Constant operands of CPU steps with at least this many elements get a weight buffer, which
#: the step reads like any weight, instead of being compiled into the step's code as data: an
#: embedding table that a CPU step gathers from (i64 token ids on the cpu) then stays out of
#: the LLVM IR and is in the cpu object's weight image once.
CPU_STEP_WEIGHT_ELEMENTS = 1024


@dataclass(frozen=True, slots=True)
class AsicLowering:
    """How one graph op kind runs on the ASIC.

    ``supports(op, ctx)`` returns ``None`` when the op can run on the ASIC, or the reason it
    cannot (it then runs on the CPU); ``lower(op, ctx)`` emits its kernels. Before asking,
    the partitioner checks the target stores the op's values in kernel dtypes
    (:func:`storage_reason`), except constant operands at positions ``packs`` (the rule packs
    them itself, in the dtype its kernel reads) and every value of an ``aliases`` rule (it
    only gives its result the operand's buffer, reading and writing nothing).
    """

    kind: str
    supports: Callable[[Op, LoweringContext], str | None]
    lower: Callable[[Op, LoweringContext], None]
    packs: frozenset[int] = frozenset()
    aliases: bool = False


ASIC_LOWERINGS: dict[str, AsicLowering] = {}


@dataclass(frozen=True, slots=True)
class FusionGroup:
    """Graph ops (in graph order) that run as one kernel: ``lower(ctx)`` emits it when the
    last op is reached, and the ops are not lowered one by one. Values produced and consumed
    only inside the group get no HBM buffer."""

    ops: tuple[Op, ...]
    lower: Callable[[LoweringContext], None]


#: Fusion planners: ``planner(graph, partition, ctx)`` returns disjoint groups of ASIC ops.
FUSION_PLANNERS: list[Callable[[Graph, Partition, LoweringContext], list[FusionGroup]]] = []


def asic_lowering(*kinds: str, supports: Callable[[Op, LoweringContext], str | None], packs: tuple[int, ...] = (),
                 aliases: bool = False) -> Callable[[Callable[[Op, LoweringContext], None]], Callable[[Op, LoweringContext], None]]:
    """Register ``lower`` for graph op kinds, with its ``supports`` predicate (``packs`` and
    ``aliases``: see :class:`AsicLowering`)."""

    def wrap(lower: Callable[[Op, LoweringContext], None]) -> Callable[[Op, LoweringContext], None]:
        for kind in kinds:
            if kind in ASIC_LOWERINGS:
                raise ValueError(f"two ASIC lowerings for '{kind}'")
            ASIC_LOWERINGS[kind] = AsicLowering(kind, supports, lower, frozenset(packs), aliases)
        return lower

    return wrap


def _load_rules() -> None:
    import importlib

    for name in ("tiling_matmul", "tiling_vector", "tiling_data", "fuse_elementwise"):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"moecc.passes.{name}")


class KernelBuilder:
    """Collects one kernel's local buffers and statements; loops via :meth:`loop`."""

    def __init__(self, name: str, sources: tuple[str, ...]) -> None:
        self.name = name
        self.sources = sources
        self.buffers: list[Buffer] = []
        self._bodies: list[list[Stmt]] = [[]]
        self._names = itertools.count()

    def local(self, space: str, rows: int, cols: int, dtype: DType = DType.F32, slots: int = 1, hint: str = "t") -> str:
        """Declare an SRAM/acc buffer of ``slots`` x (rows x cols); returns its name."""
        name = f"{hint}{next(self._names)}"
        self.buffers.append(Buffer(name, space, dtype, (int(rows), int(cols)), slots=slots, role="temp"))
        return name

    def sram(self, rows: int, cols: int, dtype: DType = DType.F32, slots: int = 1, hint: str = "s") -> str:
        return self.local("sram", rows, cols, dtype, slots, hint)

    def acc(self, rows: int, cols: int, slots: int = 1, hint: str = "a") -> str:
        return self.local("acc", rows, cols, DType.F32, slots, hint)

    def emit(self, stmt: Stmt) -> None:
        self._bodies[-1].append(stmt)

    @contextlib.contextmanager
    def loop(self, count: int, hint: str = "i") -> Iterator[str]:
        """``with kb.loop(n) as i:`` — statements emitted inside form the loop body."""
        var = f"{hint}{next(self._names)}"
        self._bodies.append([])
        yield var
        body = self._bodies.pop()
        if count > 0 and body:
            self._bodies[-1].append(For(var, int(count), tuple(body)))

    def local_bytes(self) -> dict[str, int]:
        out = {"sram": 0, "acc": 0}
        for b in self.buffers:
            out[b.space] += b.nbytes
        return out

    def build(self) -> Kernel:
        if len(self._bodies) != 1:
            raise RuntimeError("kernel built inside an open loop")
        return Kernel(self.name, tuple(self.buffers), tuple(self._bodies[0]), self.sources)


@dataclass(slots=True)
class LoweringContext:
    """What a lowering rule sees: the target, the precision, HBM buffers of graph values."""

    graph: Graph
    target: Target
    precision: str = "f32"
    module: KernelModule = field(default_factory=KernelModule)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    value_buffers: dict[int, str] = field(default_factory=dict)
    _kernel_ids: Iterator[int] = field(default_factory=itertools.count)
    _buffer_names: set[str] = field(default_factory=set)
    _weight_cache: dict[tuple[str, DType], str] = field(default_factory=dict)
    f32_ops: set[int] = field(default_factory=set)  # ids of matmuls kept in f32 at precision bf16
    #: The moe ops expanded densely (:func:`expand_moe_densely`), for the routing report.
    moe_layers: list[dict[str, Any]] = field(default_factory=list)
    #: Values whose HBM buffers keep their contents to the end of a run (not reused): each MoE
    #: layer's chosen experts, read back for the routing report.
    kept: set[str] = field(default_factory=set)

    # -- HBM buffers of graph values --------------------------------------------------
    def hbm(self, value: Value) -> str:
        """The HBM buffer holding ``value`` (created on first use; constants become weights)."""
        name = self.value_buffers.get(id(value))
        if name is not None:
            return name
        data = const_value(value)
        if data is not None:
            name = self.weight(value.name, np.asarray(data), self.storage_dtype(value.type.dtype))
            self.value_buffers[id(value)] = name
            return name
        role = "input" if value in self.graph.inputs else "output" if value.name in self.kept else "temp"
        name = self._new_hbm(value.name, self.storage_dtype(value.type.dtype), value.type.shape, role)
        self.value_buffers[id(value)] = name
        return name

    def weight(self, hint: str, data: np.ndarray, dtype: DType) -> str:
        """A weight buffer holding ``data`` converted to ``dtype`` (packed once into HBM;
        asking again for the same constant and dtype returns the same buffer)."""
        key = (hint, dtype)
        if key in self._weight_cache:
            return self._weight_cache[key]
        natural = self.storage_dtype(DType.from_numpy(data.dtype)) if data.dtype != np.float64 else None
        name = self._new_hbm(hint if dtype == natural else f"{hint}.{dtype}", dtype, tuple(data.shape), "weight")
        self.weights[name] = np.ascontiguousarray(data.astype(dtype.numpy, copy=False))  # no copy when it is stored as is
        self._weight_cache[key] = name
        return name

    def packed_constant(self, value: Value, dtype: DType) -> str:
        """A weight buffer holding constant ``value`` in ``dtype`` (a kernel dtype its rule
        reads it in when the target stores the graph dtype otherwise). It becomes the value's
        buffer unless the value has one already (a CPU step's, in the storage dtype): readers
        of the value's buffer read it in that buffer's dtype, whichever it is."""
        bound = self.value_buffers.get(id(value))
        if bound is not None and self.module.hbm_buffer(bound).dtype == dtype:
            return bound
        data = const_value(value)
        assert data is not None, f"%{value.name} is not a constant"
        name = self.weight(value.name, np.asarray(data), dtype)
        self.value_buffers.setdefault(id(value), name)
        return name

    def alias(self, result: Value, operand: Value) -> None:
        """``result`` lives in ``operand``'s HBM buffer (a reshape: same bytes, new shape)."""
        self.value_buffers[id(result)] = self.hbm(operand)

    def _new_hbm(self, hint: str, dtype: DType, shape: tuple[int, ...], role: str) -> str:
        name = hint
        counter = itertools.count(1)
        while name in self._buffer_names:
            name = f"{hint}#{next(counter)}"
        self._buffer_names.add(name)
        self.module.hbm.append(Buffer(name, "hbm", dtype, tuple(shape) or (1,), role=role))
        return name

    def hbm_dtype(self, value: Value) -> DType:
        return self.module.hbm_buffer(self.hbm(value)).dtype

    def storage_dtype(self, dtype: DType) -> DType:
        """The dtype the target's HBM holds values of graph dtype ``dtype`` in."""
        return self.target.storage_dtypes[dtype]

    # -- kernels ----------------------------------------------------------------------
    def kernel(self, op: Op, label: str | None = None) -> KernelBuilder:
        """A builder for a kernel implementing ``op`` (add it with :meth:`add_kernel`)."""
        index = next(self._kernel_ids)
        source = op.source or op.kind
        return KernelBuilder(f"k{index}_{label or op.kind}", (f"{op.kind} %{op.results[0].name} ({source})",))

    def group_kernel(self, ops: tuple[Op, ...], label: str) -> KernelBuilder:
        """A builder for one kernel implementing all of ``ops`` (a fusion group)."""
        index = next(self._kernel_ids)
        sources = tuple(f"{op.kind} %{op.results[0].name} ({op.source or op.kind})" for op in ops)
        return KernelBuilder(f"k{index}_{label}", sources)

    def add_kernel(self, kb: KernelBuilder) -> None:
        self.module.steps.append(kb.build())

    @property
    def mxu_dtype(self) -> DType:
        return DType.BF16 if self.precision == "bf16" else DType.F32

    def mxu_dtype_for(self, op: Op | None) -> DType:
        """The MXU dtype for one matmul: the precision's, except routing matmuls stay f32."""
        if op is not None and id(op) in self.f32_ops:
            return DType.F32
        return self.mxu_dtype

    @property
    def sram_budget_bytes(self) -> int:
        """SRAM a single kernel may plan for (all of it: kernels run one at a time)."""
        return self.target.sram_capacity_bytes

    @property
    def acc_budget_bytes(self) -> int:
        return self.target.acc_capacity_bytes


@dataclass(frozen=True, slots=True)
class Partition:
    """Where each graph op runs: ``placement[op index] = "asic" | "cpu"``, with CPU reasons."""

    placement: dict[int, str]
    reasons: dict[int, str]

    def counts(self, graph: Graph) -> dict[str, int]:
        out = {"asic": 0, "cpu": 0}
        for i, op in enumerate(graph.ops):
            if not op.is_const:
                out[self.placement[i]] += 1
        return out


def partition_graph(graph: Graph, ctx: LoweringContext) -> Partition:
    """Mark every op ASIC or CPU by asking its lowering rule (none → CPU)."""
    _load_rules()
    placement: dict[int, str] = {}
    reasons: dict[int, str] = {}
    for i, op in enumerate(graph.ops):
        if op.is_const:
            placement[i] = "const"
            continue
        rule = ASIC_LOWERINGS.get(op.kind)
        reason = f"no kernel lowering rule for '{op.kind}'" if rule is None else storage_reason(op, rule, ctx) or rule.supports(op, ctx)
        if reason is None:
            placement[i] = "asic"
        else:
            placement[i] = "cpu"
            reasons[i] = reason
    return Partition(placement, reasons)


def heap_constant(value: Value, ctx: LoweringContext) -> bool:
    """Whether a CPU step reads constant ``value`` from a weight buffer: a big one
    (:data:`CPU_STEP_WEIGHT_ELEMENTS`) that the target stores in its own dtype (a narrower
    storage could not hold every value; smaller constants are compiled into the step)."""
    return value.type.numel >= CPU_STEP_WEIGHT_ELEMENTS and ctx.storage_dtype(value.type.dtype) == value.type.dtype


def storage_reason(op: Op, rule: AsicLowering, ctx: LoweringContext) -> str | None:
    """Why ``op`` cannot be a kernel on ``ctx.target`` because of how the target stores its
    values (``None``: it can): a kernel reads and writes HBM by DMA, which copies bytes, so
    every value it touches must be held in a kernel dtype. On the ASIC every storage dtype is
    one; on the CPU, whose heap holds i64, bool, i8/u8 and f16 as themselves, ops on those
    run as CPU steps. Constant operands the rule packs itself and aliasing rules are exempt."""
    if rule.aliases:
        return None
    for index, value in enumerate((*op.operands, *op.results)):
        if index in rule.packs and index < len(op.operands) and const_value(value) is not None:
            continue
        stored = ctx.storage_dtype(value.type.dtype)
        if stored not in KERNEL_DTYPES:
            return (f"%{value.name} is {value.type.dtype}, held as {stored} on {ctx.target.name}; kernels read "
                    f"and write {', '.join(map(str, KERNEL_DTYPES))} only")
    return None


def lowering_context(graph: Graph, target: Target, precision: str = "f32") -> LoweringContext:
    """The context lowering rules (and the partitioner's ``supports`` checks) see. ``moe`` ops
    are first expanded into dense graph ops (:func:`expand_moe_densely`)."""
    if precision not in PRECISIONS:
        raise UnsupportedError(f"precision '{precision}' is not supported", remedy=f"use one of {', '.join(PRECISIONS)}")
    layers = expand_moe_densely(graph)
    ctx = LoweringContext(graph, target, precision)
    ctx.moe_layers = layers
    ctx.kept = {str(layer["experts_value"]) for layer in layers}
    if precision == "bf16":
        ctx.f32_ops = {id(op) for op in routing_matmuls(graph)}
    return ctx


def expand_moe_densely(graph: Graph) -> list[dict[str, Any]]:
    """The kernel lowering's ``moe`` rule: each ``moe`` op (every form of
    :class:`~moecc.ir.ops.composite.Moe`) becomes the dense graph ops the ASIC kernels run, as the
    dense-masked MoE examples are written: router matmul (+ bias), softmax, top_k,
    renormalisation, the top-k weights scattered into a ``[T, E]`` gate; every expert on every
    token (``x @ w[H, E*F]`` per projection, the down projection batched over experts, biases
    added), weighted by the gate and summed over the experts. Routing ops without a kernel rule
    run as host steps. Returns one description per expanded op (its node, sizes and the value
    holding each token's chosen experts, for the routing report). (Sparse dispatch is later work.)"""
    from moecc.ir.builder import GraphBuilder
    from moecc.ir.ops.composite import moe_operand_layout

    layers: list[dict[str, Any]] = []
    for moe in [op for op in graph.ops if op.kind == "moe"]:
        b = GraphBuilder(graph, source=moe.source)
        b.insert_at = next(i for i, op in enumerate(graph.ops) if op is moe)
        attrs = moe.attrs
        w = dict(zip(moe_operand_layout(attrs), moe.operands))
        x = w["x"]
        dtype = x.type.dtype
        tokens, hidden = x.type.shape
        experts = w["router_w"].type.shape[1]
        ffn = w["w_gate"].type.shape[2]
        top = attrs["top_k"]
        logits = b.emit1("matmul", [x, w["router_w"]], name="moe_logits")
        if attrs["router_bias"]:
            logits = b.emit1("add", [logits, w["router_b"]], name="moe_logits")
        probs = b.emit1("softmax", [logits], {"axis": -1}, name="moe_probs")
        top_v, top_i = b.emit("top_k", [probs], {"k": top, "axis": -1}, name="moe_top")
        if attrs["normalize"]:
            total = b.emit1("reduce_sum", [top_v], {"axes": (-1,), "keepdims": True}, name="moe_top_sum")
            top_v = b.emit1("div", [top_v, total], name="moe_top")
        zeros = b.const(np.zeros((tokens, experts), dtype=dtype.numpy), "moe_zeros")
        gates = b.emit1("scatter_elements", [zeros, top_i, top_v], {"axis": -1}, name="moe_gates")

        def project(weight: str, bias: str) -> Value:
            # [E, H, F] -> [H, E*F]: one matmul for every expert.
            stacked = b.emit1("transpose", [w[weight]], {"perm": (1, 0, 2)})
            stacked = b.emit1("reshape", [stacked], {"shape": (hidden, experts * ffn)})
            h = b.emit1("matmul", [x, stacked], name=f"moe_{weight}")
            if attrs["expert_bias"]:
                h = b.emit1("add", [h, b.emit1("reshape", [w[bias]], {"shape": (experts * ffn,)})], name=f"moe_{weight}")
            return h

        h = project("w_gate", "b_gate")
        name = attrs["activation"]
        if name == "silu":
            h = b.emit1("mul", [h, b.emit1("sigmoid", [h])], name="moe_act")
        elif name == "relu":
            h = b.emit1("relu", [h], name="moe_act")
        else:
            h = b.emit1("gelu", [h], {"approximate": "tanh" if name == "gelu_tanh" else "none"}, name="moe_act")
        if attrs["gated"]:
            h = b.emit1("mul", [h, project("w_up", "b_up")], name="moe_hidden")
        h = b.emit1("transpose", [b.emit1("reshape", [h], {"shape": (tokens, experts, ffn)})], {"perm": (1, 0, 2)})
        y = b.emit1("matmul", [h, w["w_down"]], name="moe_experts")  # [E, T, H]
        if attrs["expert_bias"]:
            y = b.emit1("add", [y, b.emit1("reshape", [w["b_down"]], {"shape": (experts, 1, hidden)})], name="moe_experts")
        y = b.emit1("transpose", [y], {"perm": (1, 0, 2)})  # [T, E, H]
        weight = b.emit1("reshape", [gates], {"shape": (tokens, experts, 1)})
        weighted = b.emit1("mul", [y, weight], name="moe_weighted")
        out = b.emit1("reduce_sum", [weighted], {"axes": (1,), "keepdims": False}, name="moe_sum")
        old = moe.result
        graph.replace_all_uses(old, out)
        graph.remove_ops([moe])
        graph.release_name(out.name)
        out.name = old.name
        graph.reserve_name(old.name)
        layers.append({"op": old.name, "onnx_node": moe.source or moe.kind, "tokens": tokens, "experts": experts,
                       "top_k": top, "hidden": hidden, "ffn": ffn, "gated": bool(attrs["gated"]),
                       "token_tile": tokens, "dense": True, "experts_value": top_i.name})
    if layers:  # the moe ops' own weight layouts are dead now: keep the weights once
        uses = graph.uses()
        graph.remove_ops([op for op in graph.ops if op.is_const and not uses.get(op.result)])
    return layers


def lower_to_kernels(graph: Graph, target: Target, precision: str = "f32", *, fuse: bool = True,
                     partition: Partition | None = None,
                     kept: set[str] | frozenset[str] = frozenset()) -> tuple[KernelModule, dict[str, np.ndarray], Partition, dict[str, str]]:
    """Lower a graph to kernel IR. Returns the module, weight data by HBM buffer name, the
    partition, and the map graph value name → HBM buffer name. ``partition`` is the placement
    to follow (default: :func:`partition_graph`'s). ``fuse=False`` lowers every op on its own
    (no :data:`FUSION_PLANNERS`), for comparisons. ``kept``: names of values whose buffers must
    hold them to the end of the run (besides the outputs)."""
    ctx = lowering_context(graph, target, precision)
    ctx.kept |= set(kept)
    if partition is None:
        partition = partition_graph(graph, ctx)
    for v in graph.inputs:
        ctx.hbm(v)
    uses = graph.uses()
    pending_cpu: list[Op] = []
    groups = [g for planner in FUSION_PLANNERS for g in planner(graph, partition, ctx)] if fuse else []
    group_of = {id(op): g for g in groups for op in g.ops}

    def flush_cpu() -> None:
        if not pending_cpu:
            return
        inside = {id(r) for op in pending_cpu for r in op.results}
        inputs: list[str] = []
        for op in pending_cpu:
            for v in op.operands:
                if id(v) not in inside and (v.producer is None or not v.producer.is_const
                                            or heap_constant(v, ctx)):
                    name = ctx.hbm(v)
                    if name not in inputs:
                        inputs.append(name)
        outputs: list[str] = []
        for op in pending_cpu:
            for r in op.results:
                if any(user is None or id(user) not in {id(o) for o in pending_cpu} for user in uses.get(r, [])):
                    outputs.append(ctx.hbm(r))
        index = next(ctx._kernel_ids)
        ctx.module.steps.append(CpuCall(f"cpu{index}", tuple(inputs), tuple(outputs), tuple(op.results[0].name for op in pending_cpu)))
        pending_cpu.clear()

    for i, op in enumerate(graph.ops):
        where = placement_of(partition, i)
        if where == "const":
            continue
        if where == "cpu":
            pending_cpu.append(op)
            continue
        group = group_of.get(id(op))
        if group is not None and op is not group.ops[-1]:
            continue  # lowered with the group's last op
        flush_cpu()
        try:
            if group is not None:
                group.lower(ctx)
            else:
                ASIC_LOWERINGS[op.kind].lower(op, ctx)
        except MoeccError as err:
            raise err.add_context(node=op.source, location=f"lowering {op.describe()} for the ASIC") from None
    flush_cpu()
    module = ctx.module
    module.inputs = [ctx.hbm(v) for v in graph.inputs]
    module.outputs = [ctx.hbm(v) for v in graph.outputs]
    _mark_outputs(module)
    value_buffers = {v.name: ctx.value_buffers[id(v)] for v in graph.values() if id(v) in ctx.value_buffers}
    return module, ctx.weights, partition, value_buffers


#: Ops a routing score passes through between the router matmul and the top-k.
_ROUTING_PATH_KINDS = frozenset({"softmax", "log_softmax", "sigmoid", "reshape", "transpose", "add", "sub", "mul",
                                 "div", "cast", "exp", "slice", "expand", "squeeze"})


def routing_matmuls(graph: Graph, max_depth: int = 8) -> list[Op]:
    """Matmuls whose result reaches a ``top_k``/``arg_max`` through element-wise/shape ops, and
    ``moe`` ops (whose router matmul is part of the op).

    At ``precision="bf16"`` these stay f32: a bf16 router flips near-tied expert choices,
    a discrete error of the whole expert's output rather than a rounding error (MoE models
    keep the router in f32 for the same reason)."""
    found: list[Op] = []
    seen: set[int] = set()
    for op in graph.ops:
        if op.kind == "moe":
            # Its router matmul is inside (the tiled lowering emits it in the op's kernel).
            found.append(op)
            continue
        if op.kind not in ("top_k", "arg_max", "arg_min"):
            continue
        frontier = [(op.operands[0], 0)]
        while frontier:
            value, depth = frontier.pop()
            producer = value.producer
            if producer is None or id(producer) in seen or depth > max_depth:
                continue
            seen.add(id(producer))
            if producer.kind in ("matmul", "gemm"):
                found.append(producer)
            elif producer.kind in _ROUTING_PATH_KINDS:
                frontier.extend((v, depth + 1) for v in producer.operands if v.producer is not None and not v.producer.is_const)
    return found


def placement_of(partition: Partition, index: int) -> str:
    return partition.placement[index]


def _mark_outputs(module: KernelModule) -> None:
    outputs = set(module.outputs)
    module.hbm = [
        Buffer(b.name, b.space, b.dtype, b.shape, b.slots, b.offset, "output") if b.name in outputs and b.role == "temp" else b
        for b in module.hbm
    ]


def graph_flops(graph: Graph, placement: Mapping[int, str] | None = None) -> dict[str, int]:
    """Multiply-accumulate FLOPs (2 per MAC) of matmul-like ops, split by placement."""
    out = {"asic": 0, "cpu": 0, "total": 0}
    for i, op in enumerate(graph.ops):
        flops = op_flops(op)
        if not flops:
            continue
        where = placement.get(i, "cpu") if placement is not None else "cpu"
        out["total"] += flops
        out[where if where in out else "cpu"] += flops
    return out


def op_flops(op: Op) -> int:
    """FLOPs of one op: 2*M*N*K for matmuls (batched), elements for element-wise ops."""
    if op.kind == "matmul":
        a, b = op.operands[0].type.shape, op.operands[1].type.shape
        k = a[-1]
        out = op.result.type.numel
        return 2 * out * k
    if op.kind in ("gemm", "einsum"):
        return 2 * op.result.type.numel * op.operands[0].type.shape[-1]
    if op.kind == "moe":
        # As the dense lowerings run it: the router and every expert on every token.
        tokens, hidden = op.operands[0].type.shape
        experts, ffn = op.operands[1].type.shape[1], op.operands[2].type.shape[2]
        projections = 3 if op.attrs["gated"] else 2
        return 2 * tokens * hidden * experts * (1 + projections * ffn)
    if op.is_const or op.kind in ("reshape", "transpose", "concat", "slice", "expand", "gather", "gather_nd",
                                   "gather_elements", "scatter_elements", "scatter_nd", "tile", "cast"):
        return 0
    return sum(r.type.numel for r in op.results)


def describe_kernel_sources(kernel: Kernel) -> str:
    return ", ".join(kernel.sources)


__all__: list[Any] = [
    "ASIC_LOWERINGS",
    "AsicLowering",
    "FUSION_PLANNERS",
    "FusionGroup",
    "KernelBuilder",
    "LoweringContext",
    "Partition",
    "asic_lowering",
    "graph_flops",
    "lower_to_kernels",
    "lowering_context",
    "op_flops",
    "partition_graph",
    "storage_reason",
]
