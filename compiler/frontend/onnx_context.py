"""The ONNX-op lowering table and the per-node context handlers work with.

Each supported ONNX op type has one handler, registered with :func:`onnx_op` and the opset
range it supports. The importer calls it with a :class:`NodeContext` that gives the node's
inputs as graph-IR values, typed attribute access, constant inputs (for shape operands) and
``emit`` to build graph-IR ops through the folding :class:`~moecc.ir.builder.GraphBuilder`.
Handlers live in the ``onnx_*`` modules beside this one, one per op family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from moecc.errors import MoeccError, ShapeError, UnsupportedError
from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import Value
from moecc.ir.types import DType, TensorType

HandlerFn = Callable[["NodeContext"], Sequence[Value | None]]


@dataclass(frozen=True, slots=True)
class OnnxHandler:
    """How one ONNX op type lowers: its supported opset range and the lowering function."""

    op_type: str
    since: int
    until: int | None
    fn: HandlerFn

    def supports(self, opset: int) -> bool:
        return self.since <= opset and (self.until is None or opset <= self.until)

    @property
    def opset_range(self) -> str:
        return f"{self.since}+" if self.until is None else f"{self.since}-{self.until}"


ONNX_HANDLERS: dict[str, OnnxHandler] = {}


def onnx_op(*op_types: str, since: int = 13, until: int | None = None) -> Callable[[HandlerFn], HandlerFn]:
    """Register a handler for one or more ONNX op types (default domain)."""

    def wrap(fn: HandlerFn) -> HandlerFn:
        for op_type in op_types:
            if op_type in ONNX_HANDLERS:
                raise ValueError(f"ONNX op {op_type} has two handlers")
            ONNX_HANDLERS[op_type] = OnnxHandler(op_type, since, until, fn)
        return fn

    return wrap


class NodeContext:
    """What a handler sees of one ONNX node."""

    def __init__(self, node: onnx.NodeProto, opset: int, builder: GraphBuilder, inputs: Sequence[Value | None]) -> None:
        self.node = node
        self.opset = opset
        self.builder = builder
        self.inputs = list(inputs)
        self._attrs = {a.name: a for a in node.attribute}

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.node.name or f"<unnamed {self.node.op_type}>"

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def output_used(self, index: int) -> bool:
        return index < len(self.node.output) and self.node.output[index] != ""

    def error(self, message: str, remedy: str | None = None, cls: type[MoeccError] = UnsupportedError) -> MoeccError:
        """An error naming this node, its op type and opset."""
        return cls(message, node=self.name, op_type=self.op_type, opset=self.opset, remedy=remedy)

    # -- inputs ---------------------------------------------------------------------------
    def has_input(self, index: int) -> bool:
        return index < len(self.inputs) and self.inputs[index] is not None

    def input(self, index: int) -> Value:
        if not self.has_input(index):
            raise self.error(f"input {index} is required", cls=ShapeError)
        value = self.inputs[index]
        assert value is not None
        return value

    def optional_input(self, index: int) -> Value | None:
        return self.inputs[index] if self.has_input(index) else None

    def type(self, index: int) -> TensorType:
        return self.input(index).type

    def maybe_const(self, index: int) -> np.ndarray | None:
        """The data of input ``index`` if it is a known constant (after folding), else None."""
        if not self.has_input(index):
            return None
        return const_value(self.input(index))

    def const_input(self, index: int, what: str = "this input") -> np.ndarray:
        """Input ``index`` as constant data; an error if it is only known at run time."""
        data = self.maybe_const(index)
        if data is None:
            raise self.error(
                f"{what} (input {index}) must be known at compile time, but it depends on run-time data",
                remedy="moecc needs static shapes: give --input-shape for dynamic dims, or make this input a constant",
                cls=ShapeError,
            )
        return data

    def const_ints(self, index: int, what: str = "this input") -> list[int]:
        return [int(x) for x in np.asarray(self.const_input(index, what)).reshape(-1)]

    # -- attributes -----------------------------------------------------------------------
    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = None) -> Any:
        """A node attribute as a python value (ints, floats, str, lists, numpy for tensors)."""
        proto = self._attrs.get(name)
        if proto is None:
            return default
        if proto.type == onnx.AttributeProto.TENSOR:
            if proto.t.data_location == onnx.TensorProto.EXTERNAL:
                from moecc.frontend.onnx_importer import tensor_array  # the importer imports this module

                return tensor_array(proto.t)  # mapped from its file
            return onnx.numpy_helper.to_array(proto.t)
        if proto.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise self.error(f"attribute '{name}' holds a subgraph, which moecc does not support")
        value = helper.get_attribute_value(proto)
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8") for v in value]
        return value

    def attrs_present(self) -> set[str]:
        return set(self._attrs)

    # -- building -------------------------------------------------------------------------
    def emit(self, kind: str, operands: Sequence[Value], attrs: Mapping[str, Any] | None = None) -> Value:
        """Emit a single-result graph-IR op (folded when its operands are constants)."""
        return self.emit_multi(kind, operands, attrs)[0]

    def emit_multi(self, kind: str, operands: Sequence[Value], attrs: Mapping[str, Any] | None = None) -> list[Value]:
        try:
            return self.builder.emit(kind, operands, attrs, name=self._hint())
        except MoeccError as err:
            raise err.add_context(node=self.name, op_type=self.op_type, opset=self.opset) from None

    def const(self, array: np.ndarray | float | int | bool, dtype: Any = None) -> Value:
        return self.builder.const(np.asarray(array, dtype=dtype), self._hint() + "_cst")

    def _hint(self) -> str:
        out = self.node.output[0] if self.node.output and self.node.output[0] else self.op_type.lower()
        return out

    @staticmethod
    def dtype_of(elem_type: int) -> DType:
        return DType.from_onnx(elem_type)
