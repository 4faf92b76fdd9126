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
instructions pass through too, and a control instruction that reads SRAM (``lds``) is fenced
on that memory's producers. A run-time loop (isel's ``blt`` past whole iterations) ends with a
set of unit marks; before each of its iterations isel places a *guard* label, where
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

from moecc.backend.asic.byte_ranges import ByteRange, merge_ranges, strided_overlap
from moecc.backend.asic.isel import UNIT_MARKS, SelectedInstruction

QUEUED_UNITS: tuple[str, ...] = ("ld", "st", "mxu", "vpu")
#: Tokens an instruction's waits are given.
TOKENS: tuple[int, ...] = tuple(range(1, 31))
#: A token only the control unit's fences take, when no other is free (:meth:`Scheduler._fence`):
#: dispatch then waits for that one producer instead of a ``barrier`` for every unit's work.
FENCE_TOKEN = 31
MAX_WAITS = 2
#: Tokens run-time loops leave alone (code between loops tries them first): see
#: :meth:`Scheduler._token_for`.
BETWEEN_LOOPS_TOKENS = frozenset(range(27, 31))
#: Instructions another unit may run ahead of what an instruction knows complete before a
#: ``barrier`` syncs them (keeps the hazard scan, and so scheduling, linear in the stream).
MAX_UNSYNCED = 2048
_UNIT_INDEX = {u: i for i, u in enumerate(QUEUED_UNITS)}
_MARKS = frozenset(UNIT_MARKS.values())

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
    #: A guard's mark once its loop has ended: it stood for earlier work only inside its
    #: iteration, which may not have run, so nothing after the loop may take it for a producer.
    retired: bool = False

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
    #: After a run-time loop: the consumers of the token's other uses since the loop began,
    #: any of which may be the last that ran (later ones were skipped), so every one of them
    #: must have started before the token is reused.
    also: tuple[object, ...] = ()


@dataclass(slots=True)
class Scheduler:
    out: list[ScheduledInstruction] = field(default_factory=list)
    stats: ScheduleStats = field(default_factory=ScheduleStats)
    nodes: dict[str, list[_Node]] = field(default_factory=lambda: {u: [] for u in QUEUED_UNITS})
    unit_clock: dict[str, Clock] = field(default_factory=lambda: {u: _ZERO for u in QUEUED_UNITS})
    ctrl_clock: Clock = _ZERO
    tokens: dict[int, _TokenUse | None] = field(default_factory=lambda: {t: None for t in (*TOKENS, FENCE_TOKEN)})
    #: Output position where the current guarded iteration starts: :meth:`guard` queues marks
    #: for the work before it.
    region_start: int = 0
    #: What is known complete before a run-time loop's first iteration (the count's fence
    #: included): all that holds after the loop, however many iterations ran.
    loop_entry: tuple[dict[str, Clock], Clock] | None = None
    guard_marks: list[_Node] = field(default_factory=list)  # the current run-time loop's guards' marks
    region_marks: list[_Node] = field(default_factory=list)  # the current iteration's guard's marks
    loop_consumers: dict[int, list[object]] = field(default_factory=dict)  # per token, since the loop began
    ended_loops: list[list[_Node]] = field(default_factory=list)  # the end marks of the last run-time loops
    collecting_end: bool = False  # the marks being added end a run-time loop
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
                   consumer_clock: Clock, taken: Sequence[int] = (), fence: bool = False) -> int | None:
        if fence:  # a control-unit fence's own token (see FENCE_TOKEN)
            order = [FENCE_TOKEN]
        elif self.loop_entry is not None:
            # A run-time loop leaves the tokens the code between loops tries first alone:
            # after a loop only what was known before it holds, so the tokens it took stay
            # taken until the next loop's end fences on it, and those fences need free ones.
            # Tokens this loop already holds come first, so that each loop holds few.
            order = [t for t in self.lru if t in self.loop_consumers] + \
                [t for t in self.lru if t not in self.loop_consumers and t not in BETWEEN_LOOPS_TOKENS]
        else:
            order = [t for t in self.lru if t in BETWEEN_LOOPS_TOKENS] + \
                [t for t in self.lru if t not in BETWEEN_LOOPS_TOKENS]
        for token in order:
            if token in taken:
                continue
            use = self.tokens[token]
            if use is None or all(
                self._before(w, producer.unit, producer.seq, producer.position, producer.start)
                and self._before(w, consumer_unit, consumer_seq, position, consumer_clock)
                for w in (use.consumer, *use.also)
            ):
                if token in self.lru:
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
        if self.loop_entry is None:
            self.tokens = {t: None for t in (*TOKENS, FENCE_TOKEN)}
        # else: inside a run-time loop's iteration, which may be skipped, the barrier may not
        # run: the token uses stay recorded (the clock frees them on this path) for after it.

    def _fence(self, producer: _Node) -> bool:
        """``nop wait(t)`` on ``producer`` before the next instruction; False if no token is free
        (:data:`FENCE_TOKEN` is tried last, outside run-time loops)."""
        position = len(self.out)
        token = self._token_for(producer, "ctrl", 0, position, self.ctrl_clock)
        if token is None and self.loop_entry is None:
            token = self._token_for(producer, "ctrl", 0, position, self.ctrl_clock, fence=True)
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
        if self.loop_entry is not None:
            # Remember every consumer of the token since the loop began (see leave_loop).
            previous = self.tokens[token]
            earlier = self.loop_consumers.setdefault(token, [] if previous is None else
                                                     [previous.consumer, *previous.also])
            earlier.append(consumer)
        self.tokens[token] = _TokenUse(producer, consumer)
        self.stats.signals += 1

    # -- dependencies --------------------------------------------------------------------------

    def _latest_conflict(self, unit: str, known: int, reads: Sequence[ByteRange],
                         writes: Sequence[ByteRange]) -> _Node | None:
        history = self.nodes[unit]
        for index in range(len(history) - 1, known - 1, -1):  # the newest first, no copies
            node = history[index]
            if node.retired:
                continue
            for w in node.writes:  # read after write
                for r in reads:
                    if w.space == r.space and w.start < r.end and r.start < w.end and (
                            w.rows == 1 and r.rows == 1 or strided_overlap(w, r)):
                        return node
            for w in writes:  # write after read or write
                for o in node.reads:
                    if w.space == o.space and w.start < o.end and o.start < w.end and (
                            w.rows == 1 and o.rows == 1 or strided_overlap(w, o)):
                        return node
                for o in node.writes:
                    if w.space == o.space and w.start < o.end and o.start < w.end and (
                            w.rows == 1 and o.rows == 1 or strided_overlap(w, o)):
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
        """At the start of a guarded iteration of a run-time-count loop (after its ``blt``: it
        runs only when the iteration does): no token may cross into it, since a skipped
        iteration would leave its producers' signals unconsumed. So for each queued unit that
        has work before the iteration which an instruction of ``region`` depends on, a *mark* is
        queued on that unit here, touching what that work touched: the mark completes once
        every earlier instruction of its unit has (units complete in order), and the
        iteration's instructions wait on it instead. Nothing stalls the control unit: the
        previous iteration's tail keeps running under this one's start."""
        marks: dict[str, tuple[list[ByteRange], list[ByteRange]]] = {}
        for inst in region:
            if inst.unit not in _UNIT_INDEX:
                continue
            clock = _merge(self.unit_clock[inst.unit], self.ctrl_clock)
            for other in QUEUED_UNITS:
                if other == inst.unit:
                    continue
                node = self._latest_conflict(other, clock[_UNIT_INDEX[other]], inst.reads, inst.writes)
                if node is None or node.position >= self.region_start:
                    continue
                reads, writes = marks.setdefault(other, ([], []))
                reads.extend(node.reads)
                writes.extend(node.writes)
        first = next((inst for inst in region if inst.unit in _UNIT_INDEX), None)
        self.region_marks = []
        for unit in QUEUED_UNITS:
            # A unit with work not known done gets a mark even when the iteration does not
            # depend on it: the iteration's end fences on the marks (see settle).
            if unit in marks or self.ctrl_clock[_UNIT_INDEX[unit]] < len(self.nodes[unit]):
                reads, writes = marks.get(unit, ((), ()))
                self.add(SelectedInstruction(UNIT_MARKS[unit], {}, unit, merge_ranges(reads), merge_ranges(writes),
                                             first.comment if first else "", first.kernel if first else ""))
                self.guard_marks.append(self.nodes[unit][-1])
                self.region_marks.append(self.nodes[unit][-1])

    def settle(self) -> None:
        """At the end of a guarded iteration (in its path): fence on the marks queued at its
        start, which ran exactly when this fence does (a fence on an earlier iteration's
        marks would be skipped with this iteration while they had run, leaving their signals
        over). They cover everything before the iteration, done by the time this iteration's
        work is queued in practice, and knowing so keeps tokens reusable: without it a loop's
        tokens stay taken, as nothing else tells the control unit that their consumers started."""
        for node in self.region_marks:
            while isinstance(node.consumer, _Node):  # its signal taken: fence on the taker
                node = node.consumer
            if self.ctrl_clock[_UNIT_INDEX[node.unit]] >= node.seq or node.consumer is not None:
                continue
            if not self._fence(node):
                break  # no token: knowing less is only slower
        self.region_marks = []

    def before_loop(self) -> None:
        """At a run-time loop's start (on the straight-line path, after what its enclosing
        iteration loads first, an expert's weights): fence on the unit marks that ended the
        run-time loop before the previous one. That one is done by now in practice (the
        previous loop ran under its tail), and knowing so frees its tokens and lets what
        follows reuse its slots without waiting for everything on their units, which is all a
        mark offers once only what was known before a loop holds."""
        if len(self.ended_loops) < 2:
            return
        for node in self.ended_loops[-2]:
            # A mark whose signal went to a later instruction: fence on that one (it started
            # after the mark completed; end marks' consumers all run, as the marks do).
            while isinstance(node.consumer, _Node):
                node = node.consumer
            if self.ctrl_clock[_UNIT_INDEX[node.unit]] >= node.seq or node.consumer is not None:
                continue
            if not self._fence(node):
                self._barrier("barrier: no dependency token free before a run-time loop")
                return

    def enter_loop(self) -> None:
        """At a run-time loop's first guard: remember what holds on every path out of it."""
        self.loop_entry = (dict(self.unit_clock), self.ctrl_clock)

    def leave_loop(self) -> None:
        """At a run-time loop's end: any number of its iterations ran, so only what was known
        before the first one still holds (the unit marks that follow stand for the rest)."""
        if self.loop_entry is not None:
            units, ctrl = self.loop_entry
            self.unit_clock = dict(units)
            self.ctrl_clock = ctrl
            self.loop_entry = None
        # A token reused inside the loop was reused on what an iteration knew; when later
        # iterations were skipped, its last consumer that ran is an earlier one: all of them
        # must have started before it is reused again.
        for token, consumers in self.loop_consumers.items():
            use = self.tokens[token]
            if use is not None:
                self.tokens[token] = _TokenUse(use.producer, use.consumer,
                                               tuple(c for c in consumers if c is not use.consumer))
        self.loop_consumers = {}
        for node in self.guard_marks:
            node.retired = True
        self.guard_marks.clear()
        self.region_marks = []
        self.collecting_end = True
        self.ended_loops.append([])  # the end marks that follow
        del self.ended_loops[:-3]

    def start_region(self) -> None:
        """The instructions from here on belong to a new guarded iteration (see :meth:`guard`)."""
        self.region_start = len(self.out)

    def add(self, inst: SelectedInstruction) -> None:
        if inst.unit not in _UNIT_INDEX:
            if inst.mnemonic == "barrier":
                self._barrier(inst.comment, inst)
                return
            # A control instruction that reads memory (lds) does so when dispatched: fence it
            # on the queued producers of those bytes (the control unit runs in order, so a
            # later write cannot overtake the read).
            for node in sorted(self._producers("ctrl", self.ctrl_clock, inst.reads, ()), key=lambda n: n.position):
                if self.ctrl_clock[_UNIT_INDEX[node.unit]] >= node.seq:
                    continue
                if not self._fence(node):
                    self._barrier("barrier: no dependency token free for a control read")
                    break
            self.out.append(ScheduledInstruction(inst))  # other ctrl, and labels
            return
        unit = inst.unit
        seq = len(self.nodes[unit]) + 1
        clock = _merge(self.unit_clock[unit], self.ctrl_clock)
        if inst.mnemonic in _MARKS:
            # A unit mark orders nothing itself (its unit runs in order); it only stands, for
            # later instructions, for everything the loop before it did on its unit.
            node = _Node(len(self.out), unit, seq, inst.reads, inst.writes, clock, ScheduledInstruction(inst))
            self.nodes[unit].append(node)
            self.unit_clock[unit] = node.start
            self.out.append(node.out)
            if self.loop_entry is None and self.ended_loops and self.collecting_end:
                self.ended_loops[-1].append(node)
            return
        self.collecting_end = False
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
            if token is None and self.loop_entry is None and self._fence(producer):
                # No token for the wait: dispatch waits for this producer instead (it is known
                # complete to everything after), not for every unit's work as a barrier would.
                clock = _merge(self.unit_clock[unit], self.ctrl_clock)
                position = len(self.out)
                continue
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
        if guard and inst.operands.get("first"):
            scheduler.enter_loop()
        if inst.unit == "label" and inst.operands.get("settle"):
            scheduler.settle()
        if inst.unit == "label" and inst.operands.get("loop_end"):
            scheduler.leave_loop()
        scheduler.add(inst)
        if inst.unit == "label" and inst.operands.get("loop_start"):
            scheduler.before_loop()
        if guard:
            end = next((j for j in range(index + 1, len(stream)) if stream[j].unit == "label"), len(stream))
            scheduler.start_region()
            scheduler.guard(stream[index + 1:end])
    return scheduler.finish(), scheduler.stats
