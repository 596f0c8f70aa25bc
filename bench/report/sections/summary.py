"""The top of the report: header, alerts, how to read it, and one summary table per machine-device."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.records import Unreadable
from bench.report import cells
from bench.report.markdown import ci, code_list, med, plain, short, table
from bench.report.numbers import Row, build_rows, by_where
from bench.stats import ALPHA, CONFIDENCE

HOW_TO_READ = f"""\
How to read the summary: one table per machine-device (device kind · machine); cells of different \
machines are never merged or compared. Numbers are medians over runs. *n (throughput / accuracy)* \
counts the ok runs behind each: throughput uses every run of the setup (full and timing-only repeats), \
accuracy and time to target only the runs that trained the full schedule. Intervals of a median are \
distribution-free order-statistic intervals: for n runs the symmetric order statistics \
(x(k), x(n+1−k)) with the largest k whose coverage 1 − 2·BinomCDF(k−1; n, ½) is at least \
{CONFIDENCE:.0%}, printed with their actual coverage (`[a–b] 96.9% CI`); n = 6 runs give [min, max] with \
96.9% coverage, n = 10 give [x(2), x(9)] with 97.9%. With n ≤ 5 no interval reaches {CONFIDENCE:.0%}: \
the values are then shown as a range (`(range of 3: a–b)`), which is not a confidence interval. \
*examples/s* is steady-state training throughput (each run's median over its epochs after the first). \
*× vs fastest* divides by the fastest cell of the same machine-device, model and setup that passes the \
accuracy gate. Whether a difference is real is decided by a stated test: the two-sided Mann–Whitney U \
test (exact) on the runs' steady examples/sec of the two cells at α = {ALPHA:g}. p ≥ {ALPHA:g} reads \
*≈ within noise*; when the two cells have too few runs for any outcome to reach p < {ALPHA:g} (e.g. \
3 vs 3 runs: the smallest possible p is 0.1) the cell reads *too few runs to test* and is not ranked. \
*time to target* is the median training time (sync'ed, evaluation excluded) to the model's target \
accuracy; *(k/n)* counts the runs that reached it. *% of device peak* is achieved GFLOP/s over the \
highest fp32 matrix-product peak any framework measured on the machine-device. *accuracy gate* checks \
the median final test accuracy against the model's expected band (below)."""


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
        f"> **⚠ Accuracy gate:** {r.group.label} {r.group.model} on {r.group.where} ({r.group.setup_text}): "
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


def summary_table(rows: list[Row]) -> str:
    """The summary table of one machine-device."""
    lines = []
    for row in rows:
        g = row.group
        flag = "⚠ " if row.gate.flagged else ""
        lines.append(
            {
                "framework (mode)": g.label,
                "model": g.model,
                "setup": g.setup_text,
                "n (throughput / accuracy)": g.count_text(),
                "test accuracy [interval]": flag + ci(row.accuracy) if row.accuracy.n else "—",
                "examples/s [interval]": ci(row.throughput, "n/a (1 epoch)"),
                "× vs fastest": row.versus,
                "first epoch (s)": med(row.first_epoch),
                "time to target (s)": row.ttt.cell(),
                "GFLOP/s": med(row.gflops),
                "% of device peak": plain(row.share_of_best, ".1f"),
                "peak RSS (MiB)": med(row.peak_rss),
                "accuracy gate": row.gate.text,
            }
        )
    return table(lines, list(lines[0]))


def device_line(groups: Sequence[cells.Group]) -> str:
    """Which hosts the runs of one machine-device came from."""
    runs = [r for g in groups for r in g.runs]
    hosts = sorted({str((r.get("environment") or {}).get("host_id") or "?") for r in runs})
    names = sorted({str((r.get("device") or {}).get("name") or "?") for r in runs})
    line = f"Device names: {', '.join(names)}; hosts {code_list(hosts)}."
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
        out.append(f"{heading} {where[0]} · {where[1]}\n")
        device_rows = tables.get(where)
        if not device_rows:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(missing[where].items()))
            out.append(f"No successful runs on {where[0]} ({counts}; see *Skipped and failed runs*).\n")
            continue
        out.append(device_line([r.group for r in device_rows]) + "\n")
        out.append(summary_table(device_rows) + "\n")
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
