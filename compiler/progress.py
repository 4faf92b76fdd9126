"""Progress of long CLI commands on a terminal: one status line, rewritten in place.

Used by the CLI around what can take long (ONNX import, each pass and stage of the pipeline,
simulation, artifact writing). It writes only when its stream is a terminal and the user did not
ask for quiet (``--quiet``): redirected output, logs and tests see nothing. The line shows the
step, its position among the pipeline's steps and the elapsed time, and is cleared when the
command finishes, so what the command prints afterwards starts on a clean line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A status line on ``stream`` (default stderr), shown only on a terminal unless ``quiet``."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and bool(isatty and isatty())
        self.start = time.perf_counter()
        self._width = 0

    def step(self, label: str, index: int | None = None, total: int | None = None) -> None:
        """Show ``label`` (with ``[index/total]`` when given) as the current step."""
        if not self.enabled:
            return
        where = f"[{index}/{total}] " if index is not None and total else ""
        text = f"moecc: {where}{label} ... {time.perf_counter() - self.start:.1f} s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(text))

    def clear(self) -> None:
        """Erase the status line (before the command prints its results)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


__all__ = ["Progress"]
