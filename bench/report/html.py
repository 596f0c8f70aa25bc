"""``results/report.html``: one self-contained interactive page (plotly.js inlined, the cells as JSON).

The page works opened from disk with no network: the charting library is inlined from the installed
``plotly`` package (``plotly.offline.get_plotlyjs()``), the data are embedded, and the small script
(``html_app.js``) only reads them. Its numbers are the ones ``bench.report`` computes for REPORT.md.

It leads with the verdict: REPORT.md's verdict block (``verdict_markdown``, rendered here as escaped
HTML: headings, paragraphs, bold, code and tables, nothing else), then the sittings note, then the
picture of the verdict (``forest``: ``forest_data``'s blocks, drawn inline; or ``forest_png`` embedded
as a data URI). Frameworks take their colours from ``figures.FRAMEWORK_COLOURS``, as in every figure.
"""

from __future__ import annotations

import base64
import html as html_lib
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

from bench.judge import TIE_MARGIN
from bench.report import cells
from bench.report.collect import collect
from bench.report.figures import framework_colour
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


def page_data(results_dirs: Sequence[Path], forest: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the page's script shows, as plain JSON-able values."""
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
        "forest": [dict(block) for block in forest or []],
        "tie_margin": TIE_MARGIN,
        "colours": {
            name: framework_colour(name)
            for name in sorted(
                {row.group.framework for row in found.rows}
                | {str(r.get("framework")) for b in forest or [] for r in b.get("rows", [])}
            )
        },
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


_ESCAPED = re.compile(r"\\([\\`*_\[\]{}()|#~!+<>&.-])")  # markdown's backslash escapes
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _inline(text: str) -> str:
    """One line of markdown as safe HTML: every character escaped, then bold, emphasis and code.

    Backslash escapes and entities are undone first (they stand for literal characters), then the
    whole text is HTML-escaped, so no tag, attribute or comment from a record can survive."""
    text = text.replace("\x00", "")
    literals: list[str] = []

    def keep(match: re.Match[str]) -> str:
        literals.append(match.group(1))
        return f"\x00{len(literals) - 1}\x00"

    text = html_lib.escape(html_lib.unescape(_ESCAPED.sub(keep, text)), quote=True)
    text = re.sub(r"\[([^\]\x00]*)\]\([^)\s]*\)", r"\1", text)  # a link keeps its words, not its target
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
    text = re.sub(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])", r"<em>\1</em>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: html_lib.escape(literals[int(m.group(1))], quote=True), text)


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (an escaped ``\\|`` stays inside its cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    if parts and not parts[0].strip():
        parts = parts[1:]
    if parts and not parts[-1].strip():
        parts = parts[:-1]
    return [part.strip() for part in parts]


def markdown_html(markdown: str) -> str:
    """The verdict block's markdown as safe HTML: headings, paragraphs (a ⚠ line is a note), tables."""
    out: list[str] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("<!--"):
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = min(max(len(heading.group(1)), 3), 4)  # the page's own h1/h2 stay above
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.startswith("|"):
            rows = [line]
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i].strip())
                i += 1
            body = [r for r in rows[1:] if not _TABLE_RULE.match(r)]
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(rows[0]))
            trs = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in body
            )
            out.append(f'<div class="table-wrap"><table class="verdict-table"><thead><tr>{head}</tr></thead>'
                       f"<tbody>{trs}</tbody></table></div>")  # fmt: skip
        else:
            paragraph = [line]
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,6}\s|\|)", lines[i].strip()):
                paragraph.append(lines[i].strip())
                i += 1
            text = " ".join(paragraph)
            css = ' class="sittings"' if text.startswith("⚠") else ""
            out.append(f"<p{css}>{_inline(text)}</p>")
    return "\n".join(out)


def _forest(results_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """The verdict picture's blocks, computed the way the report computes them (when none are passed)."""
    from bench.report.sections import verdict

    found = collect([Path(d) for d in results_dirs])
    return verdict.forest_data(found.rows) if found.rows else []


def _verdict_markdown(results_dirs: Sequence[Path]) -> str:
    """REPORT.md's verdict block, computed the way the report computes it (when none is passed in)."""
    from bench.report.sections import verdict

    found = collect([Path(d) for d in results_dirs])
    parts = verdict.verdict_section(found.rows, found.baselines, "##") if found.rows else []
    text = "\n".join(p for p in parts if not p.startswith("## Verdict"))
    return text or "No verdict: no successful device-input run in these records."


def _verdict_html(verdict_markdown: str, sittings_note: str, forest_png: Path | None) -> str:
    parts = [
        '<h2 id="verdict-title">Verdict</h2>',
        f'<div id="verdict-text">{markdown_html(verdict_markdown)}</div>',
    ]
    if sittings_note.strip():
        parts.append(f'<p id="sittings-note" class="sittings">{_inline(sittings_note.strip())}</p>')
    parts.append('<div id="forest"></div>')
    if forest_png is not None and Path(forest_png).is_file():
        data = base64.b64encode(Path(forest_png).read_bytes()).decode("ascii")
        parts.append(
            f'<img id="forest-png" alt="the verdict as a forest plot" src="data:image/png;base64,{data}">'
        )
    return "\n".join(parts)


def render_html(
    results_dirs: Sequence[Path],
    plotly_js: str | None = None,
    verdict_markdown: str | None = None,
    forest: Sequence[dict[str, Any]] | None = None,
    sittings_note: str = "",
    forest_png: Path | None = None,
) -> str:
    """The page's text: the verdict (``verdict_markdown``, REPORT.md's block; computed here when None),
    the sittings note, the picture (``forest`` blocks drawn inline, else ``forest_png`` embedded), then
    the explorable cells."""
    if plotly_js is None:
        try:
            from plotly.offline import get_plotlyjs
        except ImportError as exc:
            raise SystemExit("the html report needs plotly: pip install -e '.[report]'") from exc
        plotly_js = get_plotlyjs()
    folder = resources.files("bench.report")
    template = (folder / TEMPLATE).read_text(encoding="utf-8")
    app = (folder / APP).read_text(encoding="utf-8")
    if forest is None:
        forest = _forest(results_dirs)
    data = _finite(page_data(results_dirs, forest))
    if verdict_markdown is None:
        verdict_markdown = _verdict_markdown(results_dirs)
    parts = {
        "/*PLOTLY*/": plotly_js,
        "/*APP*/": app,
        "/*DATA*/": _script_json(data),
        "/*VERDICT*/": _verdict_html(verdict_markdown, sittings_note, None if forest else forest_png),
    }
    missing = [marker for marker in parts if marker not in template]
    if missing:
        raise RuntimeError(f"{TEMPLATE} lacks {', '.join(missing)}")
    # One pass over the template: the inserted texts are never searched for markers themselves.
    return re.sub(r"/\*(PLOTLY|APP|DATA|VERDICT)\*/", lambda m: parts[m.group(0)], template)


def write_html(
    results_dirs: Sequence[Path],
    out: Path,
    verdict_markdown: str | None = None,
    forest: Sequence[dict[str, Any]] | None = None,
    sittings_note: str = "",
    forest_png: Path | None = None,
) -> Path:
    """Write the page atomically; return its path (arguments as :func:`render_html`)."""
    text = render_html(
        results_dirs,
        verdict_markdown=verdict_markdown,
        forest=forest,
        sittings_note=sittings_note,
        forest_png=forest_png,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
