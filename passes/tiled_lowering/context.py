"""The lowering context: tiling parameters, the rule table, buffers and kernels being built.

Lowering from the graph IR into the tiled IR (:mod:`moecc.ir.tiled`) is driven by data: the
:data:`RULES` table maps each graph op kind to one :class:`Rule` whose ``supports(op, ctx)``
answers ``None`` (it lowers the op) or a reason (it does not: the op becomes a host call), and
whose ``lower(op, ctx)`` emits the kernels. Whatever says yes is what lowers, so the
partition and the lowering cannot drift apart.

The :class:`LoweringContext` holds what the rules share: every graph value's *view* (a value
produced by a transpose, slice, expand or a no-copy reshape is a view of its operand's buffer,
not a new buffer), the global buffers and weights made so far, and the steps emitted in order.
:class:`KernelBuilder` collects one kernel's local buffers and statements. Tile sizes come from
:class:`TilingParams`: target-neutral numbers (rows, columns, contraction depth, local bytes),
not any part's memories.
"""

from __future__ import annotations

import hashlib

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import PassError
from moecc.ir.affine import Affine
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.tiled.nodes import Buffer, Const, Expr, Kernel, Step, Stmt, View
from moecc.ir.types import DType


@dataclass(frozen=True, slots=True)
class TilingParams:
    """How big tiles are, whatever runs them: ``tile_rows`` x ``tile_cols`` output elements per
    element-wise or matmul tile, ``k_tile`` elements of a contraction (or reduction) per step,
    ``local_bytes`` of kernel-local scratch a kernel may declare for its tiles, and
    ``expert_rows`` per MoE expert token tile."""

    tile_rows: int = 32
    tile_cols: int = 64
    k_tile: int = 64
    local_bytes: int = 64 * 1024
    #: Rows of a MoE expert's token tile, the granularity each expert's tokens are padded to
    #: (0: ``tile_rows``). A target whose matmuls compute only a tile's real rows wants it
    #: large; one that computes whole tiles, small.
    expert_rows: int = 0
    #: A matmul over fewer rows than this costs as much as one over this many (a weight-
    #: stationary array's weight load per fold: its height over the passes of the MXU dtype);
    #: 1 when the cost follows the rows. ``moe="auto"`` weighs sparse against dense with it.
    row_floor: int = 1
    #: Bytes one MoE expert's weights and token tiles may take in local memory (0: no limit):
    #: its token tile halves (down to 8 rows) while the estimate is above it. A target that
    #: keeps an expert's weights on chip while its tiles run (the ASIC) sets it.
    expert_bytes: int = 0
    #: Bytes of one matrix-unit operand element (2 when the target multiplies bf16 copies):
    #: what an expert weight element takes where ``expert_bytes`` counts it, and the type
    #: attention keeps its resident queries, keys and values in.
    mxu_operand_bytes: int = 4
    #: The target's units run their own queues in order, concurrently (the ASIC): lowering then
    #: orders independent work so that it overlaps (attention: every head's scores, then every
    #: head's output). Otherwise (the CPU) independent iterations are marked parallel instead.
    in_order_units: bool = False
    #: Rows of a matmul tile below which the matrix unit pays its fill and drain for a whole
    #: tile anyway (the ASIC's array height; 1 on the CPU): causal attention's query tiles are
    #: no shorter.
    array_rows: int = 1
    #: The array's width (1 on the CPU): with ``array_rows``, the weight tile attention packs
    #: several short heads into (:mod:`.attention_packed`).
    array_cols: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.row_floor, int) or self.row_floor < 1:
            raise PassError(f"tiling parameter row_floor={self.row_floor!r} must be a positive integer",
                            pass_name="lower-to-tiled", remedy="give 1 or the rows a matmul costs at least")
        if self.mxu_operand_bytes not in (1, 2, 4, 8):
            raise PassError(f"tiling parameter mxu_operand_bytes={self.mxu_operand_bytes!r} must be 1, 2, 4 or 8",
                            pass_name="lower-to-tiled", remedy="give the bytes of one stored weight element")
        if not isinstance(self.expert_bytes, int) or self.expert_bytes < 0:
            raise PassError(f"tiling parameter expert_bytes={self.expert_bytes!r} must be a non-negative integer",
                            pass_name="lower-to-tiled", remedy="give 0 (no limit) or a byte budget")
        if not isinstance(self.expert_rows, int) or self.expert_rows < 0:
            raise PassError(f"tiling parameter expert_rows={self.expert_rows!r} must be a non-negative integer",
                            pass_name="lower-to-tiled", remedy="give 0 (tile_rows) or a positive row count")
        for name in ("tile_rows", "tile_cols", "k_tile", "local_bytes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise PassError(f"tiling parameter {name}={getattr(self, name)!r} must be a positive integer",
                                pass_name="lower-to-tiled", remedy="give positive tile sizes")

    @property
    def tile_elements(self) -> int:
        return self.tile_rows * self.tile_cols


SupportsFn = Callable[[Op, "LoweringContext"], "str | None"]
LowerFn = Callable[[Op, "LoweringContext"], None]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one op kind lowers: ``supports`` gives ``None`` or the reason it cannot, ``lower``
    emits the kernels (called only after ``supports`` said yes). ``family`` names the module."""

    kind: str
    supports: SupportsFn
    lower: LowerFn
    family: str
    empty_operands: bool = False  # lowers ops with an operand of no elements too


#: How a ``moe`` op lowers: ``sparse`` runs each expert on the tokens routed to it
#: (:mod:`.moe_dispatch`), ``dense`` runs every expert on every token and masks (for comparison),
#: ``auto`` picks one per layer by the tiling's cost of a matmul row (:func:`.moe_dispatch.choose_moe`).
MOE_MODES = ("sparse", "dense", "auto")

#: Op kind -> its lowering rule. Kinds without a rule become host calls.
RULES: dict[str, Rule] = {}


def always(op: Op, ctx: LoweringContext) -> str | None:
    """A ``supports`` that accepts every op of the kind."""
    return None


def register_rule(*kinds: str, supports: SupportsFn = always,
                  empty_operands: bool = False) -> Callable[[LowerFn], LowerFn]:
    """Decorator: ``lower`` (and ``supports``) become the rule of each of ``kinds``;
    ``empty_operands``: the rule also lowers ops one of whose operands has no elements."""

    def wrap(lower: LowerFn) -> LowerFn:
        family = lower.__module__.rsplit(".", 1)[-1]
        for kind in kinds:
            if kind in RULES:
                raise ValueError(f"op kind '{kind}' has two tiled lowering rules")
            RULES[kind] = Rule(kind, supports, lower, family, empty_operands)
        return lower

    return wrap


# -- views of values ---------------------------------------------------------------------------

def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides: list[int] = []
    step = 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def numel(shape: tuple[int, ...]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def as_rank1(view: View) -> View:
    """A rank-0 view (a scalar value) as the one-element rank-1 view statements need."""
    return view if view.rank else View(view.buffer, view.offset, (1,), (1,))


def const(value: float | int | bool, dtype: DType) -> Const:
    """A scalar constant of ``dtype`` with its value in the Python type the IR wants."""
    if dtype == DType.BOOL:
        return Const(bool(value), dtype)
    if dtype.is_float:
        return Const(float(value), dtype)
    return Const(int(value), dtype)


def int_fits(value: int, dtype: DType) -> bool:
    info = np.iinfo(dtype.numpy)
    return info.min <= value <= info.max


_LOOP_VAR = re.compile(r"_l\d+")


class KernelBuilder:
    """One kernel under construction: its locals, statements and a loop-variable supply."""

    def __init__(self, ctx: LoweringContext, name: str, sources: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.name = name
        self.sources = sources
        self.locals: list[Buffer] = []
        self.stmts: list[Stmt] = []

    def local(self, hint: str, dtype: DType, shape: tuple[int, ...]) -> View:
        """A fresh local buffer; returns its contiguous view."""
        name = self.ctx.fresh_name(hint)
        buf = Buffer(name, "local", dtype, tuple(shape))
        self.locals.append(buf)
        self.ctx.all_buffers[name] = buf
        return View.contiguous(name, shape)

    def var(self) -> str:
        """A loop variable unique in the module (so nested loops never shadow each other)."""
        return self.ctx.fresh_var()

    def emit(self, stmts: list[Stmt] | tuple[Stmt, ...]) -> None:
        self.stmts.extend(stmts)

    def dtype(self, view: View) -> DType:
        return self.ctx.dtype(view)

    @property
    def params(self) -> TilingParams:
        return self.ctx.params


@dataclass(frozen=True, slots=True)
class Inlined:
    """An element-wise result never stored: ``build`` makes its expression from the operands
    of ``leaves`` (values that have views), for its one user to inline."""

    leaves: tuple[Value, ...]
    build: Callable[[list[Expr]], Expr]
    sources: tuple[str, ...] = ()  # the ONNX nodes of the ops inlined (named by the user's kernel)


@dataclass(frozen=True, slots=True)
class HostOp:
    """An op left to a host call: a row of the report's ``host_ops``."""

    op: str
    kind: str
    onnx_node: str
    reason: str

    def as_row(self) -> dict[str, str]:
        return {"op": self.op, "kind": self.kind, "onnx_node": self.onnx_node, "reason": self.reason}


@dataclass(slots=True)
class LoweringContext:
    """State shared by the rules while one graph is lowered."""

    graph: Graph
    params: TilingParams
    moe: str = "sparse"  # one of MOE_MODES
    #: A routing what-if replacing the routers' choices (:mod:`.routing_whatif`), or None.
    routing: Any = None
    #: Expert capacity factor of sparse dispatch (0: dropless; :func:`.moe_dispatch.expert_capacity`).
    capacity_factor: float = 0.0
    globals_: list[Buffer] = field(default_factory=list)
    all_buffers: dict[str, Buffer] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    weight_sources: dict[str, str] = field(default_factory=dict)  # buffer -> graph const value
    views: dict[Value, View] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    step_names: set[str] = field(default_factory=set)
    designated: dict[Value, str] = field(default_factory=dict)  # graph output value -> output buffer
    host_ops: list[HostOp] = field(default_factory=list)
    moe_layers: list[dict[str, object]] = field(default_factory=list)  # one per sparse moe op (moe_dispatch)
    #: The open fusion group's kernel (:mod:`.fusion`): while set, every kernel a rule opens is it.
    group: KernelBuilder | None = None
    #: Element-wise results planned to be inlined into their users' expressions (:mod:`.fusion`)
    #: and, once lowered, each one's leaves and expression builder (:mod:`.elementwise`).
    inline_plan: set[Value] = field(default_factory=set)
    inlined: dict[Value, Inlined] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)
    _made_constants: dict[tuple, View] = field(default_factory=dict)  # tables lowering made, by content
    _vars: int = 0

    # -- names
    def fresh_name(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c in "_." else "_" for c in hint).strip(".") or "t"
        if _LOOP_VAR.fullmatch(base):
            base += "_"
        name, n = base, 0
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def fresh_var(self) -> str:
        while True:
            name = f"_l{self._vars}"
            self._vars += 1
            if name not in self._names:
                return name

    def fresh_step(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c in "_." else "_" for c in hint).strip(".") or "k"
        name, n = base, 0
        while name in self.step_names:
            n += 1
            name = f"{base}_{n}"
        self.step_names.add(name)
        return name

    # -- buffers
    def add_global(self, hint: str, dtype: DType, shape: tuple[int, ...], role: str = "temp") -> View:
        name = self.fresh_name(hint)
        buf = Buffer(name, "global", dtype, tuple(shape), role)
        self.globals_.append(buf)
        self.all_buffers[name] = buf
        return View.contiguous(name, shape)

    def dtype(self, view: View) -> DType:
        return self.all_buffers[view.buffer].dtype

    def constant(self, array: np.ndarray, hint: str, source: str | None = None) -> View:
        """A weight buffer holding ``array`` (a graph constant, or one lowering made: masks, iotas).
        A table lowering makes (no ``source``) equal to one it made before is that buffer: every
        layer's causal mask or rotary table is one weight, loaded (or filled on chip) once."""
        arr = np.asarray(array)
        key = None
        if source is None:
            key = (arr.dtype.str, arr.shape, hashlib.sha1(np.ascontiguousarray(arr).view(np.uint8)).hexdigest())
            made = self._made_constants.get(key)
            if made is not None and np.array_equal(self.weights[made.buffer], arr):
                return made
        view = self.add_global(hint, DType.from_numpy(arr.dtype), tuple(arr.shape), "weight")
        self.weights[view.buffer] = arr
        if source is not None:
            self.weight_sources[view.buffer] = source
        if key is not None:
            self._made_constants[key] = view
        return view

    # -- values
    def view(self, value: Value) -> View:
        """The view holding ``value``'s elements in row-major order of its shape."""
        found = self.views.get(value)
        if found is not None:
            return found
        producer = value.producer
        if producer is not None and producer.is_const:
            view = self.constant(producer.attrs["value"], value.name, source=value.name)
            self.views[value] = view
            return view
        raise PassError(f"value %{value.name} is used before it was lowered", pass_name="lower-to-tiled",
                        remedy="the graph must be in topological order (run the verifier)")

    def bind(self, value: Value, view: View) -> None:
        if tuple(view.shape) != value.type.shape:
            raise PassError(f"lowering bound %{value.name} {value.type} to a view of shape {list(view.shape)}",
                            pass_name="lower-to-tiled", remedy="this is a bug in a tiled lowering rule")
        self.views[value] = view

    def result(self, value: Value) -> View:
        """A fresh contiguous buffer for ``value`` (its output buffer when it is a graph output)."""
        name = self.designated.get(value)
        if name is not None and value not in self.views:
            view = View.contiguous(name, value.type.shape)
        else:
            view = self.add_global(value.name, value.type.dtype, value.type.shape)
        self.views[value] = view
        return view

    def is_whole_buffer(self, view: View) -> bool:
        """Whether ``view`` is exactly its buffer in row-major order (size-1 axes aside)."""
        buf = self.all_buffers[view.buffer]
        if buf.shape != tuple(view.shape) or view.offset != Affine(0):
            return False
        want = contiguous_strides(buf.shape)
        return all(n == 1 or s == w for n, s, w in zip(view.shape, view.strides, want))

    def materialize(self, value: Value) -> str:
        """The name of a global buffer of exactly ``value``'s type holding it (copying a view
        into a fresh buffer when it is not one already)."""
        view = self.view(value)
        if self.is_whole_buffer(view) and self.all_buffers[view.buffer].space == "global":
            return view.buffer
        dst = self.add_global(value.name, value.type.dtype, value.type.shape)
        if value.type.numel:
            from moecc.passes.tiled_lowering.tiles import tiled_copy  # tiles imports this module

            with self.kernel(f"copy_{value.name}", (value.producer.source or value.producer.kind,)
                             if value.producer is not None else ()) as kb:
                kb.emit(tiled_copy(kb, as_rank1(dst), as_rank1(view)))
        return dst.buffer

    def contiguous(self, view: View, dtype: DType, hint: str, sources: tuple[str, ...]) -> View:
        """A copy of ``view`` in a fresh row-major global buffer (for a reshape a view cannot say)."""
        dst = self.add_global(hint, dtype, tuple(view.shape))
        if numel(tuple(view.shape)):
            from moecc.passes.tiled_lowering.tiles import tiled_copy  # tiles imports this module

            with self.kernel(f"copy_{hint}", sources) as kb:
                kb.emit(tiled_copy(kb, as_rank1(dst), as_rank1(view)))
        return dst

    # -- kernels
    @contextmanager
    def kernel(self, hint: str, sources: tuple[str, ...]) -> Iterator[KernelBuilder]:
        """Build one kernel; it is appended to the steps when the block ends (if not empty).
        While a fusion group is open, the kernel is the group's (appended when it closes)."""
        if self.group is not None:
            self.group.sources = tuple(dict.fromkeys(self.group.sources + sources))
            yield self.group
            return
        kb = KernelBuilder(self, self.fresh_step(hint), sources)
        yield kb
        self.append_kernel(kb)

    def append_kernel(self, kb: KernelBuilder) -> None:
        """Append ``kb``'s kernel to the steps (nothing when it has no statements), its adjacent
        loops over the same tiles fused (:mod:`.loop_fusion`)."""
        if kb.stmts:
            from moecc.passes.tiled_lowering.loop_fusion import fuse_loops  # loop_fusion imports nodes only

            self.steps.append(Kernel(kb.name, tuple(kb.locals), tuple(fuse_loops(kb.stmts)), kb.sources))

    def op_kernel(self, op: Op) -> AbstractContextManager[KernelBuilder]:
        """:meth:`kernel` named after ``op``'s first result, sourced from its ONNX node."""
        return self.kernel(op.results[0].name, sources_of(op))


def sources_of(op: Op) -> tuple[str, ...]:
    return (op.source or op.kind,)


__all__ = [
    "MOE_MODES",
    "RULES",
    "HostOp",
    "Inlined",
    "KernelBuilder",
    "LoweringContext",
    "Rule",
    "TilingParams",
    "always",
    "as_rank1",
    "const",
    "contiguous_strides",
    "int_fits",
    "numel",
    "register_rule",
    "sources_of",
]
