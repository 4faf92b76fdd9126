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
    PassError,
    ShapeError,
    SimulationError,
    TargetError,
    UnsupportedError,
    UnsupportedOpsError,
    VerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "AssemblyError",
    "CheckFailed",
    "InputError",
    "IRParseError",
    "ModelLoadError",
    "MoeccError",
    "PassError",
    "ShapeError",
    "SimulationError",
    "TargetError",
    "UnsupportedError",
    "UnsupportedOpsError",
    "VerificationError",
    "__version__",
]
