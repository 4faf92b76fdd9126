"""Tiled statements other than ``compute`` and ``matmul``, staged onto kernel-IR statements.

| tiled | kernel IR |
|---|---|
| ``copy`` | ``Load`` / ``Store`` through an SRAM tile (HBM to HBM goes through SRAM; SRAM to SRAM is ``vpu.mov``) |
| ``reduce.sum/max/min`` | ``vpu.rsum`` / ``vpu.rmax`` per block of the row (min as ``-max(-x)``), blocks combined with ``add``/``max`` |
| ``gather`` | indices loaded as an i32 column, negatives wrapped on the VPU (out-of-range ones become -1, on which the DMA faults; not for ``in_bounds`` indices), ``Gather`` |
| ``topk`` | ``vpu.topk`` (the largest), ``vpu.topkmin`` (the smallest) |
| ``for`` (static) | ``For``; a loop around one element-wise statement is that statement with one more axis (:func:`coalesce`) |
| ``scatter`` | indices loaded and wrapped as for a gather, source rows in SRAM, ``Scatter`` (``dma.scatter`` / ``dma.scatter_add``) |
| ``for`` with a run-time count | the count loaded into an SRAM i32 cell, a kernel-IR ``For`` reading it (:class:`~moecc.ir.kernel.Count`) |
"""

from __future__ import annotations

import contextlib

from moecc.ir.affine import Affine
from moecc.ir.kernel import Gather as KGather
from moecc.ir.kernel import HbmRef, LocalRef, Vector
from moecc.ir.tiled.nodes import Compute, Copy, For, Gather, MatMul, Reduce, Scatter, Stmt, TopK, View, stmt_views
from moecc.ir.types import DType

from moecc.backend.asic.staging.axes import plan_axes, regions
from moecc.backend.asic.staging.context import StageContext, compute_dtype
from moecc.backend.asic.staging.expressions import stage_compute
from moecc.backend.asic.staging.tiles import NotStageable, Region, Tile
from moecc.backend.asic.staging.webs import map_expr_views


def stage_statement(ctx: StageContext, stmt: Stmt) -> None:
    """Emit ``stmt`` into ``ctx.stager`` (raises :class:`NotStageable` when it cannot be)."""
    if ctx.stager.loop_depth == 0:
        ctx.stager.release()
    if isinstance(stmt, For):
        if stmt.is_dynamic:
            stage_dynamic_for(ctx, stmt)
            return
        merged = coalesce(stmt, ctx.tile_dim)
        if merged is not None:
            stage_statement(ctx, merged)
            return
        ctx.stager.new_statement()
        ctx.stager.loop_depth += 1
        try:
            with ctx.stager.loop(int(stmt.count), stmt.var):
                for inner in stmt.body:
                    stage_statement(ctx, inner)
        finally:
            ctx.stager.loop_depth -= 1
        return
    if ctx.stager.loop_depth == 0:
        # Statements in one loop body keep distinct temporaries, so that one iteration's
        # statements (and, multi-buffered, consecutive iterations) do not wait for each other.
        ctx.stager.new_statement()
    if isinstance(stmt, Compute):
        stage_compute(ctx, stmt)
    elif isinstance(stmt, Copy):
        stage_copy(ctx, stmt)
    elif isinstance(stmt, Reduce):
        stage_reduce(ctx, stmt)
    elif isinstance(stmt, MatMul):
        from moecc.backend.asic.staging.matmul import stage_matmul

        stage_matmul(ctx, stmt)
    elif isinstance(stmt, Gather):
        stage_gather(ctx, stmt)
    elif isinstance(stmt, TopK):
        stage_topk(ctx, stmt)
    elif isinstance(stmt, Scatter):
        stage_scatter(ctx, stmt)
    else:
        raise NotStageable(f"statement {type(stmt).__name__}")


def coalesce(loop: For, max_cols: int = 1 << 30) -> Compute | Copy | Reduce | Gather | None:
    """A static loop around one element-wise statement (``compute``, ``copy``, ``reduce``; or a
    loop nest that coalesces to one) as that statement with the loop as a leading axis (a
    ``gather`` of column blocks: as one gather of all its columns, :func:`_coalesce_gather`): its
    views step by their offsets' coefficient of the loop variable. Staging then plans the
    axes of the whole nest at once (larger tiles, axes merged across the loop), instead of
    per iteration. None when the iterations could interact: the destination would not be
    injective (an accumulation across iterations), or a view of the destination's buffer is
    not the destination itself."""
    if loop.is_dynamic or len(loop.body) != 1 or int(loop.count) < 1:
        return None
    inner = loop.body[0]
    if isinstance(inner, For):
        inner = coalesce(inner, max_cols)
    var, count = loop.var, int(loop.count)
    if isinstance(inner, Gather):
        return _coalesce_gather(inner, var, count, max_cols)
    if not isinstance(inner, (Compute, Copy, Reduce)):
        return None
    accesses = stmt_views(inner)
    dst = accesses[0][1]
    if any(v.buffer == dst.buffer and v != dst for _, v in accesses[1:]):
        return None
    if isinstance(inner, Reduce) and inner.src.buffer == dst.buffer:
        return None

    def widen(view: View) -> View:
        coef = sum(c for v, c in view.offset.terms if v == var)
        rest = Affine(view.offset.const, tuple((v, c) for v, c in view.offset.terms if v != var))
        return View(view.buffer, rest, (count,) + view.shape, (coef,) + view.strides)

    new_dst = widen(dst)
    if not new_dst.is_injective:
        return None
    if isinstance(inner, Compute):
        return Compute(new_dst, map_expr_views(inner.expr, widen))
    if isinstance(inner, Copy):
        return Copy(new_dst, widen(inner.src))
    return Reduce(inner.op, new_dst, widen(inner.src), inner.accumulate)


def _coalesce_gather(inner: Gather, var: str, count: int, max_cols: int) -> Gather | None:
    """A loop over adjacent column blocks of the same rows gathered: one wider gather, up to
    ``max_cols`` columns (one gather instruction's row)."""
    def coef(view: View) -> int:
        return sum(c for v, c in view.offset.terms if v == var)

    def rest(view: View) -> Affine:
        return Affine(view.offset.const, tuple((v, c) for v, c in view.offset.terms if v != var))

    dst, table = inner.dst, inner.table
    if coef(inner.index) != 0 or dst.rank != 2 or table.rank != 2 or dst.buffer == table.buffer:
        return None
    if coef(dst) != dst.shape[1] * dst.strides[1] or coef(table) != table.shape[1] * table.strides[1]:
        return None
    if dst.strides[1] != 1 or table.strides[1] != 1 or count * dst.shape[1] > min(dst.strides[0], max_cols) \
            or count * table.shape[1] > table.strides[0]:
        return None
    return Gather(View(dst.buffer, rest(dst), (dst.shape[0], count * dst.shape[1]), dst.strides),
                  View(table.buffer, rest(table), (table.shape[0], count * table.shape[1]), table.strides), inner.index)


def stage_copy(ctx: StageContext, stmt: Copy) -> None:
    views = [stmt.dst, stmt.src]
    axes = plan_axes(stmt.dst.shape, views, col_cap=ctx.tile_dim, local=ctx.local_views(views))
    for dst, src in regions(ctx.stager, axes, views, ctx.row_cap(axes.cols.size, 2, axes), ctx.tile_dim):
        if ctx.stager.store_pitched(dst, src):  # rows of a wider local: one DMA at the local's stride
            continue
        # Into a global, the load may move out of loops; into a local it is retargeted instead.
        ctx.stager.write(dst, ctx.read(src) if dst.buffer not in ctx.stager.locals_ else ctx.stager.read(src))


def _rows_view(view: View) -> View:
    """A reduction destination ``[.., 1]`` without its last axis broadcast (plan_axes pins the
    reduced axis; the destination does not move along it)."""
    return View(view.buffer, view.offset, view.shape, view.strides[:-1] + (0,))


def stage_reduce(ctx: StageContext, stmt: Reduce) -> None:
    src_dtype, dst_dtype = ctx.dtypes[stmt.src.buffer], ctx.dtypes[stmt.dst.buffer]
    if stmt.op == "sum" and DType.I64 in (src_dtype, dst_dtype):
        # (the host sums in i64, and storing a sum beyond int32 is refused, never wrapped)
        raise NotStageable("a sum of i64 values: held as i32 on the chip, it could wrap where the graph does not")
    cdt = compute_dtype(src_dtype)
    if stmt.src.strides[-1] != 1 and stmt.src.shape[-1] > 1 and any(x == 1 for x in stmt.src.strides[:-1]):
        _reduce_across(ctx, stmt, cdt)
        return
    views = [_rows_view(stmt.dst), stmt.src]
    axes = plan_axes(stmt.src.shape, views, keep_last=True, local=ctx.local_views(views))
    width = axes.cols.size
    cols = min(width, ctx.tile_dim)
    stager = ctx.stager
    for dst, src in regions(stager, axes, views, ctx.row_cap(cols, 4, axes), 1 << 30):
        rows = src.rows
        total = stager.temp(cdt, rows, 1)
        combine = "add" if stmt.op == "sum" else "max"
        first = True
        for c0, cn in _static_blocks(width, cols):
            part = Region(src.buffer, src.offset + c0 * src.cstride, rows, cn, src.rstride, src.cstride)
            tile = stager.expand(ctx.to_compute(ctx.read(part), src_dtype, rows, cn), rows, cn)
            if stmt.op == "min":
                negated = stager.temp(cdt, rows, cn)
                stager.emit(Vector("neg", negated, a=tile.ref, dtype=cdt))
                tile = Tile(negated, cdt, "full")
            target = total if first else stager.temp(cdt, rows, 1)
            stager.emit(Vector("rsum" if stmt.op == "sum" else "rmax", target, a=tile.ref, dtype=cdt))
            if not first:
                stager.emit(Vector(combine, total, a=total, b=target, dtype=cdt))
            first = False
        if stmt.op == "min":
            stager.emit(Vector("neg", total, a=total, dtype=cdt))
        out = Tile(total, cdt, "full")
        out_region = Region(dst.buffer, dst.offset, rows, 1, dst.rstride, 1)
        if stmt.accumulate:
            old = ctx.to_compute(stager.read(out_region), dst_dtype, rows, 1)
            old = stager.expand(ctx.convert(old, cdt, rows, 1), rows, 1)
            op = {"sum": "add", "max": "max", "min": "min"}[stmt.op]
            merged = stager.temp(cdt, rows, 1)
            stager.emit(Vector(op, merged, a=old.ref, b=total, dtype=cdt))
            out = Tile(merged, cdt, "full")
        out = ctx.convert(out, compute_dtype(dst_dtype), rows, 1)
        stager.write(out_region, ctx.to_storage(out, dst.buffer, rows, 1))


def _reduce_across(ctx: StageContext, stmt: Reduce, cdt: DType) -> None:
    """A reduction whose axis is strided while another axis is contiguous (a sum over experts
    of ``[tokens, hidden, experts]`` viewed from ``[experts, tokens, hidden]``): element-wise
    ``add``/``max``/``min`` of the axis's slices, tiles laid out along the contiguous axis,
    instead of a row reduction over element-by-element DMAs."""
    stager = ctx.stager
    src_dtype, dst_dtype = ctx.dtypes[stmt.src.buffer], ctx.dtypes[stmt.dst.buffer]
    shape = stmt.src.shape[:-1]
    dst = View(stmt.dst.buffer, stmt.dst.offset, shape, stmt.dst.strides[:-1])
    first = View(stmt.src.buffer, stmt.src.offset, shape, stmt.src.strides[:-1])
    step, count = stmt.src.strides[-1], stmt.src.shape[-1]
    op = {"sum": "add", "max": "max", "min": "min"}[stmt.op]
    axes = plan_axes(shape, [dst, first], col_cap=ctx.tile_dim, local=ctx.local_views([dst, first]))
    for out, src in regions(stager, axes, [dst, first], ctx.row_cap(axes.cols.size, 4, axes), ctx.tile_dim):
        rows, cols = src.rows, src.cols
        total = stager.temp(cdt, rows, cols)
        start = stager.expand(ctx.to_compute(stager.read(src), src_dtype, rows, cols), rows, cols)
        stager.emit(Vector("mov", total, a=start.ref, dtype=cdt))
        with stager.loop(count - 1) as k:
            nxt = Region(src.buffer, src.offset + (k + 1) * step, rows, cols, src.rstride, src.cstride)
            tile = stager.expand(ctx.to_compute(stager.read(nxt), src_dtype, rows, cols), rows, cols)
            stager.emit(Vector(op, total, a=total, b=tile.ref, dtype=cdt))
        if stmt.accumulate:
            old = stager.expand(ctx.convert(ctx.to_compute(stager.read(out), dst_dtype, rows, cols), cdt, rows, cols),
                                rows, cols)
            stager.emit(Vector(op, total, a=total, b=old.ref, dtype=cdt))
        result = ctx.convert(Tile(total, cdt, "full"), compute_dtype(dst_dtype), rows, cols)
        stager.write(out, ctx.to_storage(result, out.buffer, rows, cols))


def _static_blocks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def _check_row_dma(ctx: StageContext, table: View, index: View, what: str) -> None:
    """What a gather or scatter DMA needs: an HBM table of contiguous rows, 32/64-bit indices."""
    if ctx.roles.get(table.buffer) == "local":
        raise NotStageable(f"a {what} a local buffer (the DMA moves rows of HBM)")
    if (table.shape[1] != 1 and table.strides[1] != 1) or table.strides[0] < 0:
        raise NotStageable(f"a {what} table rows that are not contiguous")
    if ctx.dtypes[index.buffer] in (DType.I8, DType.U8):
        raise NotStageable("8-bit indices")
    if table.shape[0] >= 1 << 24:
        raise NotStageable("a table too long to wrap negative indices exactly in the f32 immediate")


def _index_constants(ctx: StageContext, table_rows: int) -> LocalRef:
    """An i32 ``[0, table_rows, -1]`` row for :func:`_wrap_indices`."""
    constants = ctx.stager.temp(DType.I32, 1, 3)
    for i, value in enumerate((0.0, float(table_rows), -1.0)):
        ctx.stager.emit(Vector("fill", LocalRef(constants.buffer, 1, 1, Affine(i)), imm=value, dtype=DType.I32))
    return constants


def stage_gather(ctx: StageContext, stmt: Gather) -> None:
    table = stmt.table
    _check_row_dma(ctx, table, stmt.index, "gather from")
    stager = ctx.stager
    table_rows, width = table.shape
    itemsize = stager.dtype_of(table.buffer).itemsize
    limits = ctx.target.limits
    pitch, split = table.strides[0], _pitch_split(table.strides[0], itemsize, limits.stride_bytes)
    if split is None:
        raise NotStageable(f"table rows {pitch * itemsize} bytes apart exceed the gather stride field and no "
                           f"divisor of the pitch fits it")
    count = stmt.index.shape[0]
    col_block = max(1, min(width, limits.row_bytes // itemsize, ctx.tile_dim))
    row_block = ctx.row_cap(col_block, 3)
    dst_rs, dst_cs = stmt.dst.strides
    istride = stmt.index.strides[0]
    # Indices the kernel does not write are loop-invariant where their view is: load and wrap
    # them once, before the loops over column blocks.
    invariant = stmt.index.buffer not in ctx.written and stmt.index.buffer not in stager.locals_
    with stager.hoisted(stmt.index.offset) if invariant else contextlib.nullcontext():
        constants = None if stmt.in_bounds else _index_constants(ctx, table_rows)
        chunks = []
        for r0, rn in _static_blocks(count, row_block):
            raw = stager.expand(stager.read(Region(stmt.index.buffer, stmt.index.offset + r0 * istride, rn, 1, istride, 1)),
                                rn, 1)
            wrapped = _checked_indices(ctx, raw.ref, rn, table_rows, constants)
            if split > 1:  # row i starts at sub-row i*split of pitch / split elements
                scaled = stager.temp(DType.I32, rn, 1)
                stager.emit(Vector("muls", scaled, a=wrapped, imm=float(split), dtype=DType.I32))
                wrapped = scaled
            chunks.append((Affine(r0), rn, wrapped))
    # A run-time row count (an MoE tile's tokens) when the rows are one block: the DMA gathers
    # only those (and reads only their indices); the tile's other rows are unspecified.
    limit = ctx.run_time_count(stmt.limit) if stmt.limit is not None and len(chunks) == 1 else None
    for r0, rn, wrapped in chunks:
        for c0, cn in _static_blocks(width, col_block):
            out = stager.temp(stager.dtype_of(table.buffer), rn, cn)
            window = HbmRef(table.buffer, table.offset + c0, (table_rows - 1) * split + 1, cn, pitch // split)
            stager.emit(KGather(out, window, wrapped, rows=limit))
            dst = Region(stmt.dst.buffer, stmt.dst.offset + r0 * dst_rs + c0 * dst_cs, rn, cn, dst_rs, dst_cs)
            stager.write(dst, Tile(out, stager.dtype_of(table.buffer), "full"))


def stage_scatter(ctx: StageContext, stmt: Scatter) -> None:
    """``table[index[i]] (+)= src[i]`` as ``dma.scatter`` / ``dma.scatter_add`` of SRAM rows:
    indices loaded and wrapped as for a gather (an out-of-range one faults the DMA), the
    source rows read into SRAM tiles in the table's storage dtype, one DMA per block of
    rows and columns. Rows are written in index order within a block and blocks in order, so
    a repeated index keeps the last row (``scatter``) or adds every row (``scatter_add``)."""
    from moecc.ir.kernel import Scatter as KScatter

    table = stmt.table
    _check_row_dma(ctx, table, stmt.index, "scatter into")
    stager = ctx.stager
    storage = stager.dtype_of(table.buffer)
    if stmt.accumulate and storage != DType.F32:
        raise NotStageable(f"a scatter-add into {storage} rows (the DMA adds f32 rows exactly as the IR)")
    table_rows, width = table.shape
    itemsize = storage.itemsize
    limits = ctx.target.limits
    pitch = table.strides[0]
    if pitch * itemsize > limits.stride_bytes:
        raise NotStageable(f"table rows {pitch * itemsize} bytes apart exceed the scatter stride field")
    count = stmt.index.shape[0]
    col_block = max(1, min(width, limits.row_bytes // itemsize, ctx.tile_dim))
    row_block = ctx.row_cap(col_block, 3)
    src_rs, src_cs = stmt.src.strides
    istride = stmt.index.strides[0]
    constants = None if stmt.in_bounds else _index_constants(ctx, table_rows)
    src_dtype = ctx.dtypes[stmt.src.buffer]
    # A run-time row count when the rows are one block: only those rows are written.
    limit = ctx.run_time_count(stmt.limit) if stmt.limit is not None and count <= row_block else None
    for r0, rn in _static_blocks(count, row_block):
        raw = stager.expand(stager.read(Region(stmt.index.buffer, stmt.index.offset + r0 * istride, rn, 1, istride, 1)),
                            rn, 1)
        wrapped = _checked_indices(ctx, raw.ref, rn, table_rows, constants)
        for c0, cn in _static_blocks(width, col_block):
            region = Region(stmt.src.buffer, stmt.src.offset + r0 * src_rs + c0 * src_cs, rn, cn, src_rs, src_cs)
            tile = stager.expand(ctx.to_compute(stager.read(region), src_dtype, rn, cn), rn, cn)
            rows = ctx.to_storage(ctx.convert(tile, compute_dtype(ctx.dtypes[table.buffer]), rn, cn), table.buffer, rn, cn)
            if rows.dtype != storage or rows.space != "sram":
                moved = stager.temp(storage, rn, cn)
                stager.emit(Vector("mov" if rows.dtype == storage else "cvt", moved, a=rows.ref, dtype=rows.dtype,
                                   odt=None if rows.dtype == storage else storage))
                rows = Tile(moved, storage, "full")
            window = HbmRef(table.buffer, table.offset + c0, table_rows, cn, pitch)
            stager.emit(KScatter(window, rows.ref, wrapped, add=stmt.accumulate, dtype=storage, rows=limit))


def stage_dynamic_for(ctx: StageContext, stmt: For) -> None:
    """A loop whose trip count is an integer element read at run time: the element is loaded
    into an SRAM i32 cell before the loop and the kernel IR's loop reads it from there
    (:class:`~moecc.ir.kernel.Count`; instruction selection guards each of the ``max_count``
    iterations with a branch on it). The body is staged as a static loop's; loads that do not
    depend on the loop variable (an expert's weights) are hoisted before it."""
    from moecc.ir.kernel import Count

    stager = ctx.stager
    if stager.in_dynamic_loop:
        raise NotStageable("a run-time-count loop inside another one")
    ref = stmt.count
    count_dtype = ctx.dtypes[ref.buffer]
    if not count_dtype.is_int:
        raise NotStageable(f"a loop count of dtype {count_dtype}")
    cell = stager.expand(ctx.to_compute(stager.read(Region(ref.buffer, ref.offset, 1, 1, 1, 1)), count_dtype, 1, 1), 1, 1)
    if cell.dtype != DType.I32 or cell.space != "sram":
        moved = stager.temp(DType.I32, 1, 1)
        stager.emit(Vector("mov" if cell.dtype == DType.I32 else "cvt", moved, a=cell.ref, dtype=cell.dtype,
                           odt=None if cell.dtype == DType.I32 else DType.I32))
        cell = Tile(moved, DType.I32, "full")
    stager.pin(cell.ref.buffer)
    stager.new_statement()
    stager.loop_depth += 1
    try:
        with stager.loop(int(stmt.max_count or 0), stmt.var, dynamic=Count(cell.ref.buffer, cell.ref.offset)):
            for inner in stmt.body:
                stage_statement(ctx, inner)
    finally:
        stager.loop_depth -= 1


def _pitch_split(pitch: int, itemsize: int, limit: int) -> int | None:
    """``k`` such that rows ``pitch`` elements apart are sub-rows ``pitch / k`` apart within the
    gather's stride field (the DMA then gathers sub-row ``index * k``): 1 when the pitch fits,
    None when no divisor does. A 256 x 256 f32 expert matrix per row is 4 bytes too wide."""
    for k in range(1, 65):
        if pitch % k == 0 and pitch // k * itemsize <= limit:
            return k
    return None


def _checked_indices(ctx: StageContext, raw: LocalRef, rows: int, table_rows: int,
                     constants: LocalRef | None) -> LocalRef:
    """The row indices a gather or scatter DMA takes: ``raw`` itself when the statement
    promised them ``in_bounds`` (``constants`` is None then), else wrapped."""
    return raw if constants is None else _wrap_indices(ctx, raw, rows, table_rows, constants)


def _wrap_indices(ctx: StageContext, raw: LocalRef, rows: int, table_rows: int, constants: LocalRef) -> LocalRef:
    """``raw < 0 ? raw + rows : raw``, then -1 where that is still ``>= rows`` (the DMA faults on
    a negative row: an index out of range is a run-time error, not a read past the table)."""
    stager = ctx.stager
    zero, size, minus_one = (LocalRef(constants.buffer, 1, 1, Affine(i)) for i in range(3))
    mask = stager.temp(DType.I32, rows, 1)
    wrapped = stager.temp(DType.I32, rows, 1)
    stager.emit(Vector("cmpge", mask, a=raw, b=zero, bcast="scalar", dtype=DType.I32))
    stager.emit(Vector("adds", wrapped, a=raw, imm=float(table_rows), dtype=DType.I32))
    stager.emit(Vector("sel", wrapped, a=mask, b=raw, dtype=DType.I32))
    stager.emit(Vector("cmpge", mask, a=wrapped, b=size, bcast="scalar", dtype=DType.I32))
    stager.emit(Vector("sel", wrapped, a=mask, b=minus_one, bcast="scalar", dtype=DType.I32))
    return wrapped


def stage_topk(ctx: StageContext, stmt: TopK) -> None:
    k, width = stmt.k, stmt.src.shape[-1]
    if k > ctx.target.limits.topk or k > width:
        raise NotStageable(f"top-{k}: vpu.topk takes k up to {ctx.target.limits.topk}")
    if width > ctx.tile_dim:
        raise NotStageable(f"top-k over {width} elements: vpu.topk reads at most {ctx.tile_dim} columns")
    stager = ctx.stager
    src_dtype = ctx.dtypes[stmt.src.buffer]
    cdt = compute_dtype(src_dtype)
    # One loop nest over the rows; values, indices and source share their leading axes.
    values = View(stmt.values.buffer, stmt.values.offset, stmt.src.shape, stmt.values.strides[:-1] + (1,))
    indices = View(stmt.indices.buffer, stmt.indices.offset, stmt.src.shape, stmt.indices.strides[:-1] + (1,))
    views = [values, indices, stmt.src]
    axes = plan_axes(stmt.src.shape, views, keep_last=True, local=ctx.local_views(views))
    vcs, ics = stmt.values.strides[-1], stmt.indices.strides[-1]
    for vals, idx, src in regions(stager, axes, views, ctx.row_cap(width, 4), 1 << 30):
        rows = src.rows
        tile = stager.expand(ctx.to_compute(stager.read(src), src_dtype, rows, width), rows, width)
        top = stager.temp(cdt, rows, k)
        order = stager.temp(DType.I32, rows, k)
        # The smallest by vpu.topkmin (as the largest of -x, NaN would come first, not last).
        stager.emit(Vector("topk" if stmt.largest else "topkmin", top, a=tile.ref, b=order, k=k, dtype=cdt))
        out = ctx.to_storage(Tile(top, cdt, "full"), vals.buffer, rows, k)
        stager.write(Region(vals.buffer, vals.offset, rows, k, vals.rstride, vcs), out)
        index_tile = ctx.to_storage(Tile(order, DType.I32, "full"), idx.buffer, rows, k)
        stager.write(Region(idx.buffer, idx.offset, rows, k, idx.rstride, ics), index_tile)


__all__ = ["stage_copy", "stage_dynamic_for", "stage_gather", "stage_reduce", "stage_scatter", "stage_statement",
           "stage_topk"]
