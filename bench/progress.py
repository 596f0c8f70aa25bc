"""Progress display for long runs: rich bars on a terminal, plain lines otherwise, nothing with --quiet.
After each round of a sitting, one line: the open contests and cells, and the time left."""

from __future__ import annotations

import sys
from typing import Any

from bench.config import RunConfig


def _epoch_line(config: RunConfig, event: dict[str, Any]) -> str:
    accuracy = event.get("test_accuracy")
    accuracy_text = f"test acc {accuracy:.4f}" if accuracy is not None else "(timing run: no evaluation)"
    where = f"epoch {event['epoch']}/{event['epochs']}"
    return f"{config.label}  {where}  {accuracy_text}  {event['examples_per_sec']:,.0f} ex/s"


def round_line(report: Any, stopped: bool = False) -> str:
    """After a round (``bench.planner.RoundReport``): the open contests and cells, and the time left."""
    elapsed = f"{report.elapsed_s / 60:.1f} min"
    if report.budget_s is None:
        when = f"{elapsed} spent (no budget: every run asked for)"
    else:
        when = f"{elapsed} of {report.budget_s / 60:g} min spent, {report.left_s / 60:.1f} left"
    line = (
        f"round {report.round} done: {report.open_contests} open contests ({report.open_cells} cells); {when}"
    )
    settled = [cell for cell in report.left if getattr(cell, "judgement", None) is not None]
    if settled:
        line += f"; {len(settled)} cells settled and left the race"
    if stopped:
        line += "; the budget is spent: no further process starts"
    return line


def _outcome_line(config: RunConfig, outcome: Any) -> str:
    reason = f": {outcome.reason}" if outcome.reason and outcome.status != "ok" else ""
    return f"{config.label}  {outcome.status.upper()}{reason}"


class PlainProgress:
    """One line per epoch and per finished run (CI logs, pipes)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.total = 0
        self.index = 0
        self.upper_bound = False

    def start(self, total: int, upper_bound: bool = False) -> None:
        """``total`` processes; with a budget (``upper_bound``) the most that may run: the race decides."""
        self.total = total
        self.upper_bound = upper_bound

    def run_started(self, config: RunConfig) -> None:
        self.index += 1
        of = f"of at most {self.total}" if self.upper_bound else f"of {self.total}"
        print(f"[{self.index} {of}] {config.label}", file=self.stream, flush=True)

    def event(self, config: RunConfig, event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            print("  " + _epoch_line(config, event), file=self.stream, flush=True)

    def run_finished(self, config: RunConfig, outcome: Any) -> None:
        print("  " + _outcome_line(config, outcome), file=self.stream, flush=True)

    def round_finished(self, report: Any, stopped: bool = False) -> None:
        print(round_line(report, stopped), file=self.stream, flush=True)

    def stop(self) -> None:
        pass


class RichProgress(PlainProgress):
    """A bar over the matrix and one over the current run's epochs."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console,
        )  # fmt: skip
        self.matrix_task = None
        self.run_task = None

    def start(self, total: int, upper_bound: bool = False) -> None:
        self.bars.start()
        self.matrix_task = self.bars.add_task("runs (of at most)" if upper_bound else "runs", total=total)

    def run_started(self, config: RunConfig) -> None:
        self.run_task = self.bars.add_task(config.label, total=None)

    def event(self, config: RunConfig, event: dict[str, Any]) -> None:
        if event["event"] == "epoch" and self.run_task is not None:
            self.bars.update(
                self.run_task, total=event["epochs"], completed=event["epoch"],
                description=_epoch_line(config, event),
            )  # fmt: skip

    def run_finished(self, config: RunConfig, outcome: Any) -> None:
        if self.run_task is not None:
            self.bars.remove_task(self.run_task)
            self.run_task = None
        self.console.print(_outcome_line(config, outcome), markup=False, highlight=False)
        self.bars.advance(self.matrix_task)

    def round_finished(self, report: Any, stopped: bool = False) -> None:
        self.console.print(round_line(report, stopped), markup=False, highlight=False)

    def stop(self) -> None:
        self.bars.stop()


def make_progress(quiet: bool) -> PlainProgress | None:
    """Rich on a terminal, plain lines when piped (CI), none when quiet."""
    if quiet:
        return None
    if sys.stderr.isatty():
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress()
