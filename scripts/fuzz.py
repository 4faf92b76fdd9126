"""Differential fuzzing of random graph-IR graphs: asic, cpu and tiled against ref (issue #11).

Where it sits in the flow: a driver around :mod:`moecc.fuzz`. It draws ``--examples`` graphs
from :func:`moecc.fuzz.strategy.graph_cases` (seeded by ``--seed``, reproducible), compiles each
for every ``--targets`` target and compares with the reference interpreter
(:func:`moecc.fuzz.runner.run_case`). A failure hypothesis has not seen yet is shrunk to a
minimal graph and written to ``--out`` as ``.mir`` (target, symptom and input recipes in its
header); fuzzing then goes on, ignoring failures that contain an already reported minimal case
(same target and kind, its op kinds a subset). It ends with a summary: graphs run per target,
refusals by reason, failures with their files.

    python scripts/fuzz.py --examples 500 --seed 1 --out fuzz-out
    python scripts/fuzz.py --examples 200 --seed 7 --targets cpu,asic-edge --max-ops 12 --generators special,top_k
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from moecc.fuzz.runner import (DEFAULT_TARGETS, CaseReport, FuzzFailure, TargetOutcome, failure_mir, reduce_case,
                               run_case)
from moecc.fuzz.strategy import graph_cases


@dataclass
class Known:
    """A reported failure: later ones on the same target, of the same status and with the same
    reason, or (for mismatches) holding all its op kinds and its flavour (NaN/inf data,
    overflowing integers; a plain one only matches plain cases), are repeats."""

    target: str
    status: str
    reason: str
    kinds: frozenset[str]
    flavour: frozenset[str]

    def matches(self, outcome: TargetOutcome, kinds: set[str], flavour: frozenset[str]) -> bool:
        if (outcome.target, outcome.status) != (self.target, self.status):
            return False
        if outcome.status != "mismatch":
            return outcome.reason == self.reason
        return self.kinds <= kinds and self.flavour <= flavour and (bool(self.flavour) or not flavour)


def load_known(folder: Path) -> list[Known]:
    """The open bugs of ``folder``'s cases (``// fuzz-known: TARGET STATUS [any-ops]`` lines)."""
    from moecc.fuzz import load_case

    known = []
    for path in sorted(folder.glob("*.mir")) if folder.is_dir() else []:
        lines = [line.split(":", 1)[1].split(None, 2) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.startswith("// fuzz-known:")]
        if lines:
            case = load_case(path)
            for target, status, *rest in lines:
                # "any-ops": every mismatch of that flavour on that target (one cause, many op kinds)
                kinds = frozenset() if rest and rest[0].strip() == "any-ops" else frozenset(case.op_kinds())
                known.append(Known(target, status, "", kinds, flavour_of(case)))
    return known


def flavour_of(case) -> frozenset[str]:  # type: ignore[no-untyped-def]
    """What sets a case's data apart: NaN/inf values, integers past 2**20 (overflow on purpose)."""
    flavour = set()
    if "gen_special" in case.notes or any(spec.special for spec in case.inputs):
        flavour.add("special")
    if "gen_int_wrap" in case.notes or any(spec.dtype != "bool" and max(abs(spec.low), abs(spec.high)) > 2**20
                                           for spec in case.inputs if not spec.dtype.startswith(("f", "b"))):
        flavour.add("int-wrap")
    return frozenset(flavour)


@dataclass
class Stats:
    runs: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    refusals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    repeats: Counter[str] = field(default_factory=Counter)  # failures of an already reported kind
    kinds: Counter[str] = field(default_factory=Counter)
    sizes: list[int] = field(default_factory=list)
    graphs: int = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="graphs to generate (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated (default asic,cpu,tiled)")
    parser.add_argument("--out", default="fuzz-failures", help="folder for the failing cases' .mir files")
    parser.add_argument("--max-ops", type=int, default=40, help="ops per graph at most (default 40)")
    parser.add_argument("--generators", default="",
                        help="comma-separated generator names of moecc.fuzz.strategy (default: all, weighted)")
    parser.add_argument("--known", default=str(Path(__file__).resolve().parents[1] / "tests" / "fuzz_regressions"),
                        help="folder of .mir cases whose '// fuzz-known: TARGET STATUS [any-ops]' lines are open bugs to skip "
                             "(default tests/fuzz_regressions; '' for none)")
    parser.add_argument("--max-failures", type=int, default=20, help="stop after this many distinct failures")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    generators = None
    if args.generators:
        import moecc.fuzz.strategy as strategy

        generators = [getattr(strategy, name if name.startswith("gen_") else f"gen_{name}")
                      for name in args.generators.split(",") if name]
    out = Path(args.out)
    stats = Stats()
    known = load_known(Path(args.known)) if args.known else []
    written: list[tuple[Known, Path, str]] = []
    start = time.time()
    remaining, round_no = args.examples, 0
    while remaining > 0 and len(written) < args.max_failures:
        state: dict = {"generated": 0, "shrinking": False, "last": None, "focus": targets}

        @settings(max_examples=remaining, deadline=None, database=None, report_multiple_bugs=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink], print_blob=False)
        @seed(args.seed * 1000 + round_no)
        @given(graph_cases(max_ops=args.max_ops, generators=generators))
        def body(case) -> None:  # type: ignore[no-untyped-def]
            # While shrinking, only the targets that failed run (the others cost time for nothing).
            report = run_case(case, state["focus"] if state["shrinking"] else targets)
            kinds = case.op_kinds()
            if not state["shrinking"]:
                state["generated"] += 1
                stats.graphs += 1
                stats.kinds.update(kinds)
                stats.sizes.append(sum(1 for op in case.graph.ops if not op.is_const))
                for o in report.outcomes:
                    stats.runs[o.target] += 1
                    if o.status == "ok":
                        stats.ok[o.target] += 1
                    elif o.status == "refused":
                        stats.refusals[o.target][o.reason] += 1
            flavour = flavour_of(case)
            new = [o for o in report.failures if not any(k.matches(o, kinds, flavour) for k in known)]
            if not state["shrinking"]:
                stats.repeats.update(o.target for o in report.failures if o not in new)
            if new:
                if not state["shrinking"]:
                    state["focus"] = [o.target for o in new]
                state["shrinking"] = True
                state["last"] = (report, new)
                raise FuzzFailure(report)

        try:
            body()
        except FuzzFailure:
            pass
        except KeyboardInterrupt:  # stop early, still summarise (and keep what was found)
            print("interrupted", flush=True)
            remaining = 0
        remaining -= max(state["generated"], 1)
        round_no += 1
        if state["last"] is not None:
            found, new = state["last"]
            assert isinstance(found, CaseReport)
            for outcome in new:

                def still_fails(case, outcome=outcome) -> bool:  # type: ignore[no-untyped-def]
                    again = run_case(case, [outcome.target]).outcomes[0]
                    return again.status == outcome.status and (again.status == "mismatch" or again.reason == outcome.reason)

                report = CaseReport(reduce_case(found.case, still_fails), found.outcomes)
                entry = Known(outcome.target, outcome.status, outcome.reason, frozenset(report.case.op_kinds()),
                              flavour_of(report.case))
                known.append(entry)
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"{outcome.target}_{outcome.status}_{len(written) + 1}.mir"
                path.write_text(failure_mir(report, outcome, [f"found by: scripts/fuzz.py --seed {args.seed} "
                                                              f"(round {round_no - 1})"]), encoding="utf-8")
                written.append((entry, path, outcome.detail))
                print(f"[{time.time() - start:7.1f}s] NEW {outcome.target} {outcome.status}: {outcome.detail[:200]} "
                      f"-> {path}", flush=True)
        print(f"[{time.time() - start:7.1f}s] {stats.graphs} graphs run, {len(written)} distinct failures", flush=True)

    print(f"\n== fuzz summary: seed {args.seed}, {stats.graphs} graphs, {time.time() - start:.0f} s ==")
    if stats.sizes:
        sizes = sorted(stats.sizes)
        print(f"ops per graph: median {sizes[len(sizes) // 2]}, max {sizes[-1]}; "
              f"{len(stats.kinds)} op kinds covered")
    for target in targets:
        refused = sum(stats.refusals[target].values())
        print(f"{target:6s} graphs run {stats.runs[target]}, ok {stats.ok[target]}, refused {refused}, "
              f"failing runs {stats.runs[target] - stats.ok[target] - refused} "
              f"(of already reported kinds: {stats.repeats[target]})")
        for reason, count in stats.refusals[target].most_common():
            print(f"         refused x{count}: {reason}")
    if written:
        print(f"{len(written)} distinct failure(s):")
        for entry, path, detail in written:
            print(f"  {entry.target} {entry.status} [{', '.join(sorted(entry.kinds))}]: {detail[:300]}\n    -> {path}")
    else:
        print("no failures")
    return 1 if written else 0


if __name__ == "__main__":
    sys.exit(main())
