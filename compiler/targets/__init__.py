"""The target registry: every compilation target moecc knows, as one object each.

``ref`` runs the graph IR on the reference interpreter (the oracle every other target is
checked against); ``asic`` compiles for the moe-asic and runs on its simulator; ``cpu`` compiles
the whole model into machine code with LLVM. Each is a
:class:`~moecc.targets.base.CompileTarget` in a module of its own beside this one; nothing
outside these modules switches on a target's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moecc.errors import TargetError, UnsupportedError
from moecc.targets.asic import AsicTarget
from moecc.targets.base import CompileTarget
from moecc.targets.cpu import CpuCompileTarget
from moecc.targets.ref import RefTarget
from moecc.targets.tiled import TiledTarget

_REGISTRY: dict[str, CompileTarget] = {t.name: t for t in (RefTarget(), AsicTarget(), CpuCompileTarget(), TiledTarget())}

#: Targets implemented in this version, with a one-line description each.
TARGETS: dict[str, str] = {name: target.description for name, target in _REGISTRY.items()}


def get_target(name: str) -> CompileTarget:
    """The target object called ``name``; a :class:`TargetError` listing the known ones otherwise."""
    target = _REGISTRY.get(name)
    if target is None:
        raise TargetError(f"unknown target '{name}'", remedy=f"choose one of: {', '.join(_REGISTRY)}")
    return target


def all_targets() -> tuple[CompileTarget, ...]:
    """Every registered target, in registry order."""
    return tuple(_REGISTRY.values())


def check_target(name: str) -> str:
    get_target(name)
    return name


def target_options(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` compile options checked against target ``name``'s and completed with its defaults.
    An option that belongs to another target is named with the target it belongs to."""
    target = get_target(name)
    for key in given:
        if key not in target.option_defaults:
            owners = [t.name for t in _REGISTRY.values() if key in t.option_defaults]
            where = f"an option of target {' and '.join(repr(o) for o in owners)}" if owners else "not a compile option"
            raise UnsupportedError(f"'{key}' is {where}, not of target '{name}'",
                                   remedy=f"target '{name}' takes: {', '.join(target.option_defaults) or 'no options'}")
    return target.check_options(given)


def supported_onnx_ops(target: str = "ref") -> dict[str, str]:
    """The ONNX op types ``target`` claims, each with its supported opset range (e.g. ``"13-28"``)."""
    from moecc.frontend.onnx_importer import supported_onnx_ops as frontend_ops

    get_target(target)
    # Every claimed op runs on every target: what a back end cannot tile runs as a host step.
    return frontend_ops()


__all__ = ["TARGETS", "CompileTarget", "all_targets", "check_target", "get_target", "supported_onnx_ops", "target_options"]
