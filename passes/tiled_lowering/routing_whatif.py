"""Routing what-ifs: a MoE layer's expert choices replaced by a given distribution.

Part of the tiled lowering (:mod:`moecc.passes.tiled_lowering`); used by the sparse dispatch
(:mod:`.moe_dispatch`) when the lowering is given a routing spec (``lower-to-tiled{routing=...}``,
``moecc.compile(..., routing=...)``, ``moecc compile --routing``). The router still runs; its
top-k choices are then overwritten by choices fixed at compile time, so that an architect
sees the cycles of a realistic (or adversarial) load on the experts without data that
produces it. The model's outputs are then *not* its real outputs: the report names the
routing its figures come from.

Specs (:func:`parse_routing`):

- ``uniform``: every token picks ``k`` distinct experts uniformly at random;
- ``zipf:ALPHA``: expert ``e`` is chosen with weight ``(e + 1) ** -ALPHA`` (``k`` distinct per
  token, drawn without replacement): expert 0 is the most popular, the imbalance grows with
  ``ALPHA``;
- a JSON file: a routing recorded by ``moecc run --record-routing`` (each layer's choices,
  matched to the layers in order, token counts equal), or ``{"tokens_per_expert": [[...], ...]}``
  (one histogram per layer, summing to ``tokens * k``, each count at most ``tokens``), realised by
  giving each token the ``k`` experts with the most slots left.

Choices are drawn with a fixed seed (:data:`SEED`) per layer: the same spec gives the same
routing, run after run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moecc.errors import PassError

#: Seed of the random what-ifs (uniform, zipf); layer ``i`` draws with ``SEED + i``.
SEED = 1234


@dataclass(frozen=True, slots=True)
class RoutingSpec:
    """A parsed routing what-if: ``kind`` is ``uniform``, ``zipf`` or ``file``."""

    kind: str
    alpha: float = 0.0
    layers: tuple = ()  # file: per layer, ("choices", [[..]..]) or ("histogram", [..])
    text: str = ""

    def choices(self, layer: int, tokens: int, experts: int, top_k: int) -> np.ndarray:
        """The ``[tokens, top_k]`` int32 expert choices of MoE layer number ``layer``."""
        where = f"routing {self.text!r}, MoE layer {layer}"
        if self.kind in ("uniform", "zipf"):
            rng = np.random.default_rng(SEED + layer)
            weights = None
            if self.kind == "zipf":
                weights = (np.arange(experts, dtype=np.float64) + 1.0) ** -self.alpha
                weights /= weights.sum()
            return np.stack([rng.choice(experts, size=top_k, replace=False, p=weights)
                             for _ in range(tokens)]).astype(np.int32)
        if layer >= len(self.layers):
            raise _error(f"{where}: the file describes {len(self.layers)} layer(s)",
                         "give one entry per MoE layer of the model")
        form, data = self.layers[layer]
        if form == "choices":
            chosen = _integers(data, where, "record the routing with moecc run --record-routing")
            if chosen.shape != (tokens, top_k):
                raise _error(f"{where}: recorded choices have shape {list(chosen.shape)}, the layer routes "
                             f"{tokens} tokens to {top_k} experts", "record the routing on inputs of the same shape")
            if chosen.size and (chosen.min() < 0 or chosen.max() >= experts):
                raise _error(f"{where}: an expert id is outside [0, {experts})", "record the routing of this model")
            return chosen.astype(np.int32)
        return _realise(_integers(data, where, f"give {experts} integer counts"), tokens, experts, top_k, where)


def _integers(data: object, where: str, remedy: str) -> np.ndarray:
    """``data`` (a file's list, or list of lists) as an int64 array; a missing, ragged or
    non-numeric entry is the file's error, not a crash."""
    try:
        return np.asarray(data, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _error(f"{where}: the file's entry is not a list of integers", remedy) from None


def _realise(counts: np.ndarray, tokens: int, experts: int, top_k: int, where: str) -> np.ndarray:
    """Choices whose histogram is ``counts``: each token takes the ``top_k`` experts with the
    most slots left (ties to the lower id), which realises any feasible histogram."""
    if counts.shape != (experts,) or counts.min(initial=0) < 0 or int(counts.sum()) != tokens * top_k \
            or counts.max(initial=0) > tokens:
        raise _error(f"{where}: tokens per expert {counts.tolist()} is not a routing of {tokens} tokens to "
                     f"{top_k} of {experts} experts", f"give {experts} counts summing to {tokens * top_k}, "
                     f"each at most {tokens}")
    left = counts.copy()
    out = np.empty((tokens, top_k), dtype=np.int32)
    for t in range(tokens):
        pick = np.lexsort((np.arange(experts), -left))[:top_k]
        out[t] = np.sort(pick)
        left[pick] -= 1
    return out


def _error(message: str, remedy: str) -> PassError:
    return PassError(message, pass_name="lower-to-tiled", remedy=remedy)


def parse_routing(text: str) -> RoutingSpec | None:
    """The spec of ``text`` (see the module docstring), or None for ``""`` (the model's routing)."""
    if not text:
        return None
    if text == "uniform":
        return RoutingSpec("uniform", text=text)
    if text.startswith("zipf:"):
        try:
            alpha = float(text.removeprefix("zipf:"))
        except ValueError:
            alpha = float("nan")
        if not np.isfinite(alpha) or alpha < 0:
            raise _error(f"routing {text!r}: the zipf exponent must be a number >= 0", "write e.g. zipf:1.2")
        return RoutingSpec("zipf", alpha=alpha, text=text)
    path = Path(text)
    if not path.is_file():
        raise _error(f"routing {text!r} is not uniform, zipf:ALPHA or a JSON file",
                     "give uniform, zipf:ALPHA (e.g. zipf:1.2) or a file from moecc run --record-routing")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _error(f"routing file {text}: {err}", "give a JSON file written by moecc run --record-routing") from None
    if isinstance(data, dict) and isinstance(data.get("routing"), list):
        layers = tuple(("choices", layer.get("experts")) for layer in data["routing"] if isinstance(layer, dict))
    elif isinstance(data, dict) and isinstance(data.get("tokens_per_expert"), list):
        layers = tuple(("histogram", counts) for counts in data["tokens_per_expert"])
    else:
        raise _error(f"routing file {text} holds neither 'routing' (a recorded routing) nor 'tokens_per_expert'",
                     "give a file written by moecc run --record-routing, or {\"tokens_per_expert\": [[...], ...]}")
    return RoutingSpec("file", layers=layers, text=text)


__all__ = ["SEED", "RoutingSpec", "parse_routing"]
