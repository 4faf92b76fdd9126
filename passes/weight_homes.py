"""Weights kept on chip: an SRAM home for each weight that fits, filled a few kernels ahead.

Where it sits: :func:`moecc.passes.memory_plan.plan_memory` calls :func:`keep_weights_on_chip`
after placing the activations it keeps on chip, with the SRAM left above them. A weight read
only by plain loads, by kernels of one program segment (no host step between its fill and its
last use: the SRAM starts afresh after each), gets a home buffer ``<weight>.home`` (role
``home``: its offset is an SRAM address), taken in the order of first use while they fit.

- Every load of the weight then reads its home instead: an on-chip copy (``dma.ld.sram``,
  a 16-cycle descriptor) instead of an HBM access (200 cycles of latency on ``moe-asic-v1``),
  so a kernel's second weight tile, a rotary table or a mask no longer waits on HBM. On a
  model whose weights fit, what stays on the critical path is the array's own latency.
- A fill kernel (``fill_weights_<n>``) before the kernel :data:`FILL_AHEAD` kernels ahead of
  the weight's first use (or fewer, in a segment's first kernels; a weight the segment's first
  kernel reads keeps its HBM loads, since no kernel could hide its fill) loads it from HBM once, whole: its one local buffer is placed on the
  home itself (memory planning keeps a buffer's preset offset), and its store to the home
  copies nothing, so instruction selection leaves it out. Its sources are the graph ops of the
  kernels that first read its weights (so reports say whom it fills for). The kernel interpreter runs both
  statements, so the kernel IR keeps its meaning on every executor.

HBM traffic is unchanged (each weight is read once, as before, in the fill); the scheduler sees
the home's bytes, so a copy waits for its fill and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from moecc.ir.affine import Affine
from moecc.ir.kernel import Buffer, CpuCall, For, HbmRef, Kernel, KernelModule, Load, LocalRef, Stmt, Store, hbm_refs, walk

#: How many kernels before a weight's first use its fill kernel goes (when the segment allows).
FILL_AHEAD = 2
#: A home buffer's name: the weight's name and this suffix.
HOME_SUFFIX = ".home"
#: Fill kernels are named this and a number.
FILL_PREFIX = "fill_weights_"


def keep_weights_on_chip(module: KernelModule, base: int, capacity: int,
                         align: int) -> tuple[KernelModule, dict[str, int]]:
    """``module`` with homes for the weights that fit SRAM bytes ``[base, capacity)`` (their
    loads retargeted, fill kernels inserted), and weight name -> home offset."""
    uses = _plain_load_uses(module)
    if not uses:
        return module, {}
    kernels = [i for i, step in enumerate(module.steps) if isinstance(step, Kernel)]
    host_steps = [i for i, step in enumerate(module.steps) if isinstance(step, CpuCall)]
    buffers = {b.name: b for b in module.hbm}
    homes: dict[str, int] = {}
    fill_at: dict[str, int] = {}
    cursor = base
    for name, (first, last) in sorted(uses.items(), key=lambda item: (item[1][0], item[0])):
        segment_start = max((h + 1 for h in host_steps if h < first), default=0)
        if any(first < h < last for h in host_steps):
            continue  # the SRAM starts afresh after a host step: keep it in HBM
        size = -(-buffers[name].nbytes // align) * align
        if cursor + size > capacity:
            continue
        ahead = [k for k in kernels if segment_start <= k <= first][-1 - FILL_AHEAD:]
        if ahead[0] == first:
            continue  # no kernel to fill it under: a home would only add a copy
        homes[name] = cursor
        fill_at[name] = ahead[0]
        cursor += size
    if not homes:
        return module, {}
    return _rewrite(module, homes, fill_at, {name: uses[name][0] for name in homes}), homes


def _plain_load_uses(module: KernelModule) -> dict[str, tuple[int, int]]:
    """Weights every kernel reads only through :class:`Load` (and no host step touches), with
    the first and last step index that loads them."""
    weights = {b.name for b in module.hbm if b.role == "weight"}
    refused: set[str] = set()
    uses: dict[str, tuple[int, int]] = {}
    for index, step in enumerate(module.steps):
        if isinstance(step, CpuCall):
            refused.update(step.inputs + step.outputs)
            continue
        for stmt, _ in walk(step.body):
            if isinstance(stmt, Load):
                name = stmt.src.buffer
                if name in weights:
                    lo, _hi = uses.get(name, (index, index))
                    uses[name] = (lo, index)
                continue
            refused.update(ref.buffer for _, ref in hbm_refs(stmt))
    return {name: span for name, span in uses.items() if name not in refused}


def _rewrite(module: KernelModule, homes: Mapping[str, int], fill_at: Mapping[str, int],
             first_use: Mapping[str, int]) -> KernelModule:
    buffers = {b.name: b for b in module.hbm}
    home_buffers = [Buffer(name + HOME_SUFFIX, "hbm", buffers[name].dtype, buffers[name].shape, 1, None, "home")
                    for name in homes]
    fills: dict[int, list[str]] = {}
    for name, index in fill_at.items():
        fills.setdefault(index, []).append(name)
    steps = []
    for index, step in enumerate(module.steps):
        if index in fills:
            names = sorted(fills[index], key=lambda n: homes[n])
            # The graph ops it fills for: those of the kernels that first read its weights.
            sources = tuple(dict.fromkeys(src for n in names for src in module.steps[first_use[n]].sources))
            steps.append(_fill_kernel(f"{FILL_PREFIX}{sum(1 for s in steps if is_fill_kernel(s))}",
                                      [buffers[n] for n in names], homes, sources))
        steps.append(_retarget(step, homes) if isinstance(step, Kernel) else step)
    return KernelModule(hbm=list(module.hbm) + home_buffers, steps=steps, inputs=list(module.inputs),
                        outputs=list(module.outputs))


def is_fill_kernel(step: object) -> bool:
    """Whether ``step`` is a fill kernel (its buffers are placed on weights' homes already)."""
    return isinstance(step, Kernel) and step.name.startswith(FILL_PREFIX) and all(
        b.offset is not None and b.name.endswith(".fill") for b in step.buffers)


def _fill_kernel(name: str, weights: Sequence[Buffer], homes: Mapping[str, int], sources: tuple[str, ...]) -> Kernel:
    """Loads each weight whole into a local buffer placed on its home, then stores it to the
    home buffer (the same bytes: a copy of nothing on the chip, the data on every executor)."""
    locals_, body = [], []
    for weight in weights:
        cols = weight.shape[-1] if weight.shape else 1
        rows = weight.elements // cols
        local = Buffer(f"{weight.name}.fill", "sram", weight.dtype, (rows, cols), 1, homes[weight.name])
        locals_.append(local)
        tile = LocalRef(local.name, rows, cols)
        body.append(Load(tile, HbmRef(weight.name, Affine(), rows, cols, cols)))
        body.append(Store(HbmRef(weight.name + HOME_SUFFIX, Affine(), rows, cols, cols), tile))
    return Kernel(name, tuple(locals_), tuple(body), sources)


def _retarget(kernel: Kernel, homes: Mapping[str, int]) -> Kernel:
    def stmt(s: Stmt) -> Stmt:
        if isinstance(s, For):
            return For(s.var, s.count, tuple(stmt(b) for b in s.body), s.max_count)
        if isinstance(s, Load) and s.src.buffer in homes:
            src = s.src
            return Load(s.dst, HbmRef(src.buffer + HOME_SUFFIX, src.offset, src.rows, src.cols, src.pitch),
                        s.skip_zero_blocks)
        return s

    return Kernel(kernel.name, kernel.buffers, tuple(stmt(s) for s in kernel.body), kernel.sources)


__all__ = ["FILL_AHEAD", "FILL_PREFIX", "HOME_SUFFIX", "is_fill_kernel", "keep_weights_on_chip"]
