"""A wrapper's cost: a framework that runs on another one (Keras on JAX, Keras on torch) against that
native framework, cell by cell, and each of its modes against its default mode.

Generic: a framework declares its native counterpart in ``settings()`` (``native_framework``, and the
native mode each of its modes is measured against, ``native_mode``; ``wrapper`` names the library,
``default_mode`` its first mode), so the pairing reads the records only. A wrapper cell is paired
with the native cell of the same machine-device, sitting, model and setup (threads, batch size,
precision, input, ...): cells of two sittings are never paired. Frameworks that declare no native
counterpart have no row here.

The number is a speed ratio like everywhere else in the report: *wrapper ÷ native* examples/s (steady
state; < 1 = the wrapper is slower), the judge's Hodges–Lehmann estimate with its interval, and the
judge's word (``bench.judge``, paired by round when both cells have rounds).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.judge import rule_text
from bench.report.cells import Group, where_rank
from bench.report.markdown import table
from bench.report.numbers import Row, judge_cells
from bench.text import md


def declared(group: Group, name: str) -> str | None:
    """The value the cell's runs record as ``settings[name]`` (the most common one), or None."""
    values = Counter(
        str(value)
        for run in group.runs
        if (value := ((run.get("framework") or {}).get("settings") or {}).get(name)) is not None
    )
    return min(values, key=lambda v: (-values[v], v)) if values else None


@dataclass(frozen=True)
class Cost:
    """Speed of ``wrapper`` ÷ ``base`` (< 1: the wrapper is slower), its interval, the judge's word."""

    text: str  # the ratio with its interval, or why there is none
    p: str
    verdict: str


def speed_ratio(wrapper: Row | None, base: Row | None) -> Cost:
    """The wrapper's examples/s ÷ the base's, judged by ``bench.judge`` (same sitting: the caller's key)."""
    if wrapper is None or base is None or wrapper.throughput is None or base.throughput is None:
        # a run of one epoch has only its warm-up: no steady-state throughput to divide
        return Cost("— (no steady-state epoch in one of the cells)", "—", "n/a")
    judged = judge_cells(wrapper.group, base.group)
    if judged.ratio is None:
        return Cost("—", "—", "n/a")
    return Cost(
        f"{judged.ratio:.2f}× {judged.interval_text()}".rstrip(), judged.p_text() or "—", judged.word()
    )


def _key(row: Row, framework: str, mode: str) -> tuple[Any, ...]:
    g = row.group
    return (framework, mode, g.device, g.machine, g.sitting, g.model, g.setup)


def _line(row: Row, base: Row | None, base_label: str, cost: Cost) -> dict[str, str]:
    g = row.group
    return {
        "model": md(g.model),
        "framework (mode)": md(g.label),
        "against": md(base.group.label) if base else f"{md(base_label)}: not measured in this sitting",
        "sitting": md(g.sitting),
        "setup": md(g.setup_text),
        "n": f"{len(g.runs)} / {len(base.group.runs)}" if base else f"{len(g.runs)} / 0",
        "examples/s": row.throughput.fmt_median(unit=False) if row.throughput else "—",
        "against examples/s": base.throughput.fmt_median(unit=False) if base and base.throughput else "—",
        "speed ÷ against [interval]": cost.text if base else "—",
        "p": cost.p if base else "—",
        "verdict": cost.verdict if base else "n/a",
    }


def wrappers_section(rows: list[Row]) -> list[str]:
    """The wrapper-cost tables per machine-device ([] when no cell declares a native framework)."""
    wrapped = [r for r in rows if declared(r.group, "native_framework")]
    if not wrapped:
        return []
    index = {_key(r, r.group.framework, r.group.mode): r for r in rows}
    names = sorted({declared(r.group, "wrapper") or r.group.framework for r in wrapped})
    out = [
        f"## Wrapper cost: {md(', '.join(names))}'s cost\n",
        "Each row divides a wrapper's steady **speed** by its native framework's on the same "
        "machine-device, sitting, model and setup: *speed ÷ against* = wrapper examples/s ÷ native "
        "examples/s (> 1 = faster, so 0.77× means the wrapper takes 30% longer per example), the "
        "judge's Hodges–Lehmann estimate with its interval and exact coverage (a *range* when too few "
        "runs allow one). Verdict (`bench.judge`, paired by round when both cells have rounds): "
        f"{rule_text()}. "
        "Cells of different sittings are never paired. The native mode each mode is "
        "measured against is the one the wrapper declares (`native_mode` in its settings). "
        "*n* is the runs of each cell. Frameworks that declare no native counterpart have no row.\n",
    ]
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in wrapped:
        groups.setdefault((row.group.device, row.group.machine), []).append(row)
    for where in sorted(groups, key=where_rank):
        cells = sorted(groups[where], key=lambda r: r.group.sort_key)
        native_lines, mode_lines = [], []
        for row in cells:
            native = declared(row.group, "native_framework") or "?"
            native_mode = declared(row.group, "native_mode") or "?"
            base = index.get(_key(row, native, native_mode))
            cost = speed_ratio(row, base)
            native_lines.append(_line(row, base, f"{native} ({native_mode})", cost))
            default = declared(row.group, "default_mode")
            if default and default != row.group.mode:
                step = index.get(_key(row, row.group.framework, default))
                cost = speed_ratio(row, step)
                mode_lines.append(_line(row, step, f"{row.group.framework} ({default})", cost))
        out.append(f"### {md(where[0])} · {md(where[1])}\n")
        out.append("Against the native framework:\n")
        out.append(table(native_lines, list(native_lines[0])) + "\n")
        if mode_lines:
            out.append("Each mode against the wrapper's default mode (e.g. what `fit` costs over `step`):\n")
            out.append(table(mode_lines, list(mode_lines[0])) + "\n")
    return out
