"""Element and tensor types of the graph IR.

Every value in the graph IR has a :class:`TensorType`: a static shape and a :class:`DType`.
The frontend maps ONNX element types onto these; the printer/parser use ``str(t)``
(``tensor<1x128xf32>``, ``tensor<f32>`` for a scalar) as the textual form.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import ml_dtypes
import numpy as np
from onnx import TensorProto

from moecc.errors import UnsupportedError


class DType(enum.Enum):
    """Element types moecc supports, named as they print in IR text."""

    F32 = "f32"
    F16 = "f16"
    BF16 = "bf16"
    I64 = "i64"
    I32 = "i32"
    I8 = "i8"
    U8 = "u8"
    BOOL = "bool"

    def __str__(self) -> str:
        return self.value

    @property
    def numpy(self) -> np.dtype:
        return _TO_NUMPY[self]

    @property
    def onnx(self) -> int:
        return _TO_ONNX[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F16, DType.BF16)

    @property
    def is_int(self) -> bool:
        return self in (DType.I64, DType.I32, DType.I8, DType.U8)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        dt = np.dtype(dtype)
        for key, value in _TO_NUMPY.items():
            if value == dt:
                return key
        raise UnsupportedError(
            f"element type {dt} is not supported",
            remedy=f"use one of {', '.join(d.value for d in DType)}",
        )

    @staticmethod
    def from_onnx(elem_type: int) -> DType:
        for key, value in _TO_ONNX.items():
            if value == elem_type:
                return key
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else str(elem_type)
        raise UnsupportedError(
            f"ONNX element type {name} is not supported",
            remedy=f"moecc supports {', '.join(d.value for d in DType)}; cast the model's tensors to one of them",
        )

    @staticmethod
    def parse(text: str) -> DType:
        try:
            return DType(text)
        except ValueError:
            raise UnsupportedError(f"unknown element type '{text}'") from None


_TO_NUMPY: dict[DType, np.dtype] = {
    DType.F32: np.dtype(np.float32),
    DType.F16: np.dtype(np.float16),
    DType.BF16: np.dtype(ml_dtypes.bfloat16),
    DType.I64: np.dtype(np.int64),
    DType.I32: np.dtype(np.int32),
    DType.I8: np.dtype(np.int8),
    DType.U8: np.dtype(np.uint8),
    DType.BOOL: np.dtype(np.bool_),
}

_TO_ONNX: dict[DType, int] = {
    DType.F32: TensorProto.FLOAT,
    DType.F16: TensorProto.FLOAT16,
    DType.BF16: TensorProto.BFLOAT16,
    DType.I64: TensorProto.INT64,
    DType.I32: TensorProto.INT32,
    DType.I8: TensorProto.INT8,
    DType.U8: TensorProto.UINT8,
    DType.BOOL: TensorProto.BOOL,
}


@dataclass(frozen=True, slots=True)
class TensorType:
    """A tensor type with a static shape: ``tensor<2x3xf32>``."""

    shape: tuple[int, ...]
    dtype: DType

    def __post_init__(self) -> None:
        if any((not isinstance(d, int)) or d < 0 for d in self.shape):
            raise UnsupportedError(f"tensor shape {self.shape} must have static non-negative dims")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(tuple(int(d) for d in shape), self.dtype)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(self.shape, dtype)

    @staticmethod
    def of(array: np.ndarray) -> TensorType:
        return TensorType(tuple(int(d) for d in array.shape), DType.from_numpy(array.dtype))

    def __str__(self) -> str:
        dims = "".join(f"{d}x" for d in self.shape)
        return f"tensor<{dims}{self.dtype}>"
