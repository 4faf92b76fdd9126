"""``matmul`` statements onto the MXU: accumulator tiles, operand tiles in the MXU dtype.

``dst[b.., m, n] (+)= a[b.., m, k] @ b[b.., k, n]``: batch axes over which ``b`` does not move
fold into ``m`` when the rows continue across them (:func:`fold_batch`), the others become
loops; ``m`` is cut
into blocks whose accumulator tile fits, ``n`` and ``k`` into blocks within the ``mxu.mm``
fields (the lowering's tiles already are, at the ASIC's tiling parameters). Per block:

- the destination is the accumulator itself when it is a tiled local the staging placed in
  the accumulator (every matmul destination local is) and the block is contiguous in it;
  otherwise an accumulator temporary, initialised from the destination when the statement
  accumulates, and moved (converted) into the destination afterwards;
- ``a`` and ``b`` are read into SRAM tiles (before the loops their region does not move in,
  when the kernel does not write them: the operand stays resident, for the whole kernel when
  no loop moves it; an operand that moves only with the loops inside one it does not move in,
  e.g. with the contraction loop inside the loop over output tiles, has all its blocks
  loaded before that loop) and converted to the MXU dtype (bf16 at
  ``precision="bf16"`` except in routing kernels, see :mod:`.module`); ``b^T`` is read as
  stored (``n x k``) and multiplied with ``transpose_w``; ``a^T`` has no MXU form and is read
  transposed (slow path);
- the first ``k`` block stores, the rest accumulate.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from moecc.ir.affine import Affine
from moecc.ir.kernel import Count, LocalRef, MatMul as KMatMul, Vector
from moecc.ir.sparse24 import GROUP
from moecc.ir.tiled.nodes import MatMul, View
from moecc.ir.types import DType

from moecc.backend.asic.staging.context import StageContext, compute_dtype
from moecc.backend.asic.staging.sparse_weights import BLOCKS, POSITIONS, VALUES, divide
from moecc.backend.asic.staging.tiles import NotStageable, Region, Tile, substitute


def stage_matmul(ctx: StageContext, stmt: MatMul) -> None:
    if stmt.acc_dtype != DType.F32:
        raise NotStageable(f"an integer contraction ({stmt.acc_dtype} accumulation): the MXU multiplies floats")
    stmt = fold_batch(stmt)
    dst, a = stmt.dst, stmt.a
    m, n = dst.shape[-2:]
    k = a.shape[-2] if stmt.transpose_a else a.shape[-1]
    cap = ctx.tile_dim
    n_block = min(n, cap)
    acc_budget = ctx.target.acc_capacity_bytes // 4  # a quarter of the accumulator per block
    m_block = max(1, min(m, cap, acc_budget // (4 * n_block)))
    k_block = min(k, cap)
    stager = ctx.stager
    rows = _row_count(ctx, stmt, m, m_block)
    for d_off, a_off, b_off in _batches(ctx, stmt):
        for m0, mn in stager.blocks(m, m_block):
            for n0, nn in _static_blocks(n, n_block):
                _block(ctx, stmt, d_off, a_off, b_off, m0, mn, Affine(n0), nn, k, k_block, rows)


def _row_count(ctx: StageContext, stmt: MatMul, m: int, m_block: int) -> Count | None:
    """The run-time row count (an MoE expert's tokens in its tile) as an SRAM cell for
    ``mxu.mmr``, when the MXU can take it: the rows form one block and the product lands in
    an accumulator local (rows past the count then keep their values, as the IR says). Else
    None, and the MXU computes every row of the tile (padding rows; the report counts them)."""
    if stmt.rows is None or m > m_block or stmt.dst.rank != 2:
        return None
    local = ctx.stager.locals_.get(stmt.dst.buffer)
    d_rs, d_cs = stmt.dst.strides
    n = stmt.dst.shape[1]
    if local is None or local.space != "acc" or not (d_cs == 1 or n == 1) or not (d_rs == n or m == 1):
        return None
    return ctx.run_time_count(stmt.rows)


def fold_batch(stmt: MatMul) -> MatMul:
    """``stmt`` with its innermost batch axes folded into ``m`` while ``b`` is the same matrix
    for every batch element (stride 0) and ``dst`` and ``a`` step over them as over more rows
    (batch stride = ``m`` x row stride): a ``[2, 96, k]`` activation times a weight is one
    ``192``-row product, which loads the weight tile into the array once, not per batch element."""
    while stmt.dst.rank > 2 and not stmt.transpose_a:
        dst, a, b = stmt.dst, stmt.a, stmt.b
        m = dst.shape[-2]
        single = dst.shape[-3] == 1
        if not single and (b.strides[-3] != 0 and b.shape[-3] != 1 or dst.strides[-3] != m * dst.strides[-2]
                           or a.strides[-3] != m * a.strides[-2]):
            break

        def fold(view: View) -> View:
            return View(view.buffer, view.offset, view.shape[:-3] + (view.shape[-3] * view.shape[-2], view.shape[-1]),
                        view.strides[:-3] + view.strides[-2:])

        b = View(b.buffer, b.offset, b.shape[:-3] + b.shape[-2:], b.strides[:-3] + b.strides[-2:])
        stmt = dataclasses.replace(stmt, dst=fold(dst), a=fold(a), b=b)
    return stmt


def _batches(ctx: StageContext, stmt: MatMul) -> Iterator[tuple[Affine, Affine, Affine]]:
    views = (stmt.dst, stmt.a, stmt.b)
    batch = stmt.dst.shape[:-2]

    def walk(level: int, offsets: tuple[Affine, ...]) -> Iterator[tuple[Affine, Affine, Affine]]:
        if level == len(batch):
            yield offsets  # type: ignore[misc]
            return
        if batch[level] == 1:
            yield from walk(level + 1, offsets)
            return
        with ctx.stager.loop(batch[level]) as var:
            yield from walk(level + 1, tuple(o + var * v.strides[level] for o, v in zip(offsets, views)))

    yield from walk(0, tuple(v.offset for v in views))


def _static_blocks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def _block(ctx: StageContext, stmt: MatMul, d_off: Affine, a_off: Affine, b_off: Affine, m0: Affine, mn: int,
           n0: Affine, nn: int, k: int, k_block: int, rows: Count | None = None) -> None:
    stager = ctx.stager
    d_rs, d_cs = stmt.dst.strides[-2:]
    out_region = Region(stmt.dst.buffer, d_off + m0 * d_rs + n0 * d_cs, mn, nn, d_rs, d_cs)
    local = stager.locals_.get(stmt.dst.buffer)
    direct = (local is not None and local.space == "acc" and (d_cs == 1 or nn == 1) and (d_rs == nn or mn == 1))
    if direct:
        acc = LocalRef(stmt.dst.buffer, mn, nn, out_region.offset)
    else:
        acc = stager.temp(DType.F32, mn, nn, "acc")
        if stmt.accumulate:
            old = stager.read(out_region)
            old = ctx.convert(ctx.to_compute(old, ctx.dtypes[stmt.dst.buffer], mn, nn), DType.F32, mn, nn)
            old = stager.expand(old, mn, nn)
            stager.emit(Vector("mov", acc, a=old.ref, dtype=DType.F32))
    a_s = stmt.a.strides[-2:]
    b_s = stmt.b.strides[-2:]
    for index, (k0, kn) in enumerate(_static_blocks(k, k_block)):
        if stmt.transpose_a:  # a viewed [k, m]: element (r, c) of the m x k block
            a_region = Region(stmt.a.buffer, a_off + m0 * a_s[1] + k0 * a_s[0], mn, kn, a_s[1], a_s[0])
        else:
            a_region = Region(stmt.a.buffer, a_off + m0 * a_s[0] + k0 * a_s[1], mn, kn, a_s[0], a_s[1])
        if stmt.transpose_b:  # b viewed [n, k]: the n x k block, multiplied transposed
            w_region = Region(stmt.b.buffer, b_off + n0 * b_s[0] + k0 * b_s[1], nn, kn, b_s[0], b_s[1])
        else:
            w_region = Region(stmt.b.buffer, b_off + k0 * b_s[0] + n0 * b_s[1], kn, nn, b_s[0], b_s[1])
        a_tile = _operand(ctx, a_region)
        sparse = (_masked_weight(ctx, stmt, w_region, k0, kn, n0, nn) if stmt.blocks is not None
                  else _sparse_weight(ctx, stmt, w_region, rows if direct else None))
        if sparse is None:
            w_tile = _operand(ctx, w_region)
            stager.emit(KMatMul(acc, a_tile, w_tile, accumulate=index > 0 or stmt.accumulate, dtype=ctx.mxu_dtype,
                                transpose_w=stmt.transpose_b, rows=rows if direct else None))
        else:
            stager.emit(dataclasses.replace(sparse, dst=acc, a=a_tile, accumulate=index > 0 or stmt.accumulate))
    if not direct:
        result = Tile(acc, DType.F32, "full", "acc")
        result = ctx.convert(result, compute_dtype(ctx.dtypes[stmt.dst.buffer]), mn, nn)
        stager.write(out_region, ctx.to_storage(result, stmt.dst.buffer, mn, nn))


def _sparse_weight(ctx: StageContext, stmt: MatMul, w_region: Region, rows: Count | None) -> KMatMul | None:
    """The sparse matmul (:mod:`.sparse_weights`; ``dst`` and ``a`` still to fill in) of a
    weight block of a weight the plan multiplies sparse, with its weight and mask tiles read;
    None when the weight is dense or the block has no sparse form (zero blocks with a run-time
    row count, a block off the weight's block grid): that block reads the dense weight."""
    plan = ctx.sparse
    weight = plan.weights.get(w_region.buffer) if plan is not None else None
    if weight is None:
        return None
    where = None
    # A run-time row count has a 2:4 form (mxu.mm24r), none with zero blocks.
    if (rows is None or weight.form == "2:4") and w_region.cstride == 1 and w_region.rstride == weight.stored_cols:
        where = weight.locate(w_region.offset, w_region.rows, w_region.cols, ctx.stager.open_ranges())
    kn, nn = (w_region.cols, w_region.rows) if weight.transposed else (w_region.rows, w_region.cols)
    k, n = weight.k, weight.n
    if where is not None and weight.form == "2:4":
        at = _grid_offset(where, (k, n), 2)
        pos = _grid_offset(where, (k, n), GROUP)
        if at is not None and pos is not None and kn % GROUP == 0:
            values = _operand(ctx, Region(weight.name + VALUES, at, kn // 2, nn, n, 1))
            positions = _mask_operand(ctx, Region(weight.name + POSITIONS, pos, kn // GROUP, nn, n, 1))
            return KMatMul(positions, positions, values, dtype=ctx.mxu_dtype, sparsity="2:4", mask=positions, rows=rows)
    elif where is not None:
        b = weight.block
        at = _grid_offset(where, (k, n), b, b)
        if at is not None and kn % b == 0 and nn % b == 0:
            w_tile = _operand(ctx, w_region)
            mask = _mask_operand(ctx, Region(weight.name + BLOCKS, at, kn // b, nn // b, n // b, 1))
            return KMatMul(mask, mask, w_tile, dtype=ctx.mxu_dtype, transpose_w=weight.transposed,
                           sparsity="blocks", mask=mask, block=b)
    ctx.dense_reads.add(weight.name)
    return None


def _masked_weight(ctx: StageContext, stmt: MatMul, w_region: Region, k0: int, kn: int, n0: Affine, nn: int) -> KMatMul | None:
    """The ``mxu.mmsp`` (``dst`` and ``a`` still to fill in) of a weight block of a matmul whose
    lowering marked the weight's zero blocks (:attr:`MatMul.blocks`: attention's packed heads);
    None when the block is off the mask's grid or its edge is not a size ``mxu.mmsp`` takes."""
    mask, size, n0 = stmt.blocks, stmt.block, Affine.of(n0)
    assert mask is not None
    if size < 8 or size & (size - 1) or k0 % size or kn % size or nn % size or n0.terms or n0.const % size:
        return None
    rs, cs = mask.strides
    at = mask.offset + (k0 // size) * rs + (n0.const // size) * cs
    w_tile = _operand(ctx, w_region)
    mask_tile = _mask_operand(ctx, Region(mask.buffer, at, kn // size, nn // size, rs, cs))
    return KMatMul(mask_tile, mask_tile, w_tile, dtype=ctx.mxu_dtype, transpose_w=stmt.transpose_b,
                   sparsity="blocks", mask=mask_tile, block=size)


def _grid_offset(where: tuple[Affine, Affine, Affine], shape: tuple[int, int], k_div: int,
                 n_div: int = 1) -> Affine | None:
    """The element offset, in a buffer of ``[matrices, k / k_div, n / n_div]``, of the block
    at ``where`` (matrix, k, n of the dense weight ``k x n``); None off that grid."""
    matrix, k0, n0 = where
    k, n = shape
    kk, nk = divide(k0, k_div), divide(n0, n_div)
    if kk is None or nk is None:
        return None
    return matrix * ((k // k_div) * (n // n_div)) + kk * (n // n_div) + nk


def _mask_operand(ctx: StageContext, region: Region) -> LocalRef:
    """A u8 mask or positions tile, loaded as stored (before the loops it does not move in)."""
    stager = ctx.stager
    with contextlib.ExitStack() as scope:
        if not ctx.conservative:
            scope.enter_context(stager.hoisted(region.offset))
        tile = stager.temp(DType.U8, region.rows, region.cols)
        stager.load_into(tile, region.buffer, region.offset, region.rows, region.cols, region.rstride, region.cstride)
    return tile


#: Share of the SRAM operand tiles kept for a whole kernel may take.
RESIDENT_SHARE = 16
#: Share of the SRAM one operand's blocks loaded before a loop (:func:`_blocked_operand`) may take.
BLOCKED_SHARE = 4


def _operand(ctx: StageContext, region: Region) -> LocalRef:
    """An operand tile, loaded (and converted) before the loops its region does not move in
    when the kernel does not write its buffer: the activation rows stay resident across the
    output columns, a weight tile across the row blocks."""
    if region.buffer in ctx.stager.locals_ or region.buffer in ctx.written or ctx.conservative:
        return _mxu_operand(ctx, region)
    key = (region, ctx.mxu_dtype)
    if key in ctx.resident:
        return ctx.resident[key]
    # An operand no loop moves (the activation rows of a projection) stays for the rest of
    # the kernel, within a share of the SRAM: the edge tile's statement reads it again.
    keep = not region.offset.terms and \
        ctx.stager.kept_bytes() + region.rows * region.cols * 4 <= ctx.target.sram_capacity_bytes // RESIDENT_SHARE
    stager = ctx.stager
    if stager.invariant_level(region.offset) == stager.depth:
        ref = _blocked_operand(ctx, region)
        if ref is not None:
            return ref
    with stager.hoisted(region.offset, keep=keep):
        ref = _mxu_operand(ctx, region)
    if keep:
        ctx.resident[key] = ref
    return ref


def _blocked_operand(ctx: StageContext, region: Region) -> LocalRef | None:
    """The operand's tiles for every iteration of the loops it moves in, inside the outermost
    loop it does not move in (:meth:`~.tiles.KernelStager.blocked_loops`), loaded (and
    converted) into consecutive blocks of one buffer by a loop nest placed before that loop;
    the current iteration's tile is its block. None when the blocks do not fit their share."""
    stager = ctx.stager
    rows, cols = region.rows, region.cols
    if region.kind != "full" or region.cstride != 1 or region.rstride < cols:
        return None
    storage = stager.dtype_of(region.buffer)
    if storage == DType.I32:
        return None
    # Converted operands keep only the MXU-dtype blocks; the stored dtype passes through one
    # staging block, loaded and converted block by block.
    convert = storage != ctx.mxu_dtype
    tile_bytes = rows * cols * (ctx.mxu_dtype.itemsize if convert else storage.itemsize)
    staging_bytes = rows * cols * storage.itemsize if convert else 0
    capacity = ctx.target.sram_capacity_bytes
    in_use = sum(b.nbytes for b in stager.buffers())

    def fits(count: int) -> bool:
        need = count * tile_bytes + staging_bytes
        return need <= capacity // BLOCKED_SHARE and in_use + need <= capacity // 2

    plan = stager.blocked_loops(region.offset, fits)
    if plan is None:
        return None
    level, loops = plan
    count = 1
    for _, n in loops:
        count *= n
    radix, index = count, Affine()
    for var, n in loops:
        radix //= n
        index = index + Affine.of(var) * radix
    with stager.hoisted(level=level):
        converted = stager.temp(ctx.mxu_dtype if convert else storage, count * rows, cols)
        staging = stager.temp(storage, rows, cols) if convert else None
        with contextlib.ExitStack() as nest:
            offset, at = region.offset, Affine()
            radix = count
            for var, n in loops:
                w = nest.enter_context(stager.loop(n))
                radix //= n
                offset = substitute(offset, var, w)
                at = at + w * (radix * rows * cols)
            if staging is None:
                stager.load_into(LocalRef(converted.buffer, rows, cols, at), region.buffer, offset, rows, cols,
                                 region.rstride, region.cstride)
            else:
                stager.load_into(staging, region.buffer, offset, rows, cols, region.rstride, region.cstride)
                stager.emit(Vector("cvt", LocalRef(converted.buffer, rows, cols, at), a=staging,
                                   dtype=storage, odt=ctx.mxu_dtype))
    return LocalRef(converted.buffer, rows, cols, index * (rows * cols))


def _mxu_operand(ctx: StageContext, region: Region) -> LocalRef:
    """The region as a full SRAM tile in the MXU dtype."""
    stager = ctx.stager
    tile = stager.expand(stager.read(region), region.rows, region.cols)
    if tile.dtype == ctx.mxu_dtype and tile.space == "sram":
        return tile.ref
    if tile.dtype == DType.I32:
        tile = ctx.convert(tile, DType.F32, region.rows, region.cols)
        if tile.dtype == ctx.mxu_dtype:
            return tile.ref
    out = stager.temp(ctx.mxu_dtype, region.rows, region.cols)
    op = "mov" if tile.dtype == ctx.mxu_dtype else "cvt"
    stager.emit(Vector(op, out, a=tile.ref, dtype=tile.dtype, odt=ctx.mxu_dtype if op == "cvt" else None))
    return out


__all__ = ["stage_matmul"]
