"""Records into report cells: accessors, de-duplication (within one machine) and grouping.

A cell is one (framework, mode, model, device kind, machine, setup). The setup is the training
configuration without the seed, the repeat and the run's purpose: a throughput-only ``timing`` run
belongs to the same cell as the ``full`` runs of that setup. ``input``, ``precision``, ``batch_size``,
``threads`` and ``loader_workers`` are part of the setup, so they are never mixed.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stats import Summary

try:
    from bench.records import machine_label
except ImportError:  # pragma: no cover - a harness without it: cells.machine() derives the label
    machine_label = None  # type: ignore[assignment]

DEVICE_ORDER = ("cpu", "gpu")
# Config fields that identify a row of the report, or one run of a cell, rather than its setup.
NOT_SETUP = ("framework", "model", "device", "mode", "seed", "repeat", "data_dir", "purpose", "timing_epochs")
# Defaults of fields that older records lack.
SETUP_DEFAULTS: dict[str, Any] = {"input": "device", "precision": "fp32", "loader_workers": 0}


def sha(record: dict[str, Any]) -> str | None:
    """The content hash of the data a record used."""
    return (record.get("data") or {}).get("sha256")


def mode(record: dict[str, Any]) -> str:
    """The resolved mode (the framework's own report first)."""
    return str((record.get("framework") or {}).get("mode") or record["config"].get("mode") or "?")


def framework(record: dict[str, Any]) -> str:
    """The framework's name."""
    return str((record.get("framework") or {}).get("name") or record["config"].get("framework") or "?")


def model(record: dict[str, Any]) -> str:
    """The model's name."""
    return str((record.get("model") or {}).get("name") or record["config"].get("model") or "?")


def device(record: dict[str, Any]) -> str:
    """The device kind (cpu, gpu)."""
    return str((record.get("device") or {}).get("kind") or record["config"].get("device") or "?")


def _fallback_machine(record: dict[str, Any]) -> str:
    info = record.get("device") or {}
    if info.get("machine"):
        return str(info["machine"])
    env = record.get("environment") or {}
    if device(record) == "gpu":
        names = sorted({str(g.get("name", "?")) for g in env.get("gpus") or [] if isinstance(g, dict)})
        return " + ".join(names) or str(info.get("name") or "unknown GPU")
    return f"{env.get('cpu_model') or '?'} · {env.get('cpu_cores') or '?'} cores"


def machine(record: dict[str, Any]) -> str:
    """The machine part of a device's identity (``bench.records.machine_label`` when available)."""
    if machine_label is None:  # an older harness: derive it here
        return _fallback_machine(record)
    try:
        return str(machine_label(record))
    except (AttributeError, KeyError, TypeError):
        return _fallback_machine(record)


def purpose(record: dict[str, Any]) -> str:
    """``full`` (accuracy and throughput) or ``timing`` (throughput only); old records are full."""
    return str(record["config"].get("purpose") or "full")


def setup(record: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The training setup: the config without the row's identity and the run's seed/repeat/purpose."""
    values = dict(SETUP_DEFAULTS)
    values.update({k: v for k, v in record["config"].items() if k not in NOT_SETUP})
    return tuple(sorted(values.items()))


def setup_value(setup_items: Sequence[tuple[str, Any]], name: str) -> Any:
    """One field of a setup (None when absent)."""
    return dict(setup_items).get(name)


def setup_without(setup_items: Sequence[tuple[str, Any]], *names: str) -> tuple[tuple[str, Any], ...]:
    """The setup with some fields removed (to line up cells that differ only there)."""
    return tuple((k, v) for k, v in setup_items if k not in names)


def setup_order(setup_items: Sequence[tuple[str, Any]]) -> tuple[Any, ...]:
    """Sort key of a setup: numbers numerically (bs 64 before bs 128), everything else as text."""
    return tuple(
        (k, (0, float(v), "") if isinstance(v, int | float) and not isinstance(v, bool) else (1, 0.0, str(v)))
        for k, v in setup_items
    )


def device_rank(kind: str) -> tuple[int, str]:
    """Devices sort cpu, gpu, then others by name."""
    return (DEVICE_ORDER.index(kind) if kind in DEVICE_ORDER else len(DEVICE_ORDER), kind)


def setup_text(setup_items: Sequence[tuple[str, Any]]) -> str:
    """The setup in a few words, e.g. ``10 ep · bs 256 · lr 0.9 · 8 thr · fp32``."""
    values = dict(setup_items)
    parts = []
    if "epochs" in values:
        parts.append(f"{values.pop('epochs')} ep")
    if "batch_size" in values:
        parts.append(f"bs {values.pop('batch_size')}")
    if "lr" in values:
        parts.append(f"lr {values.pop('lr'):g}")
    if "threads" in values:
        parts.append(f"{values.pop('threads')} thr")
    if "precision" in values:
        parts.append(str(values.pop("precision")))
    if values.get("input", "device") != "device":
        parts.append(f"{values['input']} input")
    values.pop("input", None)
    workers = values.pop("loader_workers", 0)
    if workers:
        parts.append(f"{workers} loader workers")
    parts.extend(f"{k}={v}" for k, v in sorted(values.items()))
    return " · ".join(parts) or "—"


def _identity(record: dict[str, Any]) -> str:
    config = {k: v for k, v in record["config"].items() if k != "data_dir"}
    config["mode"] = mode(record)
    config["machine"] = machine(record)
    return json.dumps(config, sort_keys=True, default=str)


def _newest_first(record: dict[str, Any]) -> tuple[str, str]:
    return (str(record.get("finished_at") or ""), str(record.get("run_id") or ""))


def dedupe(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the newest record of each configuration on each machine; return (kept, superseded).

    Two records are the same configuration when they come from the same machine-device and their
    ``config_key`` matches, or their configs are equal and their data hashes match or one is unknown
    (a run that failed before loading the data has no hash and no key). The same configuration on
    two machines is two measurements, never a supersession.
    """
    kept: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    seen_keys: set[tuple[str, str]] = set()
    seen_shas: dict[str, set[str | None]] = defaultdict(set)
    for record in sorted(records, key=_newest_first, reverse=True):
        key, identity, data = record.get("config_key"), _identity(record), sha(record)
        where = f"{device(record)}|{machine(record)}"
        shas = seen_shas.get(identity)
        same_config = shas is not None and (data is None or None in shas or data in shas)
        if (key and (where, key) in seen_keys) or same_config:
            superseded.append(record)
            continue
        kept.append(record)
        if key:
            seen_keys.add((where, key))
        seen_shas[identity].add(data)
    return kept, superseded


def majority_sha(records: Iterable[dict[str, Any]]) -> str | None:
    """The data hash most ok records used (ties: the lexicographically smallest)."""
    counts = Counter(sha(r) for r in records if r["status"] == "ok")
    if not counts:
        return None
    return min(counts, key=lambda s: (-counts[s], str(s)))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Group:
    """The records of one cell: the seeds, repeats and purposes of one setup on one machine-device."""

    framework: str
    mode: str
    model: str
    device: str
    machine: str
    setup: tuple[tuple[str, Any], ...]
    runs: list[dict[str, Any]] = field(default_factory=list)  # status ok
    others: list[dict[str, Any]] = field(default_factory=list)  # failed / skipped

    @property
    def label(self) -> str:
        """Framework and mode, e.g. ``torch (eager)``."""
        return f"{self.framework} ({self.mode})"

    @property
    def where(self) -> str:
        """The machine-device, e.g. ``cpu · AMD EPYC 9B14 · 2 cores``."""
        return f"{self.device} · {self.machine}"

    @property
    def setup_text(self) -> str:
        """The training setup in a few words."""
        return setup_text(self.setup)

    @property
    def full_runs(self) -> list[dict[str, Any]]:
        """The ok runs that trained the full schedule (accuracy, curves, time to target)."""
        return [r for r in self.runs if purpose(r) == "full"]

    @property
    def sort_key(self) -> tuple[Any, ...]:
        """Rows sort by device, machine, model, framework, mode, setup."""
        return (
            device_rank(self.device),
            self.machine,
            self.model,
            self.framework,
            self.mode,
            setup_order(self.setup),
        )

    def metric(self, name: str, full_only: bool = False) -> list[float]:
        """The finite values of one metric across the ok runs (or the full runs only)."""
        runs = self.full_runs if full_only else self.runs
        values = [(r.get("metrics") or {}).get(name) for r in runs]
        return [float(v) for v in values if _finite(v)]

    def summary(self, name: str, unit: str, factor: float = 1.0, full_only: bool = False) -> Summary | None:
        """Summary of one metric across the ok runs, or None when no run has it."""
        values = self.metric(name, full_only)
        return Summary.of([v * factor for v in values], unit) if values else None

    def count_text(self) -> str:
        """Runs for throughput / runs for accuracy, and failed/skipped runs of the same cell."""
        full = len(self.full_runs)
        text = f"{len(self.runs)} / {full}"
        statuses = Counter(r["status"] for r in self.others)
        extra = ", ".join(f"+{statuses[s]} {s}" for s in ("failed", "skipped") if statuses[s])
        return f"{text} ({extra})" if extra else text


def group_records(records: Iterable[dict[str, Any]]) -> list[Group]:
    """Group records into report cells; groups without an ok run are dropped."""
    groups: dict[tuple[Any, ...], Group] = {}
    for record in records:
        key = (framework(record), mode(record), model(record), device(record), machine(record), setup(record))
        group = groups.setdefault(key, Group(*key))
        (group.runs if record["status"] == "ok" else group.others).append(record)
    return sorted((g for g in groups.values() if g.runs), key=lambda g: g.sort_key)


def where_rank(where: tuple[str, str]) -> tuple[Any, ...]:
    """Sort key of a (device kind, machine) pair."""
    return (*device_rank(where[0]), where[1])
