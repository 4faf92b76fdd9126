"""Count the ONNX node tests moecc passes, refuses and fails on a target; write docs/node_tests.md.

Usage: python scripts/node_test_summary.py [--target ref] [--write docs/node_tests.md]
The same cases and comparison as tests/test_onnx_node_tests.py.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import moecc  # noqa: E402
from tests.onnx_node_cases import claimed_cases, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="ref")
    parser.add_argument("--write", help="write a Markdown summary to this file")
    args = parser.parse_args()
    cases = claimed_cases(args.target)
    passed, refused, failed = [], [], []
    frozen = 0
    for case in cases:
        try:
            how = run_case(case, args.target)
            passed.append(case.name)
            frozen += how != "run"
        except moecc.MoeccError as err:
            refused.append((case.name, f"{type(err).__name__}: {err}"))
        except Exception as exc:  # noqa: BLE001 - a summary must count every failure
            failed.append((case.name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
    print(f"target {args.target}: {len(cases)} claimed node tests: {len(passed)} passed "
          f"({frozen} with constant shape inputs), {len(refused)} refused, {len(failed)} failed")
    reasons = collections.Counter(r.split(":")[0] for _, r in refused)
    for name, reason in failed:
        print(f"FAIL {name}: {reason[:200]}")
    if args.write:
        lines = [
            f"# ONNX node tests on `{args.target}`",
            "",
            f"Command: `python scripts/node_test_summary.py --target {args.target} --write {args.write}`",
            "",
            f"onnx {__import__('onnx').__version__}: {len(cases)} node tests use only claimed ops; "
            f"**{len(passed)} pass** ({frozen} of them with their integer shape inputs bound as constants, "
            f"since moecc compiles for static shapes), {len(refused)} are refused with a `MoeccError`, {len(failed)} fail.",
            "",
            "Refusals by error class: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
            "",
            "| refused case | reason |",
            "|---|---|",
        ]
        lines += [f"| {n} | {r[:160].replace('|', '/')} |" for n, r in refused]
        Path(args.write).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
