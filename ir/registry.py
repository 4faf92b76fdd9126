"""The op registry: every graph-IR op kind is declared here once.

An :class:`OpDef` states an op's whole contract in one place: operands, typed attributes with
defaults, result count, shape/dtype inference, extra verification and numpy reference
semantics. The verifier, printer, parser, frontend, passes and the reference interpreter all
read it. Families of ops are declared in :mod:`moecc.ir.ops` with the :func:`op` decorator::

    @op("softmax", operands=["x"], attrs=[Attr("axis", AttrKind.INT, -1)])
    class Softmax:
        @staticmethod
        def infer(types, attrs): return [types[0]]
        @staticmethod
        def compute(arrays, attrs): ...
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.errors import UnsupportedError, VerificationError
from moecc.ir.types import DType, TensorType


class AttrKind(enum.Enum):
    """Attribute types, named as the printer writes them."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    INTS = "ints"
    FLOATS = "floats"
    DTYPE = "dtype"
    TENSOR = "tensor"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Attr:
    """An attribute declaration. ``default=None`` makes the attribute optional (may be absent)."""

    name: str
    kind: AttrKind
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class Operand:
    """An operand declaration: ``optional`` operands may be omitted (trailing only);
    a ``variadic`` operand (last only) takes one or more values."""

    name: str
    optional: bool = False
    variadic: bool = False


InferFn = Callable[[Sequence[TensorType], Mapping[str, Any]], list[TensorType]]
ComputeFn = Callable[[Sequence[np.ndarray], Mapping[str, Any]], list[np.ndarray]]
VerifyFn = Callable[[Sequence[TensorType], Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class OpDef:
    """The declaration of one op kind."""

    name: str
    operands: tuple[Operand, ...]
    attrs: tuple[Attr, ...]
    infer: InferFn
    compute: ComputeFn
    num_results: int = 1
    verify: VerifyFn | None = None
    doc: str = ""
    family: str = ""

    def attr(self, name: str) -> Attr:
        for a in self.attrs:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def min_operands(self) -> int:
        return sum(1 for o in self.operands if not o.optional)

    @property
    def max_operands(self) -> int | None:
        if self.operands and self.operands[-1].variadic:
            return None
        return len(self.operands)


REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in REGISTRY:
        raise ValueError(f"op '{opdef.name}' registered twice")
    REGISTRY[opdef.name] = opdef
    return opdef


def op(
    name: str,
    *,
    operands: Sequence[str | Operand],
    attrs: Sequence[Attr] = (),
    num_results: int = 1,
) -> Callable[[type], type]:
    """Class decorator declaring an op from a class with static ``infer``/``compute``
    (and optional ``verify``); the class docstring becomes the op's documentation."""

    def wrap(cls: type) -> type:
        ops = tuple(o if isinstance(o, Operand) else Operand(o) for o in operands)
        register(
            OpDef(
                name=name,
                operands=ops,
                attrs=tuple(attrs),
                infer=cls.infer,
                compute=cls.compute,
                num_results=num_results,
                verify=getattr(cls, "verify", None),
                doc=(cls.__doc__ or "").strip(),
                family=cls.__module__.rsplit(".", 1)[-1],
            )
        )
        return cls

    return wrap


def get_op_def(name: str) -> OpDef:
    _ensure_loaded()
    try:
        return REGISTRY[name]
    except KeyError:
        raise VerificationError(f"unknown op kind '{name}'", remedy="see `moecc.ir.registry.REGISTRY` for the op set") from None


def all_op_defs() -> dict[str, OpDef]:
    _ensure_loaded()
    return dict(REGISTRY)


def _ensure_loaded() -> None:
    import moecc.ir.ops  # noqa: F401  (registers every family)


# -- attribute checking ------------------------------------------------------------------

def _coerce_attr(opdef: OpDef, a: Attr, value: Any) -> Any:
    """Check and normalise one attribute value (lists become tuples, numpy scalars python)."""
    where = f"op '{opdef.name}' attribute '{a.name}'"
    k = a.kind
    try:
        if k is AttrKind.INT:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError
            value = int(value)
        elif k is AttrKind.FLOAT:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise TypeError
            value = float(value)
        elif k is AttrKind.BOOL:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError
            value = bool(value)
        elif k is AttrKind.STR:
            if not isinstance(value, str):
                raise TypeError
        elif k is AttrKind.INTS:
            if not isinstance(value, (tuple, list, np.ndarray)):
                raise TypeError
            if any(isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) for x in value):
                raise TypeError
            value = tuple(int(x) for x in value)
        elif k is AttrKind.FLOATS:
            if not isinstance(value, (tuple, list, np.ndarray)):
                raise TypeError
            value = tuple(float(x) for x in value)
        elif k is AttrKind.DTYPE:
            if not isinstance(value, DType):
                raise TypeError
        elif k is AttrKind.TENSOR:
            from moecc.ir.graph import ElidedTensor

            if not isinstance(value, (np.ndarray, ElidedTensor)):
                raise TypeError
    except TypeError:
        raise VerificationError(f"{where} must be of kind {k.value}, got {value!r}"[:300]) from None
    if a.choices is not None and value not in a.choices:
        raise VerificationError(f"{where} must be one of {a.choices}, got {value!r}")
    return value


def normalize_attrs(opdef: OpDef, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Check attribute names/kinds and fill in defaults: the canonical attribute dict."""
    known = {a.name for a in opdef.attrs}
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise VerificationError(f"op '{opdef.name}' has no attribute(s) {', '.join(unknown)}; it takes {sorted(known)}")
    out: dict[str, Any] = {}
    for a in opdef.attrs:
        if a.name in attrs and attrs[a.name] is not None:
            out[a.name] = _coerce_attr(opdef, a, attrs[a.name])
        elif a.default is REQUIRED:
            raise VerificationError(f"op '{opdef.name}' needs attribute '{a.name}'")
        elif a.default is not None:
            out[a.name] = _coerce_attr(opdef, a, a.default)
    return out


def check_operand_count(opdef: OpDef, count: int) -> None:
    hi = opdef.max_operands
    if count < opdef.min_operands or (hi is not None and count > hi):
        want = f"{opdef.min_operands}" + ("+" if hi is None else ("" if hi == opdef.min_operands else f"..{hi}"))
        raise VerificationError(f"op '{opdef.name}' takes {want} operands, got {count}")


def infer_types(kind: str, operand_types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
    """Result types of ``kind`` applied to operands of the given types (attrs already normalised)."""
    opdef = get_op_def(kind)
    check_operand_count(opdef, len(operand_types))
    if opdef.verify is not None:
        opdef.verify(operand_types, attrs)
    results = opdef.infer(operand_types, attrs)
    if len(results) != opdef.num_results:
        raise VerificationError(f"op '{kind}' inferred {len(results)} results, declares {opdef.num_results}")
    return results


def evaluate(kind: str, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any], result_types: Sequence[TensorType]) -> list[np.ndarray]:
    """Run the numpy reference semantics of one op and coerce results to the declared types."""
    opdef = get_op_def(kind)
    outs = opdef.compute(arrays, attrs)
    if len(outs) != len(result_types):
        raise VerificationError(f"op '{kind}' computed {len(outs)} results, declares {len(result_types)}")
    fixed: list[np.ndarray] = []
    for arr, t in zip(outs, result_types):
        arr = np.asarray(arr)
        if tuple(arr.shape) != t.shape:
            raise VerificationError(f"op '{kind}' computed shape {tuple(arr.shape)}, its type says {t}")
        if arr.dtype != t.dtype.numpy:
            arr = arr.astype(t.dtype.numpy)
        fixed.append(arr)
    return fixed


def unsupported_dtype(kind: str, dtype: DType, allowed: Sequence[DType]) -> UnsupportedError:
    return UnsupportedError(
        f"op '{kind}' does not support element type {dtype}",
        remedy=f"it takes {', '.join(str(d) for d in allowed)}",
    )
