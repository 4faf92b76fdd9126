"""A small ONNX graph builder that names nodes and values the way the PyTorch exporters do.

The example models in :mod:`moecc.examples` are built with it. It wraps ``onnx.helper`` and adds
what exporters do implicitly: module scopes (``/model/layers.0/self_attn/MatMul`` node names,
``model.layers.0.self_attn.q_proj.weight`` parameter names), unique ``<node>_output_<i>`` value
names, ``Constant`` nodes for small literals, initializers for parameters, and a seeded random
generator so a model's bytes depend only on its sizes and seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import helper, numpy_helper

from moecc.errors import MoeccError

DEFAULT_OPSET = 18
SUPPORTED_OPSETS = range(17, 22)

# First opset where each reduction takes ``axes`` as an input instead of an attribute.
_AXES_AS_INPUT_SINCE = {"ReduceSum": 13, "ReduceMean": 18, "ReduceMax": 18}

Dim = int | str
Literal = float | int | bool | Sequence[float] | Sequence[int] | np.ndarray


class GraphBuilder:
    """Accumulates nodes, initializers, inputs and outputs of one ONNX graph.

    Nodes are named from the current scope and op type (``/h.0/attn/MatMul``, then
    ``/h.0/attn/MatMul_1``...), their outputs ``<node name>_output_<i>`` as the TorchScript
    exporter does; graph inputs and outputs keep the names given to them.
    """

    def __init__(self, graph_name: str, *, seed: int, opset: int = DEFAULT_OPSET) -> None:
        if opset not in SUPPORTED_OPSETS:
            raise MoeccError(
                f"opset {opset} is not supported by the example builders",
                remedy=f"use an opset in {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}",
            )
        self.graph_name = graph_name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self._scope: list[str] = []
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._counts: dict[str, int] = {}

    # -- naming ---------------------------------------------------------------------------

    @contextmanager
    def scope(self, *parts: str) -> Iterator[None]:
        """Nest node and parameter names under a module path (``scope("model", "layers.0")``)."""
        self._scope.extend(parts)
        try:
            yield
        finally:
            del self._scope[len(self._scope) - len(parts):]

    def _unique(self, base: str) -> str:
        count = self._counts.get(base, 0)
        name = base if count == 0 else f"{base}_{count}"
        while name in self._names:
            count += 1
            name = f"{base}_{count}"
        self._counts[base] = count + 1
        self._names.add(name)
        return name

    def _reserve(self, name: str) -> str:
        if name in self._names:
            raise MoeccError(f"value name '{name}' is used twice", location=self.graph_name)
        self._names.add(name)
        return name

    # -- graph interface ------------------------------------------------------------------

    def add_input(self, name: str, elem_type: int, shape: Sequence[Dim]) -> str:
        """Declare a graph input; string dims are symbolic (``"batch"``, ``"seq"``)."""
        self._inputs.append(helper.make_tensor_value_info(self._reserve(name), elem_type, list(shape)))
        return name

    def add_output(self, value: str, elem_type: int, shape: Sequence[Dim]) -> None:
        """Declare ``value`` (a value produced by a node, named with ``out=``) a graph output."""
        self._outputs.append(helper.make_tensor_value_info(value, elem_type, list(shape)))

    # -- nodes ----------------------------------------------------------------------------

    def op(self, op_type: str, inputs: Sequence[str], *, out: str | None = None, **attrs: object) -> str:
        """Add a one-output node and return its output name (``out`` names it explicitly)."""
        return self.op_multi(op_type, inputs, 1, outs=None if out is None else [out], **attrs)[0]

    def op_multi(
        self,
        op_type: str,
        inputs: Sequence[str],
        n_outputs: int,
        *,
        outs: Sequence[str] | None = None,
        **attrs: object,
    ) -> list[str]:
        """Add a node with ``n_outputs`` outputs and return their names."""
        node_name = self._unique("/" + "/".join([*self._scope, op_type]))
        if outs is None:
            outputs = [self._reserve(f"{node_name}_output_{i}") for i in range(n_outputs)]
        else:
            outputs = [self._reserve(o) for o in outs]
        node = helper.make_node(op_type, list(inputs), outputs, name=node_name, **attrs)
        self._nodes.append(node)
        return outputs

    def const(self, value: Literal, dtype: type | np.dtype | None = None) -> str:
        """A ``Constant`` node holding ``value`` (ints default to int64, floats to float32)."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype.kind == "f":
            array = array.astype(np.float32)
        return self.op("Constant", [], value=numpy_helper.from_array(array))

    def reduce(
        self, op_type: str, x: str, axes: Sequence[int], *, keepdims: bool, out: str | None = None
    ) -> str:
        """A reduction over ``axes``, in the attribute or input form the opset requires."""
        if self.opset >= _AXES_AS_INPUT_SINCE[op_type]:
            return self.op(op_type, [x, self.const(list(axes))], out=out, keepdims=int(keepdims))
        return self.op(op_type, [x], out=out, axes=list(axes), keepdims=int(keepdims))

    # -- parameters -----------------------------------------------------------------------

    def param(self, name: str, array: np.ndarray) -> str:
        """Add an initializer named ``<scope.dotted>.<name>`` holding ``array``."""
        full = ".".join([*self._scope, name])
        self._initializers.append(numpy_helper.from_array(array, self._reserve(full)))
        return full

    def normal(self, shape: Sequence[int], std: float) -> np.ndarray:
        """Float32 draws from N(0, std²), from this builder's seeded generator."""
        return (self.rng.standard_normal(tuple(shape)) * std).astype(np.float32)

    def weight(self, name: str, shape: Sequence[int], *, fan_in: int | None = None, std: float | None = None) -> str:
        """A float32 parameter drawn from N(0, 1/fan_in) (or N(0, std²))."""
        scale = std if std is not None else 1.0 / np.sqrt(fan_in if fan_in is not None else shape[-1])
        return self.param(name, self.normal(shape, float(scale)))

    def norm_scale(self, name: str, size: int) -> str:
        """A norm gain near 1; perturbed so that a backend dropping it is caught by a test."""
        return self.param(name, (1.0 + self.normal([size], 0.1)).astype(np.float32))

    def bias(self, name: str, size: int) -> str:
        """A small, nonzero bias (zero biases would hide a backend that drops them)."""
        return self.param(name, self.normal([size], 0.1))

    # -- result ---------------------------------------------------------------------------

    def build(self, *, doc: str, metadata: Mapping[str, str]) -> onnx.ModelProto:
        """The finished model: opset ``self.opset`` of the default domain, IR version 8."""
        graph = helper.make_graph(
            self._nodes, self.graph_name, self._inputs, self._outputs, initializer=self._initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="moecc.examples",
            producer_version="0.1.0",
            doc_string=doc,
        )
        # The lowest IR version the opset allows, so that older runtimes load the file too.
        model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
        helper.set_model_props(model, dict(metadata))
        return model


def example_metadata(example: str, sizes: Mapping[str, object]) -> dict[str, str]:
    """``metadata_props`` recording which example and sizes a model was built from.

    :func:`moecc.examples.example_inputs` reads it back to make inputs for symbolic dims.
    """
    return {"moecc.example": example, "moecc.sizes": json.dumps(dict(sizes), sort_keys=True)}
