"""Reading programs from disk: ``.s`` text or ``.bin`` binaries, plus their initial HBM data.

Used by the ``moecc asm/disasm/sim`` commands and by tests. A program's initial memory lives
in a companion ``<stem>.npz`` beside it (arrays keyed by ``.region`` name); ``--hbm-image``
overrides it with an ``.npz`` of regions or a raw byte image (``.bin``/``.npy``/any file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moecc.errors import AssemblyError, SimulationError
from moecc.isa_spec.assembler import assemble
from moecc.isa_spec.encoding import MAGIC, decode_program
from moecc.isa_spec.program import Program


def read_program(path: str | Path) -> Program:
    """Assemble a ``.s`` file or decode a binary (detected by its magic, not its suffix)."""
    file = Path(path)
    if not file.is_file():
        raise AssemblyError(f"program file '{file}' does not exist")
    data = file.read_bytes()
    if data.startswith(MAGIC):
        return decode_program(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AssemblyError("neither moe-asic assembly text nor a moe-asic binary", location=str(file)) from None
    return assemble(text, source=str(file))


def companion_data_path(program_path: str | Path) -> Path:
    return Path(program_path).with_suffix(".npz")


def read_hbm_data(path: str | Path) -> dict[str, np.ndarray] | np.ndarray:
    """Region arrays from an ``.npz``, an array from ``.npy``, or raw bytes from any other file."""
    file = Path(path)
    if not file.is_file():
        raise SimulationError(f"HBM image '{file}' does not exist")
    try:
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        if file.suffix == ".npy":
            return np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SimulationError(f"cannot read HBM image '{file}': {exc}") from None
    return np.frombuffer(file.read_bytes(), dtype=np.uint8).copy()


def initial_hbm(program_path: str | Path, image: str | Path | None = None) -> dict[str, np.ndarray] | np.ndarray | None:
    """The explicit image if given, else the companion ``.npz`` if present, else None (zeros)."""
    if image is not None:
        return read_hbm_data(image)
    companion = companion_data_path(program_path)
    return read_hbm_data(companion) if companion.is_file() else None
