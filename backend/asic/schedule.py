"""Token scheduling: dependency waits and signals for a straight-line instruction stream.

Where it sits: between instruction selection (:mod:`moecc.backend.asic.isel`, which gives
each instruction its unit and the byte ranges it reads and writes) and program assembly
(:mod:`moecc.backend.asic.codegen`). The output is correct under the ISA's synchronisation
rules (ISA.md, "Synchronisation rules") and ends with ``halt``.

The scheme, correctness first:

- **Hazards.** For an instruction ``x`` on queued unit ``U`` and each other queued unit
  ``V``, the only ``V`` instruction that matters is the *latest* one that conflicts with
  ``x`` (RAW, WAR or WAW: byte ranges overlap in one memory space, one side writes):
  units start and complete their instructions in program order, so its completion
  implies the completion of every earlier ``V`` instruction. Same-unit hazards need
  nothing (rule 3).
- **Knowledge clocks.** Each queued instruction carries a vector clock: per unit, the
  sequence number up to which that unit's instructions are *known complete* when it
  starts. Clocks flow along tokens (a consumer learns its producer's clock plus the
  producer itself), along a unit's queue (the next instruction starts after this one
  started) and from the control unit (an instruction dispatched after a fence
  ``nop wait(t)`` knows what the fence knew). A hazard already covered by the clock
  needs no token: this is what removes most redundant waits.
- **Direct tokens.** An uncovered hazard on producer ``j`` makes ``j`` signal a token that
  ``x`` waits on. A signal adds one count and each count must be consumed by exactly one
  wait, so a producer signals for one consumer only. When ``j``'s count is already taken
  by an earlier consumer ``w``, ``x`` waits for ``w`` instead (``w`` started after ``j``
  completed), following the chain until a producer with a free signal is found.
- **Fences.** An instruction waits on at most two tokens; further hazards are resolved by
  ``nop wait(t)`` fences placed just before it on the control unit, which order everything
  dispatched after them.
- **Token reuse.** Token ``t`` is reused for a new pair (producer ``p``, consumer ``c``) only
  when the previous consumer of ``t`` provably starts (consumes its count) before ``p``
  starts *and* before ``c`` can start: otherwise ``c`` could take the stale count, or the
  old consumer could take ``p``'s. Tokens are reused least recently used first; when
  none of the 31 qualifies, a ``barrier`` drains every unit and frees them all.

Control instructions of the stream pass through untouched, except a selected ``barrier``,
which resets the token state as the scheduler's own barriers do; ``label`` pseudo-
instructions pass through too. A run-time loop (isel's ``blt`` past whole iterations) starts
and ends with barriers; between its iterations isel places a *guard* label, where
:meth:`Scheduler.guard` fences on whatever the next iteration depends on before it, so that no
token crosses into an iteration that may be skipped: skipping leaves no signal or wait
unmatched, and the previous iteration's tail keeps running under the next one's start.

The stream is already in program order; the scheduler never reorders it. Overlap comes
from the lowering: with double-buffered SRAM slots the DMA of the next tile only waits
for the MXU work on the tile two steps back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from moecc.backend.asic.isel import ByteRange, SelectedInstruction

QUEUED_UNITS: tuple[str, ...] = ("ld", "st", "mxu", "vpu")
TOKENS: tuple[int, ...] = tuple(range(1, 32))
MAX_WAITS = 2
#: Instructions another unit may run ahead of what an instruction knows complete before a
#: ``barrier`` syncs them (keeps the hazard scan, and so scheduling, linear in the stream).
MAX_UNSYNCED = 2048
_UNIT_INDEX = {u: i for i, u in enumerate(QUEUED_UNITS)}

Clock = tuple[int, int, int, int]  # per queued unit: highest sequence number known complete
_ZERO: Clock = (0, 0, 0, 0)


def _merge(a: Clock, b: Clock) -> Clock:
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass(slots=True)
class ScheduledInstruction:
    """A selected instruction with its tokens (``wait`` has 0 for an unused slot)."""

    inst: SelectedInstruction
    wait: tuple[int, int] = (0, 0)
    signal: int = 0


@dataclass(slots=True)
class _Node:
    """A queued instruction as the scheduler sees it."""

    position: int  # index in the output stream (program order)
    unit: str
    seq: int  # 1-based index among its unit's instructions
    reads: tuple[ByteRange, ...]
    writes: tuple[ByteRange, ...]
    start: Clock
    out: ScheduledInstruction
    consumer: object | None = None  # _Node or _Fence that consumes this node's signal

    @property
    def complete(self) -> Clock:
        clock = list(self.start)
        i = _UNIT_INDEX[self.unit]
        clock[i] = max(clock[i], self.seq)
        return tuple(clock)  # type: ignore[return-value]


@dataclass(slots=True)
class _Fence:
    """A control-unit wait (``nop wait(t)``) at ``position`` in the output stream."""

    position: int
    clock: Clock


@dataclass(slots=True)
class ScheduleStats:
    waits: int = 0
    signals: int = 0
    fences: int = 0
    barriers: int = 0
    chained: int = 0


@dataclass(slots=True)
class _TokenUse:
    producer: _Node
    consumer: object  # _Node or _Fence


@dataclass(slots=True)
class Scheduler:
    out: list[ScheduledInstruction] = field(default_factory=list)
    stats: ScheduleStats = field(default_factory=ScheduleStats)
    nodes: dict[str, list[_Node]] = field(default_factory=lambda: {u: [] for u in QUEUED_UNITS})
    unit_clock: dict[str, Clock] = field(default_factory=lambda: {u: _ZERO for u in QUEUED_UNITS})
    ctrl_clock: Clock = _ZERO
    tokens: dict[int, _TokenUse | None] = field(default_factory=lambda: {t: None for t in TOKENS})
    #: Output position where the current guarded iteration (or, after a barrier, everything
    #: since it) starts: what a guard may fence on directly (:meth:`guard`).
    region_start: int = 0
    lru: list[int] = field(default_factory=lambda: list(TOKENS))

    # -- happens-before ------------------------------------------------------------------------

    @staticmethod
    def _before(first: object, unit: str, seq: int, position: int, clock: Clock) -> bool:
        """Whether ``first`` (a node or fence) has started before an instruction with this
        unit/seq/position/clock starts."""
        if isinstance(first, _Fence):
            return first.position < position
        assert isinstance(first, _Node)
        if first.unit == unit and first.seq < seq:
            return True
        return clock[_UNIT_INDEX[first.unit]] >= first.seq

    def _token_for(self, producer: _Node, consumer_unit: str, consumer_seq: int, position: int,
                   consumer_clock: Clock, taken: Sequence[int] = ()) -> int | None:
        for token in self.lru:
            if token in taken:
                continue
            use = self.tokens[token]
            if use is None or (
                self._before(use.consumer, producer.unit, producer.seq, producer.position, producer.start)
                and self._before(use.consumer, consumer_unit, consumer_seq, position, consumer_clock)
            ):
                self.lru.remove(token)
                self.lru.append(token)
                return token
        return None

    # -- emission ------------------------------------------------------------------------------

    def _emit_ctrl(self, mnemonic: str, comment: str, wait: tuple[int, int] = (0, 0)) -> None:
        self.out.append(ScheduledInstruction(SelectedInstruction(mnemonic, {}, "ctrl", comment=comment), wait))

    def _barrier(self, comment: str, selected: SelectedInstruction | None = None) -> None:
        """A barrier (``selected``: one from the stream) drains every unit: all tokens free."""
        if selected is None:
            self._emit_ctrl("barrier", comment)
        else:
            self.out.append(ScheduledInstruction(selected))
        self.stats.barriers += 1
        done = tuple(len(self.nodes[u]) for u in QUEUED_UNITS)
        self.ctrl_clock = done  # type: ignore[assignment]
        self.tokens = {t: None for t in TOKENS}
        self.region_start = len(self.out)

    def _fence(self, producer: _Node) -> bool:
        """``nop wait(t)`` on ``producer`` before the next instruction; False if no token is free."""
        position = len(self.out)
        token = self._token_for(producer, "ctrl", 0, position, self.ctrl_clock)
        if token is None:
            return False
        fence = _Fence(position, self.ctrl_clock)
        self._link(producer, fence, token)
        self._emit_ctrl("nop", f"fence: wait for {producer.out.inst.mnemonic} #{producer.position}", (token, 0))
        self.ctrl_clock = _merge(self.ctrl_clock, producer.complete)
        self.stats.fences += 1
        return True

    def _link(self, producer: _Node, consumer: object, token: int) -> None:
        producer.consumer = consumer
        producer.out.signal = token
        self.tokens[token] = _TokenUse(producer, consumer)
        self.stats.signals += 1

    # -- dependencies --------------------------------------------------------------------------

    def _latest_conflict(self, unit: str, known: int, reads: Sequence[ByteRange],
                         writes: Sequence[ByteRange]) -> _Node | None:
        history = self.nodes[unit]
        for node in reversed(history[known:]):
            if any(w.overlaps(r) for w in node.writes for r in reads) or \
                    any(w.overlaps(o) for w in writes for o in node.reads + node.writes):
                return node
        return None

    def _producers(self, unit: str, clock: Clock, reads: Sequence[ByteRange],
                   writes: Sequence[ByteRange]) -> list[_Node]:
        """Nodes whose completion the instruction must wait for, beyond what ``clock`` knows."""
        needed: list[_Node] = []
        for other in QUEUED_UNITS:
            if other == unit:
                continue
            node = self._latest_conflict(other, clock[_UNIT_INDEX[other]], reads, writes)
            if node is None:
                continue
            # The node's count may already belong to an earlier consumer: wait for that
            # consumer instead (it started after the node completed).
            while isinstance(node.consumer, _Node) and node.consumer.unit != unit:
                node = node.consumer
                self.stats.chained += 1
            if node.consumer is not None or clock[_UNIT_INDEX[node.unit]] >= node.seq:
                continue  # consumed by a fence or on our own unit, or already known: covered
            if node not in needed:
                needed.append(node)
        return needed

    def guard(self, region: Sequence[SelectedInstruction]) -> None:
        """Before a guarded iteration of a run-time-count loop (it may be skipped, and then
        nothing after it until the loop's end runs): fence on every instruction before it that
        an instruction of ``region`` depends on, so that no token crosses into the region (its
        waits would be left unmatched, or its producers' signals unconsumed, when it is
        skipped). The fences sit in the previous iteration's path, which runs exactly when
        their producers did; a producer from further back is waited for through the previous
        iteration's last instruction on its unit (units complete in order). Unlike a barrier, they leave everything else in flight: the
        previous iteration's epilogue overlaps this one's start."""
        needed: list[_Node] = []
        for inst in region:
            if inst.unit not in _UNIT_INDEX:
                continue
            clock = _merge(self.unit_clock[inst.unit], self.ctrl_clock)
            for node in self._producers(inst.unit, clock, inst.reads, inst.writes):
                if node.position < self.region_start:
                    # Before the previous iteration (which runs whenever this fence does, but a
                    # producer before it may have run when this fence is skipped): wait instead
                    # for the previous iteration's last instruction on the same unit, which
                    # completes after it (units complete in order).
                    latest = self.nodes[node.unit][-1]
                    if latest.position < self.region_start:
                        self._barrier("barrier: a loop iteration depends on work before the previous one")
                        return
                    node = latest
                if node not in needed:
                    needed.append(node)
        for node in sorted(needed, key=lambda n: n.position):
            if self.ctrl_clock[_UNIT_INDEX[node.unit]] >= node.seq or node.consumer is not None:
                continue  # an earlier fence covered it (units complete in order), or fenced already
            if not self._fence(node):
                self._barrier("barrier: no dependency token free at a loop guard")
                return

    def start_region(self) -> None:
        """The instructions from here on belong to a new guarded iteration (see :meth:`guard`)."""
        self.region_start = len(self.out)

    def add(self, inst: SelectedInstruction) -> None:
        if inst.unit not in _UNIT_INDEX:
            if inst.mnemonic == "barrier":
                self._barrier(inst.comment, inst)
            else:
                self.out.append(ScheduledInstruction(inst))  # other ctrl, and labels
            return
        unit = inst.unit
        seq = len(self.nodes[unit]) + 1
        clock = _merge(self.unit_clock[unit], self.ctrl_clock)
        if any(len(self.nodes[u]) - clock[_UNIT_INDEX[u]] > MAX_UNSYNCED for u in QUEUED_UNITS if u != unit):
            # Another unit ran far ahead with nothing waiting on it: scanning its history for
            # hazards would make scheduling quadratic. A barrier makes all of it known complete.
            self._barrier("barrier: bounds the dependency scan")
            clock = _merge(self.unit_clock[unit], self.ctrl_clock)
        producers = self._producers(unit, clock, inst.reads, inst.writes)
        # Beyond two waits: fence the oldest producers on the control unit.
        producers.sort(key=lambda n: n.position)
        while len(producers) > MAX_WAITS:
            if not self._fence(producers.pop(0)):
                self._barrier("barrier: no dependency token free")
                producers = []
        clock = _merge(self.unit_clock[unit], self.ctrl_clock)
        producers = [p for p in producers if clock[_UNIT_INDEX[p.unit]] < p.seq]
        position = len(self.out)
        chosen: list[tuple[_Node, int]] = []
        for producer in producers:
            token = self._token_for(producer, unit, seq, position, clock, [t for _, t in chosen])
            if token is None:
                self._barrier("barrier: no dependency token free")
                chosen = []
                clock = self.ctrl_clock
                break
            chosen.append((producer, token))
        position = len(self.out)
        node = _Node(position, unit, seq, inst.reads, inst.writes, _ZERO, ScheduledInstruction(inst))
        waits = []
        for producer, token in chosen:
            self._link(producer, node, token)
            clock = _merge(clock, producer.complete)
            waits.append(token)
        self.stats.waits += len(waits)
        node.start = _merge(clock, self.ctrl_clock)
        node.out.wait = (waits + [0, 0])[0], (waits + [0, 0])[1]
        self.nodes[unit].append(node)
        self.unit_clock[unit] = node.start
        self.out.append(node.out)

    def finish(self) -> list[ScheduledInstruction]:
        self._emit_ctrl("halt", "end of program: wait for every unit")
        return self.out


def schedule(stream: Sequence[SelectedInstruction]) -> tuple[list[ScheduledInstruction], ScheduleStats]:
    """Add dependency tokens (and, where needed, fences) to ``stream``; ends with ``halt``."""
    scheduler = Scheduler()
    for index, inst in enumerate(stream):
        guard = inst.unit == "label" and bool(inst.operands.get("guard"))
        if guard:
            end = next((j for j in range(index + 1, len(stream)) if stream[j].unit == "label"), len(stream))
            scheduler.guard(stream[index + 1:end])
        scheduler.add(inst)
        if guard:
            scheduler.start_region()
    return scheduler.finish(), scheduler.stats
