"""moecc: an ML compiler for transformer and Mixture-of-Experts models.

The front door of the flow: :func:`compile` imports an ONNX model into the graph IR, runs the
pass pipeline and returns a :class:`CompiledModel` for the chosen target; :func:`load` reads a
saved ``.moe`` artifact back. Everything moecc reports to users is a :class:`MoeccError`.
"""

from __future__ import annotations

from moecc.errors import (
    ArtifactError,
    AssemblyError,
    CheckFailed,
    InputError,
    IRParseError,
    ModelLoadError,
    MoeccError,
    OptionError,
    PassError,
    ShapeError,
    SimulationError,
    TargetError,
    UnsupportedError,
    UnsupportedOpsError,
    VerificationError,
)

__version__ = "0.1.0"

from moecc.artifact import load_artifact as load  # noqa: E402
from moecc.compiled_model import CompiledModel  # noqa: E402
from moecc.driver import compile, compile_graph  # noqa: E402,A004
from moecc.targets import TARGETS, supported_onnx_ops  # noqa: E402

__all__ = [
    "TARGETS",
    "CompiledModel",
    "compile",
    "compile_graph",
    "load",
    "supported_onnx_ops",
    "ArtifactError",
    "AssemblyError",
    "CheckFailed",
    "InputError",
    "IRParseError",
    "ModelLoadError",
    "MoeccError",
    "OptionError",
    "PassError",
    "ShapeError",
    "SimulationError",
    "TargetError",
    "UnsupportedError",
    "UnsupportedOpsError",
    "VerificationError",
    "__version__",
]
