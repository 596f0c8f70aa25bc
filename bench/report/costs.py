"""What the README's first screen costs here, from the records: the ``<!-- costs:start/end -->`` block.

The time is the newest sitting's (``record["schedule"]["sitting"]``; a record without one belongs to
the legacy sitting of its framebench commit and machine): its wall time, from its first run's start to
its last run's finish, and how many run processes it took. The disk is the framework environments'
as ``results/environments.json`` states it (``{entry: {"python", "disk_bytes", "built_at"}}``, written
by ``nox -s env``). Anything absent reads *not measured yet*: no number here is ever typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.report import cells
from bench.text import md

COSTS_START, COSTS_END = "<!-- costs:start -->", "<!-- costs:end -->"
NOT_MEASURED = "not measured yet"
RAN = ("ok", "failed")  # a skipped run starts no training process worth counting


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _host(record: Mapping[str, Any]) -> str:
    """The machine a sitting ran on (a sitting spans its devices): CPU model and cores."""
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    model, cores = env.get("cpu_model"), env.get("cpu_cores")
    if model:
        return f"{model} · {cores} cores" if cores else str(model)
    return cells.machine(dict(record))


def sitting_key(record: Mapping[str, Any]) -> tuple[str, str]:
    """(sitting, machine): the record's own sitting id, or its legacy one (its commit on its machine)."""
    schedule = record.get("schedule") if isinstance(record.get("schedule"), dict) else {}
    sitting = schedule.get("sitting")
    if isinstance(sitting, dict) and sitting.get("id"):
        return str(sitting["id"]), _host(record)
    return f"legacy sitting at {cells.short_commit(dict(record))}", _host(record)


def newest_sitting(
    records: Iterable[Mapping[str, Any]],
) -> tuple[tuple[str, str], list[Mapping[str, Any]]] | None:
    """The sitting whose last run finished last, with its records; None without a timed record."""
    sittings: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        if _time(record.get("started_at")) and _time(record.get("finished_at")):
            sittings.setdefault(sitting_key(record), []).append(record)
    if not sittings:
        return None
    key = max(sittings, key=lambda k: max(_time(r["finished_at"]) for r in sittings[k]))  # type: ignore[type-var]
    return key, sittings[key]


def duration_text(seconds: float) -> str:
    """``42 s``, ``17 min``, ``1 h 31 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def size_text(size: float) -> str:
    """``15.2 GB`` (decimal units, as ``df -H`` prints them)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "kB") else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _sitting_line(records: Iterable[Mapping[str, Any]]) -> str:
    found = newest_sitting(records)
    if found is None:
        return f"- time: {NOT_MEASURED} (no run record here)."
    (sitting, where), mine = found
    start = min(_time(r["started_at"]) for r in mine)  # type: ignore[type-var]
    end = max(_time(r["finished_at"]) for r in mine)  # type: ignore[type-var]
    processes = sum(1 for r in mine if r.get("status") in RAN)
    budget = next(
        (
            ((r.get("schedule") or {}).get("sitting") or {}).get("budget_minutes")
            for r in mine
            if isinstance(r.get("schedule"), dict) and isinstance(r["schedule"].get("sitting"), dict)
        ),
        None,
    )
    frameworks = len({cells.framework(dict(r)) for r in mine})
    budget_text = f", budget {budget:g} min" if isinstance(budget, int | float) else ""
    return (
        f"- time: the newest sitting, {md(sitting)} on {md(where)} "
        f"({md(start.strftime('%Y-%m-%d %H:%M'))} UTC{budget_text}), took "
        f"**{duration_text((end - start).total_seconds())}** of wall time for **{processes}** run "
        f"processes of {frameworks} framework(s)."
    )


def _load(environments: Path | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if environments is None or isinstance(environments, Mapping):
        return environments
    try:
        found = json.loads(Path(environments).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _disk_line(environments: Path | Mapping[str, Any] | None) -> str:
    entries = _load(environments)
    if not entries:
        return f"- disk: {NOT_MEASURED} (`nox -s env` writes `results/environments.json`)."
    sizes = [e.get("disk_bytes") for e in entries.values() if isinstance(e, dict)]
    known = [s for s in sizes if isinstance(s, int | float) and not isinstance(s, bool) and s >= 0]
    if not known:
        return f"- disk: {NOT_MEASURED} (no environment in `results/environments.json` has its size)."
    missing = len(entries) - len(known)
    pythons = sorted(
        {md(e.get("python")) for e in entries.values() if isinstance(e, dict) and e.get("python")}
    )
    built = sorted(
        str(e.get("built_at")) for e in entries.values() if isinstance(e, dict) and e.get("built_at")
    )
    parts = [f"**{size_text(sum(known))}** for {len(known)} framework environment(s)"]
    if pythons:
        parts.append(f"Python {', '.join(pythons)}")
    if built:
        parts.append(f"newest built {md(built[-1])}")
    tail = f"; {missing} more not measured yet" if missing else ""
    return f"- disk: {', '.join(parts)}{tail}."


def costs_block(
    records: Iterable[Mapping[str, Any]], environments_json: Path | Mapping[str, Any] | None
) -> str:
    """The markdown between the README's costs markers: the newest sitting's wall time and processes,
    and the environments' disk; *not measured yet* for either where the files say nothing."""
    return "\n".join(
        [
            "What the first screen costs on the machine of `results/`, from its records (regenerated by "
            "`python -m bench report`):",
            "",
            _sitting_line(records),
            _disk_line(environments_json),
        ]
    )


def replace_costs(readme_text: str, block: str) -> str:
    """``readme_text`` with ``block`` between its costs markers (unchanged when it has none)."""
    start, end = readme_text.find(COSTS_START), readme_text.find(COSTS_END)
    if start < 0 or end < start:
        return readme_text
    return readme_text[: start + len(COSTS_START)] + "\n" + block.strip("\n") + "\n" + readme_text[end:]
