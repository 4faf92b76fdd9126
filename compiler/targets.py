"""Compilation targets moecc knows and what each claims to support.

``ref`` runs the graph IR on the reference interpreter (the oracle every other target is
checked against). ``asic`` and ``cpu`` are added by the ASIC and LLVM backends.
"""

from __future__ import annotations

from moecc.errors import TargetError

#: Targets implemented in this version, with a one-line description each.
TARGETS: dict[str, str] = {
    "ref": "reference interpreter (numpy semantics of the graph IR); the oracle for other targets",
    "asic": "the moe-asic, run on moecc's simulator (kernels) with CPU steps on the host",
    "cpu": "the host CPU: kernels compiled with LLVM (JIT), ops without a kernel rule on the interpreter",
}


def check_target(target: str) -> str:
    if target not in TARGETS:
        hint = ""
        raise TargetError(
            f"unknown target '{target}'{hint}",
            remedy=f"choose one of: {', '.join(TARGETS)}",
        )
    return target


def supported_onnx_ops(target: str = "ref") -> dict[str, str]:
    """The ONNX op types ``target`` claims, each with its supported opset range (e.g. ``"13-28"``)."""
    from moecc.frontend.onnx_importer import supported_onnx_ops as frontend_ops

    check_target(target)
    # Every claimed op runs on "asic" too: what the ASIC cannot run goes to CPU steps.
    return frontend_ops()
