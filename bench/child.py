"""The child side of a run: one configuration trained, measured and recorded in this process.

``python -m bench.child CONFIG_JSON RESULTS LOG`` is started by ``bench.runner`` once per run, with
the framework's own interpreter (each framework lives in its own environment). It trains, measures,
writes its record atomically and reports progress on stdout as ``@@framebench {json}`` lines. Its
record is named by the identity the parent gave it (``_identity.run_id`` in CONFIG_JSON), and it dies
with its parent: ``PR_SET_PDEATHSIG`` on Linux, and a watch on its stdin, the parent's pipe, whose end
of file means the parent is gone (also through a wrapper script that did not ``exec``).
``python -m bench.child --describe FW`` answers what the parent needs to know about a framework it
cannot import itself (its modes, the devices its environment lacks and why).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import records
from bench.config import RunConfig
from bench.curve import summarize, time_to_target
from bench.peak import device_peak

PROGRESS_PREFIX = "@@framebench "  # marks the child's progress lines on its stdout


def _emit(event: dict[str, Any]) -> None:
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


def _set_thread_env(threads: int) -> None:
    """Thread counts for OpenMP/BLAS pools, set before any framework is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def _seconds_since_process_start() -> float | None:
    """What this run paid before its first epoch: interpreter (fresh) or fork, imports, device start,
    data, build. From /proc, to 10 ms: the time since boot now, less this process's start time since
    boot (None where there is no /proc)."""
    try:
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rpartition(")")[2].split()[19])  # field 22, starttime
        with open("/proc/uptime") as uptime:
            now = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(now - ticks / os.sysconf("SC_CLK_TCK"), 2)


# A timing run warms up by about this many training steps instead of a whole epoch: compilation
# (jit, torch.compile, tf.function, hybridize) happens at the first step of each batch shape, and
# allocator, caches and thread pools settle within a few steps more; 30 leave margin over that at a
# tenth of an epoch's cost (234 steps of 256 examples).
WARMUP_STEPS = 30
# The warm-up's batch count equals the epoch's modulo this period, ending in the epoch's last
# (smaller) batch, so a loop running k steps per call (Keras's steps_per_execution = 32), for any
# power of two k up to 64, meets the same call shapes in the warm-up as in the timed epochs.
WARMUP_PERIOD = 64


def warmup_order(order: Any, batch_size: int) -> Any:
    """The examples a warm-up by steps trains: about WARMUP_STEPS full batches and then the epoch's
    last batch, its batch count congruent to the epoch's modulo WARMUP_PERIOD; the whole ``order``
    when the epoch is not much longer than that."""
    import numpy as np

    n = len(order)
    batches = -(-n // batch_size)
    if batches <= WARMUP_STEPS + WARMUP_PERIOD:
        return order
    keep = WARMUP_STEPS + (batches - WARMUP_STEPS) % WARMUP_PERIOD
    tail = n - (batches - 1) * batch_size  # the epoch's last batch (a full one when it divides)
    return np.concatenate([order[: (keep - 1) * batch_size], order[n - tail :]])


class Skip(Exception):
    """This configuration cannot run here (recorded as skipped with the reason)."""


class Diverged(Exception):
    """The training loss stopped being finite (recorded as failed with the reason)."""


@dataclass
class Run:
    """One run's state, passed from step to step."""

    config: RunConfig
    record: dict[str, Any]
    spec: Any = None
    dataset: Any = None
    framework: Any = None
    model: Any = None
    train: Any = None
    test: Any = None
    order_rng: Any = None
    curve: list[dict[str, Any]] = field(default_factory=list)


def run_one(
    config: RunConfig,
    results: Path,
    log_path: str | None = None,
    schedule: dict[str, Any] | None = None,
    run_id: str | None = None,
    process: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one configuration in this process; write and return its record
    (``runs/<run_id>.json``; a new id when none is given). ``process`` says how this process
    started (``{"start": "fresh"}`` or ``"fork"`` from bench.forkserver); it is recorded.

    The steps: ``build`` (framework, model, data on the device), ``warm_up`` (curve[0]), ``train``
    (the other epochs), ``measure`` (metrics, memory, the device's peak) and ``record``; the record's
    ``process`` says what the run paid before, in and after its warm-up."""
    _set_thread_env(config.threads)
    run = Run(config, records.base_record(config.to_dict(), run_id))
    run.record.update(log_path=log_path, schedule=schedule, process=process or {"start": "fresh"})
    cost = run.record["process"]
    try:
        build(run)
        cost["seconds_before_training"] = _seconds_since_process_start()
        start = time.perf_counter()
        warm_up(run)
        cost["warmup_seconds"] = round(time.perf_counter() - start, 3)
        train(run)
        start = time.perf_counter()
        measure(run)
        cost["seconds_after_training"] = round(time.perf_counter() - start, 3)
    except Skip as exc:
        return record(run, results, "skipped", str(exc))
    except Diverged as exc:
        return record(run, results, "failed", str(exc))
    return record(run, results, "ok")


def build(run: Run) -> None:
    """Load the data, build the model on its device with its initial weights, put the data there."""
    import numpy as np

    import impls
    from bench import data as data_mod
    from bench.contract import Unsupported
    from bench.specs import get_spec

    config, rec = run.config, run.record
    run.spec = spec = get_spec(config.model)
    rec["model"].update(params=spec.num_params(), train_flops_per_example=spec.train_flops(),
                        forward_flops_per_example=spec.forward_flops())  # fmt: skip
    run.dataset = dataset = data_mod.load(config.data_dir)
    rec["config_key"] = config.key(dataset.sha256, rec["device"]["machine"])
    rec["data"] = {
        "name": "fashion-mnist",
        "sha256": dataset.sha256,
        "source": dataset.source,
        "train_examples": len(dataset.train_labels),
        "test_examples": len(dataset.test_labels),
    }
    try:
        run.framework = framework = impls.load_class(config.framework)(threads=config.threads)
        rec["framework"]["versions"] = framework.versions()
        if config.device not in framework.devices():
            try:
                framework.device_name(config.device)
                raise Skip(f"{config.framework} sees no {config.device} in this environment")
            except Unsupported as exc:
                raise Skip(str(exc)) from None
        rec["device"]["name"] = framework.device_name(config.device)
        run.model = model = framework.build(spec, config.device, config.mode, precision=config.precision)
        rec["framework"]["settings"] = framework.settings(
            config.device, config.mode, precision=config.precision
        )
        if config.input == "native" and not callable(getattr(model, "native_input", None)):
            raise Skip(f"{config.framework} has no native input pipeline (Model.native_input)")
        model.set_weights(spec.initial_weights(config.seed))
        run.train = _train_data(run)
    except Unsupported as exc:  # e.g. the native loader's package is missing in this environment
        raise Skip(str(exc)) from None
    run.test = model.put(data_mod.Dataset.as_float(dataset.test_images), dataset.test_labels)
    model.sync()
    # The shuffling stream is separate from the init stream; same seed -> same order everywhere.
    run.order_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED]))


def _train_data(run: Run) -> Any:
    from bench import data as data_mod
    from bench.contract import NativeSource

    dataset = run.dataset
    if run.config.input == "native":
        source = NativeSource(
            images=dataset.train_images,
            labels=dataset.train_labels,
            data_dir=dataset.source,
            split="train",
            workers=run.config.loader_workers,
        )
        return run.model.native_input(source)
    return run.model.put(data_mod.Dataset.as_float(dataset.train_images), dataset.train_labels)


def steps_warm_up(run: Run) -> bool:
    """Whether this run warms up by steps: a timing run with timed epochs after its warm-up, in a mode
    that does not compile the whole epoch at once (``Framework.WHOLE_EPOCH_MODES``)."""
    whole_epoch = getattr(type(run.framework), "WHOLE_EPOCH_MODES", ())
    return (
        run.config.purpose == "timing" and run.config.train_epochs > 1 and run.config.mode not in whole_epoch
    )


def warm_up(run: Run) -> None:
    """curve[0]: a timing run's warm-up by steps (``warmup_order``), or a whole first epoch (a full
    run's first, evaluated; a whole-epoch mode's). It consumes the epoch's shuffle all the same, so
    the timed epochs train in the same orders either way."""
    order = run.order_rng.permutation(len(run.dataset.train_labels))
    if steps_warm_up(run):
        partial = warmup_order(order, run.config.batch_size)
        if len(partial) < len(order):
            point = _epoch(run, 1, partial, evaluate=False)
            point["warmup_steps"] = -(-len(partial) // run.config.batch_size)
            return
    _epoch(run, 1, order, evaluate=run.config.purpose == "full")


def train(run: Run) -> None:
    """The epochs after the warm-up: timed; a full run's evaluated after each."""
    for epoch in range(2, run.config.train_epochs + 1):
        order = run.order_rng.permutation(len(run.dataset.train_labels))
        _epoch(run, epoch, order, evaluate=run.config.purpose == "full")


def _epoch(run: Run, epoch: int, order: Any, evaluate: bool) -> dict[str, Any]:
    """Train one pass over ``order`` (and evaluate after it when asked); append its curve point."""
    import numpy as np

    model, config = run.model, run.config
    model.sync()
    start = time.perf_counter()
    stats = model.train_epoch(run.train, order, config.batch_size, config.lr)
    model.sync()
    train_seconds = time.perf_counter() - start
    if not np.isfinite(stats.loss):
        raise Diverged(f"training diverged: loss is {stats.loss} at epoch {epoch}")
    evaluation, eval_seconds, eval_warm = None, None, None
    if evaluate:
        eval_warm = any(p["eval_seconds"] for p in run.curve)  # a run's first evaluation is cold
        start = time.perf_counter()
        evaluation = model.evaluate(run.test)
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
        "eval_warm": eval_warm,
        "examples_per_sec": len(order) / train_seconds,
    }
    run.curve.append(point)
    # epoch_examples: what a whole epoch trains, so the parent's watchdog scales a warm-up by steps
    # (a fraction of an epoch) up to the epochs that follow it
    _emit({"event": "epoch", "epochs": config.train_epochs, **point,
           "epoch_examples": len(run.dataset.train_labels)})  # fmt: skip
    return point


def measure(run: Run) -> None:
    """The run's metrics from its curve, its memory peaks and its device's matmul peak (bench.peak)."""
    config, spec, rec = run.config, run.spec, run.record
    metrics = summarize(run.curve, len(run.dataset.train_labels), len(run.dataset.test_labels))
    metrics["time_to_target"] = (
        time_to_target(run.curve, spec.target_accuracy) if config.purpose == "full" else None
    )
    metrics["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    metrics["peak_device_memory_bytes"] = run.framework.peak_device_memory_bytes(config.device)
    peak = device_peak(run.framework, rec)  # measured now, or once per machine and build (bench.peak)
    metrics["device_peak_gflops"] = peak["gflops"]
    metrics["device_peak_method"] = peak["method"]
    metrics["device_peak_source"] = peak["source"]
    if metrics["steady_examples_per_sec"]:
        achieved = spec.train_flops() * metrics["steady_examples_per_sec"] / 1e9
        metrics["achieved_gflops"] = achieved
        metrics["share_of_peak"] = achieved / peak["gflops"]
    else:
        metrics["achieved_gflops"] = metrics["share_of_peak"] = None
    rec["metrics"] = metrics
    rec["curve"] = run.curve


def record(run: Run, results: Path, status: str, reason: str | None = None) -> dict[str, Any]:
    """Finish the record with its outcome and write it (atomically); return it."""
    run.record.update(status=status, reason=reason, finished_at=records.utc_now())
    records.write_record(results, run.record)
    return run.record


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
    try:
        versions = dict(instance.versions())  # the build: --resume counts only records of it
    except Exception:  # noqa: BLE001 - unknown versions match any build, as a record without them
        versions = {}
    return {"modes": list(cls.MODES), "unavailable": unavailable, "python": sys.executable,
            "versions": versions}  # fmt: skip


def describe_main(framework: str) -> int:
    """``python -m bench.child --describe FW``: one JSON line, or one error line and exit 1."""
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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(watch_stdin: bool) -> None:
    """Make this process end when the parent that started it does: the kernel's parent-death signal
    (Linux), and a thread that reads stdin (the parent's pipe) and kills this process at its end of
    file. Killed at once, an orphan leaves no record: ``--resume`` redoes its run."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the pipe below still ends an orphan
            pass
    if watch_stdin:
        # os.read on the raw descriptor: a daemon thread blocked in sys.stdin would hold its lock
        # at interpreter shutdown. If the parent is already gone, the read returns at once.
        threading.Thread(target=_watch_parent_pipe, name="parent-watch", daemon=True).start()


def _watch_parent_pipe() -> None:
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def child_main(argv: list[str]) -> int:
    """Entry point of the child process: ``python -m bench.child CONFIG_JSON RESULTS LOG``."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited as ignored
    if argv and argv[0] == "--describe":
        return describe_main(argv[1])
    payload, results, log_path = json.loads(argv[0]), Path(argv[1]), argv[2]
    schedule = payload.pop("_schedule", None)
    identity = payload.pop("_identity", None) or {}
    die_with_parent(bool(identity.get("watch_stdin")))
    run_id = identity.get("run_id")
    config = RunConfig(**payload)
    try:
        record = run_one(config, results, log_path, schedule, run_id, identity.get("process"))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - any Python error fails this run, with its first line
        traceback.print_exc()
        first_line = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["error"])[0]
        key = identity.get("config_key")
        record = records.outcome_record(
            payload, "failed", first_line[:500], config_key=key, run_id=run_id, log_path=log_path
        )
        record["framework"]["versions"] = dict(identity.get("versions") or {})
        record["schedule"] = schedule
        records.write_record(results, record)
    _emit({"event": "done", "status": record["status"], "reason": record["reason"],
           "metrics": record["metrics"]})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
