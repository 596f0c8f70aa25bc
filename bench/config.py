"""Run configuration: frozen dataclasses that validate themselves. Standard library only.

The noxfile imports this too (to know the matrix when a framework's environment cannot be built),
so it must not import numpy or any framework.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import impls
from bench.specs import MODELS

DEVICE_KINDS: tuple[str, ...] = ("cpu", "gpu")
MODEL_NAMES: tuple[str, ...] = tuple(sorted(MODELS))

DEFAULT_SEEDS = (0, 1, 2)  # three seeds: enough for a median and a spread (see README)


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
    data_dir: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        impls.check_name(self.framework)
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}")
        if self.device not in DEVICE_KINDS:
            raise ValueError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICE_KINDS)}")
        for name in ("epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("seed", "repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not (isinstance(self.lr, float) and 0.0 < self.lr < float("inf")):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``torch/lenet/cpu/eager/seed0``."""
        repeat = f"/repeat{self.repeat}" if self.repeat else ""
        return f"{self.framework}/{self.model}/{self.device}/{self.mode}/seed{self.seed}{repeat}"

    def key(self, data_sha256: str) -> str:
        """Identity of this configuration on this data (what --resume matches on)."""
        fields = {k: v for k, v in asdict(self).items() if k != "data_dir"}
        fields["data_sha256"] = data_sha256
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """Plain dict for JSON (the child process and the record)."""
        return asdict(self)


def parse_list(text: str, what: str) -> list[str]:
    """Split a comma-separated option; empty items are an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ValueError(f"--{what} needs a comma-separated list, got {text!r}")
    return list(dict.fromkeys(items))  # de-duplicate, keep order


def parse_choices(text: str, what: str, choices: tuple[str, ...]) -> list[str]:
    """Split a comma-separated option whose items must be among ``choices`` (e.g. --models)."""
    items = parse_list(text, what)
    for item in items:
        if item not in choices:
            raise ValueError(f"unknown {what.rstrip('s')} {item!r}; choose one of: {', '.join(choices)}")
    return items


def parse_ints(text: str, what: str) -> list[int]:
    """Parse e.g. ``0,1,2`` or ``0-4`` into non-negative integers."""
    values: list[int] = []
    for item in parse_list(text, what):
        try:
            if "-" in item.lstrip("-") and not item.startswith("-"):
                low, high = (int(x) for x in item.split("-"))
                values.extend(range(low, high + 1))
            else:
                values.append(int(item))
        except ValueError:
            raise ValueError(f"--{what} needs integers like 0,1,2 or 0-4, got {item!r}") from None
    if any(v < 0 for v in values):
        raise ValueError(f"--{what} must be non-negative, got {text!r}")
    return list(dict.fromkeys(values))


def positive_int(text: str, what: str) -> int:
    """Parse a positive integer option with a one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--{what} must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"--{what} must be a positive integer, got {text!r}")
    return value


def positive_float(text: str, what: str) -> float:
    """Parse a positive, finite float option with a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--{what} must be a positive number, got {text!r}") from None
    if not 0.0 < value < float("inf"):
        raise ValueError(f"--{what} must be a positive number, got {text!r}")
    return value


@dataclass(frozen=True)
class Matrix:
    """Everything ``bench run`` was asked to do for one framework."""

    framework: str
    models: tuple[str, ...]
    devices: tuple[str, ...]
    modes: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int | None  # None: each model's default
    batch_size: int | None
    lr: float | None
    threads: int
    repeats: int = 1
    data_dir: str | None = None

    def runs(self) -> list[RunConfig]:
        """Expand to one RunConfig per (model, device, mode, seed), in a stable order."""
        out = []
        for model in self.models:
            spec = MODELS[model]
            epochs, batch_size, lr = spec.epochs, spec.batch_size, spec.lr
            for device in self.devices:
                for mode in self.modes:
                    for seed in self.seeds:
                        out.extend(
                            RunConfig(
                                framework=self.framework,
                                model=model,
                                device=device,
                                mode=mode,
                                seed=seed,
                                epochs=self.epochs or epochs,
                                batch_size=self.batch_size or batch_size,
                                lr=self.lr or lr,
                                threads=self.threads,
                                repeat=repeat,
                                data_dir=self.data_dir,
                            )
                            for repeat in range(self.repeats)
                        )
        return out
