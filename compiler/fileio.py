"""Whole-or-nothing file output for every command that writes a file.

Outputs (artifacts, reports, traces, dumps, binaries) are written to a temporary file in the
destination folder and renamed into place, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from moecc.errors import MoeccError


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose contents become ``path`` when the block ends without an
    error (temp file in the same folder, then rename); on an error nothing is left behind."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise MoeccError(f"output path '{target}' is a directory", remedy="give a file name")
    if not folder.is_dir():
        raise MoeccError(f"output folder '{folder}' does not exist", remedy="create it first")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        # mkstemp creates the file 0600; the result gets the mode a plain open() would give it.
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
