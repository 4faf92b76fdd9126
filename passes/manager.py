"""The pass manager: named passes, pipeline text, and running a pipeline over a graph.

Every graph-IR transformation is a :class:`Pass`: a small frozen dataclass whose fields are
its options and whose ``apply(graph) -> bool`` rewrites the graph in place and says whether
it changed anything. Passes are registered by name in one table (:data:`PASS_REGISTRY`), so
a pipeline is plain text::

    canonicalize,fold-constants,fixed-point{max_iterations=4}(cse,dce),canonicalize{aggressive=true}

:func:`parse_pipeline` turns that text into pass objects (option values are typed from the
dataclass fields), and :class:`PassManager` runs them: it verifies the graph after every pass
(a pass that breaks the IR is reported by name), prints the IR after chosen passes in MLIR's
``// -----// IR Dump After <name> //----- //`` form, and accumulates wall time per pass.
``moecc.compile()`` runs :data:`DEFAULT_GRAPH_PIPELINE` this way; ``moecc opt`` runs any.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TextIO, TypeVar

import lark

from moecc.errors import MoeccError, PassError
from moecc.ir.graph import Graph
from moecc.ir.verifier import verify_graph

#: The graph-level cleanup pipeline ``moecc.compile()`` runs after import.
DEFAULT_GRAPH_PIPELINE = "decompose-einsum,canonicalize,fold-constants,raise-moe,cse,raise-composites,dce"

#: Header the pass manager writes before each IR dump (MLIR's form).
DUMP_HEADER = "// -----// IR Dump After "

#: The name of the built-in pass that runs a nested pipeline until nothing changes.
FIXED_POINT_NAME = "fixed-point"


@dataclass(frozen=True, slots=True)
class Pass:
    """Base class of every pass. Subclasses are frozen dataclasses (their fields are the
    pass options, each with a default), set the class variable ``name`` and implement
    :meth:`apply`. Passes hold no state between runs, so one object may run many times."""

    name: ClassVar[str] = ""

    def apply(self, graph: Graph) -> bool:
        """Rewrite ``graph`` in place; return whether anything changed."""
        raise NotImplementedError(f"pass '{self.name}' does not implement apply()")

    def options(self) -> dict[str, Any]:
        """The option values of this pass object, by option name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def pipeline_text(self) -> str:
        """This pass as pipeline text, listing the options that differ from their defaults;
        ``parse_pipeline(p.pipeline_text())`` gives back an equal pass."""
        changed = [
            f"{f.name}={_format_option(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if f.default is dataclasses.MISSING or getattr(self, f.name) != f.default
        ]
        return self.name + ("{" + ",".join(changed) + "}" if changed else "")


@dataclass(frozen=True, slots=True)
class FixedPoint(Pass):
    """Runs a nested pipeline repeatedly until one whole round changes nothing, at most
    ``max_iterations`` rounds. Pipeline text: ``fixed-point{max_iterations=8}(canonicalize,cse,dce)``.

    Standalone ``apply`` runs the passes bare; under a :class:`PassManager` every nested pass
    is verified, timed and printed like a top-level one.
    """

    name: ClassVar[str] = FIXED_POINT_NAME
    passes: tuple[Pass, ...] = ()
    max_iterations: int = 10

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise PassError(f"max_iterations must be at least 1, got {self.max_iterations}", pass_name=self.name)

    def apply(self, graph: Graph) -> bool:
        return _run_fixed_point(self, graph, lambda p, g: p.apply(g))

    def pipeline_text(self) -> str:
        head = self.name
        if self.max_iterations != 10:
            head += f"{{max_iterations={self.max_iterations}}}"
        return head + "(" + ",".join(p.pipeline_text() for p in self.passes) + ")"


def _run_fixed_point(group: FixedPoint, graph: Graph, run_one: Callable[[Pass, Graph], bool]) -> bool:
    changed_any = False
    for _ in range(group.max_iterations):
        changed = False
        for p in group.passes:
            changed = run_one(p, graph) or changed
        if not changed:
            return changed_any
        changed_any = True
    return changed_any


# -- the pass table ----------------------------------------------------------------------

PASS_REGISTRY: dict[str, type[Pass]] = {FIXED_POINT_NAME: FixedPoint}

PassT = TypeVar("PassT", bound=type[Pass])


def register_pass(cls: PassT) -> PassT:
    """Class decorator adding a pass to :data:`PASS_REGISTRY` under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Pass) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} must be a dataclass subclassing moecc.passes.Pass")
    if not cls.name:
        raise TypeError(f"pass class {cls.__name__} has no name")
    if cls.name in PASS_REGISTRY and PASS_REGISTRY[cls.name] is not cls:
        raise ValueError(f"pass name '{cls.name}' registered twice ({PASS_REGISTRY[cls.name].__name__}, {cls.__name__})")
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TypeError(f"option '{f.name}' of pass '{cls.name}' needs a default")
    PASS_REGISTRY[cls.name] = cls
    return cls


def registered_passes() -> dict[str, type[Pass]]:
    """Every registered pass class by name (importing :mod:`moecc.passes` registers the built-ins)."""
    _ensure_loaded()
    return dict(PASS_REGISTRY)


def get_pass(name: str, **options: Any) -> Pass:
    """The pass called ``name`` built with ``options``, checked against its declared fields."""
    _ensure_loaded()
    cls = PASS_REGISTRY.get(name)
    if cls is None:
        raise PassError(
            f"unknown pass '{name}'",
            remedy=f"known passes: {', '.join(sorted(PASS_REGISTRY))}",
        )
    types = _option_types(cls)
    for key, value in options.items():
        if key not in types:
            raise PassError(
                f"pass has no option '{key}'",
                pass_name=name,
                remedy=_options_remedy(cls),
            )
        if not _value_fits(value, types[key]):
            raise PassError(
                f"option '{key}' must be {_type_label(types[key])}, got {value!r}",
                pass_name=name,
            )
        if types[key] is float:
            options[key] = float(value)
    try:
        return cls(**options)
    except MoeccError as err:
        raise err.add_context(pass_name=name) from None


def _ensure_loaded() -> None:
    import moecc.passes  # noqa: F401  (registers the built-in passes)


def _option_types(cls: type[Pass]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _options_remedy(cls: type[Pass]) -> str:
    types = _option_types(cls)
    if not types:
        return f"'{cls.name}' takes no options"
    listed = ", ".join(f"{k}: {_type_label(t)}" for k, t in types.items())
    return f"'{cls.name}' takes {listed}"


def _type_label(t: Any) -> str:
    return getattr(t, "__name__", str(t))


def _value_fits(value: Any, t: Any) -> bool:
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is str:
        return isinstance(value, str)
    return True  # structured options (a fixed-point group's passes) are checked by the class


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value and all(c.isalnum() or c in "_-.:/" for c in value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _convert_option(pass_name: str, key: str, text: str, t: Any) -> Any:
    """Typed value of option text ``text`` for an option declared with type ``t``."""
    def bad() -> PassError:
        return PassError(f"option '{key}' must be {_type_label(t)}, got '{text}'", pass_name=pass_name)

    if t is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise bad()
    if t is int:
        for base in (0, 10):  # 0x10 and 1_000 as python reads them; 010 as plain decimal
            try:
                return int(text, base)
            except ValueError:
                continue
        raise bad()
    if t is float:
        try:
            return float(text)
        except ValueError:
            raise bad() from None
    if t is str:
        return text
    raise PassError(f"option '{key}' cannot be set from pipeline text", pass_name=pass_name)


# -- pipeline text -----------------------------------------------------------------------

_PIPELINE_GRAMMAR = r"""
    pipeline: [entry ("," entry)*]
    entry: NAME options? group?
    options: "{" [option ("," option)*] "}"
    option: NAME "=" value
    value: BARE | ESCAPED_STRING
    group: "(" pipeline ")"
    NAME: /[A-Za-z_][A-Za-z0-9_.\-]*/
    BARE: /[^,{}()="\s]+/
    %import common.ESCAPED_STRING
    %import common.WS
    %ignore WS
"""

_PIPELINE_PARSER = lark.Lark(_PIPELINE_GRAMMAR, start="pipeline", parser="lalr")


def parse_pipeline(text: str) -> list[Pass]:
    """Parse ``"fold-constants,dce,cse,canonicalize{aggressive=true}"`` into pass objects.

    Options are ``{key=value,...}`` typed from the pass's dataclass fields (int, float,
    bool as true/false, str bare or double-quoted); ``fixed-point{max_iterations=N}(...)``
    nests a pipeline run until it stops changing the graph. Errors are :class:`PassError`.
    """
    try:
        tree = _PIPELINE_PARSER.parse(text)
    except lark.exceptions.UnexpectedInput as err:
        column = getattr(err, "column", None)
        pointer = f" at column {column}" if isinstance(column, int) and column > 0 else ""
        raise PassError(
            f"pipeline text {text!r} does not parse{pointer}",
            remedy='write passes as "name,name{option=value},fixed-point(name,name)"',
        ) from None
    return _build_pipeline(tree)


def _build_pipeline(tree: lark.Tree) -> list[Pass]:
    return [_build_entry(entry) for entry in tree.children if entry is not None]


def _build_entry(entry: lark.Tree) -> Pass:
    name = str(entry.children[0])
    raw_options: dict[str, str] = {}
    nested: list[Pass] | None = None
    for part in entry.children[1:]:
        if part.data == "options":
            for option in part.children:
                if option is None:
                    continue
                key = str(option.children[0])
                if key in raw_options:
                    raise PassError(f"option '{key}' is given twice", pass_name=name)
                raw_options[key] = _value_text(option.children[1])
        elif part.data == "group":
            nested = _build_pipeline(part.children[0])
    _ensure_loaded()
    cls = PASS_REGISTRY.get(name)
    if cls is None:
        raise PassError(f"unknown pass '{name}'", remedy=f"known passes: {', '.join(sorted(PASS_REGISTRY))}")
    if (nested is not None) != (cls is FixedPoint):
        raise PassError(
            "only 'fixed-point' takes a nested pipeline in parentheses"
            if nested is not None
            else "needs a nested pipeline: fixed-point(pass,pass,...)",
            pass_name=name,
        )
    types = _option_types(cls)
    options: dict[str, Any] = {}
    for key, text in raw_options.items():
        if key not in types or (cls is FixedPoint and key == "passes"):
            raise PassError(f"pass has no option '{key}'", pass_name=name, remedy=_options_remedy(cls))
        options[key] = _convert_option(name, key, text, types[key])
    if nested is not None:
        options["passes"] = tuple(nested)
    return get_pass(name, **options)


def _value_text(value: lark.Tree) -> str:
    token = value.children[0]
    if token.type == "ESCAPED_STRING":
        body = str(token)[1:-1]
        return body.replace('\\"', '"').replace("\\\\", "\\")
    return str(token)


def without_passes(passes: Sequence[Pass], disabled: Iterable[str] | str) -> list[Pass]:
    """``passes`` without the graph passes named in ``disabled`` (names, or one string of
    comma-separated names; nested fixed-point groups included). A name that is not in the pipeline, or that names a stage (a target's stages
    turn one IR into the next and cannot be skipped), is a :class:`PassError` listing what
    may be disabled."""
    from moecc.passes.compilation import StagePass

    # One name, or several with commas, may come as a string ("cse" or "cse,dce").
    items = [n.strip() for n in disabled.split(",")] if isinstance(disabled, str) else list(disabled)
    names = list(dict.fromkeys(n for n in items if n))
    if not names:
        return list(passes)
    present: set[str] = set()
    stages: set[str] = set()

    def collect(items: Sequence[Pass]) -> None:
        for item in items:
            if isinstance(item, FixedPoint):
                collect(item.passes)
            elif isinstance(item, StagePass):
                stages.add(item.name)
            else:
                present.add(item.name)

    collect(passes)
    optional = ", ".join(sorted(present)) or "none"
    for name in names:
        if name in stages:
            raise PassError(f"stage '{name}' cannot be disabled: the target needs it to reach its executable",
                            pass_name=name, remedy=f"disable a graph pass instead ({optional})")
        if name not in present:
            raise PassError(f"no pass '{name}' in this pipeline to disable", pass_name=name,
                            remedy=f"passes that can be disabled here: {optional} (see --print-pipeline)")

    def drop(items: Sequence[Pass]) -> list[Pass]:
        kept: list[Pass] = []
        for item in items:
            if isinstance(item, FixedPoint):
                inner = drop(item.passes)
                if inner:
                    kept.append(dataclasses.replace(item, passes=tuple(inner)))
            elif item.name not in names or isinstance(item, StagePass):
                kept.append(item)
        return kept

    return drop(passes)


def pipeline_text(passes: Iterable[Pass]) -> str:
    """The pipeline text of ``passes`` (the inverse of :func:`parse_pipeline`)."""
    return ",".join(p.pipeline_text() for p in passes)


# -- running -----------------------------------------------------------------------------

IRPrinter = Callable[[Graph], str]


def _default_ir_printer(graph: Graph) -> str:
    # Imported at call time: the printer module depends on the op registry, and the pass
    # manager must stay importable on its own.
    from moecc.ir.printer import print_graph

    return print_graph(graph)


class PassManager:
    """Runs a pipeline over a graph with verification, IR dumps and timing.

    ``passes`` is a list of passes or pipeline text. After each pass (nested ones included)
    the graph is verified when ``verify_each`` (a broken graph is a :class:`PassError` naming
    the pass), and printed to ``out`` when ``print_ir_after_all`` or the pass name is in
    ``print_ir_after`` (with ``print_ir_after_change``, only if the pass changed something;
    ``"fixed-point"`` in ``print_ir_after`` prints once each group has converged).
    Wall time per pass name accumulates in :attr:`pass_times` across runs; with
    ``time_passes`` a timing report is written to ``out`` after each run.
    """

    def __init__(
        self,
        passes: Sequence[Pass] | str,
        *,
        verify_each: bool = True,
        print_ir_after_all: bool = False,
        print_ir_after: Iterable[str] = (),
        print_ir_after_change: bool = False,
        time_passes: bool = False,
        ir_printer: IRPrinter | None = None,
        out: TextIO | None = None,
        stop_after: str | None = None,
        dump_sink: Callable[[str, Any, str], None] | None = None,
        on_pass: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.passes: list[Pass] = parse_pipeline(passes) if isinstance(passes, str) else list(passes)
        for p in self.passes:
            if not isinstance(p, Pass):
                raise PassError(f"{p!r} is not a pass", remedy="build passes with get_pass() or parse_pipeline()")
        self.verify_each = verify_each
        self.print_ir_after_all = print_ir_after_all
        self.print_ir_after: set[str] = set(print_ir_after)
        known = registered_passes()
        unknown = sorted(self.print_ir_after - set(known))
        if unknown:
            raise PassError(
                f"print_ir_after names unknown pass(es) {', '.join(repr(n) for n in unknown)}",
                remedy=f"known passes: {', '.join(sorted(known))}",
            )
        self.print_ir_after_change = print_ir_after_change
        self.time_passes = time_passes
        self.ir_printer: IRPrinter = ir_printer or _default_ir_printer
        self.out: TextIO = out if out is not None else sys.stderr
        self.pass_times: dict[str, float] = {}
        self.pass_runs: dict[str, int] = {}
        self.pass_changes: dict[str, int] = {}
        self.stop_after = stop_after
        self.stopped_after: str | None = None
        self.dump_sink = dump_sink
        self.on_pass = on_pass  # called with (name, 1-based position, count) before each top-level pass
        names = _pass_names(self.passes)
        if stop_after is not None and stop_after not in names:
            raise PassError(f"cannot stop after '{stop_after}': the pipeline has no such pass",
                            remedy=f"the pipeline runs: {', '.join(names)}")

    @property
    def pipeline(self) -> str:
        return pipeline_text(self.passes)

    def run(self, ir: Graph | Any) -> bool:
        """Run the pipeline on ``ir`` in place: a graph, or a whole
        :class:`~moecc.passes.compilation.Compilation` (graph passes then rewrite its graph while
        it is at the graph level; stage passes move it on). Returns whether any pass changed it.
        With ``stop_after`` the run ends after the first pass of that name (:attr:`stopped_after`)."""
        self.stopped_after = None
        if self.verify_each:
            try:
                self._verify(ir)
            except MoeccError as err:
                raise err.add_context(location="pass pipeline input") from None
        changed = False
        for index, p in enumerate(self.passes, start=1):
            if self.on_pass is not None:
                self.on_pass(p.name, index, len(self.passes))
            changed = self._run_pass(p, ir) or changed
            if self.stopped_after is not None:
                break
        if self.time_passes:
            self.out.write(self.timing_report())
            self.out.flush()
        return changed

    def _run_pass(self, p: Pass, ir: Graph | Any) -> bool:
        if self.stopped_after is not None:
            return False
        if isinstance(p, FixedPoint):
            changed = _run_fixed_point(p, ir, self._run_pass)
            # Only on explicit request: after-all already printed the group's last pass.
            if p.name in self.print_ir_after:
                self._maybe_print(p.name, changed, ir)
            self._check_stop(p.name)
            return changed
        start = time.perf_counter()
        try:
            changed = bool(p.apply(self._operand(p, ir)))
        except MoeccError as err:
            raise err.add_context(pass_name=p.name) from None
        except Exception as err:  # a crash inside a pass is a compiler bug: name the pass
            raise PassError(
                f"internal error: {type(err).__name__}: {err}",
                pass_name=p.name,
                remedy="this is a moecc bug; rerun with --debug for the traceback and report it",
            ) from err
        finally:
            elapsed = time.perf_counter() - start
            self.pass_times[p.name] = self.pass_times.get(p.name, 0.0) + elapsed
            self.pass_runs[p.name] = self.pass_runs.get(p.name, 0) + 1
        if changed:
            self.pass_changes[p.name] = self.pass_changes.get(p.name, 0) + 1
        if self.verify_each:
            try:
                self._verify(ir)
            except MoeccError as err:
                raise PassError(
                    f"the pass produced invalid IR: {err}",
                    pass_name=p.name,
                    remedy="this is a moecc bug; rerun with verification on and --print-ir-after-all to see the IR",
                ) from err
        self._maybe_print(p.name, changed, ir)
        self._check_stop(p.name)
        return changed

    def _check_stop(self, name: str) -> None:
        if self.stop_after is not None and name == self.stop_after:
            self.stopped_after = name

    @staticmethod
    def _operand(p: Pass, ir: Graph | Any) -> Any:
        """What ``p.apply`` takes: stage passes the compilation, graph passes the graph (a
        compilation's, while it is still at the graph level)."""
        from moecc.passes.compilation import Compilation, StagePass

        if isinstance(p, StagePass) or not isinstance(ir, Compilation):
            return ir
        if ir.level != "graph":
            raise PassError(f"is a graph pass, but the compilation is already at the '{ir.level}' level",
                            pass_name=p.name, remedy="put graph passes before the target's stages (see --print-pipeline)")
        return ir.graph

    def _verify(self, ir: Graph | Any) -> None:
        if isinstance(ir, Graph):
            verify_graph(ir)
        else:
            ir.verify()

    def _maybe_print(self, name: str, changed: bool, ir: Graph | Any) -> None:
        wanted = self.print_ir_after_all or name in self.print_ir_after
        if not wanted or (self.print_ir_after_change and not changed):
            return
        self.out.write(f"{DUMP_HEADER}{name} //----- //\n")
        text = self.ir_printer(ir) if isinstance(ir, Graph) else ir.ir_text()
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.write("\n")
        self.out.flush()
        if self.dump_sink is not None:
            self.dump_sink(name, ir, text)

    def timing_report(self) -> str:
        """Wall time per pass (accumulated over runs), slowest first, with a total line."""
        total = sum(self.pass_times.values())
        lines = [
            "===" + "-" * 64 + "===",
            "  moecc pass execution timing report",
            "===" + "-" * 64 + "===",
            f"  Total execution time: {total:.6f} s",
            "",
            f"  {'wall (s)':>12}  {'share':>6}  {'runs':>5}  {'changed':>7}  pass",
        ]
        for name, seconds in sorted(self.pass_times.items(), key=lambda kv: (-kv[1], kv[0])):
            share = 100.0 * seconds / total if total > 0 else 0.0
            lines.append(
                f"  {seconds:12.6f}  {share:5.1f}%  {self.pass_runs.get(name, 0):5d}  "
                f"{self.pass_changes.get(name, 0):7d}  {name}"
            )
        lines.append(f"  {total:12.6f}  100.0%  {'':5}  {'':7}  Total")
        return "\n".join(lines) + "\n"


def _pass_names(passes: Sequence[Pass]) -> list[str]:
    names: list[str] = []
    for p in passes:
        names.append(p.name)
        if isinstance(p, FixedPoint):
            names.extend(_pass_names(p.passes))
    return names


def run_pipeline(graph: Graph, pipeline: Sequence[Pass] | str = DEFAULT_GRAPH_PIPELINE, **manager_options: Any) -> PassManager:
    """Run ``pipeline`` on ``graph`` with a fresh :class:`PassManager` and return the manager
    (for its ``pass_times``)."""
    manager = PassManager(pipeline, **manager_options)
    manager.run(graph)
    return manager
