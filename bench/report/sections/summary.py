"""The top of the report: header, alerts, and the compact per-mode tables per machine-device and model."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.judge import rule_text
from bench.records import Unreadable
from bench.report import cells
from bench.report.markdown import ci, code_list, short, table
from bench.report.numbers import Row, build_rows, by_where
from bench.stats import CONFIDENCE, Summary
from bench.text import md

HOW_TO_READ = f"""\
How to read these tables: one block per machine-device, one table per model; machines are never merged \
or compared. Numbers are medians over runs; *n* is runs for throughput / runs for accuracy (throughput-only \
repeats count for throughput only). An interval of a median is the order-statistic interval, with its \
coverage in the column's heading (n = 6 runs give [min, max], 96.9%); with n ≤ 5 no interval reaches \
{CONFIDENCE:.0%} and the *range* is shown instead, which is not a confidence interval. *× vs fastest* \
divides by the fastest cell of the same model, setup and sitting that passes the accuracy gate (speed \
ratio, < 1 = slower), and its word comes from the one judge (`bench.judge`, paired by round within a \
sitting when both cells have rounds): {rule_text()}. A sitting whose race recorded a smaller α is judged \
at that α. First epoch, GFLOP/s, memory and the accuracy \
gate are in the detail sections."""


def header(
    results_dirs: Sequence[Path],
    kept: list[dict[str, Any]],
    superseded: list[dict[str, Any]],
    unreadable: list[Unreadable],
    main_sha: str | None,
) -> list[str]:
    """Title and the one-paragraph provenance."""
    statuses = Counter(r["status"] for r in kept)
    counts = ", ".join(f"{statuses[s]} {s}" for s in ("ok", "skipped", "failed"))
    newest = max((str(r.get("finished_at")) for r in kept if r.get("finished_at")), default="unknown")
    lines = [
        f"Generated from {len(kept)} run records ({counts}) in {code_list(results_dirs)}; "
        f"newest finished_at {newest}."
    ]
    if superseded:
        lines.append(
            f"{len(superseded)} older record(s) superseded by a newer run of the same configuration on the "
            "same machine and build (its newest ok record counts; without one, its newest record)."
        )
    if unreadable:
        lines.append(f"{len(unreadable)} file(s) could not be read (see *Unreadable record files*).")
    datasets = [r.get("data") or {} for r in kept if cells.sha(r) == main_sha and r["status"] == "ok"]
    if main_sha and datasets:
        data = datasets[0]
        sizes = (data.get("train_examples"), data.get("test_examples"))
        size_text = f" ({sizes[0]:,} training / {sizes[1]:,} test examples)" if all(sizes) else ""
        lines.append(f"Data: {data.get('name', '?')}, content sha256 {short(main_sha)}{size_text}.")
    return ["# framebench report\n", " ".join(lines) + "\n"]


def alerts(rows: list[Row], other_data: list[dict[str, Any]], main_sha: str | None) -> list[str]:
    """Block quotes for what must not be missed: failed accuracy gates, runs on other data."""
    found = [
        f"> **⚠ Accuracy gate:** {md(f'{r.group.label} {r.group.model} on {r.group.where}')} "
        f"({md(r.group.setup_text)}): "
        f"median final test accuracy {r.accuracy.median:.3f} is OUTSIDE the expected band "
        f"{r.gate.band[0]:.2f}–{r.gate.band[1]:.2f}; its speed does not count as a win."
        for r in rows
        if r.gate.flagged and r.gate.band
    ]
    if other_data:
        shas = sorted({str(cells.sha(r)) for r in other_data})
        found.append(
            f"> **⚠ Different data:** {len(other_data)} ok record(s) used data with sha256 "
            f"{', '.join(short(s) for s in shas)} instead of the majority's {short(main_sha)}; they are "
            "reported apart in *Runs on different data*, not in the tables below."
        )
    return ["\n>\n".join(found) + "\n"] if found else []


def interval_header(name: str, summaries: Sequence[Summary | None]) -> tuple[str, bool]:
    """``name [96.9% CI]`` when every cell's interval has the same coverage (stated once), else ``name``."""
    labels = {_coverage_label(s) for s in summaries if s is not None and s.n > 1}
    if not labels:
        return f"{name} (one run each)", True
    if len(labels) == 1 and all(s is None or s.n > 1 for s in summaries):
        return f"{name} [{next(iter(labels))}]", True
    return f"{name} [interval]", False


def _coverage_label(summary: Summary) -> str:
    return f"{100 * summary.coverage:.1f}% CI" if summary.coverage is not None else f"range of {summary.n}"


def interval_cell(summary: Summary | None, once: bool, missing: str = "—") -> str:
    """The median and its bounds (the coverage too unless the heading states it)."""
    if summary is None:
        return missing
    if not once or summary.n < 2:
        return ci(summary)
    spec = summary._spec(None)
    return f"{summary.fmt_median(unit=False)} [{format(summary.low, spec)}–{format(summary.high, spec)}]"


def summary_table(rows: list[Row]) -> str:
    """The compact table of one model on one machine-device: every mode, the setup when it varies."""
    setups = {r.group.setup for r in rows}
    acc_header, acc_once = interval_header(
        "test accuracy", [r.accuracy if r.accuracy.n else None for r in rows]
    )
    tp_header, tp_once = interval_header("examples/s", [r.throughput for r in rows])
    lines = []
    for row in rows:
        g = row.group
        line = {"framework (mode)": g.label}
        if len(setups) > 1:
            line["setup"] = g.setup_text
        line["n"] = g.count_text()
        flag = "⚠ " if row.gate.flagged else ""
        line[acc_header] = flag + interval_cell(row.accuracy, acc_once) if row.accuracy.n else "—"
        line[tp_header] = interval_cell(row.throughput, tp_once, "n/a (1 epoch)")
        line["× vs fastest"] = row.versus
        line["time to target (s)"] = row.ttt.cell()
        lines.append(line)
    return table(lines, list(lines[0]))


def device_line(groups: Sequence[cells.Group]) -> str:
    """Which hosts the runs of one machine-device came from."""
    runs = [r for g in groups for r in g.runs]
    hosts = sorted({str((r.get("environment") or {}).get("host_id") or "?") for r in runs})
    names = sorted({str((r.get("device") or {}).get("name") or "?") for r in runs})
    line = f"Device names: {md(', '.join(names), 2000)}; hosts {md(', '.join(hosts), 2000)}."
    if len(hosts) > 1:
        line += " Same machine-device label on several hosts: treated as one machine."
    return line


def summary_section(
    rows: list[Row], others: list[dict[str, Any]], heading: str, summary_input: str | None = "device"
) -> list[str]:
    """One table per machine-device; only ``summary_input`` rows (None: all inputs)."""
    out = []
    if summary_input is not None:
        rows = [r for r in rows if cells.setup_value(r.group.setup, "input") == summary_input]
    missing: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for record in others:
        missing[(cells.device(record), cells.machine(record))][record["status"]] += 1
    tables = dict(by_where(rows))
    for where in sorted(set(tables) | set(missing), key=cells.where_rank):
        out.append(f"{heading} {md(where[0])} · {md(where[1])}\n")
        device_rows = tables.get(where)
        if not device_rows:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(missing[where].items()))
            out.append(f"No successful runs on {md(where[0])} ({counts}; see *Skipped and failed runs*).\n")
            continue
        out.append(device_line([r.group for r in device_rows]) + "\n")
        by_model: dict[str, list[Row]] = defaultdict(list)
        for row in device_rows:
            by_model[row.group.model].append(row)
        for model in sorted(by_model):
            setups = {r.group.setup for r in by_model[model]}
            setup = f" — {md(by_model[model][0].group.setup_text)}" if len(setups) == 1 else ""
            out.append(f"{heading}# {md(model)}{setup}\n")
            out.append(summary_table(by_model[model]) + "\n")
    return out


def other_data_section(other: list[dict[str, Any]]) -> list[str]:
    """Runs on data whose hash differs from the majority's, in their own tables."""
    if not other:
        return []
    out = [
        "## ⚠ Runs on different data (not comparable with the tables above)\n",
        "These ok records were measured on a data set whose content hash differs from the majority's.\n",
    ]
    by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in other:
        by_sha[str(cells.sha(r))].append(r)
    for sha, records in sorted(by_sha.items()):
        out.append(f"### Data sha256 {short(sha)}\n")
        out.extend(summary_section(build_rows(cells.group_records(records)), [], "####", None))
    return out
