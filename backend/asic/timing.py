"""Cycle models of the moe-asic units, priced from a :class:`~moecc.isa_spec.Target`.

The simulator's event loop (:mod:`moecc.backend.asic.sim`) asks these models, when an
instruction leaves its unit queue at cycle ``start``, three things: when the unit can take
its next instruction (``accept_at``), when this one's results are visible and its token is
signalled (``complete``), and which cycles the unit was busy (for utilisation and the trace).

- MXU: SCALE-Sim's weight-stationary model. A fold (one array-sized weight tile) costs
  ``rows`` cycles to shift its weights in, ``m * passes`` cycles to stream the activations and
  ``rows + cols - 2`` cycles of skew fill and drain. The weight FIFO (TPU v1) loads the next
  tile while the current one streams, and streams of back-to-back folds follow each other
  without draining, so a burst of folds pays the weight load and the fill/drain once.
  ``mxu.wpre`` shifts a matmul's first tile in ahead, as soon as the tile is in SRAM, so a
  matmul waiting on its activations starts streaming when they arrive.
- DMA: ``setup_cycles`` (descriptor + first access latency, overlapped across the queue's
  engines), then the bytes over the HBM bus, which ld and st share first-come first-served.
- VPU: ``ceil(elements / lanes) * cost(timing class)`` cycles of throughput plus a fixed
  pipeline latency on completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from moecc.isa_spec.target import Target


@dataclass(frozen=True, slots=True)
class Scheduled:
    """Timing of one instruction on its unit."""

    accept_at: int
    complete: int
    busy: tuple[int, int]  # [begin, end) cycles the unit was doing this instruction's work


@dataclass(slots=True)
class MxuTiming:
    target: Target
    stream_end: int = 0  # when the array's activation port is free
    fifo_free: int = 0  # when the weight FIFO can take the next tile
    preloaded: int | None = None  # when a tile shifted in ahead (mxu.wpre) is ready, if one is

    def preload(self, start: int) -> Scheduled:
        """``mxu.wpre``: shift one tile into the weight FIFO from ``start`` (when the FIFO is
        free); the array does not stream, so it is not busy."""
        ready = max(start, self.fifo_free) + self.target.mxu_rows
        self.fifo_free = ready
        self.preloaded = ready
        return Scheduled(start + 1, ready, (start, start))

    def schedule(self, start: int, folds: int, m: int, passes: int, preloaded: bool = False) -> Scheduled:
        """A matmul of ``folds`` weight tiles streaming ``m`` rows; ``preloaded``: its first
        tile is the one the last ``preload`` shifted in."""
        rows, cols = self.target.mxu_rows, self.target.mxu_cols
        stream = m * passes
        ahead, self.preloaded = (self.preloaded if preloaded else None), None
        if folds == 0:  # every weight tile was masked out: nothing streams
            return Scheduled(start + 1, start + 1, (start, start))
        weights_from = max(start, self.fifo_free)
        first_stream = None
        for fold in range(folds):
            weights_ready = ahead if fold == 0 and ahead is not None else weights_from + rows
            begin = max(weights_ready, self.stream_end, start)
            first_stream = begin if first_stream is None else first_stream
            self.stream_end = begin + stream
            weights_from = begin  # the next tile shifts in while this one streams
        self.fifo_free = weights_from
        complete = self.stream_end + rows + cols - 2
        return Scheduled(self.fifo_free, complete, (first_stream, self.stream_end))


@dataclass(slots=True)
class HbmBus:
    bytes_per_cycle: float
    free_at: int = 0

    def cycles(self, nbytes: int) -> int:
        return math.ceil(nbytes / self.bytes_per_cycle)


@dataclass(slots=True)
class DmaTiming:
    target: Target
    bus: HbmBus
    engines: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engines = [0] * self.target.dma_engines

    def schedule(self, start: int, nbytes: int, extra_cycles: int = 0) -> Scheduled:
        engine = min(range(len(self.engines)), key=lambda i: self.engines[i])
        data_begin = max(start + self.target.dma_setup_cycles, self.bus.free_at)
        data_end = data_begin + self.bus.cycles(nbytes) + extra_cycles
        self.bus.free_at = data_end
        self.engines[engine] = data_end
        return Scheduled(min(self.engines), data_end, (data_begin, data_end))


    def schedule_local(self, start: int, nbytes: int) -> Scheduled:
        """An on-chip copy: an engine of the queue, the local setup, the SRAM's bandwidth (not
        the HBM bus)."""
        engine = min(range(len(self.engines)), key=lambda i: self.engines[i])
        data_begin = max(start, self.engines[engine]) + self.target.dma_local_setup_cycles
        data_end = data_begin + math.ceil(nbytes / self.target.sram_bytes_per_cycle)
        self.engines[engine] = data_end
        return Scheduled(min(self.engines), data_end, (data_begin, data_end))


def vpu_schedule(target: Target, start: int, elements: int, timing_class: str) -> Scheduled:
    vectors = max(1, math.ceil(elements / target.vpu_lanes))
    throughput = vectors * target.cycles(timing_class)
    return Scheduled(start + throughput, start + throughput + target.cycles("vpu_pipeline"),
                     (start, start + throughput))
