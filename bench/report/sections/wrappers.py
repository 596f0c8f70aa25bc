"""A wrapper's cost: a framework that runs on another one (Keras on JAX, Keras on torch) against that
native framework, cell by cell, and each of its modes against its default mode.

Generic: a framework declares its native counterpart in ``settings()`` (``native_framework``, and the
native mode each of its modes is measured against, ``native_mode``; ``wrapper`` names the library,
``default_mode`` its first mode), so the pairing reads the records only. A wrapper cell is paired
with the native cell of the same machine-device, model and setup (threads, batch size, precision,
input, ...). Frameworks that declare no native counterpart have no row here.

The number is the cost in time: *time per example, wrapper ÷ native* = native examples/s ÷ wrapper
examples/s (steady state), the ratio of the medians, with the Hodges–Lehmann estimate and Moses'
distribution-free interval from all pairwise ratios at its exact coverage (``bench.stats``, as
``bench.compare``), and the verdict of the two-sided exact Mann–Whitney U test at α = 0.05 on the
runs' examples/s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.report.cells import Group, where_rank
from bench.report.markdown import table
from bench.report.numbers import Row
from bench.stats import ALPHA, Summary, mann_whitney, ratio_interval


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
    """Time per example of ``slow`` ÷ ``base`` (>1: ``slow`` takes longer), with interval and test."""

    text: str  # ratio of medians with the HL estimate and its interval, or why there is none
    p: str
    verdict: str


def time_ratio(wrapper: Summary | None, base: Summary | None) -> Cost:
    """``base`` examples/s ÷ ``wrapper`` examples/s: the wrapper's time per example over the base's."""
    if wrapper is None or base is None or not wrapper.values or not base.values or not wrapper.median:
        # a run of one epoch has only its warm-up: no steady-state throughput to divide
        return Cost("— (no steady-state epoch in one of the cells)", "—", "n/a")
    ratio = base.median / wrapper.median
    try:
        interval = ratio_interval(wrapper.values, base.values)  # pairwise base / wrapper
        text = (
            f"{ratio:.2f}× (HL {interval.estimate:.2f}× [{interval.low:.2f}–{interval.high:.2f}] "
            f"{interval.label()})"
        )
    except ValueError:  # a zero throughput: no ratios
        text = f"{ratio:.2f}×"
    test = mann_whitney(wrapper.values, base.values)
    if not test.testable:
        return Cost(text, "—", "too few runs to test")
    if not test.differs:
        return Cost(text, test.p_text(), "within noise")
    return Cost(text, test.p_text(), "costs time" if ratio > 1.0 else "saves time")


def _key(row: Row, framework: str, mode: str) -> tuple[Any, ...]:
    g = row.group
    return (framework, mode, g.device, g.machine, g.model, g.setup)


def _line(row: Row, base: Row | None, base_label: str, cost: Cost) -> dict[str, str]:
    g = row.group
    return {
        "model": g.model,
        "framework (mode)": g.label,
        "against": base.group.label if base else f"{base_label}: not measured",
        "setup": g.setup_text,
        "n": f"{len(g.runs)} / {len(base.group.runs)}" if base else f"{len(g.runs)} / 0",
        "examples/s": row.throughput.fmt_median(unit=False) if row.throughput else "—",
        "against examples/s": base.throughput.fmt_median(unit=False) if base and base.throughput else "—",
        "time per example ÷ against": cost.text if base else "—",
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
        f"## Wrapper cost: {', '.join(names)}'s cost\n",
        "Each row divides a wrapper's **time per example** (steady state) by its native framework's "
        "on the same machine-device, model and setup: *ratio* = native examples/s ÷ wrapper "
        "examples/s, so 1.30× means the wrapper takes 30% longer. The ratio is of the medians; HL "
        "is the Hodges–Lehmann estimate (median of all pairwise ratios) with Moses' distribution-free "
        "interval and its exact coverage (a plain range of the pairwise ratios when too few runs "
        f"allow 95%). Verdict: two-sided exact Mann–Whitney U test at α = {ALPHA:g} on the runs' "
        "examples/s (*costs time* / *saves time* only when p < 0.05). The native mode each mode is "
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
            cost = time_ratio(row.throughput, base.throughput if base else None)
            native_lines.append(_line(row, base, f"{native} ({native_mode})", cost))
            default = declared(row.group, "default_mode")
            if default and default != row.group.mode:
                step = index.get(_key(row, row.group.framework, default))
                cost = time_ratio(row.throughput, step.throughput if step else None)
                mode_lines.append(_line(row, step, f"{row.group.framework} ({default})", cost))
        out.append(f"### {where[0]} · {where[1]}\n")
        out.append("Against the native framework:\n")
        out.append(table(native_lines, list(native_lines[0])) + "\n")
        if mode_lines:
            out.append("Each mode against the wrapper's default mode (e.g. what `fit` costs over `step`):\n")
            out.append(table(mode_lines, list(mode_lines[0])) + "\n")
    return out
