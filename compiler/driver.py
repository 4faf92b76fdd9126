"""The compilation driver: one straight function from a model to a :class:`CompiledModel`.

Stages, in order: ONNX import (the frontend; the only stage outside the pass manager), then one
pipeline run by the pass manager: the graph passes (``pipeline``, default
:data:`~moecc.passes.manager.DEFAULT_GRAPH_PIPELINE`), weight pruning when asked for (``prune``:
the ``prune-weights`` step, :mod:`moecc.passes.prune`), then the target's stages
(:meth:`CompileTarget.stages <moecc.targets.base.CompileTarget.stages>`: lowering to the tiled
IR, then ASIC staging, memory planning and instruction selection, or LLVM emission). Every pass and stage is verified,
timed and printable, and ``compile_to`` stops after any of them. The target then builds its
executable from the finished compilation. Reading :func:`compile` top to bottom tells what the
compiler does; :func:`target_pipeline` is the pipeline it runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from moecc.compiled_model import CompiledModel
from moecc.frontend.onnx_importer import InputShapes, ModelSource, import_onnx, load_model, resolve_input_types
from moecc.ir.graph import Graph
from moecc.targets import get_target, target_options

if TYPE_CHECKING:
    from moecc.passes.prune import PruneWeights


def compile(  # noqa: A001 - the public name of the API
    model: ModelSource,
    target: str = "ref",
    *,
    input_shapes: InputShapes | None = None,
    constant_inputs: Mapping[str, Any] | None = None,
    pipeline: str | None = None,
    disable_passes: Iterable[str] = (),
    print_ir_after_all: bool = False,
    print_ir_after: Iterable[str] = (),
    time_passes: bool = False,
    ir_stream: TextIO | None = None,
    compile_to: str | None = None,
    dump_sink: Callable[[str, Any, str], None] | None = None,
    progress: Any = None,
    asic_target: str | None = None,
    precision: str | None = None,
    trace: bool | None = None,
    threads: int | None = None,
    moe: str | None = None,
    routing: str | None = None,
    capacity_factor: float | None = None,
    activations: str | None = None,
    target_overrides: Mapping[str, Any] | None = None,
    prune: str | None = None,
    calibration: int | str | os.PathLike[str] | None = None,
    prune_filter: str | None = None,
) -> CompiledModel:
    """Compile an ONNX model (path, bytes or ``onnx.ModelProto``) for ``target``.

    ``input_shapes`` fixes dynamic dims (``{"input_ids": (1, 128)}``); ``constant_inputs``
    binds inputs to fixed values (they become constants, e.g. run-time axes or K); ``pipeline``
    replaces the default graph pass pipeline (``""`` runs none); the target's stages always
    follow it; ``disable_passes`` drops graph passes by name from it (a stage cannot be). ``print_ir_after``/``print_ir_after_all`` print the IR after those passes or stages
    to ``ir_stream`` (``dump_sink(name, compilation, text)`` receives each printed dump too);
    ``compile_to`` stops after the named pass or stage (the model then only prints that IR:
    ``ir(compile_to)``); ``progress`` (a :class:`moecc.progress.Progress`) is told each step.

    Target options (each belongs to one target; giving it to another is an error):
    on ``asic``, ``asic_target`` names the part (a target description in ``moecc.isa_spec``,
    e.g. ``"moe-asic-edge"``, or a path to one), ``precision`` is ``"f32"`` or ``"bf16"`` (the
    MXU in bf16 with f32 accumulation), ``trace`` keeps Chrome traces of runs; on ``cpu``,
    ``threads`` sizes the native thread pool (kept in saved artifacts; results do not depend on it, except
    that a sparse MoE layer's experts run split across the threads and a token with more than two
    experts may sum their outputs in another grouping: f32 rounding, the same bits run to run);
    ``moe`` (``cpu``, ``tiled``, ``asic``): ``"sparse"`` (the default on ``cpu`` and ``tiled``) runs
    each expert of a ``moe`` op on the tokens routed to it, ``"dense"`` every expert on every
    token, ``"auto"`` (the default on ``asic``) picks per layer from the target's cost of a
    matmul row (sparse in f32, dense in bf16 on moe-asic-v1 at small token counts);
    ``routing`` (``asic``): ``"uniform"``, ``"zipf:ALPHA"`` or a JSON file replaces the routers'
    choices by that distribution, a what-if for the simulated cycles (the outputs are then not
    the model's; the report's ``routing_source`` says so); ``capacity_factor`` (``cpu``, ``tiled``,
    ``asic``): each dispatched expert takes at most ``ceil(factor * tokens * k / experts)`` tokens,
    the first in token order; the others' choices are dropped and counted in the report (0, the
    default: dropless); ``activations`` (``asic``): ``"on-chip"`` (the default) keeps activations
    in SRAM between the kernels that write and read them when they fit, ``"hbm"`` sends every one
    through HBM (what keeping them on chip buys); ``target_overrides`` (``asic``): entries of the
    part's description set to other values, by dotted TOML key (``{"sram.capacity_bytes": "8MiB",
    "mxu.rows": 256}``, :mod:`moecc.isa_spec.target_overrides`): the part the compiler tiles for
    and the simulator prices (the report's ``asic_target`` names them).

    Weight pruning (every target, the same weights on each; off without ``prune``): ``prune`` is
    ``"2:4"``, ``"tile:FRACTION[:ROWSxCOLS]"`` or ``"magnitude:FRACTION"``; ``calibration`` a
    count of seeded input sets or an ``.npz`` of input sets (Wanda scores; without it, magnitude);
    ``prune_filter`` a regular expression choosing weights by name or ONNX node (routers,
    embeddings and the LM head are never pruned). The report gets a ``"pruning"`` section. See
    :mod:`moecc.passes.prune`.
    """
    from moecc.passes.prune import pruning_pass

    pruning = pruning_pass(prune, calibration, prune_filter)  # a bad value is refused before any work
    given = {"asic_target": asic_target, "precision": precision, "trace": trace, "threads": threads, "moe": moe,
             "routing": routing, "capacity_factor": capacity_factor, "activations": activations,
             "target_overrides": target_overrides}
    options = target_options(target, {k: v for k, v in given.items() if v is not None})
    start = time.perf_counter()
    if progress is not None:
        progress.step("import-onnx")
    onnx_model, _ = load_model(model)  # once: external data is read into the proto here
    graph = import_onnx(onnx_model, input_shapes, constant_inputs)
    import_time = time.perf_counter() - start
    frozen = set(constant_inputs or {})
    input_names = [n for n in _onnx_input_names(onnx_model, input_shapes, constant_inputs) if n not in frozen]
    recorded = {"input_shapes": {k: list(v) for k, v in (input_shapes or {}).items()}}
    return _compile_graph(graph, target, options, input_names, recorded, {"import-onnx": import_time}, pipeline,
                          print_ir_after_all, print_ir_after, time_passes, ir_stream, compile_to, dump_sink, progress,
                          disable_passes, pruning)


def compile_graph(
    graph: Graph,
    target: str = "ref",
    *,
    pipeline: str | None = None,
    disable_passes: Iterable[str] = (),
    compile_to: str | None = None,
    prune: str | None = None,
    calibration: int | str | os.PathLike[str] | None = None,
    prune_filter: str | None = None,
    **options: Any,
) -> CompiledModel:
    """Compile a graph-IR ``graph`` (built in Python or parsed from text) as :func:`compile`
    compiles an imported model: the graph pipeline, pruning when ``prune`` is given (as for
    :func:`compile`), then ``target``'s stages; ``options`` are the target's compile options. The
    passes work on a copy (``graph`` and its constant arrays are left as they are); its inputs
    are the model's inputs, in order."""
    from moecc.errors import InputError
    from moecc.ir.graph import ElidedTensor
    from moecc.passes.prune import pruning_pass

    pruning = pruning_pass(prune, calibration, prune_filter)
    checked = target_options(target, {k: v for k, v in options.items() if v is not None})
    elided = [op.result.name for op in graph.const_ops() if isinstance(op.attrs.get("value"), ElidedTensor)]
    if elided:
        raise InputError(f"the graph's constant(s) {', '.join('%' + n for n in elided[:5])} hold no data (elided text)",
                         remedy="bind them with graph.bind_weights(...) or print the graph with elide_constants=False")
    return _compile_graph(graph.clone(), target, checked, [v.name for v in graph.inputs], {}, {}, pipeline,
                          False, (), False, None, compile_to, None, None, disable_passes, pruning)


def _compile_graph(graph: Graph, target: str, options: Mapping[str, Any], input_names: list[str],
                   recorded: dict[str, Any], times: dict[str, float], pipeline: str | None, print_ir_after_all: bool,
                   print_ir_after: Iterable[str], time_passes: bool, ir_stream: TextIO | None,
                   compile_to: str | None, dump_sink: Callable[[str, Any, str], None] | None,
                   progress: Any = None, disable_passes: Iterable[str] = (),
                   pruning: PruneWeights | None = None) -> CompiledModel:
    """The pass pipeline over ``graph`` and the target's executable (the shared part of
    :func:`compile` and :func:`compile_graph`)."""
    from moecc.passes.compilation import Compilation, StagePass
    from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE, PassManager, pipeline_text
    from moecc.passes.prune import pruning_options

    backend = get_target(target)
    graph_pipeline = DEFAULT_GRAPH_PIPELINE if pipeline is None else pipeline
    passes = target_pipeline(target, graph_pipeline, options, disable_passes, pruning)
    if pruning is not None:
        recorded = {**recorded, **pruning_options(pruning)}
    graph_pipeline = pipeline_text(p for p in passes if not isinstance(p, StagePass))
    unit = Compilation(graph, options=dict(options))
    backend.prepare(unit)
    manager = PassManager(
        passes,
        print_ir_after_all=print_ir_after_all,
        print_ir_after=set(print_ir_after),
        time_passes=time_passes,
        out=ir_stream or sys.stderr,
        stop_after=compile_to,
        dump_sink=dump_sink,
        on_pass=progress.step if progress is not None else None,
    )
    manager.run(unit)
    times.update(manager.pass_times)

    compiled = CompiledModel.from_graph(graph, target, input_names, {"pipeline": graph_pipeline, **recorded, **options},
                                        times)
    if "pruning" in unit.products:
        compiled.pruning = unit.products["pruning"].to_report()
    if manager.stopped_after is not None:
        compiled.stopped_after, compiled.stage_text = manager.stopped_after, unit.ir_text()
        return compiled
    if progress is not None:
        progress.step(f"building the {target} executable")
    backend.finish(compiled, unit)
    return compiled


def target_pipeline(target: str, graph_pipeline: str | None = None, options: Mapping[str, Any] | None = None,
                    disable_passes: Iterable[str] = (), pruning: PruneWeights | None = None) -> list[Any]:
    """The passes ``moecc.compile`` runs for ``target``: the graph pipeline (text; default
    :data:`~moecc.passes.manager.DEFAULT_GRAPH_PIPELINE`) without ``disable_passes``, the
    ``pruning`` step when given (:func:`~moecc.passes.prune.pruning_pass`), then the target's
    stages."""
    from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE, parse_pipeline, without_passes

    backend = get_target(target)
    chosen = target_options(target, {}) if options is None else options
    text = DEFAULT_GRAPH_PIPELINE if graph_pipeline is None else graph_pipeline
    if pruning is not None:
        _refuse_disabling_pruning(disable_passes)
    stages = backend.stages(chosen)
    passes = without_passes([*parse_pipeline(text), *stages], disable_passes)  # keeps every stage
    if pruning is not None:
        passes.insert(len(passes) - len(stages), pruning)
    return passes


def _refuse_disabling_pruning(disable_passes: Iterable[str] | str) -> None:
    """``prune-weights`` runs exactly when ``prune`` is given: disabling it is a contradiction."""
    from moecc.errors import PassError

    names = disable_passes.split(",") if isinstance(disable_passes, str) else disable_passes
    if "prune-weights" in (n.strip() for n in names):
        raise PassError("runs because prune is given and cannot be disabled", pass_name="prune-weights",
                        remedy="compile without prune (--prune) to leave the weights as they are")


def _onnx_input_names(model: Any, input_shapes: Mapping[str, Sequence[int]] | None, constant_inputs: Mapping[str, Any] | None) -> list[str]:
    import numpy as np

    shapes = {**{k: np.shape(v) for k, v in (constant_inputs or {}).items()}, **(input_shapes or {})}
    return list(resolve_input_types(model, shapes).keys())
