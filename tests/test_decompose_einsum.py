"""Tests of the ``decompose-einsum`` pass: einsum contractions become transpose/reshape/matmul.

The property test draws random contractions (labels in every class: batch, contracted, free
on either side, summed out of one operand; size-1 labels that broadcast; transposed outputs;
ellipsis; constant or run-time operands in either order) and checks the graph against
``numpy.einsum`` on the reference interpreter before and after the pass, and that no ``einsum``
is left. Operand values are small integers, so float32 sums are exact in any order and the
comparison is bitwise. The textual cases are in ``tests/ir_tests/decompose_einsum.mir``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moecc
from moecc.examples import build_example
from moecc.ir import DType, Graph, GraphBuilder, TensorType, run_graph, verify_graph
from moecc.passes import DEFAULT_GRAPH_PIPELINE, get_pass, parse_pipeline, registered_passes
from moecc.passes.decompose_einsum import DecomposeEinsum, decompose_einsums

LETTERS = "abcdefghij"
#: Label classes: which of (A, B, output) a label appears in.
CLASSES = {
    "batch": (True, True, True),
    "contracted": (True, True, False),
    "left": (True, False, True),
    "right": (False, True, True),
    "summed_a": (True, False, False),
    "summed_b": (False, True, False),
}


def einsum_graph(
    equation: str, arrays: Sequence[np.ndarray], const: Sequence[bool]
) -> tuple[Graph, dict[str, np.ndarray]]:
    """``y = einsum(operands)``; operand ``i`` is a constant when ``const[i]``, else input ``x<i>``."""
    graph = Graph()
    builder = GraphBuilder(graph)
    operands, feeds = [], {}
    for i, (array, is_const) in enumerate(zip(arrays, const, strict=True)):
        if is_const:
            operands.append(builder.const(array, f"w{i}"))
        else:
            value = graph.add_input(f"x{i}", TensorType.of(array))
            operands.append(value)
            feeds[value.name] = array
    y = builder.emit1("einsum", operands, {"equation": equation}, name="y")
    graph.set_outputs([y])
    return graph, feeds


def decompose_and_check(
    equation: str, arrays: Sequence[np.ndarray], const: Sequence[bool] | None = None
) -> Graph:
    """Run the pass on ``einsum(arrays)``; assert the outputs before and after both equal
    ``numpy.einsum`` exactly (the inputs are small integers) and the IR stays valid."""
    graph, feeds = einsum_graph(equation, arrays, const or [False] * len(arrays))
    expected = np.einsum(equation, *arrays)
    np.testing.assert_array_equal(run_graph(graph, feeds)["y"], expected)
    DecomposeEinsum().apply(graph)
    verify_graph(graph)
    got = run_graph(graph, feeds)["y"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected, err_msg=equation)
    return graph


def kinds(graph: Graph) -> list[str]:
    return [op.kind for op in graph.ops if not op.is_const]


def small_ints(rng: np.random.Generator, shape: Sequence[int], dtype: type = np.float32) -> np.ndarray:
    return rng.integers(-3, 4, size=tuple(shape)).astype(dtype)


@st.composite
def contractions(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]], list[bool]]:
    """A random two-operand contraction: ``(equation, shapes, const flags)``."""
    count = draw(st.integers(1, 6))
    letters = draw(st.permutations(LETTERS))[:count]
    roles = {letter: draw(st.sampled_from(sorted(CLASSES))) for letter in letters}
    sizes = {letter: draw(st.integers(1, 4)) for letter in letters}
    a = [lbl for lbl in letters if CLASSES[roles[lbl]][0]]
    b = [lbl for lbl in letters if CLASSES[roles[lbl]][1]]
    out = [lbl for lbl in letters if CLASSES[roles[lbl]][2]]
    a, b, out = draw(st.permutations(a)), draw(st.permutations(b)), draw(st.permutations(out))
    # A shared label may be 1 in one operand: einsum broadcasts it like numpy does.
    shape_a = [sizes[lbl] if lbl not in b or not draw(st.booleans()) else 1 for lbl in a]
    shape_b = [sizes[lbl] for lbl in b]
    ellipsis = draw(st.sampled_from(["none", "both", "a_only"]))
    lead_a: list[int] = []
    lead_b: list[int] = []
    if ellipsis != "none":
        lead = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
        lead_a = [d if not draw(st.booleans()) else 1 for d in lead]
        lead_b = lead[draw(st.integers(0, len(lead))):] if ellipsis == "both" else []
    term_a = ("..." if ellipsis != "none" else "") + "".join(a)
    term_b = ("..." if ellipsis == "both" else "") + "".join(b)
    term_out = ("..." if ellipsis != "none" else "") + "".join(out)
    terms, shapes = [term_a, term_b], [tuple(lead_a + shape_a), tuple(lead_b + shape_b)]
    if draw(st.booleans()):  # the other operand order
        terms.reverse()
        shapes.reverse()
    const = [draw(st.booleans()), draw(st.booleans())]
    if all(const):
        const[0] = False
    return f"{terms[0]},{terms[1]}->{term_out}", shapes, const


@settings(max_examples=150, deadline=None)
@given(case=contractions(), seed=st.integers(0, 2**16))
def test_random_contractions_match_numpy_and_leave_no_einsum(
    case: tuple[str, list[tuple[int, ...]], list[bool]], seed: int
) -> None:
    equation, shapes, const = case
    rng = np.random.default_rng(seed)
    graph = decompose_and_check(equation, [small_ints(rng, s) for s in shapes], const)
    assert "einsum" not in kinds(graph), equation


@settings(max_examples=40, deadline=None)
@given(case=contractions(), seed=st.integers(0, 2**16))
def test_integer_contractions_match_numpy(case: tuple[str, list[tuple[int, ...]], list[bool]], seed: int) -> None:
    equation, shapes, const = case
    rng = np.random.default_rng(seed)
    decompose_and_check(equation, [small_ints(rng, s, np.int32) for s in shapes], const)


@pytest.mark.parametrize(
    ("equation", "shapes", "const", "expected_kinds"),
    [
        # Stacked expert weights: the constant's transpose folds, one [t, d] @ [d, e*f] matmul.
        ("td,edf->tef", [(6, 4), (3, 4, 5)], [False, True], ["matmul", "reshape"]),
        # A batch label: a batched matmul between transposes to and from [e, t, .].
        ("tef,efd->ted", [(6, 3, 5), (3, 5, 4)], [False, True], ["transpose", "matmul", "transpose"]),
        # Batched matrix-vector: element-wise product and a sum, not M=1 products per row.
        ("te,ted->td", [(6, 3), (6, 3, 4)], [False, False], ["reshape", "mul", "reduce_sum"]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], [False, False], ["matmul"]),
        ("ij,kj->ik", [(2, 3), (4, 3)], [False, False], ["transpose", "matmul"]),
        ("ij,kj->ik", [(2, 3), (4, 3)], [False, True], ["matmul"]),
        ("ij,jk", [(2, 3), (3, 4)], [False, False], ["matmul"]),
        ("i,i->", [(5,), (5,)], [False, False], ["reshape", "reshape", "matmul", "reshape"]),
        ("i,j->ij", [(2,), (3,)], [False, False], ["reshape", "reshape", "mul"]),
        ("ij,ij->ij", [(2, 3), (2, 3)], [False, False], ["mul"]),
        ("ij->ji", [(2, 3)], [False], ["transpose"]),
        ("ijk->ki", [(2, 3, 4)], [False], ["reduce_sum", "transpose"]),
        ("ij->ij", [(2, 3)], [False], []),
        ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)], [False, False], ["reshape", "matmul", "reshape"]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], [False, False, False], ["matmul", "matmul"]),
    ],
)
def test_decomposition_shapes(
    equation: str, shapes: list[tuple[int, ...]], const: list[bool], expected_kinds: list[str]
) -> None:
    rng = np.random.default_rng(0)
    graph = decompose_and_check(equation, [small_ints(rng, s) for s in shapes], const)
    assert kinds(graph) == expected_kinds


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_types_keep_their_type(dtype: str) -> None:
    """Results stay in the operand type (matmul accumulates in f32 and rounds once); with
    small integers every intermediate is exact, so the results equal numpy's in f32."""
    import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy)

    rng = np.random.default_rng(4)
    arrays = [small_ints(rng, (3, 2, 4)).astype(dtype), small_ints(rng, (2, 4, 5)).astype(dtype)]
    graph, feeds = einsum_graph("tef,efd->ted", arrays, [False, True])
    DecomposeEinsum().apply(graph)
    verify_graph(graph)
    got = run_graph(graph, feeds)["y"]
    assert got.dtype == arrays[0].dtype and "einsum" not in kinds(graph)
    expected = np.einsum("tef,efd->ted", *[a.astype(np.float32) for a in arrays])
    np.testing.assert_array_equal(got.astype(np.float32), expected)


def test_three_and_four_operands_contract_pairwise() -> None:
    rng = np.random.default_rng(1)
    arrays = [small_ints(rng, s) for s in [(2, 3), (3, 4, 2), (4,), (2, 5)]]
    graph = decompose_and_check("ab,bcd,c,ae->de", arrays)
    assert "einsum" not in kinds(graph)


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("ii->i", [(3, 3)]),  # a diagonal
        ("iij,jk->ik", [(2, 2, 3), (3, 4)]),  # a diagonal in a contraction
        ("ij,jk->ik", [(2, 0), (0, 4)]),  # no elements
    ],
)
def test_what_is_not_a_plain_contraction_stays_einsum(equation: str, shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(2)
    graph, _ = einsum_graph(equation, [small_ints(rng, s) for s in shapes], [False] * len(shapes))
    assert decompose_einsums(graph) == 0
    assert kinds(graph) == ["einsum"]
    assert DecomposeEinsum().apply(graph) is False


def test_result_keeps_the_einsum_name_and_operand_uses_are_rewired() -> None:
    graph = Graph()
    builder = GraphBuilder(graph)
    x = graph.add_input("x", TensorType((4, 3), DType.F32))
    w = graph.add_input("w", TensorType((3, 5), DType.F32))
    y = builder.emit1("einsum", [x, w], {"equation": "ij,jk->ik"}, name="y")
    z = builder.emit1("relu", [y], name="z")
    graph.set_outputs([y, z])
    DecomposeEinsum().apply(graph)
    verify_graph(graph)
    assert [op.kind for op in graph.ops] == ["matmul", "relu"]
    assert graph.outputs[0].name == "y" and graph.ops[1].operands[0] is graph.outputs[0]


def test_constant_transposes_fold_in_the_pass() -> None:
    rng = np.random.default_rng(3)
    arrays = [small_ints(rng, (1, 6, 4)), small_ints(rng, (3, 4, 5))]
    graph = decompose_and_check("bsd,edf->bsef", arrays, [False, True])
    assert kinds(graph) == ["reshape", "matmul", "reshape"]
    (matmul,) = [op for op in graph.ops if op.kind == "matmul"]
    assert matmul.operands[1].producer.is_const and matmul.operands[1].type.shape == (4, 15)


def test_registered_and_first_in_the_default_pipeline() -> None:
    assert registered_passes()["decompose-einsum"] is DecomposeEinsum
    assert get_pass("decompose-einsum") == DecomposeEinsum()
    names = [p.name for p in parse_pipeline(DEFAULT_GRAPH_PIPELINE)]
    # Before fold-constants (and canonicalize, which cleans up the reshapes it emits).
    assert names.index("decompose-einsum") < names.index("canonicalize") < names.index("fold-constants")


def test_dense_moe_einsum_compiles_without_einsum() -> None:
    model = build_example("dense-moe-einsum", seq=4, hidden=8, intermediate=16)
    # Without raise-moe the einsums become matmuls; with it the whole layer is one moe op.
    pipeline = DEFAULT_GRAPH_PIPELINE.replace("raise-moe,", "")
    graph_kinds = {op.kind for op in moecc.compile(model, target="ref", pipeline=pipeline).graph.ops}
    assert "einsum" not in graph_kinds and "matmul" in graph_kinds
    assert {op.kind for op in moecc.compile(model, target="ref").graph.ops} - {"const", "reshape"} == {"moe"}
