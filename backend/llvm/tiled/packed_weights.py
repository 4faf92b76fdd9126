"""Weights stored packed: f32 weights that only the sgemm reads live in the heap in its packed
layout from load time on, so no run packs them again and every thread reads the one copy.

Where it sits: the tiled-IR code generator (:func:`~moecc.backend.llvm.tiled.codegen.build_tiled_module`)
plans it before emitting the kernels; the matmul emitter
(:mod:`~moecc.backend.llvm.tiled.matmul_call`) then hands such a weight's tiles to the sgemm as
prepacked B (``transpose_b`` ``B_PREPACKED``); the program writes and reads such a buffer through
:meth:`PackedWeight.pack` / :meth:`PackedWeight.unpack`, so the heap, the object file's weight
image and a ``.moe`` artifact hold it packed, and its users see the plain tensor.

The layout is the sgemm's *sliver-major* packing (:mod:`moecc.backend.llvm.matmul`): the weight
read as a ``K x N`` matrix B is cut into slivers of NR columns, each holding its K rows of NR
floats one after another, so ``B[k, j]`` lies at ``(j // NR * K + k) * NR + j % NR``. A tile of
B (rows ``k0..``, columns ``j0..`` with ``j0`` a multiple of NR) is then itself a packed B that
starts ``j0 * K + k0 * NR`` floats in, with the whole K as its sliver length.

A weight is stored packed only when nothing else could see the difference: every statement
naming it reads it as the B operand of an f32 matmul the emitter sends to the sgemm (not the
dot-product form for a few rows, not an MoE expert's run-time row count; every batch of a batched
product reading the same B), directly
(unit stride along N, or along K for ``B^T``), all with one orientation and row pitch; N is a
multiple of NR (packing pads nothing, the buffer keeps its size); every tile starts on a sliver
boundary and stays inside the weight for every value of its loop variables; no host call and no
run-time element read (a loop count, a row count) names it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from moecc.backend.llvm.cpu_target import CpuTarget
from moecc.backend.llvm.matmul import ZERO_GROUP_ROWS
from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import For, HostCall, Kernel, MatMul, TiledModule, stmt_elements, stmt_views, walk
from moecc.ir.types import DType
from moecc.ir.weight_zeros import may_hold_zeros

#: Rows up to which a float matmul against a unit-stride ``B^T`` runs as dot products (one row
#: of ``B^T`` against every row of A while it is in L1) rather than through the sgemm, which
#: would pack all of ``B^T`` for a few rows.
DOT_PRODUCT_ROWS = 4


def logical(view_shape: tuple[int, ...], view_strides: tuple[int, ...], transposed: bool) -> tuple[int, int, int, int]:
    """(rows, cols, row stride, col stride) of the matrix a (possibly ``^T``) view stands for."""
    r, c = view_shape[-2:]
    sr, sc = view_strides[-2:]
    return (c, r, sc, sr) if transposed else (r, c, sr, sc)


def unit(stride: int, size: int) -> bool:
    return stride == 1 or size == 1


def is_dot_form(stmt: MatMul) -> bool:
    """Whether the emitter computes this float matmul as dot products: few rows of A, both A
    and ``B^T`` unit-stride along k (and no run-time row count)."""
    m = stmt.dst.shape[-2]
    _, kk, _, sak = logical(stmt.a.shape, stmt.a.strides, stmt.transpose_a)
    _, n, sbk, _ = logical(stmt.b.shape, stmt.b.strides, stmt.transpose_b)
    return stmt.rows is None and m <= max(2, DOT_PRODUCT_ROWS) and n > 1 and kk > 1 and sak == 1 and sbk == 1


def b_reads_transposed(stmt: MatMul) -> bool | None:
    """How the sgemm reads this f32 matmul's B in place: False row-major (unit stride along N),
    True as ``B^T`` (unit stride along K), None when it must be staged first."""
    _, kk, _, _ = logical(stmt.a.shape, stmt.a.strides, stmt.transpose_a)
    _, n, sbk, sbn = logical(stmt.b.shape, stmt.b.strides, stmt.transpose_b)
    if unit(sbn, n):
        return False
    if unit(sbk, kk) and n > 1:
        return True
    return None


@dataclass(frozen=True, slots=True)
class PackedWeight:
    """A weight stored sliver-major: read as B it is ``k x n``; ``transposed``: the tensor is
    ``[n, k]`` (``B^T``, as a ``Linear`` weight), else ``[k, n]``; ``nr``: the sliver width."""

    k: int
    n: int
    transposed: bool
    nr: int
    #: the sgemm skips its all-zero groups of rows (``transpose_b`` ``B_PREPACKED_SPARSE``)
    skip_zero: bool = False

    def zero_group_share(self, value: np.ndarray, rows: int) -> float:
        """The share of the packed weight's ``rows``-row groups of each sliver (from row 0)
        that are all zero."""
        slivers = self.pack(value).reshape(self.n // self.nr, self.k, self.nr)
        groups = -(-self.k // rows)
        padded = np.ones((slivers.shape[0], groups * rows, self.nr), dtype=bool)
        padded[:, :self.k] = slivers != 0
        return float((~padded.reshape(slivers.shape[0], groups, rows * self.nr).any(axis=2)).mean())

    def pack(self, value: np.ndarray) -> np.ndarray:
        """The tensor's elements (any shape of ``k * n`` elements) in packed order, flat f32."""
        flat = np.asarray(value, dtype=np.float32).reshape(-1)
        b = flat.reshape(self.n, self.k).T if self.transposed else flat.reshape(self.k, self.n)
        return np.ascontiguousarray(b.reshape(self.k, self.n // self.nr, self.nr).transpose(1, 0, 2)).reshape(-1)

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`pack`: the tensor's elements in their own order, flat."""
        b = np.asarray(packed, dtype=np.float32).reshape(self.n // self.nr, self.k, self.nr).transpose(1, 0, 2)
        b = b.reshape(self.k, self.n)
        return np.ascontiguousarray(b.T if self.transposed else b).reshape(-1)

    def split(self, offset: int) -> tuple[int, int]:
        """(k0, j0) of the element at flat ``offset`` of the tensor."""
        if self.transposed:
            j0, k0 = divmod(offset, self.k)
        else:
            k0, j0 = divmod(offset, self.n)
        return k0, j0

    def tile_offset(self, offset: Affine) -> Affine:
        """Where the packed B of the tile whose first element is at ``offset`` (in the
        tensor's own order) starts, in floats; the caller has checked it with :meth:`fits`."""
        k0, j0 = self.split(offset.const)
        terms = []
        for var, coef in offset.terms:
            dk, dj = self.split(coef)
            terms.append((var, dj * self.k + dk * self.nr))
        return Affine(j0 * self.k + k0 * self.nr, tuple((v, c) for v, c in terms if c))

    def fits(self, offset: Affine, rows: int, cols: int, trips: dict[str, int]) -> bool:
        """Whether a ``rows x cols`` tile at ``offset`` starts on a sliver boundary and stays
        inside the weight for every loop value (each term moving along K or along N only)."""
        k0, j0 = self.split(offset.const)
        k_max, j_max = k0, j0
        if j0 % self.nr:
            return False
        for var, coef in offset.terms:
            if var not in trips:
                return False
            if trips[var] <= 1:  # always 0: the term moves nothing
                continue
            if coef <= 0:
                return False
            dk, dj = self.split(coef)
            if dk and dj:
                return False
            if dj % self.nr:
                return False
            k_max += dk * (trips[var] - 1)
            j_max += dj * (trips[var] - 1)
        return k_max + rows <= self.k and j_max + cols <= self.n


def _geometry(stmt: MatMul, elements: int, nr: int) -> PackedWeight | None:
    transposed = b_reads_transposed(stmt)
    if transposed is None:
        return None
    kk, n, sbk, sbn = logical(stmt.b.shape, stmt.b.strides, stmt.transpose_b)
    pitch, extent = (sbn, n) if transposed else (sbk, kk)
    if extent < 2 or pitch <= 0 or elements % pitch:
        return None
    other = elements // pitch
    k, cols = (pitch, other) if transposed else (other, pitch)
    if cols % nr:
        return None
    return PackedWeight(k, cols, transposed, nr)


#: A packed weight is multiplied skipping its all-zero row groups when at least this share of
#: them is zero (the scan of each K block's slivers then pays for itself).
MIN_ZERO_GROUP_SHARE = 0.125


def plan_packed_weights(module: TiledModule, target: CpuTarget,
                        data: Mapping[str, np.ndarray] | None = None) -> dict[str, PackedWeight]:
    """The f32 weights of ``module`` stored packed, by buffer name (see the module docstring);
    with the weights' ``data``, those with at least :data:`MIN_ZERO_GROUP_SHARE` of all-zero
    row groups are marked ``skip_zero`` (a weight whose sample holds no zero is not read whole:
    :func:`~moecc.ir.weight_zeros.may_hold_zeros`)."""
    candidates = {b.name: b.elements for b in module.buffers if b.role == "weight" and b.dtype == DType.F32}
    plans: dict[str, PackedWeight] = {}
    refused: set[str] = set()

    def refuse(names: Iterable[str]) -> None:
        refused.update(name for name in names if name in candidates)

    for step in module.steps:
        if isinstance(step, HostCall):
            refuse(step.inputs)
            continue
        assert isinstance(step, Kernel)
        for _, stmt, loops in walk(step.body):
            refuse(ref.buffer for ref in stmt_elements(stmt))
            if isinstance(stmt, For):
                continue
            views = [view for _, view in stmt_views(stmt)]
            if not isinstance(stmt, MatMul):
                refuse(view.buffer for view in views)
                continue
            refuse(view.buffer for view in (stmt.dst, stmt.a))
            name = stmt.b.buffer
            if name not in candidates or name in refused:
                continue
            plan = None
            # Batched products qualify when every batch reads the same B (a broadcast weight).
            same_b = all(size == 1 or stride == 0 for size, stride in zip(stmt.b.shape[:-2], stmt.b.strides[:-2]))
            if stmt.acc_dtype.is_float and stmt.rows is None and same_b and not is_dot_form(stmt):
                plan = _geometry(stmt, candidates[name], target.nr)
            trips = {loop.var: loop.trip_bound for loop in loops if not loop.is_dynamic}
            kk, n, _, _ = logical(stmt.b.shape, stmt.b.strides, stmt.transpose_b)
            if plan is None or plans.get(name, plan) != plan or not plan.fits(stmt.b.offset, kk, n, trips):
                refused.add(name)
                continue
            plans[name] = plan
    out = {name: plan for name, plan in plans.items() if name not in refused}
    for name, plan in out.items():
        value = (data or {}).get(name)
        if value is not None and may_hold_zeros(value) and \
                plan.zero_group_share(value, ZERO_GROUP_ROWS) >= MIN_ZERO_GROUP_SHARE:
            out[name] = dataclasses.replace(plan, skip_zero=True)
    return out


__all__ = ["DOT_PRODUCT_ROWS", "MIN_ZERO_GROUP_SHARE", "PackedWeight", "b_reads_transposed", "is_dot_form", "logical", "plan_packed_weights",
           "unit"]
