"""What pruning one matmul buys on a target: one-matmul programs on the simulator.

Beside the flow, for ``moecc prune-report`` (:mod:`moecc.prune_report`): for a weight of a model
it compiles ``x [m x k] @ W [k x n]`` (``m`` the rows the model multiplies it with) for the
ASIC at the model's part and precision, with ``W`` dense, 2:4, and with half its MXU tiles zero,
and simulates each: the cycles of the program, the MXU's busy cycles and the HBM bytes read.
These are the simulator's timing model on the matmul alone: in the model its kernel may overlap
the matmul with other work, or fuse it with its neighbours. 2:4 halves the MXU folds and 7/16
(f32) or 3/8 (bf16) of the weight's bytes, but not the activation's traffic or the fixed costs
of a kernel (DMA setup, pipeline fill), so with few rows it gains less; a pruned tile saves its
fold and its bytes, plus a mask load per block.

:func:`advise` turns the figures into a verdict per matmul: the form whose program takes at
most :data:`PAYS_OFF` of the dense one's cycles, the fastest (2:4 when within
:data:`PREFER_2_4_WITHIN` of it), else ``neither``. The
``cpu`` target is not priced: it runs 2:4 densely, and skips only all-zero runs of 32 rows
of a packed weight's slivers (whole zero tiles).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A form pays off when its one-matmul program takes at most this share of the dense cycles.
PAYS_OFF = 0.95
#: 2:4 is chosen over a faster tile pruning within this share of the dense cycles: at the
#: same sparsity it keeps more of the model (it prunes within every group of 4, not whole tiles).
PREFER_2_4_WITHIN = 0.05
#: Rows at which a matmul is simulated at most (the timing is linear in rows beyond a few
#: hundred: the estimate scales the rest).
MAX_ROWS = 512
#: The tile pruning the advisor prices: this share of the MXU tiles zero.
TILE_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class MatmulCost:
    """A one-matmul program's simulated figures."""

    cycles: int
    mxu_cycles: int
    hbm_bytes_read: int

    def to_dict(self) -> dict[str, int]:
        return {"cycles": self.cycles, "mxu_cycles": self.mxu_cycles, "hbm_bytes_read": self.hbm_bytes_read}


def simulate_matmul(weight: np.ndarray, rows: int, asic_target: str | None = None,
                    precision: str | None = None) -> MatmulCost:
    """Compile and simulate ``x [rows x k] @ weight [k x n]`` on the ASIC (seeded ``x``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import moecc

    w = np.ascontiguousarray(weight, dtype=np.float32)
    k, n = w.shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul", [x], [y],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    compiled = moecc.compile(model.SerializeToString(), "asic", asic_target=asic_target, precision=precision)
    compiled.run({"x": np.random.default_rng(0).standard_normal((rows, k)).astype(np.float32)})
    report = compiled.report()
    return MatmulCost(int(report["cycles"]), int(report["units"]["mxu"]["busy_cycles"]),
                      int(report["hbm_bytes"]["read"]))


def two_four(k: int, n: int, seed: int = 0) -> np.ndarray:
    """A random ``k x n`` weight pruned 2:4 by magnitude (``k`` a multiple of 4)."""
    from moecc.passes.prune import PruneSpec

    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    return np.where(PruneSpec("2:4").keep_mask(np.abs(w)), w, np.float32(0))


def tile_pruned(k: int, n: int, fraction: float, tile: int, seed: int = 0) -> np.ndarray:
    """A random ``k x n`` weight with ``floor(fraction * tiles)`` of its ``tile``-square tiles
    zero (those of least magnitude: a random choice)."""
    from moecc.passes.prune import PruneSpec

    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    return np.where(PruneSpec("tile", fraction, tile, tile).keep_mask(np.abs(w)), w, np.float32(0))


@functools.lru_cache(maxsize=256)
def _form_cost(form: str, k: int, n: int, rows: int, asic_target: str | None, precision: str | None,
               tile: int) -> MatmulCost:
    if form == "dense":
        weight = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32) + np.float32(4)
    elif form == "2:4":
        weight = two_four(k, n)
    else:
        weight = tile_pruned(k, n, TILE_FRACTION, tile)
    return simulate_matmul(weight, rows, asic_target, precision)


def form_costs(k: int, n: int, rows: int, asic_target: str | None, precision: str | None,
               tile: int = 128) -> dict[str, MatmulCost]:
    """The simulated costs of a ``k x n`` weight at ``rows`` rows: dense, 2:4 (when ``k`` is a
    multiple of 4) and ``tile:0.5``, each scaled from :data:`MAX_ROWS` rows beyond it."""
    simulated = min(rows, MAX_ROWS)
    scale = rows / simulated
    forms = ["dense", f"tile:{TILE_FRACTION:g}"] + (["2:4"] if k % 4 == 0 else [])
    out = {}
    for form in forms:
        cost = _form_cost(form, k, n, simulated, asic_target, precision, tile)
        out[form] = MatmulCost(round(cost.cycles * scale), round(cost.mxu_cycles * scale), cost.hbm_bytes_read
                               + round((scale - 1) * simulated * k * 4))
    return out


def advise(k: int, n: int, rows: int, target: str, asic_target: str | None = None, precision: str | None = None,
           tile: int = 128) -> dict[str, Any]:
    """The verdict for one matmul: which pruning form pays off on ``target`` (see the module
    docstring), with the figures behind it."""
    if target != "asic":
        return {"verdict": "neither", "why": f"the {target} target runs 2:4 densely and is not priced here "
                                               f"(it skips only all-zero runs of rows)", "costs": {}}
    costs = form_costs(k, n, rows, asic_target, precision, tile)
    dense = costs["dense"].cycles
    ratios = {form: cost.cycles / dense for form, cost in costs.items() if form != "dense"}
    paying = sorted((ratio, form) for form, ratio in ratios.items() if ratio <= PAYS_OFF)
    if paying:
        ratio, form = paying[0]
        if "2:4" in ratios and ratios["2:4"] <= min(PAYS_OFF, ratio + PREFER_2_4_WITHIN):
            ratio, form = ratios["2:4"], "2:4"
        why = f"{form} takes {ratio:.2f}x the dense cycles"
        verdict = form
    else:
        verdict = "neither"
        best = min(ratios.items(), key=lambda item: item[1])
        why = f"at {rows} rows the best, {best[0]}, still takes {best[1]:.2f}x the dense cycles (fixed costs dominate)"
    return {"verdict": verdict, "why": why, "ratios": {f: round(r, 3) for f, r in ratios.items()},
            "costs": {form: cost.to_dict() for form, cost in costs.items()}}


def matmul_rows(uses: Any, shapes: Mapping[str, tuple[int, ...]] | None = None) -> int:
    """Rows a candidate weight is multiplied with (its first use): the activation's rows, or an
    MoE expert's expected tokens (``ceil(tokens * top_k / experts)``, routing uniform)."""
    use = uses[0]
    op = use.op
    x = op.operands[0]
    shape = tuple(x.type.shape)
    if op.kind == "gemm":
        return int(shape[1] if op.attrs.get("trans_a") else shape[0])
    tokens = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    if op.kind == "moe":
        experts = int(tuple(op.operands[1].type.shape)[-1])
        top_k = int(op.attrs.get("top_k", op.attrs.get("k", 1)))
        return max(1, math.ceil(tokens * top_k / experts))
    return tokens


__all__ = ["PAYS_OFF", "PREFER_2_4_WITHIN", "MatmulCost", "advise", "form_costs", "matmul_rows", "simulate_matmul", "tile_pruned",
           "two_four"]
