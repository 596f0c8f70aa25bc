"""``python -m bench launch``: one whole ``bench run`` matrix as N cost-balanced shards, one job each.

    python -m bench launch --shards 4 --results-root results/launch -- --frameworks all --seeds 0-5

Jobs go through submitit: to Slurm when ``sinfo`` answers (one exclusive node per shard, a GPU only for
a shard with GPU runs), otherwise to submitit's local executor (shards one after another on this
machine: concurrent shards would share its cores and distort each other's timings). Shard i of n runs

    nox --envdir .nox/launch-shard-i-of-n -s bench -- <run args> --shard i/n --results ROOT/shard-i-of-n
    python -m bench run <run args> --shard i/n --results ROOT/shard-i-of-n          (--via python)

(--via nox, the default, builds the framework environments; one envdir per shard, since two jobs
installing into one virtualenv corrupt it) in the repository, with FRAMEBENCH_COMMIT/FRAMEBENCH_DIRTY
from the submitting checkout. Every shard computes the same whole matrix and keeps its part
(bench.shard), so nothing is shared between jobs but the repository. The launcher waits for every job
and reports each shard: state, exit code, folder; a job that died names its log and the command that
reruns just that shard with --resume. Each shard's outcome names the runs that hung (their records,
written by the run's watchdog, bench.process) and, for a job that died, the run it was in (a log
without a record). Slurm jobs waiting in the queue print their state every minute; with
``--queue-timeout MINUTES`` a job still queued then is cancelled (one line), the other shards go on.
The plan (the matrix, its shards and their commands) is
``bench.launch_plan``; this module submits, waits and reports.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench import config as cfg
from bench.launch_plan import ROOT, Shard, build_shards, parse_only, plan_from_cli, shard_dir, strip_dashes
from bench.launch_watch import job_state as _job_state
from bench.launch_watch import shard_findings, watch_queue

RESULTS_GRACE_S = {"local": 2.0, "slurm": 15.0}  # how long submitit waits for a finished job's result
EXECUTORS = ("auto", "slurm", "local")
VIAS = ("nox", "python")

Plan = Callable[[list[str]], Sequence[Any]]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Options of ``bench launch``; everything after ``--`` goes to ``bench run`` untouched."""
    p.add_argument("--shards", default="2", help="number of cost-balanced shards, one job each (default 2)")
    p.add_argument("--only", help="submit only these shards, e.g. 2 or 1,3 (rerun a shard that died)")
    p.add_argument(
        "--executor",
        default="auto",
        choices=EXECUTORS,
        help="slurm, local (this machine, one shard after another), or auto: slurm when sinfo answers",
    )
    p.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    p.add_argument("--timeout-min", default="720", help="time limit of each job in minutes (default 720)")
    p.add_argument(
        "--queue-timeout",
        metavar="MINUTES",
        help="cancel a Slurm job still waiting in the queue after this many minutes (default: wait)",
    )
    p.add_argument(
        "--results-root", default="results/launch", help="shard i of n writes ROOT/shard-i-of-n (default "
        "results/launch); submitit logs in ROOT/submitit"
    )  # fmt: skip
    p.add_argument(
        "--one-folder",
        action="store_true",
        help="every shard writes into ROOT itself (one results folder on a shared file system)",
    )
    p.add_argument(
        "--via",
        default="nox",
        choices=VIAS,
        help="nox: the job runs `nox -s bench -- ...` (builds the framework environments); python: "
        "`python -m bench run ...` with this interpreter (tests, machines without nox)",
    )
    p.add_argument("run_args", nargs=argparse.REMAINDER, help="-- then the options of `bench run`")


@dataclass
class Outcome:
    """What became of one shard's job."""

    shard: Shard
    job_id: str
    state: str  # ok | failed runs | exit N | killed by SIGNAME | died | not submitted | queue timeout
    exit_code: int | None
    log: Path | None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def job_parameters(shard: Shard, executor: str, partition: str | None, timeout_min: int) -> dict[str, Any]:
    """submitit parameters of one shard's job: an exclusive node; one GPU only if it has GPU runs."""
    params: dict[str, Any] = {
        "name": f"framebench-shard-{shard.index}-of-{shard.count}",
        "timeout_min": timeout_min,
        "nodes": 1,
        "tasks_per_node": 1,
    }
    if shard.gpu:
        params["gpus_per_node"] = 1
    if executor == "slurm":
        params["slurm_exclusive"] = True  # sbatch --exclusive: no other job shares the node's cores
        if partition:
            params["slurm_partition"] = partition
    return params


# ---------------------------------------------------------------------------------------------- executor


def detect_executor(requested: str) -> tuple[str, str]:
    """(slurm|local, one-line reason)."""
    if requested == "local":
        return "local", "as asked (--executor local)"
    sinfo = shutil.which("sinfo")
    problem = "no sinfo on PATH"
    if sinfo:
        try:
            proc = subprocess.run([sinfo, "-h", "-o", "%P %t %D"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"sinfo failed: {exc}"
        else:
            lines = proc.stdout.strip().splitlines()
            if proc.returncode == 0 and lines:
                return "slurm", f"sinfo answers ({'; '.join(lines[:3])})"
            err = (proc.stderr or proc.stdout).strip().splitlines()
            problem = f"sinfo failed: {err[0] if err else f'exit {proc.returncode}'}"
    if requested == "slurm":
        raise cfg.UsageError(f"--executor slurm, but {problem}; start Slurm (bash .ci/slurm.sh) or use local")
    return "local", problem


def job_environment() -> dict[str, str]:
    """Variables each job needs: the repository on PYTHONPATH, the submitting checkout's commit."""
    from bench import records

    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    state = records.source_state()
    if state.get("framebench_commit"):
        env[records.COMMIT_ENV] = str(state["framebench_commit"])
        if state.get("framebench_dirty") is not None:
            env[records.DIRTY_ENV] = "1" if state["framebench_dirty"] else "0"
    return env


def run_shard(command: list[str], cwd: str, env: dict[str, str]) -> int:
    """The job function (runs on the compute node): the shard's command; its exit code."""
    print("framebench shard:", shlex.join(command), flush=True)
    return subprocess.run(command, cwd=cwd, env={**os.environ, **env}).returncode


def _squeue_watcher() -> Any:
    """A submitit Slurm watcher that asks squeue, for clusters without accounting (sacct disabled).

    submitit learns that a job died without a result from sacct; with accounting off (as in the
    single-node .ci/slurm.sh) it would wait forever. squeue --states=all lists recent jobs with their
    final state; a job gone from it (past MinJobAge) and without a result counts as died.
    """
    from submitit.slurm.slurm import SlurmInfoWatcher

    class SqueueWatcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            ids = sorted({x.split("_")[0] for x in self._registered - self._finished})
            return ["squeue", "-h", "--states=all", "-o", "%i|%T|%N", "-j", ",".join(ids)] if ids else None

        def update(self) -> None:
            command = self._make_command()
            if command is None:
                return
            self._num_calls += 1
            proc = subprocess.run(command, capture_output=True, text=True)
            info = self.read_info("JobID|State|NodeList\n" + proc.stdout) if proc.returncode == 0 else {}
            if proc.returncode == 0 or "Invalid job id" in proc.stderr:
                for job_id in self._registered - self._finished:
                    if job_id not in info:
                        info[job_id] = {"JobID": job_id, "State": "VANISHED", "NodeList": ""}
            self._info_dict.update(info)
            self._last_status_check = time.time()
            for job_id in self._registered - self._finished:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

    return SqueueWatcher(delay_s=60)


def _sacct_works() -> bool:
    try:
        proc = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


# ---------------------------------------------------------------------------------------------- launching


def launch(
    run_args: list[str],
    *,
    shards: int,
    plan: Plan,
    executor: str = "auto",
    partition: str | None = None,
    timeout_min: int = 720,
    results_root: Path = Path("results/launch"),
    via: str = "nox",
    only: list[int] | None = None,
    out: TextIO = sys.stderr,
    command_for: Callable[[Shard], list[str]] | None = None,
    one_folder: bool = False,
    queue_timeout_min: float | None = None,
) -> list[Outcome]:
    """Submit one job per shard, wait for all of them, return what became of each.

    ``plan(run_args)`` gives the whole matrix (as ``bench run`` computes it), to know each shard's runs
    (and whether it needs a GPU). ``command_for`` replaces a shard's command (tests).
    """
    try:
        import submitit
    except ImportError:
        raise cfg.UsageError("bench launch needs submitit: pip install -e '.[launch]'") from None

    kind, why = detect_executor(executor)
    results_root = Path(results_root).absolute()
    run_args = strip_dashes(run_args)
    for arg in run_args:
        if arg in ("--shard", "--results") or arg.startswith(("--shard=", "--results=")):
            raise cfg.UsageError(f"{arg.split('=')[0]} is set by launch per shard; leave it out after --")
    todo = build_shards(plan(run_args), shards, results_root, via, run_args, only, one_folder)
    mode = "one job per shard, each on an exclusive node" if kind == "slurm" else "one shard after another"
    print(f"launch: executor {kind} ({why}); {mode}", file=out)
    logs = results_root / "submitit"
    logs.mkdir(parents=True, exist_ok=True)
    env = job_environment()
    executor_ = submitit.AutoExecutor(folder=logs / "%j", cluster=kind)
    launched_at = time.time()
    watcher = _squeue_watcher() if kind == "slurm" and not _sacct_works() else None
    outcomes: list[Outcome] = []
    submitted: list[tuple[Shard, Any]] = []
    for shard in todo:
        executor_.update_parameters(**job_parameters(shard, kind, partition, timeout_min))
        command = command_for(shard) if command_for else shard.command
        try:
            job = executor_.submit(run_shard, command, str(ROOT), env)
        except Exception as exc:  # noqa: BLE001 - e.g. sbatch refusing the request: the others still go
            lines = [
                line.strip() for line in str(exc).replace("sbatch: error", "\nsbatch: error").splitlines()
            ]
            error = next((line for line in lines if line), type(exc).__name__)
            outcomes.append(Outcome(shard, "-", "not submitted", None, None, error))
            print(f"launch: shard {shard.name}: not submitted: {error}", file=out)
            continue
        job._results_timeout_s = RESULTS_GRACE_S[kind]
        if watcher is not None:
            job.watcher = watcher
            watcher.register_job(job.job_id)
        gpu = ", 1 GPU" if shard.gpu else ""
        print(
            f"launch: shard {shard.name}: job {job.job_id}, {len(shard.runs)} runs, "
            f"~{_duration(shard.expected_s)} expected{gpu} -> {shard.results}",
            file=out,
        )
        submitted.append((shard, job))
        if kind == "local":  # wait before the next: shards must not share this machine's cores
            outcomes.append(_wait(shard, job, out))
    if kind != "local":
        try:
            timeout_s = None if queue_timeout_min is None else queue_timeout_min * 60
            rerun = {shard.index: rerun_command(shard, run_args, results_root, via, kind, one_folder)
                     for shard, _ in submitted}  # fmt: skip
            cancelled = watch_queue(submitted, timeout_s, out, rerun)
            for shard, job in submitted:
                if shard.index in cancelled:
                    log = Path(job.paths.stderr) if getattr(job, "paths", None) else None
                    why = cancelled[shard.index]
                    outcomes.append(Outcome(shard, str(job.job_id), "queue timeout", None, log, why))
                else:
                    outcomes.append(_wait(shard, job, out))
        except KeyboardInterrupt:
            ids = " ".join(str(job.job_id) for _, job in submitted)
            print(f"launch: stopped waiting; the Slurm jobs keep running (scancel {ids} stops them), their "
                  f"records land in {results_root}/shard-*", file=out)  # fmt: skip
            raise
    for outcome in outcomes:
        outcome.extra.update(shard_findings(outcome.shard, launched_at))
    _summarize(outcomes, run_args, shards, results_root, via, kind, out, one_folder)
    return outcomes


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _wait(shard: Shard, job: Any, out: TextIO) -> Outcome:
    """Wait for one job; a job that died becomes an Outcome, never an exception."""
    log = Path(job.paths.stderr) if getattr(job, "paths", None) else None
    try:
        code = int(job.result())
    except Exception as exc:  # noqa: BLE001 - UncompletedJobError, FailedJobError, ...: the job died
        return Outcome(shard, str(job.job_id), "died", None, log, _died_reason(exc, _job_state(job)))
    if code < 0:  # its command got a signal: scancel, the time limit, a node going down
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"its command was killed by {name} (scancel, time limit or node shutdown)"
        return Outcome(shard, str(job.job_id), f"killed by {name}", code, log, why)
    state = "ok" if code == 0 else ("failed runs" if code == 1 else f"exit {code}")
    return Outcome(shard, str(job.job_id), state, code, log)


def _died_reason(exc: BaseException, state: str) -> str:
    """One line: why a job gave no exit code."""
    import submitit

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if isinstance(exc, submitit.core.utils.FailedJobError) and lines:
        # The job function raised (e.g. nox not installed on the node): the traceback's last line.
        errors = [
            line for line in lines if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]
        ]
        return f"the job raised {(errors or lines)[-1]} (state {state})"
    return f"it ended without a result ({type(exc).__name__}; state {state}: killed, timed out, node failure)"


def rerun_command(
    shard: Shard, run_args: list[str], results_root: Path, via: str, kind: str, one_folder: bool = False
) -> str:
    """The command that resubmits just this shard, finishing its missing runs (--resume)."""
    resume = [] if "--resume" in run_args else ["--resume"]
    parts = ["python", "-m", "bench", "launch", "--shards", str(shard.count), "--only", str(shard.index),
             "--executor", kind, "--via", via, "--results-root", str(results_root),
             *(["--one-folder"] if one_folder else []), "--", *run_args, *resume]  # fmt: skip
    return shlex.join(parts)


def report_command(results_root: Path, count: int, one_folder: bool = False) -> list[str]:
    if one_folder:
        return ["python", "-m", "bench", "report", "--results", str(results_root)]
    dirs = [str(shard_dir(results_root, i, count)) for i in range(1, count + 1)]
    return ["python", "-m", "bench", "report", "--results", *dirs,
            "--out", str(results_root / "REPORT.md"), "--figures", str(results_root / "figures")]  # fmt: skip


def _summarize(
    outcomes: list[Outcome],
    run_args: list[str],
    count: int,
    root: Path,
    via: str,
    kind: str,
    out: TextIO,
    one_folder: bool = False,
) -> None:
    outcomes.sort(key=lambda o: o.shard.index)
    for o in outcomes:
        code = "none" if o.exit_code is None else str(o.exit_code)
        print(f"shard {o.shard.name}: job {o.job_id}: {o.state} (exit code {code}); "
              f"results {o.shard.results}", file=out)  # fmt: skip
        for line in [*o.extra.get("hung", []), *o.extra.get("unfinished", [])]:
            print(f"shard {o.shard.name}: {line}", file=out)
    for o in outcomes:
        rerun = rerun_command(o.shard, run_args, root, via, kind, one_folder)
        if o.state == "not submitted":
            asks = "1 GPU and an exclusive node" if o.shard.gpu else "an exclusive node"
            print(f"error: shard {o.shard.name} was not submitted ({o.error}); check --partition and that "
                  f"the cluster offers what it asks for ({asks}), then: {rerun}", file=out)  # fmt: skip
            continue
        if o.state == "queue timeout":
            what = f"was cancelled: {o.error}"
        elif o.state == "died" or o.state.startswith("killed"):
            what = f"died: {o.error}"
        elif o.exit_code not in (0, 1):
            what = f"exited {o.exit_code}"
        else:
            continue  # ok, or some runs failed: those are recorded and in the report
        print(
            f"error: shard {o.shard.name} (job {o.job_id}) {what}; log {o.log}; its finished runs are kept "
            f"in {o.shard.results}, the other shards' results are unaffected; rerun it: {rerun}",
            file=out,
        )
    print(f"launch: merged report: {shlex.join(report_command(root, count, one_folder))}", file=out)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0: every shard ok; 1: failed runs or a shard that died/exited badly."""
    return 0 if all(o.state == "ok" for o in outcomes) else 1


def main(args: argparse.Namespace, plan: Plan | None = None) -> int:
    """``bench launch``: UsageError for bad options (the CLI prints it in one line, exit 2)."""
    count = cfg.positive_int(args.shards, "shards")
    outcomes = launch(
        list(args.run_args),
        shards=count,
        plan=plan or plan_from_cli,
        executor=args.executor,
        partition=args.partition,
        timeout_min=cfg.positive_int(args.timeout_min, "timeout-min"),
        results_root=Path(args.results_root),
        via=args.via,
        only=parse_only(args.only, count),
        one_folder=getattr(args, "one_folder", False),
        queue_timeout_min=_minutes(getattr(args, "queue_timeout", None)),
    )
    return exit_code(outcomes)


def _minutes(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        minutes = float("nan")
    if not 0 < minutes < float("inf"):
        raise cfg.UsageError(f"--queue-timeout {value!r}: give a positive number of minutes, e.g. 30")
    return minutes
