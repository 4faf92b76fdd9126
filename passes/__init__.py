"""Graph-IR passes and the pass manager.

Passes sit between the ONNX frontend and the backends: the frontend builds a graph IR, a
pipeline of passes cleans it up (``canonicalize``, ``fold-constants``, ``cse``, ``dce``), an
opt-in ``prune-weights`` step may prune its matmul weights (``compile(prune=...)``), and
later stages lower it to the tiled IR (``lower-to-tiled``) and plan the ASIC's memory
(``plan-memory``) around the back ends' own stages.
Each pass is a frozen dataclass registered by name, so a pipeline is text
(``"canonicalize,fold-constants{max_bytes=4096},cse,dce"``) that :func:`parse_pipeline`
turns into pass objects and :class:`PassManager` runs, verifying the graph after each pass.
"""

from moecc.passes.manager import (
    DEFAULT_GRAPH_PIPELINE,
    PASS_REGISTRY,
    FixedPoint,
    Pass,
    PassManager,
    get_pass,
    parse_pipeline,
    pipeline_text,
    register_pass,
    registered_passes,
    run_pipeline,
)

# Importing the pass modules registers them in PASS_REGISTRY.
from moecc.passes.canonicalize import Canonicalize
from moecc.passes.cse import CommonSubexpressionElimination, eliminate_common_subexpressions
from moecc.passes.dce import DeadCodeElimination, remove_dead_ops
from moecc.passes.decompose_einsum import DecomposeEinsum, decompose_einsums
from moecc.passes.fold_constants import FoldConstants, fold_constant_ops
from moecc.passes.raise_moe import RaiseMoe, raise_moe_layers
from moecc.passes.raise_composites import RaiseComposites, raise_composites
from moecc.passes.memory_plan import PlanMemoryStage
from moecc.passes.prune import PruneWeights
from moecc.passes.tiled_lowering import LowerToTiledStage  # noqa: F401  (registers lower-to-tiled)

__all__ = [
    "DEFAULT_GRAPH_PIPELINE",
    "PASS_REGISTRY",
    "Canonicalize",
    "CommonSubexpressionElimination",
    "DeadCodeElimination",
    "DecomposeEinsum",
    "FixedPoint",
    "FoldConstants",
    "PlanMemoryStage",
    "PruneWeights",
    "RaiseComposites",
    "RaiseMoe",
    "Pass",
    "PassManager",
    "decompose_einsums",
    "eliminate_common_subexpressions",
    "fold_constant_ops",
    "get_pass",
    "parse_pipeline",
    "pipeline_text",
    "raise_composites",
    "raise_moe_layers",
    "register_pass",
    "registered_passes",
    "remove_dead_ops",
    "run_pipeline",
]
