"""``results/report.html``: one self-contained interactive page (plotly.js inlined, the cells as JSON).

The page works opened from disk with no network: the charting library is inlined from the installed
``plotly`` package (``plotly.offline.get_plotlyjs()``), the data are embedded, and the small script
(``html_app.js``) only reads them. Its numbers are the ones ``bench.report`` computes for REPORT.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bench.report import cells
from bench.report.collect import collect
from bench.report.numbers import Row, epoch_values
from bench.report.sections.detail import warm_eval
from bench.stats import Summary

TEMPLATE, APP = "html_template.html", "html_app.js"


def _stat(summary: Summary | None) -> dict[str, Any] | None:
    if summary is None or summary.n == 0:
        return None
    if summary.n < 2:
        label = "one run"
    elif summary.coverage is None:
        label = f"range of {summary.n} (not a CI)"
    else:
        label = f"{100 * summary.coverage:.1f}% CI, order statistics"
    return {
        "median": summary.median,
        "low": summary.low,
        "high": summary.high,
        "n": summary.n,
        "label": label,
    }


def _build(row: Row) -> dict[str, Any]:
    runs = row.group.runs
    commits = sorted({cells.short_commit(r) for r in runs})
    versions = sorted(
        {
            str(((r.get("framework") or {}).get("versions") or {}).get(row.group.framework) or "?")
            for r in runs
        }
    )
    return {"commit": ", ".join(commits), "version": ", ".join(versions)}


def cell(row: Row) -> dict[str, Any]:
    """One cell of the page: identity, setup, the medians with their intervals and n, the curve."""
    g = row.group
    curve = [
        [epoch, statistics.median(values), min(values), max(values)]
        for epoch, values in epoch_values(g, "test_accuracy").items()
    ]
    return {
        "where": g.where,
        "device": g.device,
        "machine": g.machine,
        "model": g.model,
        "framework": g.framework,
        "mode": g.mode,
        "label": g.label,
        "input": str(cells.setup_value(g.setup, "input") or "device"),
        "precision": str(cells.setup_value(g.setup, "precision") or "fp32"),
        "setup": g.setup_text,
        "n": g.count_text(),
        "throughput": _stat(row.throughput),
        "accuracy": _stat(row.accuracy),
        "eval": _stat(warm_eval(g)),
        "ratio": row.ratio,
        "versus": row.versus,
        "verdict": row.verdict,
        "ttt": row.ttt.cell(),
        "gate": row.gate.text,
        "flagged": row.gate.flagged,
        "curve": curve,
        "newest": max((str(r.get("finished_at") or "") for r in g.runs), default=""),
        **_build(row),
    }


def page_data(results_dirs: Sequence[Path]) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able values."""
    found = collect([Path(d) for d in results_dirs], records_only=True)
    data_names = sorted(
        {str((r.get("data") or {}).get("name") or "?") for r in found.kept if r["status"] == "ok"}
    )
    return {
        "sources": [Path(d).as_posix() for d in results_dirs],
        "records": len(found.kept),
        "data": {"names": data_names, "sha256": found.main_sha},
        "newest": max((str(r.get("finished_at")) for r in found.kept if r.get("finished_at")), default=None),
        "cells": [cell(row) for row in found.rows],
        "not_ok": _not_ok(found.others),
    }


def _not_ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Skipped and failed runs, one line per (cell, status, reason) with its count of runs."""
    counts: Counter[tuple[str, str, str, str, str]] = Counter(
        (
            f"{cells.framework(r)} ({cells.mode(r)})",
            cells.model(r),
            f"{cells.device(r)} · {cells.machine(r)}",
            str(r["status"]),
            str(r.get("reason") or ""),
        )
        for r in records
    )
    names = ("label", "model", "where", "status", "reason")
    return [{**dict(zip(names, key, strict=True)), "runs": n} for key, n in sorted(counts.items())]


def _finite(value: Any) -> Any:
    """The value with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, sort_keys=True, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(results_dirs: Sequence[Path], plotly_js: str | None = None) -> str:
    """The page's text."""
    if plotly_js is None:
        try:
            from plotly.offline import get_plotlyjs
        except ImportError as exc:
            raise SystemExit("the html report needs plotly: pip install -e '.[report]'") from exc
        plotly_js = get_plotlyjs()
    folder = resources.files("bench.report")
    template = (folder / TEMPLATE).read_text(encoding="utf-8")
    app = (folder / APP).read_text(encoding="utf-8")
    data = _finite(page_data(results_dirs))
    parts = {"/*PLOTLY*/": plotly_js, "/*APP*/": app, "/*DATA*/": _script_json(data)}
    missing = [marker for marker in parts if marker not in template]
    if missing:
        raise RuntimeError(f"{TEMPLATE} lacks {', '.join(missing)}")
    # One pass over the template: the inserted texts are never searched for markers themselves.
    return re.sub(r"/\*(PLOTLY|APP|DATA)\*/", lambda m: parts[m.group(0)], template)


def write_html(results_dirs: Sequence[Path], out: Path) -> Path:
    """Write the page atomically; return its path."""
    text = render_html(results_dirs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
