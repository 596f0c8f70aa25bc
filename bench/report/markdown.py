"""Markdown helpers: tables of pre-formatted cells and the small formatters the sections share."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bench.stats import Summary
from bench.text import one_line


def _cell(value: Any) -> str:
    """A table cell: one line (no ANSI or control characters), no raw HTML tag, no unescaped ``|``
    (text already passed through ``bench.text.md`` stays as it is)."""
    text = one_line("—" if value is None else value, 100_000)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"(?<!\\)\|", r"\\|", text)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table (pandas + tabulate) of pre-formatted cells; '_none_' when empty."""
    if not rows:
        return "_none_"
    frame = pd.DataFrame([[_cell(r.get(c)) for c in columns] for r in rows], columns=list(columns))
    return frame.to_markdown(index=False, disable_numparse=True)


def ci(summary: Summary | None, missing: str = "—") -> str:
    """Median with its interval (or range), or ``missing``."""
    return summary.fmt(unit=False) if summary else missing


def med(summary: Summary | None, missing: str = "—") -> str:
    """The median alone, or ``missing``."""
    return summary.fmt_median(unit=False) if summary else missing


def code_list(items: Iterable[Any]) -> str:
    """`a`, `b`, `c`."""
    return ", ".join(f"`{item}`" for item in items)


def short(sha: str | None) -> str:
    """A data hash in 12 characters."""
    return f"`{sha[:12]}…`" if sha else "unknown"


def duration(seconds: Any) -> str:
    """Seconds with a readable unit (s, ms, µs, ns)."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def plain(value: Any, spec: str) -> str:
    """A finite number formatted with ``spec``, else '—'."""
    return format(value, spec) if isinstance(value, int | float) and math.isfinite(value) else "—"


def ranges(values: Iterable[int]) -> str:
    """0,1,2,5 -> ``0-2,5``."""
    ordered = sorted(set(values))
    parts, start = [], None
    for i, value in enumerate(ordered):
        if start is None:
            start = value
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def slug(text: str) -> str:
    """A file-name-safe form of a machine label."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unknown"
