"""The run record's schema: every field, who writes it and what it means, and its documentation.

Standard library only (the noxfile writes records). A record is one JSON object per run under
``results/runs/``; the dataclasses below declare its sections. They are the one place a field is
named: ``bench.validation`` checks a parsed record against them and migrates older versions, and
``python -m bench.schema --markdown`` writes the field list in ``docs/record.md``. Readers may keep
reading records as dicts (the JSON shape is these dataclasses' fields); ``validation.typed`` gives a
section as its dataclass where that reads better. Fields not declared here are kept and not checked
(a newer writer's additions), and names starting with ``_`` are the loader's own (``_path``).
"""

# ruff: noqa: RUF009 - every field default is f(...): dataclasses.field with the meaning and rules attached

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1 is migrated on load (``bench.validation.migrate``)
STATUSES = ("ok", "failed", "skipped")
PURPOSES = ("full", "timing")
CLOCK_SKEW_SECONDS = 600  # a record may be stamped up to 10 min ahead of this machine's clock (NTP drift)

# who writes a field (the "writer" column of docs/record.md)
BASE, CHILD, RUNNER, PLANNER, LOADER = (
    "records.base_record",
    "bench.child",
    "bench.runner",
    "the scheduler (bench.runner / planner)",
    "records.load_records",
)


def f(meaning: str, writer: str = BASE, *, required: bool = False, default: Any = None, **rules: Any) -> Any:
    """A declared field: what it means, who writes it, whether a record must have it, and its rules
    (``choices``, ``minimum``, ``positive``, ``maximum``, ``timestamp``, ``nonempty``)."""
    metadata = {"meaning": meaning, "writer": writer, "required": required, **rules}
    return field(default=default, metadata=metadata)


@dataclass
class Framework:
    """The framework that ran, as it reported itself."""

    name: str = f("registry key of the framework (impls/__init__.py)", required=True, nonempty=True)
    mode: str = f("the framework's execution mode, resolved from its MODES", required=True, nonempty=True)
    versions: dict[str, Any] = f("versions of the framework and the libraries that matter for speed", CHILD)
    settings: dict[str, Any] = f("numerics and threading settings in effect (Framework.settings)", CHILD)


@dataclass
class Model:
    """The model trained (bench.specs)."""

    name: str = f("lenet or mlp", required=True, nonempty=True)
    params: int | None = f("trainable parameters", CHILD, minimum=0)
    train_flops_per_example: int | None = f("FLOPs of one training step per example", CHILD, minimum=0)
    forward_flops_per_example: int | None = f("FLOPs of one forward pass per example", CHILD, minimum=0)


@dataclass
class Device:
    """Where the run trained."""

    kind: str = f("device kind", required=True, choices=("cpu", "gpu"))
    name: str | None = f("the framework's name of the device (e.g. the GPU model)", CHILD)
    machine: str | None = f("machine label: CPU model and cores, or the GPU model (records.machine_of)")


@dataclass
class Config:
    """The run's configuration (bench.config.RunConfig, without data_dir). A hand-made record may leave
    fields out; a field that is there has its type (``seed: null`` is invalid)."""

    framework: str = f("framework registry key", nonempty=True)
    model: str = f("model name", nonempty=True)
    device: str = f("device kind", choices=("cpu", "gpu"))
    mode: str = f("mode asked for (resolved)", nonempty=True)
    seed: int = f("initial weights and shuffling seed", minimum=0)
    epochs: int = f("epochs of the full schedule", positive=True)
    batch_size: int = f("training batch size", positive=True)
    lr: float = f("SGD learning rate", positive=True)
    threads: int = f("CPU threads given to the framework", positive=True)
    repeat: int | None = f("--repeats index: the same seed again", minimum=0)
    input: str | None = f("device-resident data or the framework's own loader", choices=("device", "native"))
    precision: str | None = f("fp32 (TF32 off) or tf32", choices=("fp32", "tf32"))
    loader_workers: int | None = f("--loader-workers of the native input path", minimum=0)
    purpose: str | None = f("full: every epoch, evaluated; timing: throughput only", choices=PURPOSES)
    timing_epochs: int | None = f("timed epochs of a timing run, after its warm-up", positive=True)


@dataclass
class Data:
    """The data set trained on, as verified by bench.data."""

    name: str | None = f("data set name", CHILD)
    sha256: str | None = f("SHA-256 of the four data files' content", CHILD)
    source: str | None = f("folder the data was read from", CHILD)
    train_examples: int | None = f("training examples", CHILD, minimum=0)
    test_examples: int | None = f("test examples", CHILD, minimum=0)


@dataclass
class TimeToTarget:
    """When a full run first reached its model's target test accuracy."""

    target: float | None = f("target test accuracy (bench.specs)", CHILD, minimum=0, maximum=1)
    epoch: int | None = f("first epoch at or above the target; null: never reached", CHILD, positive=True)
    train_seconds: float | None = f("training seconds up to that epoch", CHILD, minimum=0)
    wall_seconds: float | None = f("training and evaluation seconds up to that epoch", CHILD, minimum=0)


@dataclass
class Metrics:
    """What an ok run measured (bench.child: summarize, measure). Ranges: records.metric_problems."""

    final_test_accuracy: float | None = f("test accuracy after the last epoch (null: not evaluated)", CHILD)
    final_train_loss: float | None = f("mean training loss of the last epoch", CHILD)
    steady_examples_per_sec: float | None = f("median training throughput of the timed epochs", CHILD)
    steady_examples_per_sec_iqr: list[float] | None = f("quartiles of it (two or more timed epochs)", CHILD)
    steady_epochs: int | None = f("timed epochs (the curve less its warm-up)", CHILD, minimum=0)
    first_epoch_seconds: float | None = f("seconds of a whole first (warm-up) epoch; null after a "
                                          "warm-up by steps", CHILD)  # fmt: skip
    train_seconds_total: float | None = f("training seconds over the whole curve", CHILD)
    eval_examples_per_sec: float | None = f("median throughput of the warm evaluations", CHILD)
    time_to_target: TimeToTarget | None = f("full runs only", CHILD)
    peak_rss_bytes: int | None = f("peak resident memory of the run's process", CHILD)
    peak_device_memory_bytes: int | None = f("peak device allocation (null on CPU)", CHILD)
    device_peak_gflops: float | None = f("fp32 matrix-product peak of the device (bench.peak)", CHILD)
    device_peak_method: str | None = f("how the peak was measured", CHILD)
    device_peak_source: str | None = f("measured in this run, or cached from which run", CHILD)
    achieved_gflops: float | None = f("train FLOPs per example x steady throughput", CHILD)
    share_of_peak: float | None = f("achieved / device peak", CHILD)


@dataclass
class CurvePoint:
    """One trained epoch (or the warm-up); curve[0] is the warm-up, kept out of steady state."""

    epoch: int = f("1-based epoch number", CHILD, required=True, positive=True)
    train_seconds: float = f("training seconds (device synchronised before the clock is read)", CHILD,
                             required=True, minimum=0)  # fmt: skip
    train_examples: int | None = f("examples trained in it", CHILD, minimum=0)
    warmup_steps: int | None = f("set on a warm-up by steps: the batches it trained", CHILD, positive=True)
    train_loss: float | None = f("mean training loss", CHILD)
    train_accuracy: float | None = f("mean training accuracy", CHILD, minimum=0, maximum=1)
    test_loss: float | None = f("test loss after it (null: not evaluated)", CHILD)
    test_accuracy: float | None = f("test accuracy after it (null: not evaluated)", CHILD, minimum=0,
                                    maximum=1)  # fmt: skip
    eval_seconds: float | None = f("seconds of its evaluation", CHILD, minimum=0)
    eval_warm: bool | None = f("whether that evaluation was warm (a run's first one compiles)", CHILD)
    examples_per_sec: float | None = f("train_examples / train_seconds", CHILD, minimum=0)


@dataclass
class Gpu:
    """One NVIDIA GPU as nvidia-smi names it."""

    name: str | None = f("GPU model")
    driver: str | None = f("driver version")
    memory: str | None = f("total memory, as nvidia-smi prints it")


@dataclass
class Environment:
    """Where the run happened (records.environment)."""

    python: str | None = f("Python version of the run's interpreter")
    os: str | None = f("operating system and kernel release")
    cpu_model: str | None = f("CPU model name (/proc/cpuinfo)")
    cpu_cores: int | None = f("logical CPUs of the machine", positive=True)
    cpu_flags_sha: str | None = f("first 12 hex digits of the SHA-256 of the CPU's flags (/proc/cpuinfo); "
                                  "null: unknown (records of version 1)")  # fmt: skip
    host_id: str | None = f("12 hex digits: SHA-256 of host name, CPU model, cores and flags (version 1: "
                            "of the host name alone)")  # fmt: skip
    gpus: list[Gpu] | None = f("the machine's NVIDIA GPUs")
    framebench_commit: str | None = f("framebench's git commit (or $FRAMEBENCH_COMMIT)")
    framebench_dirty: bool | None = f("uncommitted changes outside results/ and the README's generated block")
    framebench_commit_source: str | None = f("where the commit was read from")


@dataclass
class Process:
    """How the run's process started and what it paid outside its timed epochs."""

    start: str | None = f("fresh interpreter or forked (bench.forkserver)", CHILD, choices=("fresh", "fork"))
    server_pid: int | None = f("the fork server's process id", CHILD)
    seconds_before_training: float | None = f("process start to the first training step: interpreter or "
                                              "fork, imports, data, build", CHILD, minimum=0)  # fmt: skip
    warmup_seconds: float | None = f("seconds of the warm-up (curve[0])", CHILD, minimum=0)
    seconds_after_training: float | None = f("after the last epoch: evaluation and the peak probe", CHILD,
                                             minimum=0)  # fmt: skip


@dataclass
class Sitting:
    """One uninterrupted measuring session on one machine (issue 29); older records have none."""

    id: str = f("the sitting's id", PLANNER, required=True, nonempty=True)
    started_at: str | None = f("when it started, ISO-8601 UTC", PLANNER, timestamp=True)
    order_seed: int | None = f("seed of its rounds' random orders", PLANNER)
    budget_minutes: float | None = f("--budget (null: none)", PLANNER, minimum=0)
    target_precision: float | None = f("--precision: target half-width of a ratio's interval", PLANNER,
                                       minimum=0)  # fmt: skip
    alpha_per_look: float | None = f("test level spent per look", PLANNER, minimum=0, maximum=1)
    planned_looks: int | None = f("looks planned", PLANNER, minimum=0)


@dataclass
class Schedule:
    """Where the run stood in its matrix."""

    sitting: Sitting | None = f("the sitting (older records: one legacy sitting per commit and machine)",
                                PLANNER)  # fmt: skip
    round: int | None = f("round of the sitting", PLANNER, minimum=0)
    position: int | None = f("position in its round", PLANNER, minimum=0)
    round_size: int | None = f("runs in its round", PLANNER, minimum=0)
    order: str | None = f("rotating or blocked (before sittings)", RUNNER)
    index: int | None = f("position in the whole matrix (before sittings)", RUNNER, minimum=0)
    total: int | None = f("runs in the whole matrix (before sittings)", RUNNER, minimum=0)


@dataclass
class Record:
    """One run: ``results/runs/<run_id>.json``."""

    schema_version: int = f("version of this schema; older ones are migrated on load", required=True)
    run_id: str = f("unique id: framework-model-device-mode-seed-time-random; the file's name",
                    required=True, nonempty=True)  # fmt: skip
    status: str = f("ok, failed or skipped", required=True, choices=STATUSES)
    framework: Framework = f("the framework", required=True)
    model: Model = f("the model", required=True)
    device: Device = f("the device", required=True)
    config: Config = f("the run's configuration", required=True)
    config_key: str | None = f("hash of config, data and machine: what --resume matches", CHILD)
    reason: str | None = f("why a run failed or was skipped (one line)", CHILD)
    log_path: str | None = f("the run's log file", RUNNER)
    started_at: str | None = f("ISO-8601 UTC start", timestamp=True)
    finished_at: str | None = f("ISO-8601 UTC end; not after now + 10 min", CHILD, timestamp=True)
    data: Data | None = f("the data set", CHILD)
    metrics: Metrics | None = f("what an ok run measured", CHILD)
    curve: list[CurvePoint] | None = f("one point per trained epoch, curve[0] the warm-up", CHILD)
    environment: Environment | None = f("the machine and the framebench build")
    process: Process | None = f("how the process started, its cost outside the timed epochs", CHILD)
    schedule: Schedule | None = f("where the run stood in its matrix", RUNNER)


SECTIONS: tuple[type, ...] = (Record, Framework, Model, Device, Config, Data, Metrics, TimeToTarget,
                              CurvePoint, Environment, Gpu, Process, Schedule, Sitting)  # fmt: skip
_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """The resolved type of each declared field of a section."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(sys.modules[__name__]))
    return _HINTS[cls]


def type_name(hint: Any) -> str:
    """A field type in the words of docs/record.md and of validation's messages."""
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return "object"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in typing.get_args(hint))
    if origin is list:
        return f"list of {type_name(typing.get_args(hint)[0])}"
    if origin is dict:
        return "object"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(hint, "any")


def _rules_text(rules: typing.Mapping[str, Any]) -> str:
    parts = [f"one of {', '.join(rules['choices'])}"] if "choices" in rules else []
    parts += ["> 0"] if rules.get("positive") else []
    parts += [f"≥ {rules['minimum']}"] if "minimum" in rules else []
    parts += [f"≤ {rules['maximum']}"] if "maximum" in rules else []
    parts += ["ISO-8601 UTC"] if rules.get("timestamp") else []
    return "; ".join(parts)


def _section_of(hint: Any) -> type | None:
    """The section (dataclass) a field's type holds, directly, in a union or as list items."""
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        found = _section_of(arg)
        if found is not None:
            return found
    return None


def markdown() -> str:
    """docs/record.md: every section and field, its type, who writes it and what it means."""
    lines = ["# The run record", "",
             "<!-- generated by `python -m bench.schema --markdown`: edit bench/schema.py, not this -->", "",
             f"One JSON object per run, `results/runs/<run_id>.json`, schema version {SCHEMA_VERSION}. "
             "Records of version 1 are migrated on load (`bench.validation.migrate`); every file is "
             "validated before it is believed (`bench.records.load_records`): an invalid one is listed with "
             "its file and why, and every other record is kept. Fields not listed here are kept unchecked.",
             ""]  # fmt: skip
    for cls in SECTIONS:
        lines += [f"## {cls.__name__}", "", (cls.__doc__ or "").strip(), "",
                  "| field | type | required | written by | meaning |", "|---|---|---|---|---|"]  # fmt: skip
        for spec in dataclasses.fields(cls):
            hint = hints(cls)[spec.name]
            kind = type_name(hint)
            section = _section_of(hint)
            if section is not None:
                kind = kind.replace("object", section.__name__)
            rules = _rules_text(spec.metadata)
            meaning = spec.metadata["meaning"] + (f" ({rules})" if rules else "")
            required = "yes" if spec.metadata.get("required") else ""
            lines.append(f"| `{spec.name}` | {kind} | {required} | {spec.metadata['writer']} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m bench.schema --markdown [PATH]``: write the field list (default docs/record.md)."""
    from pathlib import Path

    if not argv or argv[0] != "--markdown":
        print("usage: python -m bench.schema --markdown [PATH]  (writes docs/record.md)", file=sys.stderr)
        return 2
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "record.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
