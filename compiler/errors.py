"""Errors moecc raises for bad input, unsupported models and failed checks.

Every stage of the flow (frontend, IR verifier, passes, backends, simulator, artifact
loader, CLI) raises a subclass of :class:`MoeccError`. An error names where it happened
(ONNX node, op type and opset, or pass, or file / instruction) and says what to do; the CLI
prints ``str(err)`` as one line and exits 2.
"""

from __future__ import annotations


class MoeccError(Exception):
    """Base class of every error moecc reports to its users."""

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        op_type: str | None = None,
        opset: int | None = None,
        pass_name: str | None = None,
        location: str | None = None,
        remedy: str | None = None,
    ) -> None:
        self.message = message
        self.node = node
        self.op_type = op_type
        self.opset = opset
        self.pass_name = pass_name
        self.location = location
        self.remedy = remedy
        super().__init__(self._format())

    def add_context(self, **fields: object) -> MoeccError:
        """Fill in context fields (node, op_type, opset, pass_name, location, remedy) that are
        still unset, refresh the message, and return ``self`` for ``raise err.add_context(...)``."""
        for key, value in fields.items():
            if value is not None and getattr(self, key) is None:
                setattr(self, key, value)
        self.args = (self._format(),)
        return self

    def _format(self) -> str:
        where: list[str] = []
        if self.pass_name:
            where.append(f"pass '{self.pass_name}'")
        if self.node is not None:
            where.append(f"node '{self.node}'")
        if self.op_type:
            where.append(f"op {self.op_type}" + (f" (opset {self.opset})" if self.opset else ""))
        if self.location:
            where.append(self.location)
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.remedy:
            text += f"; {self.remedy}"
        return " ".join(text.split("\n"))


class ModelLoadError(MoeccError):
    """The model file cannot be read or is not a valid ONNX model."""


class UnsupportedError(MoeccError):
    """The model uses an op, dtype, opset or feature moecc does not support."""


class UnsupportedOpsError(UnsupportedError):
    """One or more ONNX op types have no moecc lowering; lists all of them at once."""


class ShapeError(MoeccError):
    """Shapes are dynamic, inconsistent or impossible (bad reshape, incompatible matmul, ...)."""


class VerificationError(MoeccError):
    """An IR graph or kernel violates an invariant (SSA, types, order, op contract)."""


class IRParseError(MoeccError):
    """IR text does not parse."""


class PassError(MoeccError):
    """A pass or pipeline description is invalid, or a pass failed."""


class InputError(MoeccError):
    """Inputs given to ``CompiledModel.run`` do not match the model's signature."""


class OptionError(MoeccError):
    """A compile option's value (or a file it names) is invalid; the message names the option
    (``prune``, ``calibration``, ``prune_filter``) and the remedy lists what it takes."""


class ArtifactError(MoeccError):
    """A ``.moe`` artifact is corrupt, truncated, foreign or from an unknown format version."""


class AssemblyError(MoeccError):
    """moe-asic assembly text or binary is malformed."""


class SimulationError(MoeccError):
    """A moe-asic program faulted in the simulator (out of bounds, deadlock, runaway loop...)."""


class TargetError(MoeccError):
    """Unknown target or target description, or a model too big for the target."""


class CheckFailed(MoeccError):
    """Outputs of two executors differ beyond tolerance (CLI exit code 1)."""
