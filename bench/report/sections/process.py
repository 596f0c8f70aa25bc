"""What a run pays outside its timed epochs, from the records: start, warm-up, and what follows.

Precision is bought with processes (DESIGN.md §15), so a process should cost as little as it can
outside the epochs it times. Each record says what it paid (``process.seconds_before_training``:
interpreter or fork, imports, device start, data, build; ``process.warmup_seconds``: the warm-up
kept out of steady state; ``process.seconds_after_training``: evaluation and the peak probe); this
section shows their medians per cell and purpose, and the share of the run's wall time they took.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.report.markdown import table
from bench.report.numbers import Row
from bench.text import md


def _seconds(record: dict[str, Any], field: str) -> float | None:
    value = (record.get("process") or {}).get(field)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _timed(record: dict[str, Any]) -> float | None:
    curve = record.get("curve") if isinstance(record.get("curve"), list) else []
    values = [p.get("train_seconds") for p in curve[1:] if isinstance(p, dict)]
    values = [float(v) for v in values if isinstance(v, int | float)]
    return sum(values) if values else None


def _median(values: list[float | None]) -> str:
    kept = [v for v in values if v is not None]
    return f"{statistics.median(kept):.1f}" if kept else "—"


def process_section(rows: list[Row]) -> list[str]:
    """The per-run cost outside the timed epochs, per cell and purpose (timing runs first)."""
    lines = []
    for row in rows:
        by_purpose: dict[str, list[dict[str, Any]]] = {}
        for record in row.group.runs:
            purpose = str((record.get("config") or {}).get("purpose") or "full")
            by_purpose.setdefault(purpose, []).append(record)
        for purpose in sorted(by_purpose, key=lambda p: p != "timing"):
            runs = by_purpose[purpose]
            before = [_seconds(r, "seconds_before_training") for r in runs]
            if all(v is None for v in before):
                continue
            warmup = [_seconds(r, "warmup_seconds") for r in runs]
            after = [_seconds(r, "seconds_after_training") for r in runs]
            timed = [_timed(r) for r in runs]
            outside = [sum(parts) for parts in zip(before, warmup, after, strict=True) if None not in parts]
            share = [o / (o + t) for o, t in zip(outside, timed, strict=False) if t is not None and o + t > 0]
            lines.append(
                {
                    "framework (mode)": md(row.group.label),
                    "model": md(row.group.model),
                    "device": md(row.group.where),
                    "purpose": purpose,
                    "runs": len(runs),
                    "start s": _median(before),
                    "warm-up s": _median(warmup),
                    "after s": _median(after),
                    "outside timed epochs s": _median(outside),
                    "share of the run": f"{statistics.median(share):.0%}" if share else "—",
                }
            )
    if not lines:
        return []
    return [
        "## What a run pays outside its timed epochs\n",
        "Medians over each cell's runs, from the records (`process.*`): *start* is everything before the "
        "first epoch (interpreter or fork, imports, device, data, build), *warm-up* the untimed warm-up "
        "(a fixed number of steps, or a whole epoch for modes that compile the whole epoch), *after* the "
        "evaluation and the peak probe; *share of the run* is that total over the run's wall time. A "
        "timing run is one process of the race: the less it pays here, the more processes a budget buys.\n",
        table(lines, list(lines[0])) + "\n",
    ]
