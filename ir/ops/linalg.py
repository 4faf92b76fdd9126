"""Graph-IR ops: the linalg family.

``matmul`` (numpy semantics: 1-D operands, broadcast batch dims), ``gemm`` (ONNX Gemm; the
canonicalize pass lowers it to matmul/mul/add) and ``einsum``. The ONNX frontend
(:mod:`moecc.frontend.onnx_linalg`) maps MatMul/Gemm/Einsum onto these; tiling turns matmuls
into MXU tile loops. float16/bfloat16 accumulate in float32 and round once; integer
products wrap in the operand dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.errors import ShapeError
from moecc.ir.ops.common import NUMERIC_TYPES, broadcast_shapes, require_dtype, require_same_dtype
from moecc.ir.ops.elementwise import widen
from moecc.ir.registry import Attr, AttrKind, Operand, op
from moecc.ir.types import TensorType


def matmul_shape(kind: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Result shape of numpy ``matmul(a, b)``; ShapeError naming ``kind`` when they mismatch."""
    if not a or not b:
        raise ShapeError(f"op '{kind}': operands must have rank >= 1, got shapes {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"op '{kind}': contraction dims differ: {a} @ {b} ({a2[-1]} vs {b2[-2]})",
            remedy="the last dim of the first operand must equal the second-to-last dim of the second",
        )
    batch = broadcast_shapes(kind, a2[:-2], b2[:-2])
    rows = () if len(a) == 1 else (a2[-2],)
    cols = () if len(b) == 1 else (b2[-1],)
    return batch + rows + cols


@op("matmul", operands=["a", "b"])
class MatMul:
    """Matrix product with numpy ``matmul`` semantics: a 1-D ``a`` is a row vector and a
    1-D ``b`` a column vector (the unit dim is dropped again), leading dims broadcast."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dtype = require_same_dtype("matmul", types)
        require_dtype("matmul", types[0], NUMERIC_TYPES)
        return [TensorType(matmul_shape("matmul", types[0].shape, types[1].shape), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        a, b = arrays
        return [np.matmul(widen(a), widen(b)).astype(a.dtype, copy=False)]


@op(
    "gemm",
    operands=["a", "b", Operand("c", optional=True)],
    attrs=[
        Attr("alpha", AttrKind.FLOAT, 1.0),
        Attr("beta", AttrKind.FLOAT, 1.0),
        Attr("trans_a", AttrKind.BOOL, False),
        Attr("trans_b", AttrKind.BOOL, False),
    ],
)
class Gemm:
    """``alpha * op(a) @ op(b) + beta * c`` for 2-D ``a``/``b`` (op transposes when
    trans_a/trans_b); ``c`` broadcasts to the [M, N] result."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dtype = require_same_dtype("gemm", types)
        require_dtype("gemm", types[0], NUMERIC_TYPES)
        a, b = types[0], types[1]
        if a.rank != 2 or b.rank != 2:
            raise ShapeError(f"op 'gemm': a and b must be 2-D, got {a} and {b}", remedy="use matmul for other ranks")
        m, k = (a.shape[1], a.shape[0]) if attrs["trans_a"] else a.shape
        k2, n = (b.shape[1], b.shape[0]) if attrs["trans_b"] else b.shape
        if k != k2:
            raise ShapeError(f"op 'gemm': contraction dims differ ({k} vs {k2}) for {a} and {b}")
        if len(types) == 3:
            c = types[2].shape
            if c and broadcast_shapes("gemm", c, (m, n)) != (m, n):
                raise ShapeError(f"op 'gemm': c of shape {c} does not broadcast to the result [{m}, {n}]")
        return [TensorType((m, n), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        a, b = widen(arrays[0]), widen(arrays[1])
        if attrs["trans_a"]:
            a = a.T
        if attrs["trans_b"]:
            b = b.T
        result = np.matmul(a, b)
        if attrs["alpha"] != 1.0:
            result = result * result.dtype.type(attrs["alpha"]) if result.dtype.kind == "f" else result * attrs["alpha"]
        if len(arrays) == 3:
            c = widen(arrays[2])
            if attrs["beta"] != 1.0:
                c = c * c.dtype.type(attrs["beta"]) if c.dtype.kind == "f" else c * attrs["beta"]
            result = result + c
        return [np.asarray(result).astype(arrays[0].dtype, copy=False)]


# -- einsum ------------------------------------------------------------------------------

ELLIPSIS = "..."


@dataclass(frozen=True, slots=True)
class EinsumSpec:
    """A parsed einsum equation: one label list per operand and the output's, with
    ``...`` standing for the broadcast (ellipsis) dims."""

    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]

    @property
    def equation(self) -> str:
        terms = ["".join(t) for t in self.inputs]
        return ",".join(terms) + "->" + "".join(self.output)


def _split_term(term: str, equation: str) -> tuple[str, ...]:
    labels: list[str] = []
    rest = term
    while rest:
        if rest.startswith(ELLIPSIS):
            labels.append(ELLIPSIS)
            rest = rest[3:]
        elif rest[0].isascii() and rest[0].isalpha():
            labels.append(rest[0])
            rest = rest[1:]
        else:
            raise ShapeError(f"op 'einsum': bad character {rest[0]!r} in equation '{equation}'")
    if labels.count(ELLIPSIS) > 1:
        raise ShapeError(f"op 'einsum': term '{term}' of '{equation}' has more than one ellipsis")
    return tuple(labels)


def parse_einsum(equation: str, num_operands: int) -> EinsumSpec:
    """Parse an ONNX/numpy einsum equation (spaces allowed; implicit output = labels used
    exactly once, in ASCII order, after the ellipsis dims)."""
    text = equation.replace(" ", "")
    if text.count("->") > 1:
        raise ShapeError(f"op 'einsum': equation '{equation}' has more than one '->'")
    lhs, arrow, rhs = text.partition("->")
    inputs = tuple(_split_term(t, equation) for t in lhs.split(","))
    if len(inputs) != num_operands:
        raise ShapeError(f"op 'einsum': equation '{equation}' has {len(inputs)} terms for {num_operands} operands")
    if arrow:
        output = _split_term(rhs, equation)
        used = {label for term in inputs for label in term}
        for label in output:
            if label not in used:
                raise ShapeError(f"op 'einsum': output label '{label}' of '{equation}' is not an input label")
        if len(set(output)) != len(output):
            raise ShapeError(f"op 'einsum': output of '{equation}' repeats a label")
    else:
        counts: dict[str, int] = {}
        for term in inputs:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        ellipsis = (ELLIPSIS,) if ELLIPSIS in counts else ()
        output = ellipsis + tuple(sorted(lbl for lbl, n in counts.items() if n == 1 and lbl != ELLIPSIS))
    return EinsumSpec(inputs, output)


def einsum_shape(spec: EinsumSpec, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Result shape of the einsum; label dims must agree (or be 1, which broadcasts)."""
    sizes: dict[str, int] = {}
    ellipsis_shapes: list[tuple[int, ...]] = []
    for term, shape in zip(spec.inputs, shapes, strict=True):
        explicit = len(term) - (1 if ELLIPSIS in term else 0)
        if ELLIPSIS in term:
            if len(shape) < explicit:
                raise ShapeError(f"op 'einsum': term '{''.join(term)}' needs rank >= {explicit}, got shape {shape}")
            at = term.index(ELLIPSIS)
            ellipsis_rank = len(shape) - explicit
            ellipsis_shapes.append(shape[at : at + ellipsis_rank])
            dims = shape[:at] + (None,) + shape[at + ellipsis_rank :]
        else:
            if len(shape) != explicit:
                raise ShapeError(f"op 'einsum': term '{''.join(term)}' needs rank {explicit}, got shape {shape}")
            dims = shape
        for label, dim in zip(term, dims):
            if label == ELLIPSIS:
                continue
            known = sizes.get(label)
            if known is None or known == 1:
                sizes[label] = int(dim)  # type: ignore[arg-type]
            elif dim not in (known, 1):
                raise ShapeError(f"op 'einsum': label '{label}' is {known} in one place and {dim} in another")
    ellipsis = broadcast_shapes("einsum", *ellipsis_shapes) if ellipsis_shapes else ()
    if ellipsis and ELLIPSIS not in spec.output:
        raise ShapeError(
            f"op 'einsum': the operands' ellipsis dims {ellipsis} do not appear in the output of '{spec.equation}'"
        )
    out: list[int] = []
    for label in spec.output:
        out.extend(ellipsis if label == ELLIPSIS else (sizes[label],))
    return tuple(out)


@op("einsum", operands=[Operand("operands", variadic=True)], attrs=[Attr("equation", AttrKind.STR)])
class Einsum:
    """Einstein summation over one or more operands (ONNX/numpy equation syntax)."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dtype = require_same_dtype("einsum", types)
        require_dtype("einsum", types[0], NUMERIC_TYPES)
        spec = parse_einsum(attrs["equation"], len(types))
        return [TensorType(einsum_shape(spec, [t.shape for t in types]), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        spec = parse_einsum(attrs["equation"], len(arrays))
        wide = [widen(a) for a in arrays]
        result = np.einsum(spec.equation, *wide, optimize=len(arrays) > 1)
        return [np.asarray(result).astype(arrays[0].dtype, copy=False)]


__all__ = ["EinsumSpec", "einsum_shape", "matmul_shape", "parse_einsum"]
