"""Watching a launch's jobs (``bench.launch``): the Slurm queue, and what a shard's folder says.

A job waiting in the queue says its state every ``QUEUE_REPORT_S`` seconds; with ``--queue-timeout`` a
job still queued then is cancelled, in one line naming the command that resubmits it, and the other
shards go on. After the jobs end, ``shard_findings`` reads each shard's folder: the runs its watchdog
killed (their failed records say "no progress for N s ...", bench.process) and the run a job that died
was in (a log without a record), so that the launch's summary names them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

QUEUED_STATES = ("PENDING", "CONFIGURING", "REQUEUED", "UNKNOWN")  # not yet running (UNKNOWN: just sent)
QUEUE_REPORT_S = 60.0  # how often a job waiting in the queue says so
QUEUE_POLL_S = 10.0  # how often the queue is asked (submitit's watcher caches squeue/sacct for a minute)


def job_state(job: Any) -> str:
    """A submitit job's state as Slurm names it (``unknown`` when it cannot be read)."""
    try:
        return str(job.state)
    except Exception:  # noqa: BLE001 - the state is only for the message
        return "unknown"


def watch_queue(
    submitted: Sequence[tuple[Any, Any]],
    timeout_s: float | None,
    out: TextIO,
    rerun: dict[int, str] | None = None,
    report_s: float = QUEUE_REPORT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, str]:
    """Wait until none of the (shard, job) pairs is still queued: say each waiting job's state every
    ``report_s`` seconds, and cancel those still queued after ``timeout_s`` (None: no limit), one line
    each (with its ``rerun`` command). Why each was cancelled, by shard index; the others run on."""
    started = last_report = clock()
    waiting = list(submitted)
    cancelled: dict[int, str] = {}
    while True:
        states = {shard.index: job_state(job) for shard, job in waiting}
        waiting = [(s, j) for s, j in waiting if states[s.index].split()[0] in QUEUED_STATES and not j.done()]
        if not waiting:
            return cancelled
        now = clock()
        minutes = (now - started) / 60
        if timeout_s is not None and now - started >= timeout_s:
            for shard, job in waiting:
                try:
                    job.cancel(check=False)
                except Exception:  # noqa: BLE001 - scancel failing: still say so, still go on
                    pass
                why = f"still {states[shard.index]} after {minutes:.0f} min in the queue (--queue-timeout)"
                cancelled[shard.index] = why
                again = f"; rerun it: {rerun[shard.index]}" if rerun and shard.index in rerun else ""
                print(f"launch: shard {shard.name}: job {job.job_id} {why}: cancelled; the other shards go "
                      f"on{again}", file=out)  # fmt: skip
            return cancelled
        if now - last_report >= report_s:
            last_report = now
            for shard, job in waiting:
                state = states[shard.index]
                print(f"launch: shard {shard.name}: job {job.job_id} {state} in the Slurm queue for "
                      f"{minutes:.0f} min", file=out)  # fmt: skip
        sleep(QUEUE_POLL_S if timeout_s is None else max(0.0, min(QUEUE_POLL_S, started + timeout_s - now)))


def shard_findings(shard: Any, since: float) -> dict[str, list[str]]:
    """What a shard's folder says of its runs since ``since`` (a time.time()): ``hung``, one line per
    run its watchdog killed (from the failed records' reasons), and ``unfinished``, one line per run
    that started and left no record (the run a job that died was in: a log without a record). In a
    folder shared by shards, only this shard's runs (by framework, model, device and seed)."""
    from bench import text

    def ours(run_id: str) -> bool:
        return not shard.runs or any(
            run_id.startswith(f"{r.framework}-{r.model}-{r.device}-") and f"-s{r.seed}-" in run_id
            for r in shard.runs
        )

    folder = Path(shard.results)
    hung, unfinished, recorded = [], [], set()
    for path in sorted(folder.glob("runs/*.json")):
        recorded.add(path.stem)
        try:
            if path.stat().st_mtime < since - 1 or not ours(path.stem):
                continue
            record = json.loads(path.read_text())
            reason = record.get("reason")
            if record.get("status") == "failed" and str(reason).startswith("no progress for "):
                hung.append(f"run {text.terminal(path.stem)} hung: {text.terminal(reason)}")
        except (OSError, ValueError, AttributeError):
            continue
    for log in sorted(folder.glob("logs/*.log")):
        try:
            fresh = log.stat().st_mtime >= since - 1
        except OSError:
            continue
        if fresh and log.stem not in recorded and ours(log.stem) and not log.stem.startswith("forkserver-"):
            unfinished.append(f"run {text.terminal(log.stem)} left no record (log: {text.terminal(log)})")
    return {"hung": hung, "unfinished": unfinished}
