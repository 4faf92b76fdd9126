"""Lowering from the graph IR into the target-neutral tiled loop IR (:mod:`moecc.ir.tiled`).

One idea per module:

- :mod:`.context`: tiling parameters, the rule table (op kind -> ``supports`` / ``lower``),
  the lowering context and kernel builder;
- :mod:`.tiles`: loops over tiles with peeled edges, chunked contractions;
- :mod:`.elementwise`, :mod:`.reductions`, :mod:`.norms`, :mod:`.contractions`,
  :mod:`.data`, :mod:`.indexing`, :mod:`.composite`: the rules, by op family;
- :mod:`.lower`: the driver (rules or host calls, module outputs);
- :mod:`.stage`: the ``lower-to-tiled`` stage pass and the ``tiled`` IR level.

See ``docs/tiled_ir.md`` ("Lowering from the graph IR").
"""

from moecc.passes.tiled_lowering.context import RULES, Rule, TilingParams
from moecc.passes.tiled_lowering.lower import TiledLowering, decide, lower_graph
from moecc.passes.tiled_lowering.stage import LowerToTiledStage

__all__ = ["RULES", "LowerToTiledStage", "Rule", "TiledLowering", "TilingParams", "decide", "lower_graph"]
