"""The planner: what runs next, from the samples so far. Pure: no processes, no clock of its own.

A **sitting** is one ``bench run`` invocation (one shard of a launch is one sitting). Its matrix is
cut into **cells** (framework × mode × model × device × setup) and **contests** (model × device ×
setup: the cells a verdict compares). A cell's processes are its runs in order: the first is its
accuracy run (``purpose="full"``, seed 0), the rest are timing runs (seeds 1, 2, ...).

* **Rounds.** Each round runs one process of every cell still in the race, all frameworks, modes,
  models and setups together, in a fresh random order drawn from ``Random(order_seed, round)``, so
  any two cells are measured in the same minutes and a rerun with ``--order-seed`` repeats the order.
* **Minimum.** Every cell runs ``MIN_PROCESSES`` processes (its accuracy run and two timing runs, or
  all its runs if it has fewer) whatever the budget says; where the minimum cannot fit the budget
  the planner says so once, after the first round, with the time the minimum needs.
* **Budget.** Before a process beyond the minimum starts, the run stops if the time spent plus that
  process's expected cost (the mean of its cell's earlier processes of the same purpose, else of
  the sitting's) exceeds the budget: a sitting ends within its budget plus one process.
* **The race.** At the look rounds ``LOOK_ROUNDS`` the leader of each contest is its cell with the
  highest median throughput; a rival whose ``compare_cells`` with the leader is settled *slower* or
  *tie within ±target precision* leaves the race; the leader stays while any rival is open, and
  when none is, the contest is decided and its leader leaves too. The remaining time goes to the
  open contests. A cell alone in its contest (no rival, or every rival failed or skipped) has
  nothing to decide: it leaves after its minimum. A failed or skipped process takes its cell out at
  once (with ``budget=None``, the fixed design, only a skipped one does: every seed of a failing
  cell is tried, as before).
* **Error control: Bonferroni over planned looks.** ``PLANNED_LOOKS`` (10) is fixed before any data:
  the race looks at most ``PLANNED_LOOKS - 1`` times (the rounds of ``LOOK_ROUNDS``) and the report's
  verdict on the final samples is the last look. Every look judges at ``alpha_per_look = ALPHA /
  PLANNED_LOOKS``, so the chance that any look of a comparison calls a difference that is not there
  is at most ALPHA, whatever the looks' dependence. After the planned looks nothing more leaves the
  race; cells keep running while the budget lasts. The looks are spaced (rounds 6, 8, 11, ... 64)
  rather than after every round, because exact rank tests at α/10 cannot decide anything before
  about six processes per cell: looks there would spend α for nothing.
  ``tests/harness/test_race_simulation.py`` proves the rule by simulation. A sitting without a
  budget (``--budget 0``, the fixed design) has no race: its one look is the report's, at ALPHA
  (``planned_looks`` 1).
* **Paired or independent.** ``compare_cells`` pairs two cells' samples by round (Wilcoxon
  signed-rank: a slow minute hits both alike) when they share at least ``paired_minimum(alpha)``
  rounds — five, or more where the paired test could not reach α with fewer (nine at 0.005) — and
  otherwise judges them as independent samples (Mann–Whitney). The report calls the same function
  with the sitting's recorded ``alpha_per_look`` and target precision, so race and report agree.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import judge as judge_mod

PLANNED_LOOKS = 10  # the race's looks plus the report's final one; fixed before any data
LOOK_ROUNDS = (6, 8, 11, 15, 20, 27, 36, 48, 64)  # the race's PLANNED_LOOKS - 1 looks
MIN_PROCESSES = 3  # per cell: the accuracy run and two timing runs
PAIRED_MIN_ROUNDS = 5  # fewest common rounds a paired comparison uses
DEFAULT_BUDGET_MINUTES = 20.0
DEFAULT_TARGET_PRECISION = judge_mod.TIE_MARGIN
MAX_PROCESSES = 40  # a cell's processes at most in a budgeted sitting (the default --seeds 0-39)
# Cell identity beyond framework and mode: what makes two runs the same measurement but for the seed.
SETUP_FIELDS = ("input", "precision", "batch_size", "threads", "epochs", "lr", "loader_workers",
                "timing_epochs")  # fmt: skip


def alpha_per_look(planned_looks: int = PLANNED_LOOKS) -> float:
    """The level each look judges at: ALPHA / planned looks (Bonferroni)."""
    return judge_mod.ALPHA / planned_looks


def contest_key(run: Any) -> tuple:
    """The contest a run belongs to: (model, device, setup); what a verdict compares across cells."""
    return (getattr(run, "model", None), getattr(run, "device", None),
            *(getattr(run, name, None) for name in SETUP_FIELDS))  # fmt: skip


def cell_key(run: Any) -> tuple:
    """The cell a run belongs to: its framework and mode within its contest."""
    return (getattr(run, "framework", None), getattr(run, "mode", None), *contest_key(run))


@dataclass(frozen=True)
class Sitting:
    """One ``bench run`` invocation; every record it writes carries ``to_dict()``."""

    id: str
    started_at: str  # ISO-8601 UTC
    order_seed: int
    budget_minutes: float | None  # None: the fixed design (every run asked for)
    target_precision: float
    alpha_per_look: float
    planned_looks: int

    def to_dict(self) -> dict[str, Any]:
        """The record's ``schedule["sitting"]``."""
        return asdict(self)


def new_sitting(now: datetime, budget_minutes: float | None, target_precision: float,
                order_seed: int | None = None, rng: random.Random | None = None) -> Sitting:  # fmt: skip
    """A sitting starting at ``now``: its id (``s-20261205T0012Z-3fa2``), and a random order seed
    unless one is given (``--order-seed`` reproduces an order). Without a budget (the fixed design)
    no race looks: the report's verdict is the one look, at ALPHA."""
    rng = rng or random.SystemRandom()
    seed = rng.randrange(2**32) if order_seed is None else int(order_seed)
    utc = now.astimezone(UTC)
    token = f"{rng.randrange(16**4):04x}"
    looks = PLANNED_LOOKS if budget_minutes else 1
    return Sitting(
        id=f"s-{utc:%Y%m%dT%H%M}Z-{token}",
        started_at=utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        order_seed=seed,
        budget_minutes=budget_minutes or None,
        target_precision=target_precision,
        alpha_per_look=alpha_per_look(looks),
        planned_looks=looks,
    )


def paired_minimum(alpha: float) -> int:
    """Fewest common rounds for a paired comparison: PAIRED_MIN_ROUNDS, or the smallest n whose exact
    signed-rank test can reach ``alpha`` at all (2 / 2**n ≤ alpha) if that is more."""
    n = PAIRED_MIN_ROUNDS
    while 2.0 / 2**n > alpha:
        n += 1
    return n


def compare_cells(a: dict[int, float], b: dict[int, float], alpha: float,
                  tie_margin: float) -> judge_mod.Judgement:  # fmt: skip
    """Judge cell a against cell b from their speeds by round (see the module docstring)."""
    common = sorted(set(a) & set(b))
    if len(common) >= paired_minimum(alpha):
        return judge_mod.judge([a[r] for r in common], [b[r] for r in common], paired=True, alpha=alpha,
                               tie_margin=tie_margin)  # fmt: skip
    return judge_mod.judge(list(a.values()), list(b.values()), alpha=alpha, tie_margin=tie_margin)


@dataclass
class Cell:
    """One cell of the sitting and where it stands in the race."""

    key: Hashable
    contest: Hashable
    runs: list[Any]  # its processes, in order
    taken: int = 0  # processes handed out so far
    speeds: dict[int, float] = field(default_factory=dict)  # round -> throughput of that round's process
    costs: list[tuple[str, float, float]] = field(default_factory=list)  # (purpose, seconds, modelled)
    state: str = "open"  # open | settled | decided | failed | skipped | done
    judgement: judge_mod.Judgement | None = None  # why it left the race (settled)

    @property
    def racing(self) -> bool:
        return self.state == "open"

    def median(self) -> float | None:
        return statistics.median(self.speeds.values()) if self.speeds else None


@dataclass(frozen=True)
class Slot:
    """One process of a round: which cell, which run, where in the round."""

    cell: Cell
    run: Any
    round: int
    position: int  # 0-based place in the round's order
    round_size: int


@dataclass
class RoundReport:
    """What the planner concluded after a round (for the progress display)."""

    round: int
    looked: bool
    left: list[Cell]  # cells that left the race at this look
    open_contests: int
    open_cells: int
    elapsed_s: float
    budget_s: float | None
    warning: str | None = None  # the one line when the minimum cannot fit the budget

    @property
    def left_s(self) -> float | None:
        return None if self.budget_s is None else max(0.0, self.budget_s - self.elapsed_s)


def _purpose(run: Any) -> str:
    return str(getattr(run, "purpose", "timing"))


class Planner:
    """Decides each round's processes and whether the next one may start.

    ``clock()`` returns seconds (monotonic; injected so that tests and the simulation drive it).
    The runner calls ``next_round()``, then for each slot ``begin(slot)`` (False: the budget is
    spent, do not start it) and ``finish(slot, status, speed)``, then ``end_round()``.
    ``budget_minutes=None``: the fixed design (every run of every cell, still in randomized rounds);
    ``blocked``: one round of every run in the given order (to measure what interleaving buys).
    ``cost_model(run)``: modelled seconds of a run (``bench.shard.expected_cost``), which scales the
    measured costs to processes not yet measured (a cell's first timing run after its accuracy run).
    """

    def __init__(self, runs: Sequence[Any], sitting: Sitting, clock: Callable[[], float],
                 blocked: bool = False, min_processes: int = MIN_PROCESSES,
                 cost_model: Callable[[Any], float] | None = None) -> None:  # fmt: skip
        self.sitting, self.clock, self.blocked = sitting, clock, blocked
        self.cost_model = cost_model or (lambda run: 1.0)
        self.min_processes = min_processes
        self.cells: dict[Hashable, Cell] = {}
        for run in runs:  # cells in order of first appearance; each cell's runs in the given order
            key = cell_key(run)
            if key not in self.cells:
                self.cells[key] = Cell(key, contest_key(run), [])
            self.cells[key].runs.append(run)
        self.started = clock()
        self.round = 0
        self.looks = 0
        self.stopped = False  # the budget is spent
        self.budget_s = None if not sitting.budget_minutes else 60.0 * sitting.budget_minutes
        self._begun: dict[int, float] = {}
        self.warned = False

    # ------------------------------------------------------------------------------------------ rounds

    @property
    def fixed(self) -> bool:
        return self.budget_s is None

    def elapsed(self) -> float:
        """Seconds since the sitting started."""
        return self.clock() - self.started

    def _below_minimum(self, cell: Cell) -> bool:
        return cell.taken < self.min_processes

    def _runnable(self, cell: Cell) -> bool:
        if cell.taken >= len(cell.runs) or cell.state in ("failed", "skipped"):
            return False
        if self.fixed:
            return True
        if self._below_minimum(cell) and cell.state in ("open", "settled", "decided"):
            return True
        return cell.racing and not self.stopped

    def next_round(self) -> list[Slot]:
        """The next round's processes in their random order; [] when the sitting is over."""
        if self.blocked:
            if self.round:
                return []
            self.round = 1
            pairs = [(cell, run) for cell in self.cells.values() for run in cell.runs]
            for cell in self.cells.values():
                cell.taken = len(cell.runs)
            return [Slot(cell, run, 1, i, len(pairs)) for i, (cell, run) in enumerate(pairs)]
        cells = [cell for cell in self.cells.values() if self._runnable(cell)]
        if not cells:
            for cell in self.cells.values():
                if cell.state == "open" and cell.taken >= len(cell.runs):
                    cell.state = "done"
            return []
        self.round += 1
        random.Random(self.sitting.order_seed * 1_000_003 + self.round).shuffle(cells)
        slots = []
        for position, cell in enumerate(cells):
            slots.append(Slot(cell, cell.runs[cell.taken], self.round, position, len(cells)))
            cell.taken += 1
        return slots

    def expected_cost(self, slot: Slot) -> float:
        """Expected seconds of a slot's process: the mean of its cell's earlier processes of the same
        purpose; else its cell's other processes, else the sitting's, scaled by the cost model
        (measured ÷ modelled seconds, times this process's modelled seconds); else the model."""
        purpose, modelled = _purpose(slot.run), self.cost_model(slot.run)
        own = [s for p, s, _ in slot.cell.costs if p == purpose]
        if own:
            return statistics.fmean(own)
        for costs in (slot.cell.costs, [c for cell in self.cells.values() for c in cell.costs]):
            if costs:
                return modelled * statistics.fmean(s / m for _, s, m in costs)
        return modelled

    def begin(self, slot: Slot) -> bool:
        """Whether the slot's process may start now (the minimum always may); stamps its start."""
        if not self.fixed and not self._below_minimum_at(slot):
            if self.stopped or self.elapsed() + self.expected_cost(slot) > self.budget_s:
                self.stopped = True
                slot.cell.taken = min(slot.cell.taken, self._index(slot))  # not run: not taken
                return False
        self._begun[id(slot)] = self.clock()
        return True

    def _index(self, slot: Slot) -> int:
        return next(i for i, run in enumerate(slot.cell.runs) if run is slot.run)

    def _below_minimum_at(self, slot: Slot) -> bool:
        return self._index(slot) < self.min_processes

    def finish(self, slot: Slot, status: str, speed: float | None = None) -> None:
        """Record a slot's outcome: ok (with its throughput), resumed (an earlier record stands: no
        sample, no cost), failed or skipped (the cell leaves; failed stays in the fixed design)."""
        began = self._begun.pop(id(slot), None)
        cell = slot.cell
        if status == "ok":
            if began is not None:
                cell.costs.append((_purpose(slot.run), self.clock() - began, self.cost_model(slot.run)))
            if speed is not None and speed > 0:
                cell.speeds[slot.round] = float(speed)
        elif status == "skipped":
            cell.state = "skipped"
        elif status == "failed" and not self.fixed:
            cell.state = "failed"

    def minimum_seconds(self) -> float:
        """Expected seconds of the whole minimum: time spent plus each cell's missing minimum
        processes at their expected cost."""
        total = self.elapsed()
        for cell in self.cells.values():
            if cell.state in ("failed", "skipped"):
                continue
            for index in range(cell.taken, min(self.min_processes, len(cell.runs))):
                total += self.expected_cost(Slot(cell, cell.runs[index], 0, 0, 0))
        return total

    def end_round(self) -> RoundReport:
        """After a round: the one-line warning (round 1), the look (at a look round), the report."""
        warning = None
        if self.round == 1 and not self.fixed and not self.warned:
            self.warned = True
            need = self.minimum_seconds()
            if need > self.budget_s:
                cells = sum(cell.state not in ("failed", "skipped") for cell in self.cells.values())
                warning = (
                    f"note: the minimum ({self.min_processes} processes of each of {cells} cells) needs "
                    f"about {need / 60:.1f} min, more than the budget of {self.budget_s / 60:g} min; "
                    f"running the minimum anyway"
                )
        left: list[Cell] = [] if self.fixed or self.blocked else self._alone()
        looked = self._look_due()
        if looked:
            self.looks += 1
            left += self._look()
        contests = {
            cell.contest for cell in self.cells.values() if cell.racing and cell.taken < len(cell.runs)
        }
        open_cells = sum(cell.racing and cell.taken < len(cell.runs) for cell in self.cells.values())
        return RoundReport(self.round, looked, left, len(contests), open_cells, self.elapsed(), self.budget_s,
                           warning)  # fmt: skip

    def _alone(self) -> list[Cell]:
        """Cells past their minimum with no rival left in their contest: nothing to decide."""
        rivals: dict[Hashable, int] = {}
        for cell in self.cells.values():
            if cell.state not in ("failed", "skipped"):
                rivals[cell.contest] = rivals.get(cell.contest, 0) + 1
        left = []
        for cell in self.cells.values():
            if cell.racing and rivals[cell.contest] == 1 and not self._below_minimum(cell):
                cell.state = "decided"
                left.append(cell)
        return left

    def _look_due(self) -> bool:
        if self.fixed or self.blocked or self.looks >= self.sitting.planned_looks - 1:
            return False
        return self.round in LOOK_ROUNDS[: self.sitting.planned_looks - 1]

    def _look(self) -> list[Cell]:
        left: list[Cell] = []
        contests: dict[Hashable, list[Cell]] = {}
        for cell in self.cells.values():
            if cell.racing and cell.speeds:
                contests.setdefault(cell.contest, []).append(cell)
        for cells in contests.values():
            leader = max(cells, key=lambda c: c.median())
            rivals = [c for c in cells if c is not leader]
            for rival in rivals:
                verdict = compare_cells(rival.speeds, leader.speeds, self.sitting.alpha_per_look,
                                        self.sitting.target_precision)  # fmt: skip
                if verdict.label in ("slower", "tie"):
                    rival.state, rival.judgement = "settled", verdict
                    left.append(rival)
            if rivals and not any(r.racing for r in rivals):
                leader.state = "decided"
                left.append(leader)
        return left

    def open_contests(self) -> list[Hashable]:
        """The contests with a cell still in the race."""
        return list(dict.fromkeys(cell.contest for cell in self.cells.values() if cell.racing))

    def schedule(self, slot: Slot, index: int, total: int, order: str) -> dict[str, Any]:
        """The ``record["schedule"]`` of a slot's process."""
        return {"order": order, "index": index, "total": total, "sitting": self.sitting.to_dict(),
                "round": slot.round, "position": slot.position, "round_size": slot.round_size}  # fmt: skip
