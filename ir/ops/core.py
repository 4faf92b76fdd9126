"""Graph-IR ops: the ``const`` op that holds weights and folded constants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import VerificationError
from moecc.ir.graph import ElidedTensor
from moecc.ir.registry import Attr, AttrKind, op
from moecc.ir.types import TensorType


@op("const", operands=[], attrs=[Attr("value", AttrKind.TENSOR)])
class Const:
    """A constant tensor (a weight or a folded value). ``value`` is the data, or an elided
    placeholder (type + content hash) when the IR was parsed from elided text."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        value = attrs["value"]
        return [value.type if isinstance(value, ElidedTensor) else TensorType.of(value)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        value = attrs["value"]
        if isinstance(value, ElidedTensor):
            raise VerificationError(
                f"constant with digest {value.digest} ({value.type}) was elided",
                remedy="print the IR with elide_constants=False, or bind the weights with Graph.bind_weights()",
            )
        return [value]
