"""The runner: owns the data, the initial weights, the shuffling order, the clock and the records.

``run_matrix`` (parent) runs each configuration in its own child process, so that a framework's
native crash (segfault, abort, out-of-memory kill) fails one run, not the matrix. The child
(``run_one``) trains, measures and writes its own record atomically; if it dies without one, the
parent writes a ``failed`` record with the cause and the log path. Ctrl-C / SIGTERM stop after the
runs already recorded; an interrupted run leaves no record, so ``--resume`` redoes exactly it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import records
from bench.config import Matrix, RunConfig, UsageError

PROGRESS_PREFIX = "@@framebench "  # marks the child's progress lines on its stdout
CHILD_ENTRY = "bench.runner"


class RunInterrupted(Exception):
    """The user stopped the matrix (Ctrl-C or SIGTERM)."""


# ----------------------------------------------------------------------------------------------
# child side: one run in this process


def _emit(event: dict[str, Any]) -> None:
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


def _set_thread_env(threads: int) -> None:
    """Thread counts for OpenMP/BLAS pools, set before any framework is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def time_to_target(curve: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """First epoch whose test accuracy reaches ``target``: cumulative training and wall seconds."""
    train_seconds = wall_seconds = 0.0
    for point in curve:
        train_seconds += point["train_seconds"]
        wall_seconds += point["train_seconds"] + point["eval_seconds"]
        if point["test_accuracy"] >= target:
            return {"target": target, "epoch": point["epoch"], "train_seconds": train_seconds,
                    "wall_seconds": wall_seconds}  # fmt: skip
    return {"target": target, "epoch": None, "train_seconds": None, "wall_seconds": None}


def summarize(curve: list[dict[str, Any]], train_examples: int, test_examples: int) -> dict[str, Any]:
    """Metrics from the per-epoch curve; epoch 1 (warm-up/compile) is kept out of steady state."""
    from bench.stats import quartiles

    steady = [train_examples / p["train_seconds"] for p in curve[1:]]
    return {
        "final_test_accuracy": curve[-1]["test_accuracy"],
        "final_train_loss": curve[-1]["train_loss"],
        "steady_examples_per_sec": statistics.median(steady) if steady else None,
        "steady_examples_per_sec_iqr": list(quartiles(steady)) if len(steady) >= 2 else None,
        "steady_epochs": len(steady),
        "first_epoch_seconds": curve[0]["train_seconds"],
        "train_seconds_total": sum(p["train_seconds"] for p in curve),
        "eval_examples_per_sec": statistics.median(
            test_examples / p["eval_seconds"] for p in curve if p["eval_seconds"]
        ),
    }


def run_one(
    config: RunConfig, results: Path, log_path: str | None = None, schedule: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train and evaluate one configuration in this process; write and return its record."""
    _set_thread_env(config.threads)
    import numpy as np

    import impls
    from bench import data as data_mod
    from bench.contract import NativeSource, Unsupported
    from bench.specs import get_spec

    spec = get_spec(config.model)
    record = records.base_record(config.to_dict())
    record["log_path"] = log_path
    record["schedule"] = schedule
    record["model"].update(
        params=spec.num_params(),
        train_flops_per_example=spec.train_flops(),
        forward_flops_per_example=spec.forward_flops(),
    )
    dataset = data_mod.load(config.data_dir)
    record["config_key"] = config.key(dataset.sha256, record["device"]["machine"])
    record["data"] = {
        "name": "fashion-mnist",
        "sha256": dataset.sha256,
        "source": dataset.source,
        "train_examples": len(dataset.train_labels),
        "test_examples": len(dataset.test_labels),
    }

    def finish(status: str, reason: str | None = None) -> dict[str, Any]:
        record.update(status=status, reason=reason, finished_at=records.utc_now())
        records.write_record(results, record)
        return record

    try:
        framework = impls.load_class(config.framework)(threads=config.threads)
        mode = config.mode
        record["framework"]["versions"] = framework.versions()
        if config.device not in framework.devices():
            try:
                framework.device_name(config.device)
                reason = f"{config.framework} sees no {config.device} in this environment"
            except Unsupported as exc:
                reason = str(exc)
            return finish("skipped", reason)
        record["device"]["name"] = framework.device_name(config.device)
        model = framework.build(spec, config.device, mode, precision=config.precision)
        record["framework"]["settings"] = framework.settings(config.device, mode, precision=config.precision)
        if config.input == "native" and not callable(getattr(model, "native_input", None)):
            raise Unsupported(f"{config.framework} has no native input pipeline (Model.native_input)")
    except Unsupported as exc:
        return finish("skipped", str(exc))

    model.set_weights(spec.initial_weights(config.seed))
    if config.input == "native":
        source = NativeSource(
            images=dataset.train_images,
            labels=dataset.train_labels,
            data_dir=dataset.source,
            split="train",
            workers=config.loader_workers,
        )
        try:
            train = model.native_input(source)
        except Unsupported as exc:  # e.g. the loader's package is missing in this environment
            return finish("skipped", str(exc))
    else:
        train = model.put(data_mod.Dataset.as_float(dataset.train_images), dataset.train_labels)
    test = model.put(data_mod.Dataset.as_float(dataset.test_images), dataset.test_labels)
    model.sync()
    # The shuffling stream is separate from the init stream; same seed -> same order everywhere.
    order_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED]))
    n_train, n_test = len(dataset.train_labels), len(dataset.test_labels)
    curve = []
    epochs = config.train_epochs
    # A timing run (throughput only) is evaluated once, after its last epoch; its first epoch, like
    # every run's, is the warm-up kept out of steady state.
    for epoch in range(1, epochs + 1):
        order = order_rng.permutation(n_train)
        model.sync()
        start = time.perf_counter()
        stats = model.train_epoch(train, order, config.batch_size, config.lr)
        model.sync()
        train_seconds = time.perf_counter() - start
        if not np.isfinite(stats.loss):
            return finish("failed", f"training diverged: loss is {stats.loss} at epoch {epoch}")
        evaluation, eval_seconds = None, None
        if config.purpose == "full" or epoch == epochs:
            start = time.perf_counter()
            evaluation = model.evaluate(test)
            model.sync()
            eval_seconds = time.perf_counter() - start
        point = {
            "epoch": epoch,
            "train_examples": len(order),
            "train_loss": stats.loss,
            "train_accuracy": stats.accuracy,
            "test_loss": evaluation.loss if evaluation else None,
            "test_accuracy": evaluation.accuracy if evaluation else None,
            "train_seconds": train_seconds,
            "eval_seconds": eval_seconds,
            "examples_per_sec": len(order) / train_seconds,
        }
        curve.append(point)
        _emit({"event": "epoch", "epochs": epochs, **point})

    metrics = summarize(curve, n_train, n_test)
    metrics["time_to_target"] = (
        time_to_target(curve, spec.target_accuracy) if config.purpose == "full" else None
    )
    metrics["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    metrics["peak_device_memory_bytes"] = framework.peak_device_memory_bytes(config.device)
    peak = framework.peak_gflops(config.device)
    metrics["device_peak_gflops"] = peak["gflops"]
    metrics["device_peak_method"] = peak["method"]
    if metrics["steady_examples_per_sec"]:
        achieved = spec.train_flops() * metrics["steady_examples_per_sec"] / 1e9
        metrics["achieved_gflops"] = achieved
        metrics["share_of_peak"] = achieved / peak["gflops"]
    else:
        metrics["achieved_gflops"] = metrics["share_of_peak"] = None
    record["metrics"] = metrics
    record["curve"] = curve
    return finish("ok")


def describe(framework: str) -> dict[str, Any]:
    """What the parent needs to know of a framework it cannot import itself: its modes, and the
    device kinds this environment cannot use, each with the framework's own reason."""
    import impls
    from bench.config import DEVICE_KINDS
    from bench.contract import Unsupported

    cls = impls.load_class(framework)
    instance = cls(threads=1)  # importing and constructing it proves the install works
    available, unavailable = instance.devices(), {}
    for kind in DEVICE_KINDS:
        if kind in available:
            continue
        try:
            instance.device_name(kind)
            unavailable[kind] = f"{framework} sees no {kind} in this environment"
        except Unsupported as exc:
            unavailable[kind] = str(exc)
    return {"modes": list(cls.MODES), "unavailable": unavailable, "python": sys.executable}


def describe_main(framework: str) -> int:
    """``python -m bench.runner --describe FW``: one JSON line, or one error line and exit 1."""
    try:
        print(json.dumps(describe(framework)))
    except Exception as exc:  # noqa: BLE001 - an import/installation problem, reported in one line
        print(
            json.dumps(
                {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"}
            )
        )
        return 1
    return 0


def child_main(argv: list[str]) -> int:
    """Entry point of the child process: ``python -m bench.runner CONFIG_JSON RESULTS LOG``."""
    if argv and argv[0] == "--describe":
        return describe_main(argv[1])
    payload, results, log_path = json.loads(argv[0]), Path(argv[1]), argv[2]
    schedule = payload.pop("_schedule", None)
    config = RunConfig(**payload)
    try:
        record = run_one(config, results, log_path, schedule)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - any Python error fails this run, with its first line
        traceback.print_exc()
        first_line = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["error"])[0]
        record = records.outcome_record(payload, "failed", first_line[:500], log_path=log_path)
        records.write_record(results, record)
    _emit({"event": "done", "status": record["status"], "reason": record["reason"],
           "metrics": record["metrics"]})  # fmt: skip
    return 0


# ----------------------------------------------------------------------------------------------
# parent side: the matrix, one child per run


@dataclass
class Outcome:
    """What became of one configuration."""

    config: RunConfig
    status: str  # ok | failed | skipped | resumed
    reason: str | None = None
    metrics: dict[str, Any] | None = None


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


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"process died with {name}{hint}"
    return f"process exited with code {code} without writing a record"


def _last_error_line(log_path: Path) -> str | None:
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    for line in reversed(lines[-50:]):
        if "Error" in line or "error" in line or "Fatal" in line or "Abort" in line:
            return line[:300]
    return None


def _run_child(
    config: RunConfig,
    results: Path,
    on_event: Callable[[dict[str, Any]], None],
    python: str = sys.executable,
    schedule: dict[str, Any] | None = None,
) -> Outcome:
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{config.label.replace('/', '-')}.log"
    before = {p.name for p in records.runs_dir(results).glob("*.json")}
    payload = json.dumps({**config.to_dict(), "_schedule": schedule})
    command = [python, "-m", CHILD_ENTRY, payload, str(results), str(log_path)]
    done: dict[str, Any] | None = None
    with open(log_path, "w") as log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith(PROGRESS_PREFIX):
                    event = json.loads(line[len(PROGRESS_PREFIX) :])
                    if event["event"] == "done":
                        done = event
                    on_event(event)
                else:
                    log.write(line)
            code = child.wait()
        except BaseException:
            # Ctrl-C reaches the child through the terminal; SIGTERM to us must be passed on.
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            raise
    if code == 130:
        raise RunInterrupted()
    if done is not None:
        return Outcome(config, done["status"], done["reason"], done["metrics"])
    written = {p.name for p in records.runs_dir(results).glob("*.json")} - before
    if written:  # died after writing its record (e.g. at interpreter exit): the record stands
        record = json.loads((records.runs_dir(results) / sorted(written)[0]).read_text())
        return Outcome(config, record["status"], record["reason"], record["metrics"])
    reason = _describe_exit(code)
    detail = _last_error_line(log_path)
    if detail:
        reason += f": {detail}"
    reason += f" (log: {log_path})"
    records.write_record(
        results, records.outcome_record(config.to_dict(), "failed", reason, log_path=str(log_path))
    )
    return Outcome(config, "failed", reason)


def describe_framework(framework: str, python: str = sys.executable) -> dict[str, Any]:
    """Ask ``python`` (the framework's own environment) for the framework's modes; UsageError in one
    line naming the fix when it is not installed there."""
    import impls

    try:
        command = [python, "-m", CHILD_ENTRY, "--describe", framework]
        env = {**os.environ, "PYTHONPATH": _pythonpath()}
        out = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
        answer = {"error": f"{python} could not be run ({exc})"}
    if "error" in answer:
        raise UsageError(
            f"{framework} does not load in {python} ({answer['error']}); run it through `nox -s bench` "
            f"or `pip install -r {impls.requirements_file(framework)}` in that environment"
        )
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
) -> list[Outcome]:
    """Run the given configurations (default: all of the matrix, frameworks interleaved), each in a
    child process started with its framework's Python; return the outcomes."""
    from bench import data as data_mod

    check_results_writable(results)
    dataset = data_mod.load(matrix.data_dir)  # fail fast, once, on missing or corrupt data
    done_keys = records.completed_keys(results) if resume else set()
    outcomes: list[Outcome] = []
    configs = matrix.runs() if configs is None else configs
    pythons = pythons or {}
    machines = {kind: records.machine_of(kind) for kind in {c.device for c in configs}}
    if progress is not None:
        progress.start(len(configs))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    os.environ["PYTHONPATH"] = _pythonpath()  # children in other environments import this harness
    try:
        for index, config in enumerate(configs):
            if config.key(dataset.sha256, machines[config.device]) in done_keys:
                outcomes.append(Outcome(config, "resumed", "an ok record with this configuration exists"))
                if progress is not None:
                    progress.run_finished(config, outcomes[-1])
                continue
            if progress is not None:
                progress.run_started(config)
            order = matrix.order if len(matrix.frameworks) > 1 else "single framework"
            schedule = {"order": order, "index": index, "total": len(configs)}
            reason = matrix.unavailable.get(config.framework, {}).get(config.device)
            if reason:  # known from the framework's own environment: no process needed to skip it
                key = config.key(dataset.sha256, machines[config.device])
                record = records.outcome_record(config.to_dict(), "skipped", reason, config_key=key)
                record["schedule"] = schedule
                records.write_record(results, record)
                outcomes.append(Outcome(config, "skipped", reason))
                if progress is not None:
                    progress.run_finished(config, outcomes[-1])
                continue
            outcome = _run_child(config, results, lambda event, c=config: _report_event(progress, c, event),
                                 pythons.get(config.framework, sys.executable), schedule)  # fmt: skip
            outcomes.append(outcome)
            if progress is not None:
                progress.run_finished(config, outcome)
    except (KeyboardInterrupt, RunInterrupted):
        raise RunInterrupted(f"{len(outcomes)} of {len(configs)} runs finished") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if progress is not None:
            progress.stop()
    return outcomes


def _report_event(progress: Any, config: RunConfig, event: dict[str, Any]) -> None:
    if progress is not None:
        progress.event(config, event)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
