"""The parent side of the matrix: one child process per run, in the planner's randomized rounds.

``run_matrix`` runs each configuration in its own child process (``bench.child``, started with the
framework's own interpreter), so that a framework's native crash (segfault, abort, out-of-memory
kill) fails one run, not the matrix. The parent names each run (its ``run_id``, which is also the
name of its record and of its log) and gives the child that identity; the child trains, measures
and writes its record ``runs/<run_id>.json`` atomically. If it dies without one, the parent writes a
``failed`` record under the same id with the cause and the log path: it never takes another file
for its child's record, so runners sharing one results folder lose nothing. A child dies with its
parent (``PR_SET_PDEATHSIG`` and a pipe it watches; see ``bench.child``). Ctrl-C / SIGTERM stop
after the runs already recorded; an interrupted run leaves no record, so ``--resume`` redoes
exactly it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import counting, planner, records
from bench.config import Matrix, RunConfig, UsageError
from bench.forkserver import ForkServer
from bench.process import CHILD_ENTRY, Outcome, RunInterrupted, _run_child

# ----------------------------------------------------------------------------------------------
# parent side: the matrix, one child per run (each run's process: bench.process)


def check_results_writable(results: Path) -> None:
    """Fail early, in one line, if records could not be written."""
    try:
        records.runs_dir(results).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=records.runs_dir(results), prefix=".probe", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UsageError(
            f"results directory {results} is not writable ({exc.strerror}); pass --results DIR"
        ) from None


class FrameworkMissing(UsageError):
    """A framework that does not load in the interpreter meant to run it (one line naming the fix)."""

    def __init__(self, framework: str, python: str, error: str) -> None:
        import impls

        self.framework, self.python, self.error = framework, python, error
        super().__init__(
            f"{framework} does not load in {python} ({error}); run it through `nox -s bench` "
            f"or `pip install -r {impls.requirements_file(framework)}` in that environment"
        )

    def skip_reason(self, device: str) -> str:
        """What a record of this framework on ``device`` says when ``--missing skip`` records it:
        what is missing, and what a user with network access installs."""
        import impls

        path = impls.requirements_file(self.framework, gpu=device == "gpu")
        return (
            f"{self.framework} is not installed in {self.python} ({self.error}); with network access: "
            f"pip install -r {path.relative_to(records.REPO_ROOT)} ({' '.join(impls.pins(path))})"
        )


def describe_framework(framework: str, python: str = sys.executable) -> dict[str, Any]:
    """Ask ``python`` (the framework's own environment) for the framework's modes; FrameworkMissing
    (a UsageError, one line naming the fix) when it is not installed there."""

    try:
        command = [python, "-m", CHILD_ENTRY, "--describe", framework]
        env = {**os.environ, "PYTHONPATH": _pythonpath()}
        out = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
        answer = {"error": f"{python} could not be run ({exc})"}
    if "error" in answer:
        raise FrameworkMissing(framework, python, answer["error"])
    return answer


def _pythonpath() -> str:
    """The repository root first, so a framework environment's child imports this very harness."""
    root = str(records.REPO_ROOT)
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, rest]) if rest else root


def run_matrix(
    matrix: Matrix,
    results: Path,
    resume: bool = False,
    progress: Any = None,
    pythons: dict[str, str] | None = None,
    configs: list[RunConfig] | None = None,
    pool_commits: bool = False,
    start: str = "fresh",
    sitting: planner.Sitting | None = None,
    clock: Callable[[], float] = time.monotonic,
    run_timeout: float | None = None,
) -> list[Outcome]:
    """Run the given configurations (default: all of the matrix) as one sitting in randomized rounds
    (``bench.planner`` decides each round's processes, who stays in the race and when the budget is
    spent), each in a child process of its framework's Python, a new interpreter (``start="fresh"``)
    or forked from a server that imported the framework once (``"fork"``, bench.forkserver); return
    the outcomes of the processes that ran (or were resumed, or skipped)."""
    from bench import data as data_mod
    from bench import shard

    check_results_writable(results)
    dataset = data_mod.load(matrix.data_dir)  # fail fast, once, on missing or corrupt data
    done_keys: set[str] = set()
    if resume:  # the report's rule (bench.counting.choose): an ok record of this build counts
        commit = records.source_state()["framebench_commit"]
        done_keys = counting.completed_keys(results, matrix.versions or None, commit, pool_commits)
        for leftover in records.leftover_records(results):
            print(f"note: {leftover.path}: {leftover.reason}", file=sys.stderr)
    outcomes: list[Outcome] = []
    configs = matrix.runs() if configs is None else configs
    pythons = pythons or {}
    machines = {kind: records.machine_of(kind) for kind in {c.device for c in configs}}
    if sitting is None:
        sitting = planner.new_sitting(datetime.now(UTC), matrix.budget_minutes, matrix.target_precision,
                                      matrix.order_seed)  # fmt: skip
    plan = planner.Planner(configs, sitting, clock, blocked=matrix.order == "blocked",
                           cost_model=shard.expected_cost)  # fmt: skip
    order = "blocked" if matrix.order == "blocked" else "randomized rounds"
    if progress is not None:
        progress.start(len(configs), upper_bound=plan.budget_s is not None)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C must stop the matrix cleanly even when SIGINT was inherited as ignored (a shell starts
    # background jobs that way, and Python then installs no KeyboardInterrupt handler of its own).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ["PYTHONPATH"] = _pythonpath()  # children in other environments import this harness
    servers = _Servers(start, results)
    index = 0
    try:
        while slots := plan.next_round():
            for slot in slots:
                config = slot.run
                key = config.key(dataset.sha256, machines[config.device])
                if key in done_keys:
                    outcomes.append(Outcome(config, "resumed", "an ok record with this configuration exists"))
                    plan.finish(slot, "resumed")
                    if progress is not None:
                        progress.run_finished(config, outcomes[-1])
                    continue
                if not plan.begin(slot):  # the budget is spent: this process would not fit
                    continue
                if progress is not None:
                    progress.run_started(config)
                schedule = plan.schedule(slot, index, len(configs), order)
                index += 1
                reason = matrix.unavailable.get(config.framework, {}).get(config.device)
                if reason:  # known from the framework's own environment: no process needed to skip it
                    record = records.outcome_record(config.to_dict(), "skipped", reason, config_key=key)
                    record["framework"]["versions"] = dict(matrix.versions.get(config.framework) or {})
                    record["schedule"] = schedule
                    records.write_record(results, record)
                    outcome = Outcome(config, "skipped", reason)
                else:
                    python = pythons.get(config.framework, sys.executable)
                    outcome = _run_child(config, results,
                                         lambda event, c=config: _report_event(progress, c, event), python,
                                         schedule, key, matrix.versions.get(config.framework),
                                         servers.get(python, config), run_timeout=run_timeout)  # fmt: skip
                outcomes.append(outcome)
                plan.finish(slot, outcome.status, (outcome.metrics or {}).get("steady_examples_per_sec"))
                if progress is not None:
                    progress.run_finished(config, outcome)
            report = plan.end_round()
            if report.warning:
                print(report.warning, file=sys.stderr, flush=True)
            if progress is not None and hasattr(progress, "round_finished"):
                progress.round_finished(report, plan.stopped)
    except (KeyboardInterrupt, RunInterrupted):
        raise RunInterrupted(f"{len(outcomes)} of {len(configs)} runs finished") from None
    finally:
        servers.close()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if progress is not None:
            progress.stop()
    return outcomes


class _Servers:
    """The fork servers of one matrix, one per (interpreter, framework, threads), started on first use;
    one that cannot fork says why once, and that framework's runs start fresh."""

    def __init__(self, start: str, results: Path) -> None:
        self.start, self.results = start, results
        self.servers: dict[tuple[str, str, int, str | None], ForkServer] = {}
        self.refused: set[tuple[str, str, int, str | None]] = set()

    def get(self, python: str, config: RunConfig) -> ForkServer | None:
        key = (python, config.framework, config.threads, config.data_dir)
        if self.start != "fork" or key in self.refused:
            return None
        server = self.servers.get(key)
        if server is not None and server.alive():
            return server
        log = self.results / "logs" / f"forkserver-{config.framework}-{config.threads}t.log"
        server = ForkServer(python, config.framework, config.threads, log, config.data_dir)
        if server.reason is not None:
            print(f"note: {config.framework}'s runs start fresh: {server.reason}", file=sys.stderr)
            self.refused.add(key)
            return None
        self.servers[key] = server
        return server

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


def _report_event(progress: Any, config: RunConfig, event: dict[str, Any]) -> None:
    if progress is not None:
        progress.event(config, event)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
