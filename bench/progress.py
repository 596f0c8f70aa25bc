"""Progress display for long runs: rich bars on a terminal, plain lines otherwise, nothing with --quiet."""

from __future__ import annotations

import sys
from typing import Any

from bench.config import RunConfig


def _epoch_line(config: RunConfig, event: dict[str, Any]) -> str:
    accuracy = event.get("test_accuracy")
    accuracy_text = f"test acc {accuracy:.4f}" if accuracy is not None else "(timing run: no evaluation)"
    where = f"epoch {event['epoch']}/{event['epochs']}"
    return f"{config.label}  {where}  {accuracy_text}  {event['examples_per_sec']:,.0f} ex/s"


def _outcome_line(config: RunConfig, outcome: Any) -> str:
    reason = f": {outcome.reason}" if outcome.reason and outcome.status != "ok" else ""
    return f"{config.label}  {outcome.status.upper()}{reason}"


class PlainProgress:
    """One line per epoch and per finished run (CI logs, pipes)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.total = 0
        self.index = 0

    def start(self, total: int) -> None:
        self.total = total

    def run_started(self, config: RunConfig) -> None:
        self.index += 1
        print(f"[{self.index}/{self.total}] {config.label}", file=self.stream, flush=True)

    def event(self, config: RunConfig, event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            print("  " + _epoch_line(config, event), file=self.stream, flush=True)

    def run_finished(self, config: RunConfig, outcome: Any) -> None:
        print("  " + _outcome_line(config, outcome), file=self.stream, flush=True)

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

    def start(self, total: int) -> None:
        self.bars.start()
        self.matrix_task = self.bars.add_task("runs", total=total)

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
