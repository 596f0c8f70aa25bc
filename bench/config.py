"""Run configuration: frozen dataclasses that validate themselves. Standard library only.

The noxfile imports this too (to know the matrix when a framework's environment cannot be built),
so it must not import numpy or any framework.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import asdict, dataclass, field

import impls
from bench.specs import MODELS

DEVICE_KINDS: tuple[str, ...] = ("cpu", "gpu")
MODEL_NAMES: tuple[str, ...] = tuple(sorted(MODELS))
PRECISIONS: tuple[str, ...] = ("fp32", "tf32")  # the same as bench.contract.PRECISIONS
INPUTS: tuple[str, ...] = ("device", "native")  # the same as bench.contract.INPUTS
PURPOSES: tuple[str, ...] = ("full", "timing")
ORDERS: tuple[str, ...] = ("rotating", "blocked")

# Six runs per cell: the smallest n whose order-statistic interval for a median reaches 95%
# ([min, max] of 6 covers the median with probability 1 - 2/2^6 = 96.9%). The first seed trains the
# full schedule (accuracy, curves, time to target); the other five are throughput-only repeats: one
# warm-up epoch (compilation, autotuning, allocator and caches at the epoch's real shapes) and then
# TIMING_EPOCHS measured epochs, evaluated once at the end. This keeps the default `nox -s bench`
# (4 frameworks) under 15 minutes on a 2-core machine: see README.
DEFAULT_SEEDS = (0, 1, 2, 3, 4, 5)
DEFAULT_ACCURACY_SEEDS = 1
DEFAULT_TIMING_EPOCHS = 1


class UsageError(Exception):
    """A problem with what the user asked for (options, names, paths): one line, exit code 2."""


def default_threads() -> int:
    """All cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RunConfig:
    """One run: a framework, model, device, mode and seed, plus the training settings."""

    framework: str
    model: str
    device: str
    mode: str  # resolved by the CLI from the framework's MODES ("default" = the first)
    seed: int
    epochs: int
    batch_size: int
    lr: float
    threads: int
    repeat: int = 0  # --repeats: the same seed again (timing spread; accuracy is deterministic on CPU)
    input: str = "device"  # device: data resident on the device; native: the framework's own loader
    precision: str = "fp32"  # fp32 (TF32 off) or tf32 (GPU tensor cores)
    loader_workers: int = 0  # --loader-workers for the native input path
    purpose: str = "full"  # full: all epochs, evaluated each epoch; timing: throughput-only repeat
    timing_epochs: int = DEFAULT_TIMING_EPOCHS  # measured epochs of a timing run (after 1 warm-up epoch)
    data_dir: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        try:
            impls.check_name(self.framework)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if self.model not in MODEL_NAMES:
            raise UsageError(f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}")
        if self.device not in DEVICE_KINDS:
            raise UsageError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICE_KINDS)}")
        for name in ("epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UsageError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("seed", "repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be a non-negative integer, got {value!r}")
        if not (isinstance(self.lr, float) and 0.0 < self.lr < float("inf")):
            raise UsageError(f"lr must be a positive number, got {self.lr!r}")
        for name, choices in (("input", INPUTS), ("precision", PRECISIONS), ("purpose", PURPOSES)):
            if getattr(self, name) not in choices:
                raise UsageError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(choices)}"
                )
        if isinstance(self.loader_workers, bool) or not isinstance(self.loader_workers, int):
            raise UsageError(f"loader-workers must be a non-negative integer, got {self.loader_workers!r}")
        if self.loader_workers < 0:
            raise UsageError(f"loader-workers must be a non-negative integer, got {self.loader_workers!r}")
        if isinstance(self.timing_epochs, bool) or not isinstance(self.timing_epochs, int):
            raise UsageError(f"timing-epochs must be a positive integer, got {self.timing_epochs!r}")
        if self.timing_epochs < 1:
            raise UsageError(f"timing-epochs must be a positive integer, got {self.timing_epochs!r}")

    @property
    def train_epochs(self) -> int:
        """Epochs this run trains: all of them, or a timing run's warm-up epoch + its measured ones."""
        return self.epochs if self.purpose == "full" else min(1 + self.timing_epochs, self.epochs)

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``torch/lenet/cpu/eager/seed0``."""
        extra = [f"repeat{self.repeat}" if self.repeat else ""]
        extra.append("" if self.input == "device" else f"input-{self.input}")
        extra.append("" if self.precision == "fp32" else self.precision)
        extra.append("" if self.purpose == "full" else "timing")
        tail = "".join(f"/{part}" for part in extra if part)
        return f"{self.framework}/{self.model}/{self.device}/{self.mode}/seed{self.seed}{tail}"

    def key(self, data_sha256: str, machine: str = "") -> str:
        """Identity of this configuration on this data and machine (what --resume matches on)."""
        fields = {k: v for k, v in asdict(self).items() if k != "data_dir"}
        fields["data_sha256"] = data_sha256
        fields["machine"] = machine
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """Plain dict for JSON (the child process and the record)."""
        return asdict(self)


def parse_list(text: str, what: str) -> list[str]:
    """Split a comma-separated option; empty items are an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"--{what} needs a comma-separated list, got {text!r}")
    return list(dict.fromkeys(items))  # de-duplicate, keep order


def parse_choices(text: str, what: str, choices: tuple[str, ...]) -> list[str]:
    """Split a comma-separated option whose items must be among ``choices`` (e.g. --models)."""
    items = parse_list(text, what)
    for item in items:
        if item not in choices:
            raise UsageError(f"unknown {what.rstrip('s')} {item!r}; choose one of: {', '.join(choices)}")
    return items


def parse_ints(text: str, what: str) -> list[int]:
    """Parse e.g. ``0,1,2`` or ``0-4`` into non-negative integers."""
    values: list[int] = []
    for item in parse_list(text, what):
        try:
            if "-" in item.lstrip("-") and not item.startswith("-"):
                low, high = (int(x) for x in item.split("-"))
                if low > high:
                    raise UsageError(
                        f"--{what}: the range {item!r} is empty; write it low-high, e.g. {high}-{low}"
                    )
                values.extend(range(low, high + 1))
            else:
                values.append(int(item))
        except ValueError:
            raise UsageError(f"--{what} needs integers like 0,1,2 or 0-4, got {item!r}") from None
    if any(v < 0 for v in values):
        raise UsageError(f"--{what} must be non-negative, got {text!r}")
    return list(dict.fromkeys(values))


def positive_int(text: str, what: str) -> int:
    """Parse a positive integer option with a one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--{what} must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"--{what} must be a positive integer, got {text!r}")
    return value


def positive_float(text: str, what: str) -> float:
    """Parse a positive, finite float option with a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--{what} must be a positive number, got {text!r}") from None
    if not 0.0 < value < float("inf"):
        raise UsageError(f"--{what} must be a positive number, got {text!r}")
    return value


def parse_int_list(text: str, what: str) -> list[int]:
    """Parse a comma-separated list of positive integers, e.g. ``--batch-sizes 64,256``."""
    return [positive_int(item, what) for item in parse_list(text, what)]


@dataclass(frozen=True)
class Matrix:
    """Everything ``bench run`` was asked to do, across frameworks."""

    frameworks: tuple[str, ...]
    models: tuple[str, ...]
    devices: tuple[str, ...]
    modes: dict[str, tuple[str, ...]]  # framework -> its resolved modes
    seeds: tuple[int, ...]
    epochs: int | None  # None: each model's default
    batch_sizes: tuple[int | None, ...]  # (None,): each model's default
    lr: float | None
    threads: tuple[int, ...]
    repeats: int = 1
    inputs: tuple[str, ...] = ("device",)
    precisions: tuple[str, ...] = ("fp32",)
    loader_workers: int = 0
    accuracy_seeds: int | None = None  # the first N seeds train the full schedule; None: every seed
    timing_epochs: int = DEFAULT_TIMING_EPOCHS
    order: str = "rotating"  # rotating: randomized rounds (bench.planner); blocked: one run after another
    data_dir: str | None = None
    budget_minutes: float | None = None  # the sitting's budget (bench.planner); None: every run asked for
    target_precision: float = 0.10  # the race's tie margin (bench.judge.TIE_MARGIN by default)
    order_seed: int | None = None  # the rounds' random order; None: drawn at random and recorded
    # framework -> {device kind: why it cannot run there}; from each environment's describe()
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)
    # framework -> the versions its environment reports (its build; --resume matches on it)
    versions: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    def framework_runs(self, framework: str) -> list[RunConfig]:
        """One framework's runs, in a stable order (model, device, setup, mode, seed, repeat)."""
        out = []
        full_seeds = set(self.seeds if self.accuracy_seeds is None else self.seeds[: self.accuracy_seeds])
        for model in self.models:
            spec = MODELS[model]
            for device in self.devices:
                for input_, precision, batch_size, threads in itertools.product(
                    self.inputs, self.precisions, self.batch_sizes, self.threads
                ):
                    for mode in self.modes[framework]:
                        for seed in self.seeds:
                            out.extend(
                                RunConfig(
                                    framework=framework,
                                    model=model,
                                    device=device,
                                    mode=mode,
                                    seed=seed,
                                    epochs=self.epochs or spec.epochs,
                                    batch_size=batch_size or spec.batch_size,
                                    lr=self.lr or spec.lr,
                                    threads=threads,
                                    repeat=repeat,
                                    input=input_,
                                    precision=precision,
                                    loader_workers=self.loader_workers if input_ == "native" else 0,
                                    purpose="full" if seed in full_seeds else "timing",
                                    timing_epochs=self.timing_epochs,
                                    data_dir=self.data_dir,
                                )
                                for repeat in range(self.repeats)
                            )
        return out

    def runs(self) -> list[RunConfig]:
        """Every run, frameworks interleaved in a rotating order.

        Round r takes the r-th run of each framework, starting with framework r mod k, so that a
        machine drifting during the matrix hits every framework alike and no framework always
        goes first. Runs of one framework keep their stable order.
        """
        lists = [self.framework_runs(framework) for framework in self.frameworks]
        if self.order == "blocked":  # only to measure what interleaving buys (README)
            return [run for runs in lists for run in runs]
        out: list[RunConfig] = []
        k = len(lists)
        for r in range(max((len(runs) for runs in lists), default=0)):
            for j in range(k):
                runs = lists[(r + j) % k]
                if r < len(runs):
                    out.append(runs[r])
        return out
