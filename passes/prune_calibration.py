"""Calibration for weight pruning: the input sets, and the activation norms Wanda scores by.

Part of the ``prune-weights`` step (:mod:`moecc.passes.prune`), on the graph IR after the graph
passes. Wanda (Sun et al., 2023) scores a weight ``W[k, n]`` by ``|W[k, n]| * ||X_k||_2``: the
L2 norm, over every calibration token, of input channel ``k`` of the activation that weight
multiplies. :func:`activation_norms` runs the reference interpreter on each input set and, as
each matmul-like op is about to run, adds the squares of its activation's channels to a running
sum (nothing else is kept; intermediates are freed as the interpreter goes):

- ``matmul``/``gemm``: the ``a`` operand (transposed back when ``trans_a``), every row a token;
- ``gated_mlp``: ``x`` for ``w_gate``/``w_up``, the hidden ``act(x @ w_gate) * (x @ w_up)`` for
  ``w_down``;
- ``moe``: per expert, only the tokens the router sends to it: their ``x`` rows for
  ``w_gate[e]``/``w_up[e]``, their hidden layer for ``w_down[e]`` (the op's own reference
  routing and hidden layer); every token's ``x`` for ``router_w``. An expert no calibration
  token reaches gets norms of zero (pruning then scores its matrices by magnitude).

Input sets come from an ``.npz`` file (:func:`load_calibration`) or are drawn at random
(:func:`seeded_batches`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moecc.errors import OptionError
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.interpreter import run_graph
from moecc.ir.ops.composite import gated_mlp_hidden, moe_expert_hidden, moe_operand_layout, moe_route
from moecc.passes.prune_candidates import VIEW_KINDS, Candidate, find_candidates

#: One input set: an array per graph input, keyed by the input's name.
Batch = dict[str, np.ndarray]

_FILE_REMEDY = ("give an .npz written by np.savez with one array per model input, keyed by the input's name, each "
                "of the input's shape (one input set) or with a leading axis of input sets; or give a count of "
                "seeded input sets (e.g. 8)")


def load_calibration(path: str | os.PathLike[str], graph: Graph) -> list[Batch]:
    """The input sets of an ``.npz`` file for ``graph``'s inputs.

    Arrays are keyed by input name. Either every array has its input's shape (the file holds one
    input set), or every one has a leading axis of the same length ``N`` before it (``N`` sets).
    An array of another element type of the same kind (float, integer, bool) is converted.
    A missing, unreadable or mismatched file is an :class:`~moecc.errors.OptionError` naming it."""
    file = Path(path)
    if not file.is_file():
        raise OptionError(f"calibration file '{path}' does not exist or is not a file", remedy=_FILE_REMEDY)
    try:
        if not zipfile.is_zipfile(file):  # np.load would try it as a .npy, then as a pickle
            raise OptionError(f"calibration file '{path}' is not an .npz (zip) archive", remedy=_FILE_REMEDY)
        with np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise OptionError(f"calibration file '{path}' is not a readable .npz ({exc})", remedy=_FILE_REMEDY) from None
    names = [v.name for v in graph.inputs]
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        what = "; ".join(part for part in (f"no array for input(s) {', '.join(missing)}" if missing else "",
                                           f"unknown key(s) {', '.join(extra)}" if extra else "") if part)
        raise OptionError(f"calibration file '{path}': {what}",
                          remedy=f"the model's inputs are {', '.join(names) or 'none'}; " + _FILE_REMEDY)
    counts: dict[str, int] = {}
    for v in graph.inputs:
        arrays[v.name] = _converted(arrays[v.name], v, path)
        shape = arrays[v.name].shape
        counts[v.name] = 0 if shape == v.type.shape else shape[0]
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{n} {list(arrays[n].shape)}" for n in names)
        raise OptionError(f"calibration file '{path}': the arrays disagree on the number of input sets ({listed})",
                          remedy="give every input the same leading axis of input sets, or none (one input set)")
    sets = next(iter(counts.values()), 0)
    if not sets:
        return [dict(arrays)]
    return [{n: np.ascontiguousarray(arrays[n][i]) for n in names} for i in range(sets)]


def _converted(array: np.ndarray, value: Value, path: str | os.PathLike[str]) -> np.ndarray:
    """``array`` in ``value``'s element type, checked to be one input set or a stack of them."""
    want = value.type
    kinds = {"f": want.dtype.is_float, "iu": want.dtype.is_int, "b": not (want.dtype.is_float or want.dtype.is_int)}
    if not any(array.dtype.kind in kind and ok for kind, ok in kinds.items()):
        raise OptionError(f"calibration file '{path}': input '{value.name}' is {array.dtype}, the model takes {want}",
                          remedy=f"save it as {want.dtype.numpy}")
    if array.shape != want.shape and array.shape[:1] == (0,):
        raise OptionError(f"calibration file '{path}': input '{value.name}' holds no input set (shape "
                          f"{list(array.shape)})", remedy=_FILE_REMEDY)
    if array.shape != want.shape and array.shape[1:] != want.shape:
        raise OptionError(f"calibration file '{path}': input '{value.name}' has shape {list(array.shape)}, the model "
                          f"takes {list(want.shape)}",
                          remedy=f"give {list(want.shape)} (one input set) or [N, {', '.join(map(str, want.shape))}]")
    return array.astype(want.dtype.numpy, copy=False)


def seeded_batches(graph: Graph, count: int, seed: int = 0) -> list[Batch]:
    """``count`` random input sets for ``graph``: floats standard normal; integers uniform in
    ``[0, V)`` where the input indexes (through views) the rows of a constant table a ``gather``
    reads (the vocabulary of an embedding; the smallest such table), else in ``[0, 2)``; bools
    0/1."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise OptionError(f"calibration count {count!r} must be a whole number >= 1",
                          remedy="give a count of seeded input sets (e.g. 8) or an .npz file")
    bounds = _index_bounds(graph)
    rng = np.random.default_rng(seed)
    batches: list[Batch] = []
    for _ in range(count):
        batch: Batch = {}
        for v in graph.inputs:
            t = v.type
            if t.dtype.is_float:
                batch[v.name] = rng.standard_normal(t.shape).astype(t.dtype.numpy)
            else:
                high = bounds.get(v.name, 2) if t.dtype.is_int else 2
                batch[v.name] = rng.integers(0, high, t.shape).astype(t.dtype.numpy)
        batches.append(batch)
    return batches


def _index_bounds(graph: Graph) -> dict[str, int]:
    """Per graph input that indexes a constant table of a ``gather``: the table's row count."""
    inputs = {id(v): v.name for v in graph.inputs}
    bounds: dict[str, int] = {}
    for op in graph.ops:
        if op.kind != "gather" or not _is_const(op.operands[0]):
            continue
        index = op.operands[1]
        while index.producer is not None and index.producer.kind in VIEW_KINDS:
            index = index.producer.operands[0]
        if id(index) in inputs:
            data = op.operands[0].type
            rows = data.shape[op.attrs.get("axis", 0) % max(data.rank, 1)]
            name = inputs[id(index)]
            bounds[name] = min(bounds.get(name, rows), rows)
    return {name: max(rows, 1) for name, rows in bounds.items()}


def _is_const(value: Value) -> bool:
    return value.producer is not None and value.producer.is_const


# -- the norms ---------------------------------------------------------------------------

def activation_norms(graph: Graph, batches: Sequence[Batch],
                     candidates: Sequence[Candidate] | None = None) -> dict[str, np.ndarray]:
    """Per candidate weight read by a matmul-like op (``candidates``, default
    :func:`~moecc.passes.prune_candidates.find_candidates`), keyed by its value name: the L2 norm
    over every token of ``batches`` of each input channel ``k`` of the activation it multiplies,
    ``[k]`` float32 (``[E, k]`` for a ``moe`` expert stack, per expert over its routed tokens)."""
    chosen = find_candidates(graph) if candidates is None else candidates
    watched: dict[int, list[tuple[str, str]]] = {}
    for candidate in chosen:
        for use in candidate.uses:
            if use.operand != "data":
                watched.setdefault(id(use.op), []).append((use.operand, candidate.name))
    sums: dict[str, np.ndarray] = {}

    def observe(op: Op, args: Sequence[np.ndarray]) -> None:
        for operand, name in watched.get(id(op), ()):
            squares = _channel_squares(op, args, operand)
            sums[name] = squares if name not in sums else sums[name] + squares

    for batch in batches:
        run_graph(graph, batch, observe=observe)
    return {name: np.sqrt(total).astype(np.float32) for name, total in sums.items()}


def _squares(rows: np.ndarray) -> np.ndarray:
    """Sum over tokens of each channel's square (channels last), in float64."""
    flat = np.asarray(rows, dtype=np.float64).reshape(-1, rows.shape[-1])
    return np.einsum("tk,tk->k", flat, flat)


def _channel_squares(op: Op, args: Sequence[np.ndarray], operand: str) -> np.ndarray:
    """The per-channel sums of squares of what ``op``'s weight ``operand`` multiplies."""
    if op.kind == "matmul":
        return _squares(args[0])
    if op.kind == "gemm":
        return _squares(args[0].T if op.attrs.get("trans_a") else args[0])
    f32 = [np.asarray(a, dtype=np.float32) for a in args]
    if op.kind == "gated_mlp":
        x = f32[0].reshape(-1, f32[0].shape[-1])
        if operand == "w_down":
            return _squares(gated_mlp_hidden(x, f32[1], f32[2], op.attrs["activation"]))
        return _squares(x)
    return _moe_squares(op, f32, operand)


def _moe_squares(op: Op, arrays: Sequence[np.ndarray], operand: str) -> np.ndarray:
    """``[E, k]`` per-expert sums over routed tokens (``[H]`` over all tokens for the router)."""
    w = dict(zip(moe_operand_layout(op.attrs), arrays))
    x = w["x"]
    if operand == "router_w":
        return _squares(x)
    logits = x @ w["router_w"]
    if op.attrs["router_bias"]:
        logits = logits + w["router_b"]
    chosen, _ = moe_route(logits, op.attrs, w.get("select_b"))
    experts = w["router_w"].shape[1]
    width = w[operand].shape[1]
    out = np.zeros((experts, width), dtype=np.float64)
    for e in range(experts):
        tokens = np.nonzero((chosen == e).any(axis=-1))[0]
        if tokens.size:
            rows = x[tokens]
            out[e] = _squares(moe_expert_hidden(rows, w, e, op.attrs) if operand == "w_down" else rows)
    return out


__all__ = ["Batch", "activation_norms", "load_calibration", "seeded_batches"]
