"""Host steps of the staged module: tiled kernels the ASIC cannot run, and host calls.

- A tiled **kernel** with a statement staging cannot express (a scatter, a run-time-count
  loop, an op the VPU lacks) becomes a :class:`~moecc.ir.kernel.CpuCall` with no graph ops;
  its code is :class:`HostKernelStep`: the tiled interpreter running that kernel over the
  global buffers it touches, read from and written back to the HBM image in their storage
  dtypes. The asic target installs these callables as the steps' compiled functions.
- A **host call** holds its graph ops inline, built from the compiled graph's ops with the
  same result names; its ``CpuCall`` names those ops (re-keyed onto the graph the runtime
  holds) and binds each inline input/output value name to its global buffer in
  ``value_buffers``, so the existing host-step compiler and runtime run it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from moecc.ir.kernel import Buffer as KBuffer
from moecc.ir.tiled.interpreter import execute_step
from moecc.ir.tiled.nodes import Buffer, For, Kernel, stmt_elements, stmt_views, walk
from moecc.ir.types import DType


def touched_globals(kernel: Kernel, globals_: Mapping[str, Buffer]) -> tuple[str, ...]:
    """Global buffers a tiled kernel reads or writes (views and run-time loop counts)."""
    names: list[str] = []
    for _, stmt, _ in walk(kernel.body):
        views = [] if isinstance(stmt, For) else [v for _, v in stmt_views(stmt)]
        buffers = [v.buffer for v in views] + [ref.buffer for ref in stmt_elements(stmt)]
        for name in buffers:
            if name in globals_ and name not in names:
                names.append(name)
    return tuple(names)


@dataclass(slots=True)
class HostKernelStep:
    """Runs one tiled kernel on the host over the HBM image (see the module docstring)."""

    kernel: Kernel
    globals_: tuple[Buffer, ...]  # tiled buffers it touches (their tiled dtypes)
    placed: tuple[KBuffer, ...]  # the same buffers in HBM (planned offsets, storage dtypes)

    def __call__(self, image: np.ndarray) -> None:
        from moecc.asic_runtime import to_hbm

        memory: dict[str, np.ndarray] = {}
        for tiled, hbm in zip(self.globals_, self.placed):
            stored = _view(image, hbm)
            memory[tiled.name] = (stored != 0) if tiled.dtype == DType.BOOL else stored.astype(tiled.dtype.numpy)
        execute_step(self.kernel, self.globals_, memory)
        for tiled, hbm in zip(self.globals_, self.placed):
            # An integer the storage cannot hold (an i64 result beyond the chip's i32) is refused, never wrapped.
            _view(image, hbm)[...] = to_hbm(memory[tiled.name], hbm)


def _view(image: np.ndarray, buffer: KBuffer) -> np.ndarray:
    assert buffer.offset is not None
    size = buffer.elements * buffer.dtype.itemsize
    return image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy)


def host_kernel_steps(kernels: Mapping[str, tuple[Kernel, tuple[Buffer, ...]]],
                      hbm: Mapping[str, KBuffer]) -> dict[str, HostKernelStep]:
    """The callables of the kernels left to the host, over the planned HBM buffers."""
    return {name: HostKernelStep(kernel, buffers, tuple(hbm[b.name] for b in buffers))
            for name, (kernel, buffers) in kernels.items()}




def host_kernels_text(steps: Mapping[str, object]) -> str | None:
    """The kernels among ``steps`` that run on the host, as tiled-IR text (for a ``.moe``: the
    host-step compiler cannot rebuild them from graph ops), or None when there are none."""
    from moecc.ir.tiled import print_tiled_module
    from moecc.ir.tiled.nodes import TiledModule

    kernels = [s for s in steps.values() if isinstance(s, HostKernelStep)]
    if not kernels:
        return None
    buffers = {b.name: b for step in kernels for b in step.globals_}
    return print_tiled_module(TiledModule(tuple(buffers.values()), tuple(s.kernel for s in kernels)))


def host_kernels_from_text(text: str, hbm: Mapping[str, KBuffer]) -> dict[str, HostKernelStep]:
    """The callables :func:`host_kernels_text` saved, over a loaded module's HBM buffers."""
    from moecc.ir.tiled import parse_tiled_module

    module = parse_tiled_module(text)
    globals_ = {b.name: b for b in module.buffers}
    kernels = {k.name: (k, tuple(globals_[n] for n in touched_globals(k, globals_))) for k in module.kernels}
    return host_kernel_steps(kernels, hbm)


__all__ = ["HostKernelStep", "host_kernel_steps", "host_kernels_from_text", "host_kernels_text", "touched_globals"]
