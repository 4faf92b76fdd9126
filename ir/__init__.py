"""moecc's intermediate representations.

The graph IR (types, values, ops, graphs, the op registry, verifier, printer/parser and the
reference interpreter) sits between the ONNX frontend and the passes; the kernel IR (tiled
loop nests over buffers) sits between the passes and the backends.
"""

from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import ElidedTensor, Graph, Op, Value, tensor_digest
from moecc.ir.interpreter import run_graph
from moecc.ir.registry import REGISTRY, Attr, AttrKind, OpDef, Operand, all_op_defs, get_op_def
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph

__all__ = [
    "REGISTRY",
    "Attr",
    "AttrKind",
    "DType",
    "ElidedTensor",
    "Graph",
    "GraphBuilder",
    "Op",
    "OpDef",
    "Operand",
    "TensorType",
    "Value",
    "all_op_defs",
    "const_value",
    "get_op_def",
    "run_graph",
    "tensor_digest",
    "verify_graph",
]
