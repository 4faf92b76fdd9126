"""``compute`` statements: an expression tree becomes a sequence of VPU ops over SRAM tiles.

Each node of the tree becomes one (or a few) :class:`~moecc.ir.kernel.Vector` statements into
a temporary of the node's broadcast kind (a node over row- or column-broadcast operands only
is computed at that smaller shape; the VPU's ``bcast`` field reads a smaller operand ``b``).
Values are computed as the tiled IR defines them: floats in f32 (bf16 operands converted on
read, the result rounded once on store, ``cast<bf16>`` rounding where it stands), integers in
i32, bools as f32 0/1 (what the VPU's compares produce, and how the part stores bool).

Ops the VPU has map one to one; the rest decompose: ``lt``/``le`` swap operands, ``ne`` is
``1 - eq``, ``and``/``or``/``xor`` on bools are ``mul``/``max``/``|a - b|``, ``sign`` is two
compares, ``floor``/``ceil`` go through a truncating conversion, ``pow`` by a constant
``2, 3, 1, 0, -1, 0.5, -0.5, -2`` is multiplies, ``sqrt``, ``rcp`` or ``rsqrt``. What is left
(``sin``, ``cos``, integer division and bitwise ops, other powers, f16 or 8-bit rounding)
raises :class:`~.tiles.NotStageable`: the kernel runs on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from moecc.ir.kernel import Vector
from moecc.ir.tiled.nodes import Binary, Cast, Compute, Const, Expr, Operand, Select, Unary, View, expr_views
from moecc.ir.types import DType

from moecc.backend.asic.staging.axes import broadcast_strides, plan_axes, regions
from moecc.backend.asic.staging.context import TEMPS_PER_ELEMENT, StageContext, compute_dtype
from moecc.backend.asic.staging.tiles import NotStageable, Region, Tile, bcast_mode, join_kinds

_DIRECT_UNARY = ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "rcp", "tanh", "erf", "sigmoid")
_INT_UNARY = ("neg", "abs")
#: Graph integer types the chip holds in i32: arithmetic that may leave int32 is not staged
#: (the host computes it in the graph's type, and storing an out-of-range result is refused).
_WIDE_INTS = (DType.I64,)
_COMMUTATIVE = ("add", "mul", "max", "min", "cmpeq")
_SCALAR_FORMS = {"add": "adds", "mul": "muls", "max": "maxs", "min": "mins"}
_POWERS = (0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0)


@dataclass(frozen=True, slots=True)
class Imm:
    """A constant of the expression (not in any tile yet)."""

    value: float


Val = Tile | Imm


def fold_constants(expr: Expr, ctx: StageContext, shape: tuple[int, ...]) -> Expr:
    """Operands that read one element of a weight over the whole shape become constants."""
    if isinstance(expr, Operand):
        view = expr.view
        if not view.offset.terms and all(s == 0 for s in broadcast_strides(view, shape)):
            value = ctx.constant(view.buffer, view.offset.const)
            if value is not None:
                return Const(value, ctx.dtypes[view.buffer])
        return expr
    if isinstance(expr, Unary):
        return Unary(expr.op, fold_constants(expr.x, ctx, shape))
    if isinstance(expr, Cast):
        return Cast(expr.dtype, fold_constants(expr.x, ctx, shape))
    if isinstance(expr, Binary):
        return Binary(expr.op, fold_constants(expr.a, ctx, shape), fold_constants(expr.b, ctx, shape))
    if isinstance(expr, Select):
        return Select(fold_constants(expr.cond, ctx, shape), fold_constants(expr.a, ctx, shape),
                      fold_constants(expr.b, ctx, shape))
    return expr


def _node_count(expr: Expr) -> int:
    """Nodes of ``expr`` that compute (each may take a temporary tile of the block)."""
    if isinstance(expr, Unary | Cast):
        return 1 + _node_count(expr.x)
    if isinstance(expr, Binary):
        return 1 + _node_count(expr.a) + _node_count(expr.b)
    if isinstance(expr, Select):
        return 1 + _node_count(expr.cond) + _node_count(expr.a) + _node_count(expr.b)
    return 0


def stage_compute(ctx: StageContext, stmt: Compute) -> None:
    shape = stmt.dst.shape
    expr = fold_constants(stmt.expr, ctx, shape)
    views: list[View] = [stmt.dst]
    for view in expr_views(expr):
        if view not in views:
            views.append(view)
    axes = plan_axes(shape, views, col_cap=ctx.tile_dim, local=ctx.local_views(views))
    temps = max(TEMPS_PER_ELEMENT, _node_count(expr) + len(views))
    for block in regions(ctx.stager, axes, views, ctx.row_cap(axes.cols.size, temps, axes), ctx.tile_dim):
        by_view = dict(zip(views, block))  # an operand may be the destination itself (in place)
        dst = block[0]
        ev = _Evaluator(ctx, by_view, dst.rows, dst.cols)
        value = _eval_root(ev, expr, ctx.dtypes[stmt.dst.buffer])
        tile = ev.materialize(value, "full", compute_dtype(ctx.dtypes[stmt.dst.buffer]))
        tile = ctx.stager.expand(tile, dst.rows, dst.cols)
        ctx.stager.write(dst, ctx.to_storage(tile, dst.buffer, dst.rows, dst.cols))


def _eval_root(ev: _Evaluator, expr: Expr, stored: DType) -> Val:
    """The statement's value; a float cast to the destination's own float type is left to the
    store, which rounds once to it (rounding, widening and rounding again give the same bits,
    in three passes)."""
    if isinstance(expr, Cast) and expr.dtype == stored and stored.is_float:
        value, dtype = ev.eval(expr.x)
        return value if dtype.is_float else ev.cast(value, dtype, expr.dtype)
    return ev.eval(expr)[0]


@dataclass(slots=True)
class _Evaluator:
    ctx: StageContext
    regions: dict[View, Region]
    rows: int
    cols: int

    # -- helpers --------------------------------------------------------------------------
    def out(self, dtype: DType, kind: str) -> Tile:
        return self.ctx.stager.temp_tile(dtype, kind, self.rows, self.cols)

    def vec(self, op: str, out: Tile, a: Tile | None = None, b: Tile | None = None, **fields: object) -> Tile:
        self.ctx.stager.emit(Vector(op, out.ref, a=a.ref if a else None, b=b.ref if b else None,
                                    dtype=fields.pop("dtype", out.dtype), **fields))  # type: ignore[arg-type]
        return out

    def materialize(self, value: Val, kind: str, dtype: DType) -> Tile:
        """``value`` as a tile of at least ``kind`` in ``dtype`` (constants are filled)."""
        if isinstance(value, Imm):
            return self.vec("fill", self.out(dtype, kind), imm=float(value.value))
        return self.ctx.convert(value, dtype, self.rows, self.cols)

    def widen(self, tile: Tile, kind: str) -> Tile:
        """``tile`` broadcast to ``kind`` (a ``vpu.mov`` with ``bcast``)."""
        if tile.kind == kind:
            return tile
        return self.vec("mov", self.out(tile.dtype, kind), tile, bcast=bcast_mode(tile.kind, kind))

    # -- the tree -------------------------------------------------------------------------
    def eval(self, expr: Expr) -> tuple[Val, DType]:
        if isinstance(expr, Const):
            value = expr.value
            return Imm(float(value) if not isinstance(value, bool) else float(int(value))), expr.dtype
        if isinstance(expr, Operand):
            region = self.regions[expr.view]
            logical = self.ctx.dtypes[expr.view.buffer]
            tile = self.ctx.read(region)
            return self.ctx.to_compute(tile, logical, self.rows, self.cols), logical
        if isinstance(expr, Unary):
            value, dtype = self.eval(expr.x)
            return self.unary(expr.op, value, dtype), dtype
        if isinstance(expr, Binary):
            a, dtype = self.eval(expr.a)
            b, _ = self.eval(expr.b)
            return self.binary(expr.op, a, b, dtype)
        if isinstance(expr, Select):
            return self.select(expr)
        if isinstance(expr, Cast):
            value, dtype = self.eval(expr.x)
            return self.cast(value, dtype, expr.dtype), expr.dtype
        raise NotStageable(f"expression node {type(expr).__name__}")

    def unary(self, op: str, value: Val, dtype: DType) -> Val:
        cdt = compute_dtype(dtype)
        if dtype in _WIDE_INTS and op == "neg":
            raise NotStageable(f"'{op}' on {dtype}: held as i32 on the chip, it could wrap where the graph does not")
        tile = self.materialize(value, "scalar", cdt) if isinstance(value, Imm) else value
        if op in _DIRECT_UNARY and (cdt == DType.F32 or op in _INT_UNARY):
            return self.vec(op, self.out(cdt, tile.kind), tile)
        if op == "sign":
            zero = self.materialize(Imm(0.0), "scalar", cdt)
            pos = self.vec("cmpgt", self.out(cdt, tile.kind), tile, zero, bcast=bcast_mode("scalar", tile.kind))
            neg = self.vec("neg", self.out(cdt, tile.kind), tile)
            below = self.vec("cmpgt", self.out(cdt, tile.kind), neg, zero, bcast=bcast_mode("scalar", tile.kind))
            sign = self.vec("sub", self.out(cdt, tile.kind), pos, below)
            if cdt != DType.F32:
                return sign
            # sign(NaN) is NaN: where x != x, take x.
            same = self.vec("cmpeq", self.out(cdt, tile.kind), tile, tile)
            nan = self.vec("adds", self.out(cdt, tile.kind), self.vec("muls", self.out(cdt, tile.kind), same, imm=-1.0),
                           imm=1.0)
            return self.vec("sel", sign, nan, tile)
        if op == "not" and dtype == DType.BOOL:
            flipped = self.vec("muls", self.out(cdt, tile.kind), tile, imm=-1.0)
            return self.vec("adds", self.out(cdt, tile.kind), flipped, imm=1.0)
        if op in ("floor", "ceil"):
            # trunc(x) through i32 (exact for |x| < 2^31), then step by one where it rounded the wrong way.
            as_int = self.vec("cvt", self.out(DType.I32, tile.kind), tile, dtype=DType.F32, odt=DType.I32)
            trunc = self.vec("cvt", self.out(DType.F32, tile.kind), as_int, dtype=DType.I32, odt=DType.F32)
            kind = tile.kind
            if op == "floor":
                wrong = self.vec("cmpgt", self.out(cdt, kind), trunc, tile)
                rounded = self.vec("sub", self.out(cdt, kind), trunc, wrong)
            else:
                wrong = self.vec("cmpgt", self.out(cdt, kind), tile, trunc)
                rounded = self.vec("add", self.out(cdt, kind), trunc, wrong)
            # |x| >= 2^23 is an integer already (and beyond i32 the conversion is wrong), NaN and
            # +-inf stay themselves: keep x wherever -|x| > -2^23 does not hold.
            magnitude = self.vec("neg", self.out(cdt, kind), self.vec("abs", self.out(cdt, kind), tile))
            limit = self.materialize(Imm(-float(1 << 23)), "scalar", cdt)
            small = self.vec("cmpgt", self.out(cdt, kind), magnitude, limit, bcast=bcast_mode("scalar", kind))
            keep = self.vec("adds", self.out(cdt, kind), self.vec("muls", self.out(cdt, kind), small, imm=-1.0), imm=1.0)
            return self.vec("sel", rounded, keep, tile)
        raise NotStageable(f"'{op}' on {dtype} has no VPU instruction or decomposition")

    def binary(self, op: str, a: Val, b: Val, dtype: DType) -> tuple[Val, DType]:
        cdt = compute_dtype(dtype)
        if dtype in _WIDE_INTS and op in ("add", "sub", "mul", "pow"):
            raise NotStageable(f"'{op}' on {dtype}: held as i32 on the chip, it could wrap where the graph does not")
        if op in ("and", "or", "xor"):
            if dtype != DType.BOOL:
                raise NotStageable(f"bitwise '{op}' on {dtype}: the VPU has no integer bit operations")
            if op == "xor":
                diff = self.arith("sub", a, b, cdt)
                return self.unary("abs", diff, dtype), DType.BOOL
            return self.arith("mul" if op == "and" else "max", a, b, cdt), DType.BOOL
        if op in ("gt", "ge", "eq", "lt", "le", "ne"):
            vpu, x, y = {"gt": ("cmpgt", a, b), "ge": ("cmpge", a, b), "eq": ("cmpeq", a, b),
                         "lt": ("cmpgt", b, a), "le": ("cmpge", b, a), "ne": ("cmpeq", a, b)}[op]
            result = self.arith(vpu, x, y, cdt)
            if not isinstance(result, Imm) and result.dtype != DType.F32:
                result = self.ctx.convert(result, DType.F32, self.rows, self.cols)
            if op == "ne":
                result = self.arith("sub", Imm(1.0), result, DType.F32)
            return result, DType.BOOL
        if op == "pow":
            return self.power(a, b, dtype), dtype
        if op == "div" and cdt == DType.I32:
            raise NotStageable("integer division: the VPU divides floats only")
        return self.arith(op, a, b, cdt), dtype

    def arith(self, op: str, a: Val, b: Val, cdt: DType) -> Val:
        """``a op b`` (VPU binary op names), both in ``cdt``."""
        if isinstance(a, Imm) and isinstance(b, Imm):
            a = self.materialize(a, "scalar", cdt)
        if isinstance(a, Imm) and op in _COMMUTATIVE:
            a, b = b, a
        if isinstance(b, Imm) and not isinstance(a, Imm):
            if op in _SCALAR_FORMS:
                return self.vec(_SCALAR_FORMS[op], self.out(cdt, a.kind), a, imm=b.value)
            if op == "sub":
                return self.vec("adds", self.out(cdt, a.kind), a, imm=-b.value)
            if op == "div" and b.value != 0 and _is_power_of_two(b.value):
                return self.vec("muls", self.out(cdt, a.kind), a, imm=1.0 / b.value)
        if isinstance(a, Imm):
            assert not isinstance(b, Imm)
            a = self.materialize(a, b.kind, cdt)
        if isinstance(b, Imm):
            b = self.materialize(b, "scalar", cdt)
        kind = join_kinds(a.kind, b.kind)
        if a.kind != kind:
            # The VPU broadcasts only its second operand: swap when the op allows, else widen a
            # (with only '>' and '>=', a compare cannot swap its operands).
            if op in _COMMUTATIVE and b.kind == kind:
                a, b = b, a
            else:
                a = self.widen(a, kind)
        return self.vec(op, self.out(cdt, kind), a, b, bcast=bcast_mode(b.kind, kind))

    def power(self, a: Val, b: Val, dtype: DType) -> Val:
        if not isinstance(b, Imm) or b.value not in _POWERS or compute_dtype(dtype) != DType.F32:
            raise NotStageable("pow other than by a constant 2, 3, 1, 0, -1, -2, 0.5 or -0.5")
        if isinstance(a, Imm):
            a = self.materialize(a, "scalar", DType.F32)
        n = b.value
        if n == 0.0:
            return Imm(1.0)
        if n == 1.0:
            return a
        if n == 0.5:
            return self.unary("sqrt", a, dtype)
        if n == -0.5:
            return self.unary("rsqrt", a, dtype)
        if n == -1.0:
            return self.unary("rcp", a, dtype)
        square = self.arith("mul", a, a, DType.F32)
        if n == 2.0:
            return square
        if n == -2.0:
            return self.unary("rcp", square, dtype)
        return self.arith("mul", square, a, DType.F32)

    def select(self, expr: Select) -> tuple[Val, DType]:
        cond, _ = self.eval(expr.cond)
        a, dtype = self.eval(expr.a)
        b, _ = self.eval(expr.b)
        cdt = compute_dtype(dtype)
        kinds = [v.kind for v in (cond, a, b) if isinstance(v, Tile)]
        kind = join_kinds(*kinds) if kinds else "scalar"
        # vpu.sel keeps dst where the condition is 0: start from b, overwrite with a.
        out = self.out(cdt, kind)
        if isinstance(b, Imm):
            self.vec("fill", out, imm=b.value)
        else:
            self.vec("mov", out, self.ctx.convert(b, cdt, self.rows, self.cols), bcast=bcast_mode(b.kind, kind))
        c_tile = self.widen(self.materialize(cond, kind, cdt), kind)
        a_tile = self.materialize(a, "scalar", cdt) if isinstance(a, Imm) else a
        self.vec("sel", out, c_tile, a_tile, bcast=bcast_mode(a_tile.kind, kind))
        return out, dtype

    def cast(self, value: Val, src: DType, dst: DType) -> Val:
        if dst in (DType.F16, DType.I8, DType.U8) and src != dst:
            raise NotStageable(f"cast to {dst}: the VPU cannot round or wrap into it")
        if isinstance(value, Imm):
            value = self.materialize(value, "scalar", compute_dtype(src))
        if dst == DType.BOOL:
            if src == DType.BOOL:
                return value
            zero = self.arith("cmpeq", value, Imm(0.0), compute_dtype(src))
            if isinstance(zero, Tile) and zero.dtype != DType.F32:
                zero = self.ctx.convert(zero, DType.F32, self.rows, self.cols)
            return self.arith("sub", Imm(1.0), zero, DType.F32)
        out = self.ctx.convert(value, compute_dtype(dst), self.rows, self.cols)
        if dst == DType.BF16 and src != DType.BOOL:
            # Round to bf16 where the cast stands, then compute on in f32.
            rounded = self.ctx.convert(out, DType.BF16, self.rows, self.cols)
            out = self.ctx.convert(rounded, DType.F32, self.rows, self.cols)
        return out


def _is_power_of_two(value: float) -> bool:
    import math

    mantissa, _ = math.frexp(abs(value))
    return mantissa == 0.5


__all__ = ["fold_constants", "stage_compute"]
