"""Sparse weights on the MXU: which constant weights staging multiplies in a sparse form.

Where it sits: :func:`plan_sparse_weights` runs once per module in staging (:mod:`.module`),
before the kernels are staged; :mod:`.matmul` asks the plan for every matmul block; instruction
selection (:mod:`moecc.backend.asic.isel`) leaves out the loads of the zero blocks. Both forms
are exact: the simulated product is the dense one's, bit for bit, since what is skipped is zero
(an activation holding inf or NaN is the one difference: a skipped block adds no NaN).

- **2:4** (:mod:`moecc.ir.sparse24`): a weight whose every group of 4 consecutive rows along
  ``k`` holds at most 2 nonzeros in each column (what ``prune="2:4"`` makes) is stored in HBM
  compressed, as ``<W>__values`` (``k/2 x n``, the weight's storage dtype) and
  ``<W>__positions`` (``k/4 x n`` u8), and multiplied by ``mxu.mm24``: half the folds and 9/16
  (f32) or 5/8 (bf16) of the weight bytes. The dense weight stays in HBM only when something
  still reads it (a matmul block no sparse form covers, a host step).
- **Zero blocks**: a weight with at least one all-zero ``B x B`` block (``B`` the MXU's edge,
  blocks aligned to its matrix's origin) gets a block map ``<W>__blocks`` (u8, 1 for a block
  holding a nonzero), each matmul block reads its part and multiplies by ``mxu.mmsp``, which
  skips the zero blocks' folds; the loads of zero blocks are left out
  (:attr:`~moecc.ir.kernel.Load.skip_zero_blocks`), so their bytes are not streamed.

A weight whose sample holds no zero is dense without reading it whole
(:func:`~moecc.ir.weight_zeros.may_hold_zeros`). A weight qualifies when every statement of the
tiled module that reads it is a matmul reading it as the weight operand, all in one
orientation (``k x n``, or ``n x k`` used transposed), as whole rows of its stored matrices
(unit column stride); the weight is ``[..., R, C]``, the leading axes its matrices (an MoE
layer's experts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.kernel import Buffer as KBuffer, For as KFor, Load, Stmt
from moecc.ir.sparse24 import GROUP, KEPT, compress_2_4
from moecc.ir.tiled.nodes import MatMul, TiledModule, host_inputs, kernel_statements, stmt_views
from moecc.ir.types import DType
from moecc.ir.weight_zeros import may_hold_zeros
from moecc.isa_spec.target import Target

#: Suffixes of the HBM buffers a sparse weight adds.
VALUES, POSITIONS, BLOCKS = "__values", "__positions", "__blocks"


@dataclass(frozen=True, slots=True)
class SparseWeight:
    """One weight multiplied sparse: its form, orientation and matrix geometry."""

    name: str
    form: str  # "2:4" or "blocks"
    transposed: bool  # stored [..., n, k] and used transposed
    matrices: int
    k: int
    n: int
    block: int = 0  # the zero-block edge ("blocks")
    zero_blocks: int = 0  # all-zero blocks of the weight ("blocks")
    total_blocks: int = 0

    @property
    def stored_cols(self) -> int:
        return self.k if self.transposed else self.n

    def locate(self, offset: Affine, rows: int, cols: int, ranges: Mapping[str, int]) \
            -> tuple[Affine, Affine, Affine] | None:
        """``(matrix, k, n)`` of the element ``offset`` of the weight (an Affine over loop
        variables with ``ranges``) that a stored ``rows x cols`` window starts at, term by
        term; None unless every position of the window stays inside one stored row range
        (no term carries into the next row or matrix)."""
        r, c = (self.n if self.transposed else self.k), self.stored_cols
        if any(var not in ranges for var, _ in offset.terms):
            return None
        split = [(Affine(), _split(offset.const, r, c))]
        split += [(Affine.of(var), _split(coef, r, c)) for var, coef in offset.terms]
        matrix, row, col = Affine(), Affine(), Affine()
        for var, (m, rr, cc) in split:
            unit = var if var.terms else Affine(1)
            matrix, row, col = matrix + unit * m, row + unit * rr, col + unit * cc
        row_lo, row_hi = row.bounds(ranges)
        col_lo, col_hi = col.bounds(ranges)
        mat_lo, mat_hi = matrix.bounds(ranges)
        if row_lo < 0 or col_lo < 0 or mat_lo < 0 or row_hi + rows > r or col_hi + cols > c or mat_hi >= self.matrices:
            return None
        return (matrix, col, row) if self.transposed else (matrix, row, col)


def _split(value: int, rows: int, cols: int) -> tuple[int, int, int]:
    matrix, rest = divmod(value, rows * cols)
    row, col = divmod(rest, cols)
    return matrix, row, col


def divide(value: Affine, by: int) -> Affine | None:
    """``value / by`` when every coefficient and the constant divide exactly."""
    if value.const % by or any(c % by for _, c in value.terms):
        return None
    return Affine(value.const // by, tuple((v, c // by) for v, c in value.terms))


@dataclass(slots=True)
class SparsePlan:
    """The sparse weights of a module, the HBM buffers and data they add, and (filled while
    the kernels are staged) the weights some block still reads dense, per kernel."""

    weights: dict[str, SparseWeight] = field(default_factory=dict)
    buffers: list[KBuffer] = field(default_factory=list)
    data: dict[str, np.ndarray] = field(default_factory=dict)
    dense_reads: set[str] = field(default_factory=set)  # weights a staged kernel's block read dense

    def rows(self, stored: Mapping[str, np.ndarray], hbm: Mapping[str, KBuffer]) -> list[dict[str, object]]:
        """One report row per sparse weight: its form and geometry, its zero blocks, and its
        HBM bytes dense against as stored (the dense copy counts when something reads it)."""
        out: list[dict[str, object]] = []
        for name, w in self.weights.items():
            # The dense weight in its storage dtype: what the values' rows stand for, twice.
            dense = 2 * hbm[name + VALUES].nbytes if w.form == "2:4" else hbm[name].nbytes
            parts = [name + suffix for suffix in (VALUES, POSITIONS, BLOCKS)] + [name]
            row: dict[str, object] = {"weight": name, "form": w.form, "matrices": w.matrices, "k": w.k, "n": w.n,
                                      "dense_bytes": dense,
                                      "stored_bytes": sum(hbm[p].nbytes for p in parts if p in hbm and p in stored),
                                      "dense_kept": name in hbm}
            if w.form == "blocks":
                # The zero blocks' bytes: stored, never loaded (not compulsory traffic).
                row.update(block=w.block, zero_blocks=w.zero_blocks, total_blocks=w.total_blocks,
                           zero_block_bytes=w.zero_blocks * w.block * w.block * hbm[name].dtype.itemsize)
            out.append(row)
        return out

    def drop_unread(self, loaded: set[str]) -> set[str]:
        """Forget the sparse weights no staged kernel read in their sparse form (every block
        read them dense: an MoE expert's tiles with run-time row counts); the names of the
        buffers they added, which are then not stored."""
        dropped: set[str] = set()
        for name, w in list(self.weights.items()):
            added = [name + suffix for suffix in ((VALUES, POSITIONS) if w.form == "2:4" else (BLOCKS,))]
            if not loaded.intersection(added):
                del self.weights[name]
                dropped.update(added)
        self.buffers = [b for b in self.buffers if b.name not in dropped]
        return dropped

    def unused_dense(self, host_inputs: set[str]) -> set[str]:
        """2:4 weights no staged block and no host step reads dense: not stored."""
        return {name for name, w in self.weights.items()
                if w.form == "2:4" and name not in self.dense_reads and name not in host_inputs}


def plan_sparse_weights(tiled: TiledModule, weights: Mapping[str, np.ndarray], hbm_dtypes: Mapping[str, DType],
                        target: Target) -> SparsePlan:
    """The weights of ``tiled`` that are 2:4 or hold a zero MXU block, and their added buffers."""
    plan = SparsePlan()
    block = _block_edge(target)
    for name, transposed in _matmul_only_weights(tiled).items():
        data = weights.get(name)
        if data is None:
            continue
        arr = np.asarray(data)
        if arr.ndim < 2 or not np.issubdtype(arr.dtype, np.floating) or not may_hold_zeros(arr):
            continue
        lead = arr.shape[:-2]
        mats = arr.reshape(-1, *arr.shape[-2:])
        logical = mats.transpose(0, 2, 1) if transposed else mats  # [matrices, k, n]
        count, k, n = logical.shape
        nonzero = logical != 0
        if k % GROUP == 0 and k >= GROUP and \
                bool((nonzero.reshape(count, k // GROUP, GROUP, n).sum(axis=2) <= KEPT).all()):
            pairs = [compress_2_4(m) for m in logical]
            plan.weights[name] = SparseWeight(name, "2:4", transposed, count, k, n)
            plan.buffers += [KBuffer(name + VALUES, "hbm", hbm_dtypes[name], (*lead, k // 2, n), role="weight"),
                             KBuffer(name + POSITIONS, "hbm", DType.U8, (*lead, k // GROUP, n), role="weight")]
            plan.data[name + VALUES] = np.stack([v for v, _ in pairs]).reshape(*lead, k // 2, n)
            plan.data[name + POSITIONS] = np.stack([p for _, p in pairs]).reshape(*lead, k // GROUP, n)
            continue
        if block == 0 or k % block or n % block:
            continue
        kept = nonzero.reshape(count, k // block, block, n // block, block).any(axis=(2, 4))
        zeros = int((~kept).sum())
        if zeros == 0:
            continue
        plan.weights[name] = SparseWeight(name, "blocks", transposed, count, k, n, block, zeros, int(kept.size))
        plan.buffers.append(KBuffer(name + BLOCKS, "hbm", DType.U8, (*lead, k // block, n // block), role="weight"))
        plan.data[name + BLOCKS] = kept.astype(np.uint8).reshape(*lead, k // block, n // block)
    return plan


def mark_skippable_loads(body: Sequence[Stmt], plan: SparsePlan, dense_reads: set[str]) -> tuple[Stmt, ...]:
    """``body`` with the loads of zero-block weights that no block of the kernel read dense
    marked :attr:`~moecc.ir.kernel.Load.skip_zero_blocks` (every reader of their tiles masks
    the zero blocks)."""
    blocks = {name: w.block for name, w in plan.weights.items() if w.form == "blocks" and name not in dense_reads}
    if not blocks:
        return tuple(body)

    def mark(stmt: Stmt) -> Stmt:
        if isinstance(stmt, KFor):
            return dataclasses.replace(stmt, body=tuple(mark(s) for s in stmt.body))
        if isinstance(stmt, Load) and stmt.src.buffer in blocks:
            return dataclasses.replace(stmt, skip_zero_blocks=blocks[stmt.src.buffer])
        return stmt

    return tuple(mark(s) for s in body)


def _block_edge(target: Target) -> int:
    """The zero-block edge: the MXU's smaller side when ``mxu.mmsp`` can take it (a power of
    two from 8); else 0 (no block skipping). A matmul block off the grid reads the weight dense."""
    edge = min(target.mxu_rows, target.mxu_cols)
    if edge < 8 or edge & (edge - 1):
        return 0
    return edge


def _matmul_only_weights(tiled: TiledModule) -> dict[str, bool]:
    """Weight buffers every reader of which is a matmul's weight operand with unit column
    stride, all in one orientation: name -> whether it is used transposed."""
    weights = {b.name for b in tiled.buffers if b.role == "weight"}
    orientation: dict[str, bool] = {}
    other = host_inputs(tiled)
    for _, stmt in kernel_statements(tiled):
        views = list(stmt_views(stmt))
        if isinstance(stmt, MatMul) and stmt.b.buffer in weights:
            b = stmt.b
            if b.rank < 2 or b.strides[-1] != 1 or orientation.get(b.buffer, stmt.transpose_b) != stmt.transpose_b:
                other.add(b.buffer)
            orientation[b.buffer] = stmt.transpose_b
            views = [(access, v) for access, v in views if v is not b]
        other.update(v.buffer for _, v in views)
    return {name: t for name, t in orientation.items() if name not in other}


__all__ = ["BLOCKS", "POSITIONS", "VALUES", "SparsePlan", "SparseWeight", "divide", "mark_skippable_loads",
           "plan_sparse_weights"]
