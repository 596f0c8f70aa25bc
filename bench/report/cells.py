"""Records into report cells: accessors, de-duplication (within one machine) and grouping.

A cell is one (framework, mode, model, device kind, machine, setup, build). The setup is the training
configuration without the seed, the repeat and the run's purpose: a throughput-only ``timing`` run
belongs to the same cell as the ``full`` runs of that setup. ``input``, ``precision``, ``batch_size``,
``threads`` and ``loader_workers`` are part of the setup, so they are never mixed. The build is the
framework's versions as recorded and, unless commits are pooled, the framebench commit: two torch
builds on one machine are two cells, never one median (``bench.counting.choose`` holds the rule
of which record of a configuration counts; ``--resume`` uses the same).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import counting
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
    """The framework as the run was asked for: its name, or ``name@version`` for a version entry
    (``--frameworks torch@2.13.0``), so that two versions measured side by side are two rows."""
    entry = (record.get("config") or {}).get("framework")
    if isinstance(entry, str) and "@" in entry:
        return entry
    return framework_name(record)


def framework_name(record: dict[str, Any]) -> str:
    """The framework's registry name, without a version."""
    return str(
        (record.get("framework") or {}).get("name") or record["config"].get("framework") or "?"
    ).partition("@")[0]


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


def dedupe(
    records: Iterable[dict[str, Any]], pool_commits: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The record of each configuration that counts, and the superseded ones: ``bench.counting.choose``,
    the one rule ``--resume`` follows too (newest ok record of a configuration and build; a failed or
    skipped record only where no ok one exists). The same configuration on two machines, or of two
    builds, is two measurements, never a supersession."""
    return counting.choose(records, pool_commits)


def sitting_info(record: dict[str, Any]) -> dict[str, Any]:
    """The record's sitting (``schedule.sitting``, see HELPERS/DESIGN), or for an older record without
    one a legacy sitting per framebench commit (the machine is part of every block's key already)."""
    found = (
        (record.get("schedule") or {}).get("sitting") if isinstance(record.get("schedule"), dict) else None
    )
    if isinstance(found, dict) and found.get("id"):
        return found
    return {"id": f"legacy {short_commit(record)}", "legacy": True}


def sitting_id(record: dict[str, Any]) -> str:
    """The id of the sitting a record was measured in (``legacy <commit>`` for older records)."""
    return str(sitting_info(record)["id"])


def round_of(record: dict[str, Any]) -> int | None:
    """The round of its sitting a run was measured in (``schedule.round``), None when not recorded."""
    schedule = record.get("schedule")
    value = schedule.get("round") if isinstance(schedule, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def versions(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The framework's versions as recorded (empty when the run died before reporting them)."""
    found = (record.get("framework") or {}).get("versions") or {}
    return tuple(sorted((str(k), str(v)) for k, v in found.items())) if isinstance(found, dict) else ()


def commit(record: dict[str, Any]) -> str | None:
    """The framebench commit a record was measured at (None when unknown)."""
    return (record.get("environment") or {}).get("framebench_commit") or None


def short_commit(record: dict[str, Any]) -> str:
    """The record's framebench commit, abbreviated to 7 characters ("unknown" when not recorded)."""
    return str(commit(record) or "unknown")[:7]


def versions_text(framework_name: str, items: Sequence[tuple[str, str]]) -> str:
    """``torch 2.5.1, cuda None, numpy 2.1.3``: the framework first, the rest by name."""
    framework_name = framework_name.partition("@")[0]  # a version entry's versions are its framework's
    ordered = sorted(items, key=lambda kv: (kv[0] != framework_name, kv[0]))
    return ", ".join(f"{k} {v}" for k, v in ordered) or "versions unknown"


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
    versions: tuple[tuple[str, str], ...] = ()  # the build: the framework's versions as recorded
    commit: str | None = None  # and the framebench commit (None: unknown, or commits pooled)
    sitting_key: str | None = None  # the sitting (a cell never pools two; None: legacy commits pooled)
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
    def commits(self) -> list[str]:
        """The framebench commits of the cell's runs (one, unless commits were pooled)."""
        return sorted({c for c in (commit(r) for r in self.runs + self.others) if c})

    @property
    def build_text(self) -> str:
        """The cell's software build, e.g. ``commit 0123456789ab, torch 2.5.1, numpy 2.1.3``."""
        found = [c[:12] for c in self.commits] or ["unknown"]
        return f"commit {', '.join(found)}, {versions_text(self.framework, self.versions)}"

    @property
    def sitting(self) -> str:
        """The sitting of the cell's runs (the most common one, should a cell span several)."""
        counts = Counter(sitting_id(r) for r in self.runs)
        return min(counts, key=lambda s: (-counts[s], s)) if counts else "?"

    def by_round(self, name: str = "steady_examples_per_sec") -> dict[int, float]:
        """One metric's value per round of the sitting (the median when a round has several runs)."""
        values: dict[int, list[float]] = {}
        for r in self.runs:
            value = (r.get("metrics") or {}).get(name)
            if round_of(r) is not None and _finite(value):
                values.setdefault(round_of(r), []).append(float(value))  # type: ignore[arg-type]
        return {k: statistics.median(v) for k, v in values.items()}

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


def _place(record: dict[str, Any]) -> tuple[Any, ...]:
    return (framework(record), mode(record), model(record), device(record), machine(record), setup(record))


def group_records(records: Iterable[dict[str, Any]], pool_commits: bool = False) -> list[Group]:
    """Group records into report cells, one per software build; groups without an ok run are dropped.

    A failed or skipped record whose versions are unknown (it died before its framework reported
    them) joins the cell of its configuration's build, when one exists."""
    groups: dict[tuple[Any, ...], Group] = {}
    pending = []
    for record in records:
        if record["status"] != "ok" and not versions(record):
            pending.append(record)
            continue
        place = _place(record)
        key = (
            *place,
            versions(record),
            None if pool_commits else commit(record),
            _sitting_key(record, pool_commits),
        )
        group = groups.setdefault(key, Group(*key))
        (group.runs if record["status"] == "ok" else group.others).append(record)
    for record in pending:
        place = _place(record)
        builds = [g for k, g in groups.items() if k[:6] == place and g.runs
                  and (pool_commits or commit(record) in (None, g.commit))]  # fmt: skip
        if builds:
            max(builds, key=newest_finish).others.append(record)
    return sorted((g for g in groups.values() if g.runs), key=lambda g: g.sort_key)


def _sitting_key(record: dict[str, Any], pool_commits: bool) -> str | None:
    """The sitting part of a cell's key: runs of two sittings are never one cell (a legacy sitting is
    a commit, so pooling commits pools legacy sittings too)."""
    info = sitting_info(record)
    return None if pool_commits and info.get("legacy") else str(info["id"])


def newest_finish(group: Group) -> str:
    """When the newest ok run of a cell finished (ISO text sorts in time)."""
    return max((str(r.get("finished_at") or "") for r in group.runs), default="")


@dataclass(frozen=True)
class OlderBuild:
    """A build of a framework on a machine-device that a newer build of it replaces in the report."""

    device: str
    machine: str
    framework: str
    versions: tuple[tuple[str, str], ...]
    commit: str | None
    records: int
    newest: str

    @property
    def versions_text(self) -> str:
        """The build's versions, the framework first."""
        return versions_text(self.framework, self.versions)


def newest_builds(groups: list[Group]) -> tuple[list[Group], list[OlderBuild]]:
    """Each machine-device's newest build of each framework (the build whose newest ok run finished
    last); the cells of older builds are set aside and summarised, one line per build."""
    newest: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for group in groups:
        where = (group.device, group.machine, group.framework)
        build = (newest_finish(group), group.versions, group.commit)
        if where not in newest or build > newest[where]:
            newest[where] = build
    shown, older = [], {}
    for group in groups:
        where = (group.device, group.machine, group.framework)
        if (group.versions, group.commit) == newest[where][1:]:
            shown.append(group)
            continue
        key = (*where, group.versions, group.commit)
        previous = older.get(key)
        count = len(group.runs) + len(group.others) + (previous.records if previous else 0)
        last = max(newest_finish(group), previous.newest if previous else "")
        older[key] = OlderBuild(group.device, group.machine, group.framework, group.versions, group.commit,
                                count, last)  # fmt: skip
    listed = sorted(older.values(), key=lambda b: (device_rank(b.device), b.machine, b.framework, b.newest))
    return shown, listed


def where_rank(where: tuple[str, str]) -> tuple[Any, ...]:
    """Sort key of a (device kind, machine) pair."""
    return (*device_rank(where[0]), where[1])
