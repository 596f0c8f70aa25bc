"""Per-cell numbers: accuracy gate, time to target, throughput and the '× vs fastest' verdict.

Throughput statistics use every ok run of a cell (full and timing runs); accuracy, curves and time to
target use only the runs that trained the full schedule. '× vs fastest' compares cells of one
machine-device, sitting, model and setup (never two sittings), and says faster / slower / tie / open
only through the one judge (``bench.judge``), by the race's rule (``bench.planner.compare_cells``:
paired by round when both cells share enough rounds), at the α the sitting's race used when recorded.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench import judge as judging
from bench import planner
from bench.judge import Judgement
from bench.report import cells
from bench.report.cells import Group
from bench.specs import MODELS, ModelSpec
from bench.stats import Summary

MIB = 2**20


def sitting_alpha(groups: Iterable[Group]) -> tuple[float, str]:
    """The α a sitting's comparisons are judged at, and where it comes from: the race's α per look
    when the sitting recorded one (so the report and the race agree), else ``bench.judge.ALPHA``."""
    for group in groups:
        for record in group.runs:
            value = cells.sitting_info(record).get("alpha_per_look")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
                return float(value), "the sitting's α per look, its race's error rule"
    return judging.ALPHA, "the judge's α; no race recorded for this sitting"


def sitting_tie_margin(groups: Iterable[Group]) -> float:
    """The tie margin P: the sitting's target precision when recorded (a fraction or a percent)."""
    for group in groups:
        for record in group.runs:
            value = cells.sitting_info(record).get("target_precision")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 100:
                return float(value) if value < 1 else float(value) / 100
    return judging.TIE_MARGIN


def judge_cells(a: Group, b: Group, alpha: float | None = None, tie_margin: float | None = None) -> Judgement:
    """Judge cell a against cell b (speed ratio a ÷ b) by their steady examples/s, by the race's own
    rule (``bench.planner.compare_cells``: paired by round over their common rounds when there are
    enough for the paired test to reach α, else independent), so that the report and the race can
    never disagree. Cells without rounds (older records) are independent samples. The caller keeps
    both cells in one sitting."""
    if alpha is None:
        alpha, _ = sitting_alpha([a, b])
    if tie_margin is None:
        tie_margin = sitting_tie_margin([a, b])
    rounds_a, rounds_b = a.by_round(), b.by_round()
    if rounds_a and rounds_b:
        return planner.compare_cells(rounds_a, rounds_b, alpha, tie_margin)
    return judging.judge(a.metric("steady_examples_per_sec"), b.metric("steady_examples_per_sec"),
                         alpha=alpha, tie_margin=tie_margin)  # fmt: skip


@dataclass(frozen=True)
class Gate:
    """The accuracy gate's verdict for one cell."""

    text: str
    flagged: bool
    band: tuple[float, float] | None = None


def accuracy_gate(model: str, setup: Sequence[tuple[str, Any]], accuracy: float) -> Gate:
    """Flag a median final test accuracy outside the spec's band (only at the spec's defaults)."""
    spec = MODELS.get(model)
    if spec is None:
        return Gate("no spec for this model", False)
    if not _at_defaults(spec, dict(setup)):
        return Gate("no band for this setup", False)
    if not math.isfinite(accuracy):
        return Gate("no accuracy recorded", False)
    low, high = spec.accuracy_band
    if low <= accuracy <= high:
        return Gate(f"ok ({low:.2f}–{high:.2f})", False, (low, high))
    return Gate(f"⚠ OUTSIDE {low:.2f}–{high:.2f}", True, (low, high))


def _at_defaults(spec: ModelSpec, config: dict[str, Any]) -> bool:
    try:
        return (
            int(config.get("epochs", -1)) == spec.epochs
            and int(config.get("batch_size", -1)) == spec.batch_size
            and math.isclose(float(config.get("lr", math.nan)), spec.lr, rel_tol=1e-9)
        )
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class TimeToTarget:
    """How the full runs of a cell did against the time-to-accuracy target."""

    targets: tuple[float, ...]
    reached: int
    total: int
    train_seconds: Summary | None
    wall_seconds: Summary | None
    epoch: float | None

    def cell(self) -> str:
        """Median training seconds of the runs that reached it, with k/n when not all did."""
        if self.total == 0:
            return "n/a"
        if self.train_seconds is None:
            return f"not reached ({self.reached}/{self.total})"
        text = self.train_seconds.fmt_median(".2f", unit=False)
        return text if self.reached == self.total else f"{text} ({self.reached}/{self.total} reached)"

    def target_text(self) -> str:
        """The target accuracy (or targets, if the records disagree)."""
        return ", ".join(f"{t:.2f}" for t in self.targets) or "—"


def time_to_target(group: Group) -> TimeToTarget:
    """Summarise ``metrics.time_to_target`` over the full runs of a cell."""
    entries = [(r.get("metrics") or {}).get("time_to_target") for r in group.full_runs]
    entries = [e for e in entries if isinstance(e, dict)]
    targets = tuple(sorted({float(e["target"]) for e in entries if e.get("target") is not None}))
    reached = [e for e in entries if e.get("train_seconds") is not None]
    walls = [e["wall_seconds"] for e in reached if e.get("wall_seconds") is not None]
    return TimeToTarget(
        targets=targets,
        reached=len(reached),
        total=len(entries),
        train_seconds=Summary.of([e["train_seconds"] for e in reached], "s") if reached else None,
        wall_seconds=Summary.of(walls, "s") if walls else None,
        epoch=float(pd.Series([e["epoch"] for e in reached]).median()) if reached else None,
    )


@dataclass
class Row:
    """Everything the report says about one cell."""

    group: Group
    accuracy: Summary
    throughput: Summary | None
    first_epoch: Summary | None
    ttt: TimeToTarget
    gflops: Summary | None
    share: Summary | None
    peak_rss: Summary | None
    gate: Gate
    versus: str = "n/a"
    ratio: float | None = None  # median examples/s over the fastest like cell's
    test: Judgement | None = None  # the judge against the fastest like cell (None for the fastest itself)
    verdict: str = "n/a"  # fastest | only one | slower | tie | open | not ranked (``bench.judge`` labels)
    share_of_best: float | None = None  # achieved / the best peak any framework measured on this device

    @property
    def versions(self) -> tuple[tuple[str, str], ...]:
        """The cell's build: the framework's versions as recorded."""
        return self.group.versions

    @property
    def commits(self) -> list[str]:
        """The framebench commit(s) of the cell's runs (one unless commits were pooled)."""
        return self.group.commits

    @property
    def build_text(self) -> str:
        """``commit 0123456789ab, torch 2.5.1, numpy 2.1.3``: for a heading or a table cell."""
        return self.group.build_text


def build_rows(groups: Iterable[Group]) -> list[Row]:
    """Compute every cell's numbers and its '× vs fastest' among like cells on the same machine-device."""
    rows = []
    for group in groups:
        accuracy = group.summary("final_test_accuracy", "", full_only=True)
        if accuracy is None:  # a full ok record always has it; be lenient with hand-made ones
            accuracy = Summary(math.nan, math.nan, math.nan, 0)
        rows.append(
            Row(
                group=group,
                accuracy=accuracy,
                throughput=group.summary("steady_examples_per_sec", "examples/s"),
                first_epoch=group.summary("first_epoch_seconds", "s"),
                ttt=time_to_target(group),
                gflops=group.summary("achieved_gflops", "GFLOP/s"),
                share=group.summary("share_of_peak", "%", 100.0),
                peak_rss=group.summary("peak_rss_bytes", "MiB", 1.0 / MIB),
                gate=accuracy_gate(group.model, group.setup, accuracy.median),
            )
        )
    like: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        g = row.group
        like[(g.device, g.machine, g.sitting, g.model, g.setup)].append(row)
    for peers in like.values():
        rank(peers)
    # Each framework measures the peak with its own matrix product, and those differ (BLAS builds);
    # the device's peak is best estimated by the highest of them, which makes shares comparable.
    best_peak: dict[tuple[str, str], float] = {}
    for row in rows:
        where = (row.group.device, row.group.machine)
        peak = row.group.summary("device_peak_gflops", "GFLOP/s")
        if peak is not None and math.isfinite(peak.median):
            best_peak[where] = max(best_peak.get(where, 0.0), peak.median)
    for row in rows:
        where = (row.group.device, row.group.machine)
        if row.gflops is not None and best_peak.get(where):
            row.share_of_best = 100.0 * row.gflops.median / best_peak[where]
    return rows


def rank(peers: list[Row]) -> None:
    """Set '× vs fastest' for cells of one machine-device, sitting, model and setup (via ``bench.judge``)."""
    measured = [r for r in peers if r.throughput is not None]
    if not measured:
        return
    # A cell that fails the accuracy gate may be fast because it is wrong: it is never the yardstick.
    candidates = [r for r in measured if not r.gate.flagged] or measured
    fastest = max(candidates, key=lambda r: (r.throughput.median, r.group.label))  # type: ignore[union-attr]
    assert fastest.throughput is not None
    for row in measured:
        assert row.throughput is not None
        row.ratio = row.throughput.median / fastest.throughput.median
        ratio = f"{row.ratio:.2f}×"
        if row is fastest:
            row.verdict = "fastest" if len(measured) > 1 else "only one"
            row.versus = f"1.00× ({row.verdict})" + (" ⚠ fails accuracy gate" if row.gate.flagged else "")
            continue
        row.test = judge_cells(row.group, fastest.group)
        if row.gate.flagged:
            row.verdict = "not ranked"
            row.versus = f"{ratio} ⚠ not ranked (fails accuracy gate)"
            continue
        row.verdict = row.test.label
        row.versus = f"{ratio} {row.test.word()} {row.test.interval_text()}".rstrip()
        if row.test.p_text():
            row.versus += f" ({row.test.p_text()})"


def epoch_values(group: Group, name: str) -> dict[int, list[float]]:
    """Per-epoch values of one curve field over the full runs of a cell."""
    values: dict[int, list[float]] = defaultdict(list)
    for record in group.full_runs:
        for point in record.get("curve") or []:
            if isinstance(point.get(name), int | float):
                values[int(point["epoch"])].append(float(point[name]))
    return dict(sorted(values.items()))


def by_where(rows: Iterable[Row]) -> list[tuple[tuple[str, str], list[Row]]]:
    """Rows by machine-device (device kind, machine), in report order."""
    from bench.report.cells import where_rank

    cells: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        cells[(row.group.device, row.group.machine)].append(row)
    return sorted(cells.items(), key=lambda item: where_rank(item[0]))


def by_model_where(rows: Iterable[Row]) -> list[tuple[tuple[str, str, str], list[Row]]]:
    """Rows by (model, device kind, machine), in report order."""
    from bench.report.cells import where_rank

    cells: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        cells[(row.group.model, row.group.device, row.group.machine)].append(row)
    return sorted(cells.items(), key=lambda item: (item[0][0], where_rank(item[0][1:])))
