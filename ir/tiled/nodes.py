"""Tiled loop IR nodes: buffers, strided views, expressions, statements, kernels and modules.

The tiled loop IR sits between the graph IR and both back ends::

    graph IR ──lowering──▶ tiled IR ──staging──▶ ASIC kernel IR ──isel──▶ moe-asic
                              └──CPU emission──▶ LLVM IR

It is target-neutral: loop nests over N-D strided *views* of ``global`` buffers (module
inputs, outputs, weights, intermediates) and per-kernel ``local`` scratch buffers, with no
notion of SRAM slots, accumulators, matrix units or ISA field widths. Those are decided by
the ASIC staging pass; the CPU back end emits loops straight from this level. MoE dispatch
(run-time loop counts, row gather/scatter), fusion (one expression tree per element-wise
statement) and sparsity are therefore written once, here.

Every node is a frozen, slotted dataclass compared by value; text form in
:mod:`moecc.ir.tiled.printer` / :mod:`moecc.ir.tiled.parser`, invariants in
:mod:`moecc.ir.tiled.verifier`, semantics in :mod:`moecc.ir.tiled.interpreter` and
``docs/tiled_ir.md``.

Addressing: a :class:`View` is ``buffer[offset; shape; strides]``: element ``(i0, .., in)``
is element ``offset + sum(i_d * strides[d])`` of the buffer seen flat (row-major), in
elements of the buffer's dtype. ``offset`` is :class:`~moecc.ir.affine.Affine` in the
enclosing loop variables; strides are static (0 broadcasts, negative walks backwards).
Reshapes, transposes, slices and broadcasts are views, never copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from moecc.ir.affine import Affine
from moecc.ir.graph import Graph
from moecc.ir.printer import print_graph
from moecc.ir.types import DType

#: Memory spaces: ``global`` buffers belong to the module and live across steps; ``local``
#: buffers are a kernel's tile scratch (placed by the target: SRAM on the ASIC, small
#: cache-resident arrays on the CPU) and live for one run of their kernel.
SPACES: tuple[str, ...] = ("global", "local")
#: Roles of global buffers: supplied by the caller (``input``, ``weight``), returned
#: (``output``), or produced and consumed inside the module (``temp``).
ROLES: tuple[str, ...] = ("input", "output", "weight", "temp")

#: Unary element-wise ops and the operand kinds they accept: ``float`` (f32/f16/bf16),
#: ``numeric`` (float or integer), ``logical`` (bool, or integers bitwise).
UNARY_OPS: dict[str, str] = {
    **{op: "numeric" for op in ("neg", "abs", "sign")},
    **{op: "float" for op in ("exp", "log", "sqrt", "rsqrt", "rcp", "tanh", "erf", "sigmoid",
                              "sin", "cos", "floor", "ceil")},
    "not": "logical",
}
#: Binary element-wise ops: ``arith`` (same-type operands, same-type result), ``compare``
#: (same-type operands, bool result), ``logical`` (bool or integer operands, bitwise).
BINARY_OPS: dict[str, str] = {
    **{op: "arith" for op in ("add", "sub", "mul", "div", "max", "min", "pow")},
    **{op: "compare" for op in ("gt", "ge", "eq", "lt", "le", "ne")},
    **{op: "logical" for op in ("and", "or", "xor")},
}
#: Row reductions over a view's last axis.
REDUCE_OPS: tuple[str, ...] = ("sum", "max", "min")
#: Index dtypes top-k may write.
TOPK_INDEX_DTYPES: tuple[DType, ...] = (DType.I64, DType.I32)
#: Accumulation dtypes of a contraction: f32 for float operands, i32 (or i64) for integer ones.
MATMUL_ACC_DTYPES: tuple[DType, ...] = (DType.F32, DType.I32, DType.I64)


# -- buffers and addressing -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Buffer:
    """A named N-D buffer. ``space`` is ``global`` (module-level, with a ``role``) or ``local``
    (declared by a kernel; always role ``temp``). ``shape`` may contain 0 (an empty tensor)."""

    name: str
    space: str
    dtype: DType
    shape: tuple[int, ...]
    role: str = "temp"

    @property
    def elements(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count


@dataclass(frozen=True, slots=True)
class View:
    """``buffer[offset; shape; strides]``: a strided N-D window (rank >= 1) of a buffer seen flat.

    Element ``idx`` is flat element ``offset + sum(idx[d] * strides[d])``. A stride of 0
    repeats one element along that axis (broadcast); views are free, so a transposed,
    reshaped or broadcast operand is just a different view of the same buffer."""

    buffer: str
    offset: Affine
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    @staticmethod
    def contiguous(buffer: str, shape: Sequence[int], offset: int | str | Affine = 0) -> View:
        """A row-major dense view of ``shape`` starting at ``offset``."""
        strides: list[int] = []
        step = 1
        for d in reversed(tuple(shape)):
            strides.append(step)
            step *= d
        return View(buffer, Affine.of(offset), tuple(shape), tuple(reversed(strides)))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def elements(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count

    def span(self) -> tuple[int, int]:
        """(lowest, highest) flat element offset relative to ``offset`` the view touches."""
        lo = hi = 0
        for n, s in zip(self.shape, self.strides):
            reach = (n - 1) * s
            lo += min(0, reach)
            hi += max(0, reach)
        return lo, hi

    def bounds(self, ranges: Mapping[str, int]) -> tuple[int, int]:
        """(lowest, highest) flat element the view touches for loop variables in ``range(ranges[v])``."""
        olo, ohi = self.offset.bounds(ranges)
        lo, hi = self.span()
        return olo + lo, ohi + hi

    @property
    def is_injective(self) -> bool:
        """Whether distinct indices reach distinct elements (a sufficient test: with the axes of
        size > 1 sorted by |stride|, each stride steps past everything the smaller ones reach).
        Statement destinations must be injective so that no element is written twice."""
        axes = sorted((abs(s), n) for n, s in zip(self.shape, self.strides) if n > 1)
        reach = 0
        for stride, n in axes:
            if stride <= reach:
                return False
            reach += (n - 1) * stride
        return True


@dataclass(frozen=True, slots=True)
class ElementRef:
    """One integer element ``buffer[offset]`` (flat), read at run time: a dynamic loop's count."""

    buffer: str
    offset: Affine


# -- element-wise expressions ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Operand:
    """A view read element-wise; size-1 axes broadcast to the destination's shape."""

    view: View


@dataclass(frozen=True, slots=True)
class Const:
    """A scalar constant of ``dtype`` (``value``: float for float dtypes, int for integers,
    bool for ``bool``). Float constants are rounded to ``dtype`` before use."""

    value: float | int | bool
    dtype: DType


@dataclass(frozen=True, slots=True)
class Unary:
    """``op(x)``, ``op`` from :data:`UNARY_OPS`; the result has ``x``'s dtype."""

    op: str
    x: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """``op(a, b)``, ``op`` from :data:`BINARY_OPS`; ``a`` and ``b`` have one dtype (no implicit
    promotion); comparisons give bool."""

    op: str
    a: Expr
    b: Expr


@dataclass(frozen=True, slots=True)
class Select:
    """``cond ? a : b`` element-wise; ``cond`` is bool, ``a`` and ``b`` share a dtype."""

    cond: Expr
    a: Expr
    b: Expr


@dataclass(frozen=True, slots=True)
class Cast:
    """``x`` converted to ``dtype`` (ONNX Cast rules); the only place an expression rounds."""

    dtype: DType
    x: Expr


Expr = Union[Operand, Const, Unary, Binary, Select, Cast]


def expr_views(expr: Expr) -> Iterator[View]:
    """Every view an expression reads, left to right."""
    if isinstance(expr, Operand):
        yield expr.view
    elif isinstance(expr, Unary):
        yield from expr_views(expr.x)
    elif isinstance(expr, Cast):
        yield from expr_views(expr.x)
    elif isinstance(expr, Binary):
        yield from expr_views(expr.a)
        yield from expr_views(expr.b)
    elif isinstance(expr, Select):
        yield from expr_views(expr.cond)
        yield from expr_views(expr.a)
        yield from expr_views(expr.b)


# -- statements ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Copy:
    """``dst <- src`` between any spaces; equal shapes and equal dtypes (a conversion is a
    :class:`Compute` with a :class:`Cast`, so a copy stays a pure DMA on every target)."""

    dst: View
    src: View


@dataclass(frozen=True, slots=True)
class Compute:
    """``dst = expr`` element-wise over ``dst``'s shape: one fused loop nest on the CPU."""

    dst: View
    expr: Expr


@dataclass(frozen=True, slots=True)
class Reduce:
    """``dst[..., 0] (op)= reduce(op, src[..., :])`` over ``src``'s last axis.

    ``dst`` has ``src``'s shape with the last axis 1. With ``accumulate`` the result is
    combined with ``dst``'s current value by ``op`` (add, max, min) instead of replacing it."""

    op: str
    dst: View
    src: View
    accumulate: bool = False


@dataclass(frozen=True, slots=True)
class MatMul:
    """``dst[b.., m, n] (+)= a[b.., m, k] @ b[b.., k, n]`` accumulated in ``acc_dtype``.

    ``transpose_a``: ``a`` is viewed ``[b.., k, m]``; ``transpose_b``: ``b`` is ``[b.., n, k]``
    (``q @ k^T``). Batch dims are equal on all three (broadcast a weight with a stride-0
    batch axis). Operands are widened to ``acc_dtype`` (f32 for float, i32/i64 for integer
    operands); the result (plus ``dst`` when accumulating) is rounded to ``dst``'s dtype.

    ``rows``: an integer element read at run time; only the first ``rows`` rows (clamped to
    ``[0, m]``) of each matrix of ``dst`` are computed, the others are left unspecified (a MoE
    expert's last token tile holds fewer tokens than rows).

    ``blocks`` (a u8 view ``[k / block, n / block]``, with ``block`` its edge): ``b``, seen as
    ``k x n``, is taken as zero outside the ``block x block`` blocks whose entry is nonzero,
    whatever it holds there (those bytes need never be written: a target skips the blocks,
    the ASIC's ``mxu.mmsp``). Only for 2-D operands."""

    dst: View
    a: View
    b: View
    accumulate: bool = False
    acc_dtype: DType = DType.F32
    transpose_a: bool = False
    transpose_b: bool = False
    rows: ElementRef | None = None
    blocks: View | None = None
    block: int = 0


@dataclass(frozen=True, slots=True)
class Gather:
    """``dst[i, :] = table[index[i], :]``: ``table`` is a 2-D view (rows x cols), ``index`` a
    1-D integer view of ``n``, ``dst`` is ``n x cols``. Indices are bounds-checked at run time;
    negative ones count from the end (``-1`` is the last row), as ONNX Gather. ``in_bounds``
    (printed ``in_bounds``) promises every index is in ``[0, rows)`` (the lowering built them,
    e.g. MoE dispatch's slot tables): a target may then skip wrapping them; the interpreter
    still checks the promise."""

    dst: View
    table: View
    index: View
    in_bounds: bool = False
    #: A run-time row count (printed ``limit %n[..]``): only the first ``clamp(limit, 0, n)``
    #: index rows are gathered (an MoE tile's tokens); the rows of ``dst`` past them are left
    #: unspecified, and the indices past them are not read.
    limit: ElementRef | None = None


@dataclass(frozen=True, slots=True)
class Scatter:
    """``table[index[i], :] = src[i, :]`` (``accumulate``: ``+=``) for ``i`` in order, so with a
    repeated index the last row wins, or all rows add up. Index rules (and ``in_bounds``) as
    :class:`Gather`."""

    table: View
    index: View
    src: View
    accumulate: bool = False
    in_bounds: bool = False
    #: As :class:`Gather`'s: only the first ``clamp(limit, 0, n)`` rows are applied.
    limit: ElementRef | None = None


@dataclass(frozen=True, slots=True)
class TopK:
    """The ``k`` largest (``largest``) or smallest elements of each row of ``src`` (last axis),
    sorted, ties to the lower index, NaN above every number; ``k`` is ``values``' last dim.
    ``indices`` (i64 or i32) has ``values``' shape."""

    values: View
    indices: View
    src: View
    largest: bool = True

    @property
    def k(self) -> int:
        return self.values.shape[-1]


@dataclass(frozen=True, slots=True)
class Parallel:
    """A loop's promise that its iterations may run concurrently, in any order, on any thread
    (printed ``parallel accumulate(%acc) cost %n[%e]``).

    The body writes only kernel locals, which it writes before it reads them in every
    iteration and which nothing outside the loop touches (so a target gives each thread its
    own), and the global buffers named in ``accumulate``, which it only adds to (``scatter
    +=``, ``matmul +=``, ``reduce.sum +=``) and never otherwise reads: a target may give each
    worker a zeroed private copy of them and add the copies in afterwards (the float sums
    then associate differently from the sequential order). ``cost``, an integer element
    indexed by the loop variable, estimates each iteration's work (MoE: an expert's tokens)
    so that a target can balance contiguous ranges of iterations across threads. Targets
    without threads (the interpreter, the ASIC) run the loop sequentially as if unmarked."""

    accumulate: tuple[str, ...] = ()
    cost: ElementRef | None = None


@dataclass(frozen=True, slots=True)
class For:
    """``for var in range(count): body``.

    ``count`` is static, or an :class:`ElementRef` to an integer element read when the loop
    starts (per-expert token counts in MoE dispatch); a dynamic loop declares ``max_count``,
    the bound the verifier checks views against and the run time enforces. ``parallel``
    (default None: sequential) marks iterations that may run concurrently (:class:`Parallel`)."""

    var: str
    count: int | ElementRef
    body: tuple[Stmt, ...]
    max_count: int | None = None
    parallel: Parallel | None = None

    @property
    def is_dynamic(self) -> bool:
        return isinstance(self.count, ElementRef)

    @property
    def trip_bound(self) -> int:
        """The most iterations the loop can run (its count, or its declared maximum)."""
        if isinstance(self.count, ElementRef):
            return self.max_count if self.max_count is not None else 0
        return self.count


Stmt = Union[Copy, Compute, Reduce, MatMul, Gather, Scatter, TopK, For]

#: Statement kinds as the text form and error messages name them.
STMT_KINDS: dict[type, str] = {
    Copy: "copy",
    Compute: "compute",
    Reduce: "reduce",
    MatMul: "matmul",
    Gather: "gather",
    Scatter: "scatter",
    TopK: "topk",
    For: "for",
}


def walk(body: Sequence[Stmt]) -> Iterator[tuple[int, Stmt, tuple[For, ...]]]:
    """Every statement (loops too) in pre-order with its index and enclosing loops, outermost
    first. The index is how the verifier and interpreter name a statement in messages."""
    counter = 0

    def visit(stmts: Sequence[Stmt], loops: tuple[For, ...]) -> Iterator[tuple[int, Stmt, tuple[For, ...]]]:
        nonlocal counter
        for stmt in stmts:
            index = counter
            counter += 1
            yield index, stmt, loops
            if isinstance(stmt, For):
                yield from visit(stmt.body, loops + (stmt,))

    yield from visit(body, ())


def kernel_statements(module: TiledModule) -> Iterator[tuple[Kernel, Stmt]]:
    """Every statement of ``module``'s kernels other than loops, with its kernel (host calls
    aside: :func:`host_inputs`)."""
    for step in module.steps:
        if isinstance(step, Kernel):
            for _, stmt, _ in walk(step.body):
                if not isinstance(stmt, For):
                    yield step, stmt


def host_inputs(module: TiledModule) -> set[str]:
    """The buffers ``module``'s host calls read."""
    return {name for step in module.steps if isinstance(step, HostCall) for name in step.inputs}


def stmt_elements(stmt: Stmt) -> tuple[ElementRef, ...]:
    """The integer elements ``stmt`` itself reads at run time: a loop's count (and a parallel
    loop's per-iteration cost), a matmul's rows, a gather's or scatter's limit."""
    if isinstance(stmt, For):
        refs = (stmt.count,) if isinstance(stmt.count, ElementRef) else ()
        if stmt.parallel is not None and stmt.parallel.cost is not None:
            refs += (stmt.parallel.cost,)
        return refs
    if isinstance(stmt, MatMul) and stmt.rows is not None:
        return (stmt.rows,)
    if isinstance(stmt, (Gather, Scatter)) and stmt.limit is not None:
        return (stmt.limit,)
    return ()


def stmt_views(stmt: Stmt) -> list[tuple[str, View]]:
    """The (access, view) pairs of a non-loop statement; access is ``read`` or ``write``
    (``update`` for a destination that is also read: accumulation, scatter)."""
    if isinstance(stmt, Copy):
        return [("write", stmt.dst), ("read", stmt.src)]
    if isinstance(stmt, Compute):
        return [("write", stmt.dst)] + [("read", v) for v in expr_views(stmt.expr)]
    if isinstance(stmt, Reduce):
        return [("update" if stmt.accumulate else "write", stmt.dst), ("read", stmt.src)]
    if isinstance(stmt, MatMul):
        views = [("update" if stmt.accumulate else "write", stmt.dst), ("read", stmt.a), ("read", stmt.b)]
        return views + ([("read", stmt.blocks)] if stmt.blocks is not None else [])
    if isinstance(stmt, Gather):
        return [("write", stmt.dst), ("read", stmt.table), ("read", stmt.index)]
    if isinstance(stmt, Scatter):
        return [("update", stmt.table), ("read", stmt.index), ("read", stmt.src)]
    if isinstance(stmt, TopK):
        return [("write", stmt.values), ("write", stmt.indices), ("read", stmt.src)]
    return []


# -- steps and the module --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Kernel:
    """A tiled step: local buffers and a statement body; ``sources`` are the graph ops / ONNX
    nodes it implements (for messages and for mapping code back to the model)."""

    name: str
    buffers: tuple[Buffer, ...]
    body: tuple[Stmt, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class HostCall:
    """A step the host runs with the graph interpreter / CPU graph code: ``graph`` is held
    inline (no look-up elsewhere). ``inputs`` are global buffers bound to ``graph.inputs``
    in order, ``outputs`` to ``graph.outputs`` in order. ``reason`` says why the ops were not
    tiled; ``sources`` are the ONNX node names.

    Equality compares the graph by its lossless text (``Graph`` has identity semantics)."""

    name: str
    graph: Graph
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    reason: str = ""
    sources: tuple[str, ...] = ()

    def _key(self) -> tuple[object, ...]:
        return (self.name, print_graph(self.graph, elide_constants=False), self.inputs, self.outputs,
                self.reason, self.sources)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostCall):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


Step = Union[Kernel, HostCall]


@dataclass(frozen=True, slots=True)
class TiledModule:
    """The tiled program: global buffers, steps run in order, and the module's inputs and
    outputs (global buffer names; weights are supplied with the inputs but not listed)."""

    buffers: tuple[Buffer, ...]
    steps: tuple[Step, ...]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def kernels(self) -> list[Kernel]:
        return [s for s in self.steps if isinstance(s, Kernel)]


__all__ = [
    "BINARY_OPS",
    "MATMUL_ACC_DTYPES",
    "REDUCE_OPS",
    "ROLES",
    "SPACES",
    "STMT_KINDS",
    "TOPK_INDEX_DTYPES",
    "UNARY_OPS",
    "Affine",
    "Binary",
    "Buffer",
    "Cast",
    "Compute",
    "Const",
    "Copy",
    "ElementRef",
    "host_inputs",
    "kernel_statements",
    "stmt_elements",
    "Expr",
    "For",
    "Gather",
    "HostCall",
    "Kernel",
    "MatMul",
    "Operand",
    "Parallel",
    "Reduce",
    "Scatter",
    "Select",
    "Step",
    "Stmt",
    "TiledModule",
    "TopK",
    "Unary",
    "View",
    "expr_views",
    "stmt_views",
    "walk",
]
