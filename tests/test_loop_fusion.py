"""Loop fusion in the tiled lowering: a matmul's loop and its epilogue's loop become one.

A matmul followed by its GELU lowers to one loop per output tile holding the product and the
epilogue (so an in-order vector unit works on tile j while the MXU multiplies tile j + 1),
with bitwise the same results; loops whose fusion would reverse a dependence, or that hold
two products, stay apart.
"""

from __future__ import annotations

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.tiled import Compute, Copy, For, Kernel, MatMul
from moecc.ir.tiled.interpreter import run_tiled_module
from moecc.ir.tiled.nodes import Operand, View
from moecc.ir.types import DType, TensorType
from moecc.passes.tiled_lowering import lower_graph
from moecc.passes.tiled_lowering.context import TilingParams
from moecc.passes.tiled_lowering.loop_fusion import fuse_loops, fusible

PARAMS = TilingParams(tile_rows=8, tile_cols=8, k_tile=16, local_bytes=4096)


def _matmul_gelu() -> tuple[Graph, np.ndarray, np.ndarray]:
    graph = Graph("mm")
    x = graph.add_input("x", TensorType((8, 16), DType.F32))
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 32)).astype(np.float32)
    b = GraphBuilder(graph)
    y = b.emit1("gelu", [b.emit1("matmul", [x, b.const(w, "w")])], {"approximate": "tanh"})
    graph.set_outputs([y], ["y"])
    return graph, rng.standard_normal((8, 16)).astype(np.float32), w


def test_matmul_and_its_epilogue_share_one_loop_with_the_same_bits() -> None:
    graph, x, w = _matmul_gelu()
    lowering = lower_graph(graph, PARAMS)
    module = lowering.module
    (kernel,) = [s for s in module.steps if isinstance(s, Kernel)]
    loops = [s for s in kernel.body if isinstance(s, For)]
    assert len(loops) == 1 and loops[0].count == 4  # four 8-column output tiles, one loop
    kinds = {type(s) for s in loops[0].body}
    assert MatMul in kinds and Compute in kinds
    # The same statements unfused give the same bits (the interpreter runs both orders).
    unfused = _unfused(kernel)
    feeds = {"x": x, **lowering.weights}
    (out,) = module.outputs
    got = run_tiled_module(module, feeds)[out]
    expected = run_tiled_module(_with_kernel(module, kernel, unfused), feeds)[out]
    np.testing.assert_array_equal(got, expected)


def _unfused(kernel: Kernel) -> Kernel:
    """The kernel with its one loop split back into the product loop and the epilogue loop."""
    (loop,) = [s for s in kernel.body if isinstance(s, For)]
    products = tuple(s for s in loop.body if isinstance(s, MatMul | Copy))
    rest = tuple(s for s in loop.body if not isinstance(s, MatMul | Copy))
    body = [s for s in kernel.body if s is not loop] + [For(loop.var, loop.count, products), For(loop.var, loop.count, rest)]
    return Kernel(kernel.name, kernel.buffers, tuple(body), kernel.sources)


def _with_kernel(module, old: Kernel, new: Kernel):  # noqa: ANN001, ANN202
    import dataclasses

    return dataclasses.replace(module, steps=tuple(new if s is old else s for s in module.steps))


def _tile(buffer: str, var: str, shift: int = 0) -> View:
    """Column tile ``var`` (+ ``shift``) of a [4, 32] buffer, 8 columns wide."""
    return View(buffer, Affine(shift * 8, ((var, 8),)), (4, 8), (32, 1))


def test_a_read_of_a_later_tile_keeps_the_loops_apart() -> None:
    """The second loop reads tile j + 1 of what the first writes: fused, iteration j would read
    it before the first loop's iteration j + 1 wrote it."""
    acc = View("acc", Affine(), (4, 8), (8, 1))
    product = MatMul(acc, View("x", Affine(), (4, 4), (4, 1)), View("w", Affine(0, (("i", 8),)), (4, 8), (32, 1)))
    first = For("i", 3, (product, Copy(_tile("y", "i"), acc)))
    ahead = For("j", 3, (Compute(_tile("z", "j"), Operand(_tile("y", "j", shift=1))),))
    same = For("j", 3, (Compute(_tile("z", "j"), Operand(_tile("y", "j"))),))
    assert not fusible(first, ahead)
    assert fusible(first, same)
    (merged,) = fuse_loops([first, same])
    assert isinstance(merged, For) and len(merged.body) == 3
    assert merged.body[2].dst.offset == Affine(0, (("i", 8),))  # the epilogue's variable renamed


def test_two_loops_of_products_stay_apart() -> None:
    """Attention's phases: every head's scores, then every head's output; fused they would
    put each head's output before the next head's scores."""
    acc = View("acc", Affine(), (4, 8), (8, 1))

    def loop(var: str, out: str) -> For:
        product = MatMul(acc, View("x", Affine(), (4, 4), (4, 1)), View("w", Affine(0, ((var, 8),)), (4, 8), (32, 1)))
        return For(var, 3, (product, Copy(_tile(out, var), acc)))

    assert not fusible(loop("i", "y"), loop("j", "z"))
