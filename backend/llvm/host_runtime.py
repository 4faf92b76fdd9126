"""The Python side every compiled CPU program shares: arenas and running thread pools.

The CPU code generator (:mod:`moecc.backend.llvm.tiled`: whole models on ``cpu`` and the
``asic`` target's host steps) hands the machine code heap and scratch arenas from
:func:`aligned_zeros`, and register each JIT module whose pool has worker threads with
:func:`track_pool`: the registry holds the module, so its engine (the code the workers spin in)
cannot be freed under them, and stops every pool at exit before the engines go.
"""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np

#: Alignment of the arenas' regions (a cache line, and the memory plan's alignment).
ARENA_ALIGNMENT = 64

#: Pools with workers running, by JIT module: (module, its ``set_threads`` entry point).
_running_pools: dict[int, tuple[Any, Any]] = {}


def aligned_zeros(nbytes: int) -> np.ndarray:
    """A zeroed uint8 arena of at least ``nbytes`` starting on an :data:`ARENA_ALIGNMENT` boundary
    (numpy only promises 16 bytes; cache-line alignment keeps tiles and panels off split lines)."""
    size = max(nbytes, ARENA_ALIGNMENT)
    raw = np.zeros(size + ARENA_ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ARENA_ALIGNMENT
    return raw[start:start + size]


def track_pool(jit: Any, setter: Any, threads: int) -> None:
    """Record that ``jit``'s pool now runs ``threads`` threads (worker threads when > 1)."""
    if threads > 1:
        _running_pools[id(jit)] = (jit, setter)
    else:
        _running_pools.pop(id(jit), None)


@atexit.register
def _stop_running_pools() -> None:
    for _, setter in list(_running_pools.values()):
        setter(1)
    _running_pools.clear()
