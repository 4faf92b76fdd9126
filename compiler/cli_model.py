"""Model sub-commands of the ``moecc`` CLI: compile, bisect, run, opt, ops, example, inspect, demo.

Each handler turns arguments into calls of the Python API (:func:`moecc.compile`,
:func:`moecc.load`, the pass manager, the printer/parser) and writes files only through
:func:`moecc.fileio.atomic_write`, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from moecc.errors import CheckFailed, InputError, IRParseError, MoeccError
from moecc.fileio import atomic_write
from moecc.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the model sub-commands."""
    p = subparsers.add_parser("compile", help="compile an ONNX model", description="Compile an ONNX model for a target.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--target", default="ref", help="compilation target: ref, asic or cpu (default: ref)")
    p.add_argument("--asic-target", default=None, metavar="PART",
                   help="moe-asic part for --target asic: a name from `moecc isa --targets` or a target .toml (default: moe-asic-v1)")
    p.add_argument("--precision", choices=["f32", "bf16"], default=None,
                   help="MXU precision on --target asic (default f32; bf16: f32 accumulation)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of the cpu target's thread pool (default: 1; kept in the artifact)")
    p.add_argument("--moe", choices=["sparse", "dense", "auto"], default=None,
                   help="how MoE layers run (cpu, tiled, asic): sparse (each token on its chosen experts; the default on "
                        "cpu and tiled), dense (every expert on every token) or auto (per layer, whichever the target's "
                        "cost of a matmul row favours; the default on asic)")
    p.add_argument("--capacity-factor", type=float, default=None, metavar="F",
                   help="each MoE expert takes at most ceil(F * tokens * k / experts) tokens, the first in token "
                        "order; the other choices are dropped and counted in the report (default 0: dropless)")
    p.add_argument("--routing", default=None, metavar="uniform|zipf:ALPHA|FILE.json",
                   help="--target asic what-if: replace the MoE routers' choices by this distribution (uniform, "
                        "zipf:ALPHA, or a file from `moecc run --record-routing` or with 'tokens_per_expert') and "
                        "simulate that load; the outputs are then not the model's")
    p.add_argument("--activations", choices=["on-chip", "hbm"], default=None,
                   help="--target asic: keep activations in SRAM between the kernels that write and read them "
                        "when they fit (on-chip, the default), or send every one through HBM (hbm)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_entries",
                   help="--target asic: set an entry of the part's description (repeatable), e.g. "
                        "sram.capacity_bytes=8MiB or mxu.rows=256 (a dotted key of its TOML)")
    p.add_argument("--prune", default=None, metavar="SPEC",
                   help="prune matmul weights after the graph passes (every target gets the same weights): 2:4 "
                        "(2 of every 4 rows along k), tile:FRACTION[:ROWSxCOLS] (whole tiles, default 128x128) or "
                        "magnitude:FRACTION (unstructured, per output column); routers, embeddings and the LM head "
                        "are never pruned; the report gets a 'pruning' section")
    p.add_argument("--calibration", default=None, metavar="FILE.npz|N",
                   help="with --prune: score weights by Wanda (|W| times the activation's channel norms) on these "
                        "input sets: an .npz of arrays keyed by input name, or N seeded input sets (default: "
                        "magnitude |W|)")
    p.add_argument("--prune-filter", default=None, metavar="REGEX",
                   help="with --prune: prune only weights whose name or ONNX node matches this regular expression")
    p.add_argument("-o", "--output", help="output .moe artifact (default: MODEL stem + .moe)")
    p.add_argument("--emit", choices=_emit_choices(),
                   help="print this stage's IR to stdout and stop; obj (--target cpu, needs -o) writes a relocatable "
                        "object with the C entry point moecc_run and its header (-o stem + .h), see docs/cpu_object_abi.md")
    p.add_argument("--compile-to", metavar="STAGE",
                   help="stop after this pass or stage of the pipeline (see --print-pipeline) and print its IR to "
                        "stdout (or write it to -o)")
    p.add_argument("--explain-partition", action="store_true",
                   help="print which ops run as host steps instead of target kernels, with their ONNX nodes and reasons (stderr)")
    p.add_argument("--print-pipeline", action="store_true",
                   help="print the pipeline the target runs (graph passes, then its stages) and exit")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DxDx..",
                   help="static shape for an input with dynamic dims, e.g. input_ids:1x128 (repeatable)")
    p.add_argument("-p", "--pipeline", help='graph pass pipeline, e.g. "canonicalize,fold-constants,cse,dce"')
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="drop this graph pass from the pipeline (repeatable; see --print-pipeline; stages cannot be)")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="PASS", help="print the IR after PASS (stderr)")
    p.add_argument("--time-passes", action="store_true", help="print the time of each stage (stderr)")
    p.add_argument("--report", metavar="FILE", help="write the report as JSON to FILE ('-' prints a summary)")
    p.add_argument("--trace", metavar="FILE", help="write the Chrome/Perfetto trace of a simulated run (--target asic)")
    p.add_argument("--dump-dir", metavar="DIR",
                   help="write the IR after every pass and stage as numbered files: NN-after-NAME.mir (graph), .kir "
                        "(kernel IR), .s (asm), .ll (LLVM)")
    p.add_argument("--elide-constants", choices=["yes", "no"], default="yes", help="elide large constants in --emit output")
    p.add_argument("--quiet", action="store_true",
                   help="no progress line (it is shown only when stderr is a terminal)")
    p.set_defaults(func=_cmd_compile)

    p = subparsers.add_parser("bisect", help="find where a target first disagrees with the reference",
                              description="Run the reference and a target on the same inputs; name the first op whose "
                                          "output differs and the first pass or stage after which it does. Exit 1 when "
                                          "something differs, 0 when nothing does.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--target", required=True, help="the target to check: asic, cpu or tiled")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input (repeatable; others seeded)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (default 0)")
    p.add_argument("-p", "--pipeline", default=None, help="graph pass pipeline (default: the default one)")
    p.add_argument("--asic-target", default=None, metavar="PART")
    p.add_argument("--precision", choices=["f32", "bf16"], default=None)
    p.set_defaults(func=_cmd_bisect)

    p = subparsers.add_parser("profile", help="where an ASIC run's cycles go, kernel by kernel",
                              description="Compile a model for --target asic, simulate it on seeded inputs (or "
                                          "--input files) and print every kernel, most cycles first: cycles, share, "
                                          "MXU FLOPs, HBM bytes, busy cycles per unit, its own roofline and what "
                                          "bounds it (compute, bandwidth, a unit busy below its peak, or stalls).")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--asic-target", default=None, metavar="PART")
    p.add_argument("--precision", choices=["f32", "bf16"], default=None)
    p.add_argument("--moe", choices=["sparse", "dense", "auto"], default=None)
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input (repeatable; others seeded)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (default 0)")
    p.add_argument("--top", type=int, default=0, help="print only the N kernels with the most cycles (default: all)")
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="leave this optional pass out of the pipeline (repeatable), as for compile")
    p.add_argument("--activations", choices=["on-chip", "hbm"], default=None,
                   help="keep activations in SRAM between kernels when they fit (on-chip, the default) or not (hbm)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_entries",
                   help="set an entry of the part's description (repeatable), e.g. mxu.rows=256")
    p.set_defaults(func=_cmd_profile)

    p = subparsers.add_parser("run", help="run a compiled .moe artifact", description="Run a compiled model on inputs from .npy files.")
    p.add_argument("artifact", help=".moe artifact")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input (repeatable)")
    p.add_argument("--output-dir", help="write each output as NAME.npy into this folder")
    p.add_argument("--check", action="store_true", help="compare with the reference interpreter (exit 1 on mismatch)")
    p.add_argument("--record-routing", metavar="FILE.json", help="write each MoE layer's expert choices (cpu)")
    p.add_argument("--check-routing", metavar="FILE.json",
                   help="compare each MoE layer's expert choices with a recording (exit 1 at the first difference)")
    p.set_defaults(func=_cmd_run)

    p = subparsers.add_parser("opt", help="run passes over textual graph IR", description="Parse graph IR text, run a pass pipeline, print the result.")
    p.add_argument("file", help="IR text file (.mir), or - for stdin")
    p.add_argument("-p", "--pipeline", default="", help="pass pipeline (default: none, just verify and print)")
    p.add_argument("--print-ir-after-all", action="store_true")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="PASS")
    p.add_argument("--time-passes", action="store_true")
    p.add_argument("--no-verify", action="store_true", help="do not verify the parsed IR before running passes")
    p.add_argument("-o", "--output", help="write the IR to this file instead of stdout")
    p.set_defaults(func=_cmd_opt)

    p = subparsers.add_parser("ops", help="list the supported ONNX ops", description="List the ONNX op types a target supports, with opset ranges.")
    p.add_argument("--target", default="ref")
    p.set_defaults(func=_cmd_ops)

    p = subparsers.add_parser("example", help="build a bundled example ONNX model", description="Write one of the bundled example models as ONNX.")
    p.add_argument("name", nargs="?", help="example name (omit with --list)")
    p.add_argument("-o", "--output", help="output .onnx file (default: NAME.onnx)")
    p.add_argument("--list", action="store_true", help="list the examples")
    p.add_argument("--size", action="append", default=[], metavar="KEY=VALUE", help="override a size, e.g. seq=128 (repeatable)")
    p.add_argument("--dynamic", action="store_true", help="make batch/sequence dims symbolic, as exporters do")
    p.set_defaults(func=_cmd_example)

    p = subparsers.add_parser("inspect", help="summarise a .moe artifact", description="Print a compiled artifact's manifest and contents.")
    p.add_argument("artifact")
    p.set_defaults(func=_cmd_inspect)

    p = subparsers.add_parser("demo", help="compile, run and check the bundled MoE transformer",
                              description="Build the bundled MoE transformer, compile it, run it, check it against the reference and print the report.")
    p.add_argument("--target", default=None, help="target (default: the most capable one available)")
    p.add_argument("--example", default="moe-transformer")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    p.set_defaults(func=_cmd_demo)


# -- argument helpers ---------------------------------------------------------------------

def _emit_choices() -> list[str]:
    """Every stage or file some target can emit, in flow order (each target checks its own)."""
    from moecc.targets import all_targets

    choices: list[str] = []
    for target in all_targets():
        choices += [c for c in target.ir_stages + target.emit_files if c not in choices]
    return choices


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``name:1x128`` → ``("name", (1, 128))``; the name may itself contain colons."""
    name, sep, dims = text.rpartition(":")
    try:
        if not sep or not name:
            raise ValueError
        shape = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
        if any(d < 0 for d in shape):
            raise ValueError
    except ValueError:
        raise InputError(f"bad --input-shape '{text}'", remedy="write it as NAME:DIMxDIM, e.g. input_ids:1x128") from None
    return name, shape


def _set_entries(items: list[str]) -> dict[str, str] | None:
    """``--set KEY=VALUE`` items as target overrides (None when none are given)."""
    entries: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"bad --set '{item}'", remedy="write it as KEY=VALUE, e.g. --set sram.capacity_bytes=8MiB")
        entries[key.strip()] = value.strip()
    return entries or None


def _input_shapes(items: list[str]) -> dict[str, tuple[int, ...]] | None:
    shapes = dict(parse_input_shape(t) for t in items)
    return shapes or None


def _load_npy(path: str, name: str) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"input file '{path}' for '{name}' does not exist or is not a file")
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"input file '{path}' is not a readable .npy array ({exc})") from None


def _print_report_summary(report: dict[str, Any], out: Any = None) -> None:
    from moecc.passes.prune import format_pruning
    from moecc.targets import get_target

    stream = out or sys.stdout
    stream.write(get_target(str(report.get("target"))).summary(report))
    if "pruning" in report:
        stream.write(format_pruning(report["pruning"]))


def _print_pass_times(times: dict[str, float]) -> None:
    total = sum(times.values()) or 1e-12
    print("===-------------------------------------------------------------------------===", file=sys.stderr)
    print("  moecc stage timing", file=sys.stderr)
    print("  wall (ms)   share   stage", file=sys.stderr)
    for name, t in times.items():
        print(f"  {t * 1000:9.2f}  {t / total * 100:5.1f}%   {name}", file=sys.stderr)
    print(f"  {total * 1000:9.2f}  100.0%   total", file=sys.stderr)


# -- commands -----------------------------------------------------------------------------

class _DumpDir:
    """``--dump-dir``: each IR dump of the pass manager as a numbered file, ``NN-after-NAME.SUFFIX``
    (the suffix of the IR level the compilation is at: .mir, .kir, .s, .ll)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"--dump-dir '{folder}' exists and is not a directory")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, name: str, ir: Any, text: str) -> None:
        from moecc.passes.compilation import level_of

        suffix = level_of(getattr(ir, "level", "graph")).suffix
        atomic_write(self.folder / f"{self.count:02d}-after-{_file_safe(name)}.{suffix}", text)
        self.count += 1


def _cmd_compile(args: argparse.Namespace) -> int:
    from moecc.passes.prune import pruning_pass
    from moecc.targets import get_target

    backend = get_target(args.target)
    pruning = pruning_pass(args.prune, args.calibration, args.prune_filter)  # a bad value is refused before any work
    given = {"asic_target": args.asic_target, "precision": args.precision, "threads": args.threads,
             "moe": args.moe, "routing": args.routing, "capacity_factor": args.capacity_factor,
             "activations": args.activations, "trace": True if args.trace else None,
             "target_overrides": _set_entries(args.set_entries)}
    options = {k: v for k, v in given.items() if v is not None}
    if args.print_pipeline:
        from moecc.driver import target_pipeline
        from moecc.passes.manager import pipeline_text
        from moecc.targets import target_options

        print(pipeline_text(target_pipeline(args.target, args.pipeline, target_options(args.target, options),
                                            args.disable_pass, pruning)))
        return 0
    if args.emit and args.emit not in backend.ir_stages + backend.emit_files:
        raise InputError(f"--emit {args.emit} is not a stage of --target {args.target}",
                         remedy=f"--target {args.target} emits: {', '.join(backend.ir_stages + backend.emit_files)}")
    if args.emit and args.emit not in backend.ir_stages_for(options) + backend.emit_files:
        raise InputError(f"--emit {args.emit} is not a stage of --target {args.target} with these options",
                         remedy=f"--target {args.target} emits here: {', '.join(backend.ir_stages_for(options))}")
    if args.trace and not backend.simulated:
        raise InputError(f"--trace needs a target with a simulator (--target asic), not --target {args.target}")
    if args.emit == "obj" and not args.output:
        raise InputError("--emit obj writes a file: give it with -o, e.g. -o model.o")
    if args.compile_to and args.emit:
        raise InputError("--compile-to and --emit both choose what to print; give one of them")
    dumps = _DumpDir(args.dump_dir) if args.dump_dir else None
    # The status line would interleave with IR printed to stderr.
    progress = Progress(quiet=args.quiet or bool(args.print_ir_after_all or args.print_ir_after))
    try:
        return _compile_and_write(args, options, dumps, progress)
    finally:
        progress.clear()


def _compile_and_write(args: argparse.Namespace, options: dict[str, Any], dumps: Any, progress: Progress) -> int:
    """The rest of ``moecc compile`` once the arguments are checked (``progress`` sees each step)."""
    import io

    import moecc
    from moecc.targets import get_target

    compiled = moecc.compile(
        args.model,
        target=args.target,
        input_shapes=_input_shapes(args.input_shape),
        pipeline=args.pipeline,
        disable_passes=args.disable_pass,
        print_ir_after_all=args.print_ir_after_all or dumps is not None,
        print_ir_after=args.print_ir_after,
        time_passes=False,
        ir_stream=sys.stderr if args.print_ir_after_all or args.print_ir_after else io.StringIO(),
        compile_to=args.compile_to,
        dump_sink=dumps,
        progress=progress,
        prune=args.prune,
        calibration=args.calibration,
        prune_filter=args.prune_filter,
        **options,
    )
    progress.clear()
    if args.time_passes:
        _print_pass_times(compiled.pass_times)
    if args.explain_partition:
        from moecc.targets.base import format_host_ops

        sys.stderr.write(format_host_ops(compiled.partition.get("host_ops", [])))
    if args.compile_to:
        if args.output:
            atomic_write(args.output, compiled.ir(args.compile_to))
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(compiled.ir(args.compile_to))
        return 0
    if args.emit == "obj":
        _write_object(compiled, args.output)
        return 0
    if args.emit:
        sys.stdout.write(compiled.ir(args.emit, elide_constants=args.elide_constants == "yes"))
        return 0
    output = args.output or (Path(args.model).stem + ".moe")
    if args.report or args.trace:
        progress.step("simulating for the report" if get_target(args.target).simulated else "running for the report")
    report = compiled.report() if (args.report or args.trace) else None
    if args.trace:
        atomic_write(args.trace, json.dumps(compiled.trace()) + "\n")
    if args.report and args.report != "-":
        atomic_write(args.report, json.dumps(report, indent=2) + "\n")
    progress.step(f"writing {output}")
    compiled.save(output)
    progress.clear()
    if args.report == "-":
        _print_report_summary(report)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _write_object(compiled: Any, output: str) -> None:
    """The model as a relocatable object (``output``) and its C header (``output`` stem + .h)."""
    from moecc.backend.llvm.object_file import c_header, executable_object, model_abi
    from moecc.errors import UnsupportedError

    abi = model_abi(compiled.executable)
    if abi.host_steps:
        raise UnsupportedError(
            f"the model has {abi.host_steps} step(s) that run on the Python interpreter, which an object file cannot hold",
            remedy="save a .moe artifact instead (moecc compile --target cpu -o model.moe)")
    atomic_write(output, executable_object(compiled.executable))
    header = str(Path(output).with_suffix(".h"))
    atomic_write(header, c_header())
    print(f"wrote {output} and {header}", file=sys.stderr)


def _cmd_bisect(args: argparse.Namespace) -> int:
    from moecc.bisect import bisect_model
    from moecc.targets import target_options

    given = {"asic_target": args.asic_target, "precision": args.precision}
    options = {k: v for k, v in given.items() if v is not None}
    target_options(args.target, options)  # a bad option is refused before any work
    inputs = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"bad --input '{item}'", remedy="write it as NAME=FILE.npy")
        inputs[name] = _load_npy(path, name)
    result = bisect_model(args.model, args.target, options, input_shapes=_input_shapes(args.input_shape),
                          inputs=inputs, seed=args.seed, pipeline=args.pipeline)
    sys.stdout.write(result.format())
    return 1 if result.differs else 0


def _cmd_profile(args: argparse.Namespace) -> int:
    import moecc
    from moecc.asic_report import format_kernel_profile
    from moecc.asic_runtime import random_inputs

    if args.top < 0:
        raise InputError(f"--top {args.top}: give a positive number of kernels (0: all)")
    given = {"asic_target": args.asic_target, "precision": args.precision, "moe": args.moe,
             "activations": args.activations, "target_overrides": _set_entries(args.set_entries)}
    compiled = moecc.compile(args.model, target="asic", input_shapes=_input_shapes(args.input_shape),
                             disable_passes=args.disable_pass, **{k: v for k, v in given.items() if v is not None})
    feeds = random_inputs(compiled.graph, seed=args.seed)
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"bad --input '{item}'", remedy="write it as NAME=FILE.npy")
        feeds[name] = _load_npy(path, name)
    compiled.run(feeds)
    report = compiled.report()
    source = "the --input files and seeded inputs" if args.input else f"seeded inputs (seed {args.seed})"
    sys.stdout.write(format_kernel_profile(report, args.top or None, source))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import moecc
    from moecc.ir.interpreter import run_graph

    compiled = moecc.load(args.artifact)
    inputs: dict[str, np.ndarray] = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"bad --input '{item}'", remedy="write it as NAME=FILE.npy")
        inputs[name] = _load_npy(path, name)
    outputs = compiled.run(inputs)
    if args.output_dir:
        folder = Path(args.output_dir)
        if folder.exists() and not folder.is_dir():
            raise MoeccError(f"--output-dir '{folder}' exists and is not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in outputs.items():
            import io

            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            atomic_write(folder / (_file_safe(name) + ".npy"), buffer.getvalue())
    for name, array in outputs.items():
        stats = ""
        if array.size and array.dtype.kind in "fiub":
            as_float = array.astype(np.float64)
            stats = f"  min {as_float.min():.6g}  max {as_float.max():.6g}  mean {as_float.mean():.6g}"
        print(f"{name}: {'x'.join(map(str, array.shape)) or 'scalar'} {array.dtype}{stats}")
    if args.check:
        from moecc.compare import compare_outputs, tolerances

        reference = run_graph(compiled.graph, compiled.check_inputs(inputs))
        rtol, atol = tolerances(str(compiled.options.get("precision", "f32")))
        problems = compare_outputs(outputs, reference, rtol=rtol, atol=atol)
        if problems:
            raise CheckFailed("; ".join(problems))
        print("check: outputs match the reference interpreter")
    if args.record_routing:
        atomic_write(args.record_routing, json.dumps({"routing": compiled.routing()}) + "\n")
        print(f"wrote {args.record_routing}", file=sys.stderr)
    if args.check_routing:
        from moecc.moe_report import first_routing_difference

        try:
            recorded = json.loads(Path(args.check_routing).read_text())["routing"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot read the routing recording '{args.check_routing}': {exc}",
                             remedy="give a file written by --record-routing") from None
        difference = first_routing_difference(compiled.routing(), recorded)
        if difference is not None:
            raise CheckFailed(f"routing differs from {args.check_routing}: {difference}")
        print(f"check: routing matches {args.check_routing}")
    return 0


def _cmd_opt(args: argparse.Namespace) -> int:
    from moecc.ir.parser import parse_graph
    from moecc.ir.printer import print_graph
    from moecc.ir.verifier import verify_graph
    from moecc.passes.manager import PassManager, parse_pipeline

    if args.file == "-":
        text = sys.stdin.read()
    else:
        file = Path(args.file)
        if not file.is_file():
            raise IRParseError(f"IR file '{args.file}' does not exist or is not a file")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise IRParseError(f"cannot read '{args.file}' as UTF-8 text ({exc})") from None
    graph = parse_graph(text)
    if not args.no_verify:
        verify_graph(graph)
    manager = PassManager(
        parse_pipeline(args.pipeline),
        print_ir_after_all=args.print_ir_after_all,
        print_ir_after=set(args.print_ir_after),
        time_passes=args.time_passes,
        out=sys.stderr,
    )
    manager.run(graph)
    result = print_graph(graph, elide_constants=False)
    if args.output:
        atomic_write(args.output, result)
    else:
        sys.stdout.write(result)
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:
    import moecc

    ops = moecc.supported_onnx_ops(args.target)
    print(f"# {len(ops)} ONNX op types supported on target '{args.target}' (opset range)")
    for name, versions in ops.items():
        print(f"{name:24s} {versions}")
    return 0


def _parse_sizes(items: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            sizes[key] = int(value)
        except ValueError:
            raise InputError(f"bad --size '{item}'", remedy="write it as KEY=INTEGER, e.g. seq=128") from None
    return sizes


def _cmd_example(args: argparse.Namespace) -> int:
    from moecc.examples import build_example, list_examples

    if args.list or not args.name:
        for name, description in list_examples():
            print(f"{name:18s} {description}")
        return 0 if args.list else 2
    sizes = _parse_sizes(args.size)
    if args.dynamic:
        sizes["dynamic"] = True  # type: ignore[assignment]
    model = build_example(args.name, **sizes)
    output = args.output or f"{args.name}.onnx"
    atomic_write(output, model.SerializeToString())
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from moecc.artifact import read_manifest

    manifest, members = read_manifest(args.artifact)
    print(f"artifact      {args.artifact}")
    print(f"format        {manifest['format']} v{manifest['format_version']} (moecc {manifest.get('moecc_version', '?')})")
    print(f"target        {manifest.get('target')}")
    for spec in manifest.get("inputs", []):
        print(f"input         {spec['name']}: {'x'.join(map(str, spec['shape']))} {spec['dtype']}")
    for spec in manifest.get("outputs", []):
        print(f"output        {spec['name']}: {'x'.join(map(str, spec['shape']))} {spec['dtype']}")
    for name, data in sorted(members.items()):
        print(f"member        {name}: {len(data)} bytes (sha256 ok)")
    if manifest.get("options"):
        print(f"options       {json.dumps(manifest['options'], sort_keys=True)}")
    from moecc.targets import get_target

    target = get_target(str(manifest.get("target")))
    sys.stdout.write(target.describe_artifact(manifest.get(target.name), members))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from moecc.demo import run_demo

    return run_demo(example=args.example, target=args.target, precision=args.precision)


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "output"
