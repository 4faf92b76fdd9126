"""``moecc.compile_graph``: a graph-IR graph (built in Python or parsed from text) compiled for
every target as ``moecc.compile`` compiles an imported ONNX model."""

from __future__ import annotations

import pytest

import moecc
from moecc.compare import compare_outputs
from moecc.examples import build_example, example_inputs
from moecc.frontend.onnx_importer import import_onnx
from moecc.ir.parser import parse_graph
from moecc.ir.printer import print_graph


@pytest.mark.parametrize("target", ["ref", "asic", "cpu", "tiled"])
def test_a_parsed_graph_compiles_like_its_model(target: str) -> None:
    model = build_example("gpt2-block")
    inputs = example_inputs("gpt2-block", model)
    expected = moecc.compile(model, target="ref").run(inputs)
    text = print_graph(import_onnx(model), elide_constants=False)
    compiled = moecc.compile_graph(parse_graph(text), target=target)
    assert not compare_outputs(compiled.run(inputs), expected)


def test_elided_constants_and_foreign_options_are_refused() -> None:
    text = print_graph(import_onnx(build_example("gpt2-block")))  # constants elided
    with pytest.raises(moecc.InputError, match="hold no data"):
        moecc.compile_graph(parse_graph(text), target="cpu")
    graph = parse_graph(print_graph(import_onnx(build_example("gpt2-block")), elide_constants=False))
    with pytest.raises(moecc.MoeccError, match="'precision' is an option of target 'asic'"):
        moecc.compile_graph(graph, target="cpu", precision="bf16")
