"""How far a changed model's outputs are from the original's: the accuracy report of pruning.

Beside the flow, after it: compile a model twice (with and without ``prune=``), run both on the
same inputs and compare. :func:`accuracy_report` gives one row per output: the largest absolute
error, the relative error ``||a - b|| / ||a||``, the cosine similarity of the flattened outputs
and, for outputs that look like a language model's logits, the top-1 agreement (how often the
arg-max over the last axis is the same token). :func:`format_table` prints the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import InputError

#: A float output of rank >= 2 whose last dim is at least this reads as logits over a vocabulary.
LOGITS_MIN_VOCAB = 32


def looks_like_logits(name: str, array: np.ndarray) -> bool:
    """Float, rank >= 1 and either named ``*logits*`` or of rank >= 2 with a last dim of at
    least :data:`LOGITS_MIN_VOCAB`."""
    if array.dtype.kind != "f" or array.ndim < 1:
        return False
    return "logits" in name.lower() or (array.ndim >= 2 and array.shape[-1] >= LOGITS_MIN_VOCAB)


def accuracy_report(reference: Mapping[str, np.ndarray], pruned: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per output of ``reference`` (in its order), compared with the same output of
    ``pruned``: ``output``, ``shape``, ``max_abs_error``, ``relative_error``, ``cosine`` and
    ``top1_agreement`` (None for outputs that do not look like logits, see
    :func:`looks_like_logits`). Float64 arithmetic; NaNs propagate."""
    missing = [name for name in reference if name not in pruned]
    if missing:
        raise InputError(f"the outputs to compare lack {', '.join(missing)}",
                         remedy="run both models on the same inputs and pass every output of each")
    rows = []
    for name, ref in reference.items():
        a, b = np.asarray(ref), np.asarray(pruned[name])
        if a.shape != b.shape:
            raise InputError(f"output '{name}' has shape {list(a.shape)} in the reference and {list(b.shape)} in "
                             f"the other", remedy="compare outputs of the same model on the same inputs")
        x, y = a.astype(np.float64).reshape(-1), b.astype(np.float64).reshape(-1)
        diff = float(np.linalg.norm(x - y))
        norm_a, norm_b = float(np.linalg.norm(x)), float(np.linalg.norm(y))
        relative = diff / norm_a if norm_a else (0.0 if diff == 0 else float("inf"))
        if norm_a and norm_b:
            cosine = float(x @ y) / (norm_a * norm_b)
        else:
            cosine = 1.0 if norm_a == norm_b else 0.0  # both zero: the same; one zero: nothing in common
        top1 = None
        if looks_like_logits(name, a):
            top1 = float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))
        rows.append({"output": name, "shape": list(a.shape),
                     "max_abs_error": float(np.max(np.abs(x - y))) if x.size else 0.0,
                     "relative_error": relative, "cosine": cosine, "top1_agreement": top1})
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`accuracy_report` as a plain text table (one line per output)."""
    header = ("output", "shape", "max abs err", "rel err", "cosine", "top-1")
    lines = [(str(r["output"]), "x".join(map(str, r["shape"])) or "scalar", f"{r['max_abs_error']:.3g}",
              f"{r['relative_error']:.3g}", f"{r['cosine']:.6f}",
              "-" if r["top1_agreement"] is None else f"{r['top1_agreement'] * 100:.1f}%") for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in [header, *lines]]
    return "\n".join(line.rstrip() for line in text) + "\n"


__all__ = ["LOGITS_MIN_VOCAB", "accuracy_report", "format_table", "looks_like_logits"]
