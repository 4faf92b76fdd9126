"""Weight pruning (opt-in): zero part of every matmul weight by a 2:4, tile or unstructured rule.

Where it sits: ``moecc.compile(..., prune=SPEC)`` (``moecc compile --prune SPEC``) adds the
``prune-weights`` step to the pipeline right after the graph passes and before the target's
stages. After the graph passes, because the raised ``gated_mlp``, ``moe`` and ``attention`` ops
say what each weight is (a router or an expert stack looks like any other constant before
``raise-moe``); before the stages, so every target gets the very same pruned weights (the graph
passes are the same on every target, and calibration runs the reference interpreter). It is a
stage pass over the compilation only because it leaves its report there (``report()["pruning"]``);
the IR stays at the graph level. Without ``prune`` the pipeline is unchanged.

Specs (:meth:`PruneSpec.parse`), each per weight matrix in its logical ``k x n`` orientation
(``k`` the reduction axis; a gemm's ``trans_b`` weight is pruned as its transpose, an ``[E, k, n]``
expert stack one expert at a time):

- ``2:4``: in every column, each group of 4 consecutive rows keeps its 2 highest-scoring values
  (the format of :mod:`moecc.ir.sparse24`, which the ASIC stores compressed and multiplies with
  ``mxu.mm24``); a weight whose ``k`` is not a
  multiple of 4 is left as it is, and the report says so;
- ``tile:FRACTION[:ROWSxCOLS]``: zero the ``floor(FRACTION * tiles)`` whole tiles (default
  128x128, the MXU array; edge tiles count) with the smallest score RMS (the L2 norm divided by
  the square root of the tile's element count, so a partial edge tile competes fairly);
- ``magnitude:FRACTION``: unstructured; zero the ``floor(FRACTION * k)`` lowest-scoring values of
  every column (compared per output column, as Wanda does).

Scores are ``|W|`` (magnitude) or, with calibration input sets, Wanda's ``|W[k, n]| * ||X_k||_2``
(:mod:`moecc.passes.prune_calibration`); a matrix whose activation norms are all zero (an expert
no calibration token reached) is scored by magnitude. Ties keep the lower row (or tile) index.

Which weights (:mod:`moecc.passes.prune_candidates`): ``prune_filter`` is a regular expression
searched (``re.search``) in each weight's name and the ONNX node names of the ops reading it;
without one every weight of role attention, mlp, expert or other is pruned. Router weights,
embedding tables and the LM head (the output projection) are never pruned, even when the filter
matches them, nor are weights also read by a non-matmul op. A weight several ops share is
pruned once. New arrays replace the constants of the compilation's graph (a copy of the
caller's); the caller's arrays are never written to.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from moecc.errors import OptionError
from moecc.ir.graph import Graph
from moecc.ir.sparse24 import GROUP, KEPT
from moecc.passes.compilation import Compilation, StagePass
from moecc.passes.manager import register_pass
from moecc.passes.prune_calibration import activation_norms, load_calibration, seeded_batches
from moecc.passes.prune_candidates import Candidate, find_candidates

#: The spec forms, for error messages and help texts.
SPEC_FORMS = ("2:4 (2 of every 4 rows along k), tile:FRACTION[:ROWSxCOLS] (whole tiles, default 128x128), "
              "magnitude:FRACTION (unstructured, per output column); FRACTION in (0, 1), e.g. tile:0.5")
#: The tile (the MXU array) whose all-zero instances the report counts.
REPORT_TILE = 128


@dataclass(frozen=True, slots=True)
class PruneSpec:
    """A parsed ``prune`` option: ``method`` ``2:4``, ``tile`` or ``magnitude``; the fraction
    zeroed (0.5 for 2:4); the tile size of ``tile``."""

    method: str
    fraction: float = 0.5
    tile_rows: int = 128
    tile_cols: int = 128

    @staticmethod
    def parse(text: str) -> PruneSpec:
        """The spec of ``"2:4"``, ``"tile:FRACTION[:ROWSxCOLS]"`` or ``"magnitude:FRACTION"``;
        anything else is an :class:`~moecc.errors.OptionError` listing the valid forms."""
        def bad(why: str = "") -> OptionError:
            return OptionError(f"prune {text!r} is not a pruning spec{why}", remedy=f"valid forms: {SPEC_FORMS}")

        if not isinstance(text, str):
            raise bad()
        method, _, rest = text.strip().partition(":")
        if method == "2" and rest == "4":
            return PruneSpec("2:4")
        if method not in ("tile", "magnitude") or not rest:
            raise bad()
        fraction_text, _, size = rest.partition(":")
        try:
            fraction = float(fraction_text)
        except ValueError:
            raise bad() from None
        if not 0 < fraction < 1:
            raise bad(f" (the fraction {fraction_text} is not in (0, 1))")
        if method == "magnitude":
            if size:
                raise bad()
            return PruneSpec("magnitude", fraction)
        if not size:
            return PruneSpec("tile", fraction)
        rows, x, cols = size.lower().partition("x")
        if not (x and rows.isdigit() and cols.isdigit() and int(rows) > 0 and int(cols) > 0):
            raise bad(f" (the tile {size!r} is not ROWSxCOLS)")
        return PruneSpec("tile", fraction, int(rows), int(cols))

    @property
    def text(self) -> str:
        """The spec as option text (``PruneSpec.parse(spec.text) == spec``)."""
        if self.method == "2:4":
            return "2:4"
        size = "" if (self.tile_rows, self.tile_cols) == (128, 128) else f":{self.tile_rows}x{self.tile_cols}"
        return f"{self.method}:{self.fraction!r}" + (size if self.method == "tile" else "")

    def keep_mask(self, scores: np.ndarray) -> np.ndarray:
        """Which values of a ``k x n`` matrix with these ``scores`` stay (bool, ``k x n``)."""
        k, n = scores.shape
        if self.method == "2:4":
            groups = scores.reshape(k // GROUP, GROUP, n)
            kept = np.argsort(-groups, axis=1, kind="stable")[:, :KEPT, :]
            keep = np.zeros(groups.shape, dtype=bool)
            np.put_along_axis(keep, kept, True, axis=1)
            return keep.reshape(k, n)
        if self.method == "magnitude":
            keep = np.ones((k, n), dtype=bool)
            dropped = np.argsort(scores, axis=0, kind="stable")[: _floor(self.fraction * k)]
            np.put_along_axis(keep, dropped, False, axis=0)
            return keep
        rms = np.sqrt(_tile_sums(scores.astype(np.float64) ** 2, self.tile_rows, self.tile_cols)
                      / _tile_sums(np.ones((k, n)), self.tile_rows, self.tile_cols))
        tiles = np.ones(rms.size, dtype=bool)
        tiles[np.argsort(rms.reshape(-1), kind="stable")[: _floor(self.fraction * rms.size)]] = False
        grid = tiles.reshape(rms.shape)
        return np.repeat(np.repeat(grid, self.tile_rows, axis=0), self.tile_cols, axis=1)[:k, :n]


def _floor(x: float) -> int:
    """``floor(x)`` forgiving the rounding of a product like ``0.29 * 100``."""
    return math.floor(x + 1e-9)


def _tile_sums(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Sums of ``values`` (``k x n``) over each ``rows x cols`` tile (edge tiles partial)."""
    k, n = values.shape
    grid = (-(-k // rows), -(-n // cols))
    padded = np.zeros((grid[0] * rows, grid[1] * cols), dtype=values.dtype)
    padded[:k, :n] = values
    return padded.reshape(grid[0], rows, grid[1], cols).sum(axis=(1, 3))


def _zero_tiles(matrices: np.ndarray) -> tuple[int, int]:
    """(all-zero :data:`REPORT_TILE`-square tiles, tiles) over a stack of ``k x n`` matrices."""
    counts = [_tile_sums((m != 0).astype(np.int64), REPORT_TILE, REPORT_TILE) for m in matrices]
    return sum(int((c == 0).sum()) for c in counts), sum(c.size for c in counts)


# -- the result --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PrunedWeight:
    """One pruned weight and what pruning did to it (``score``: ``wanda`` or ``magnitude``;
    ``note``: experts scored by magnitude for want of calibration tokens)."""

    name: str
    nodes: tuple[str, ...]
    role: str
    shape: tuple[int, ...]
    orientation: str
    method: str
    score: str
    sparsity_before: float
    sparsity: float
    zero_tiles_before: int
    zero_tiles_after: int
    tiles: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        row = {"name": self.name, "onnx_nodes": list(self.nodes), "role": self.role, "shape": list(self.shape),
               "orientation": self.orientation, "method": self.method, "score": self.score,
               "sparsity_before": round(self.sparsity_before, 6), "sparsity": round(self.sparsity, 6),
               "zero_tiles_before": self.zero_tiles_before, "zero_tiles_after": self.zero_tiles_after,
               "tiles": self.tiles}
        return row | ({"note": self.note} if self.note else {})


@dataclass(frozen=True, slots=True)
class SkippedWeight:
    """A candidate weight left as it is, and why."""

    name: str
    nodes: tuple[str, ...]
    role: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "onnx_nodes": list(self.nodes), "role": self.role, "reason": self.reason}


@dataclass(slots=True)
class PruneResult:
    """What :func:`prune_graph` did: the spec, the score kind, the calibration and filter used,
    the pruned weights and the skipped candidates."""

    spec: PruneSpec
    score: str
    calibration: str | None = None
    filter: str | None = None
    pruned: list[PrunedWeight] = field(default_factory=list)
    skipped: list[SkippedWeight] = field(default_factory=list)

    def to_report(self) -> dict[str, Any]:
        """The ``"pruning"`` section of a compiled model's report (JSON values)."""
        elements = sum(math.prod(w.shape) for w in self.pruned)
        zeros = sum(w.sparsity * math.prod(w.shape) for w in self.pruned)
        return {"method": self.spec.text, "score": self.score, "calibration": self.calibration,
                "filter": self.filter, "pruned_weights": len(self.pruned),
                "sparsity": round(zeros / elements, 6) if elements else 0.0,
                "weights": [w.to_dict() for w in self.pruned], "skipped": [w.to_dict() for w in self.skipped]}


def format_pruning(section: Mapping[str, Any]) -> str:
    """One summary line of a report's ``"pruning"`` section (``moecc compile --report -``)."""
    roles: dict[str, int] = {}
    for row in section["skipped"]:
        roles[row["role"]] = roles.get(row["role"], 0) + 1
    left = ", ".join(f"{role} {count}" for role, count in sorted(roles.items()))
    scores = f"{section['score']} scores" + (f" on {section['calibration']}" if section.get("calibration") else "")
    return (f"pruning       {section['method']}, {scores}: {section['pruned_weights']} weights at "
            f"{section['sparsity'] * 100:.1f}% zeros; {len(section['skipped'])} left alone"
            + (f" ({left})" if left else "") + "\n")


# -- pruning a graph ---------------------------------------------------------------------

def prune_graph(graph: Graph, spec: PruneSpec, norms: Mapping[str, np.ndarray] | None = None,
                prune_filter: str | None = None, calibration: str | None = None) -> PruneResult:
    """Prune ``graph``'s weights in place (new constant arrays; the old ones are not written
    to) by ``spec``, scored by Wanda with ``norms`` (from :func:`activation_norms`, by weight
    name) or by magnitude without; ``prune_filter`` as in the module docstring. ``calibration``
    only describes the input sets for the result."""
    pattern = _compile_filter(prune_filter)
    result = PruneResult(spec, "magnitude" if norms is None else "wanda", calibration, prune_filter)
    for candidate in find_candidates(graph):
        reason = candidate.reason or _filter_reason(candidate, pattern, prune_filter) or _shape_reason(candidate, spec)
        if reason is not None:
            result.skipped.append(SkippedWeight(candidate.name, candidate.nodes, candidate.role, reason))
            continue
        result.pruned.append(_prune_weight(candidate, spec, None if norms is None else norms.get(candidate.name)))
    return result


def _compile_filter(prune_filter: str | None) -> re.Pattern[str] | None:
    if prune_filter is None:
        return None
    try:
        return re.compile(prune_filter)
    except (re.error, TypeError) as err:
        raise OptionError(f"prune_filter {prune_filter!r} is not a regular expression ({err})",
                          remedy="give a Python regular expression searched in weight and ONNX node names, "
                                 "e.g. 'mlp|experts'") from None


def _filter_reason(candidate: Candidate, pattern: re.Pattern[str] | None, text: str | None) -> str | None:
    if pattern is None or any(pattern.search(n) for n in (candidate.name, *candidate.nodes)):
        return None
    return f"not matched by prune_filter {text!r}"


def _shape_reason(candidate: Candidate, spec: PruneSpec) -> str | None:
    shape = candidate.const.result.type.shape
    k = shape[-1] if candidate.transposed else shape[-2]
    if spec.method == "2:4" and k % GROUP:
        return f"k = {k} is not a multiple of {GROUP} (2:4 prunes groups of {GROUP} rows along k)"
    return None


def _prune_weight(candidate: Candidate, spec: PruneSpec, norms: np.ndarray | None) -> PrunedWeight:
    """Replace ``candidate``'s constant by its pruned copy; the report row."""
    weight = np.asarray(candidate.const.attrs["value"])
    stack = weight if candidate.stacked else weight[None]
    matrices = stack.transpose(0, 2, 1) if candidate.transposed else stack  # [E, k, n] views
    channel_norms = None if norms is None else np.broadcast_to(norms, matrices.shape[:2])
    zero = np.zeros((), dtype=weight.dtype)
    pruned = np.empty_like(matrices)
    by_magnitude: list[int] = []
    for e, matrix in enumerate(matrices):
        scores = np.abs(matrix.astype(np.float32))
        if channel_norms is not None and channel_norms[e].any():
            scores = scores * channel_norms[e][:, None]
        elif channel_norms is not None:
            by_magnitude.append(e)
        pruned[e] = np.where(spec.keep_mask(scores), matrix, zero)
    new_stack = pruned.transpose(0, 2, 1) if candidate.transposed else pruned
    new = np.ascontiguousarray(new_stack if candidate.stacked else new_stack[0])
    candidate.const.attrs["value"] = new
    before, tiles = _zero_tiles(matrices)
    after, _ = _zero_tiles(pruned)
    score = "magnitude" if norms is None or len(by_magnitude) == len(matrices) else "wanda"
    note = ""
    if by_magnitude and score == "wanda":
        note = f"experts {', '.join(map(str, by_magnitude))} scored by magnitude (no calibration token reached them)"
    return PrunedWeight(candidate.name, candidate.nodes, candidate.role, tuple(weight.shape), candidate.orientation,
                        spec.text, score, float((weight == 0).mean()), float((new == 0).mean()), before, after, tiles,
                        note)


# -- the pipeline step -------------------------------------------------------------------

@register_pass
@dataclass(frozen=True, slots=True)
class PruneWeights(StagePass):
    """Prunes the graph's weights by ``spec`` (see the module docstring) and leaves the
    :class:`PruneResult` in the compilation's ``products["pruning"]``. ``calibration``: ``""``
    (magnitude scores), a count of seeded input sets, or an ``.npz`` file of input sets (Wanda
    scores); ``filter``: a regular expression choosing weights (``""``: the default rule)."""

    name: ClassVar[str] = "prune-weights"
    consumes: ClassVar[tuple[str, ...]] = ("graph",)
    produces: ClassVar[str] = "graph"
    spec: str = "2:4"
    calibration: str = ""
    filter: str = ""

    def __post_init__(self) -> None:
        PruneSpec.parse(self.spec)
        _compile_filter(self.filter or None)
        count = self._count()
        if count is not None and count < 1:
            raise OptionError(f"calibration count {count} must be at least 1",
                              remedy="give a count of seeded input sets (e.g. 8) or an .npz file")
        if count is None and self.calibration and not os.path.isfile(self.calibration):
            raise OptionError(f"calibration file '{self.calibration}' does not exist or is not a file",
                              remedy="give an .npz of input sets keyed by input name, or a count of seeded input "
                                     "sets (e.g. 8; a file named like a number: ./8)")

    def _count(self) -> int | None:
        """The number of seeded input sets when ``calibration`` is a whole number."""
        return int(self.calibration) if re.fullmatch(r"[+-]?\d+", self.calibration.strip()) else None

    def input_sets(self, graph: Graph) -> tuple[list[dict[str, np.ndarray]], str | None]:
        """The calibration input sets of ``graph`` and what they are (none without calibration)."""
        count = self._count()
        if count is not None:
            return seeded_batches(graph, count), f"{count} seeded input sets (seed 0)"
        if self.calibration:
            batches = load_calibration(self.calibration, graph)
            return batches, f"{len(batches)} input sets from {self.calibration}"
        return [], None

    def run(self, unit: Compilation) -> None:
        graph = unit.graph
        batches, described = self.input_sets(graph)
        norms = activation_norms(graph, batches) if batches else None
        unit.products["pruning"] = prune_graph(graph, PruneSpec.parse(self.spec), norms, self.filter or None, described)


def pruning_pass(prune: str | None, calibration: int | str | os.PathLike[str] | None = None,
                 prune_filter: str | None = None) -> PruneWeights | None:
    """The ``prune-weights`` step for ``compile()``'s ``prune``, ``calibration`` (None, a count of
    seeded input sets, or an ``.npz`` path) and ``prune_filter`` options; None without ``prune``.
    Bad values are :class:`~moecc.errors.OptionError`\\ s naming the option."""
    if prune is None:
        given = [name for name, v in (("calibration", calibration), ("prune_filter", prune_filter)) if v is not None]
        if given:
            raise OptionError(f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with prune",
                              remedy=f"give prune too ({SPEC_FORMS})")
        return None
    if not isinstance(prune, str):
        raise OptionError(f"prune must be a string, got {prune!r}", remedy=f"valid forms: {SPEC_FORMS}")
    if isinstance(calibration, bool) or not isinstance(calibration, int | str | os.PathLike | None):
        raise OptionError(f"calibration must be a count or an .npz path, got {calibration!r}",
                          remedy="give e.g. calibration=8 (seeded input sets) or calibration='inputs.npz'")
    if prune_filter is not None and not isinstance(prune_filter, str):
        raise OptionError(f"prune_filter must be a regular expression (a string), got {prune_filter!r}")
    text = "" if calibration is None else str(calibration) if isinstance(calibration, int) else os.fspath(calibration)
    return PruneWeights(spec=prune, calibration=text, filter=prune_filter or "")


def pruning_options(step: PruneWeights) -> dict[str, str]:
    """The options a compiled model records for its pruning step (non-empty ones)."""
    given = {"prune": step.spec, "calibration": step.calibration, "prune_filter": step.filter}
    return {key: value for key, value in given.items() if value}


__all__ = ["SPEC_FORMS", "PruneResult", "PruneSpec", "PruneWeights", "PrunedWeight", "SkippedWeight",
           "format_pruning", "prune_graph", "pruning_options", "pruning_pass"]
