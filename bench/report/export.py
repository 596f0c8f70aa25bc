"""The summary tables as data: one row per cell, written as CSV, JSON or markdown.

``python -m bench report --format csv|json`` calls :func:`write_tables`; the columns are those of
the summary tables with the numbers unformatted (medians, interval bounds and their coverage, the
ratio vs the fastest like cell of the same sitting and the judge's verdict, its interval and p-value).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import cells
from bench.report.collect import collect
from bench.report.markdown import table
from bench.report.numbers import Row
from bench.stats import Summary

FORMATS = ("md", "csv", "json")
SETUP_FIELDS = ("epochs", "batch_size", "lr", "threads", "input", "precision", "loader_workers")


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _stat(prefix: str, summary: Summary | None) -> dict[str, Any]:
    if summary is None or summary.n == 0:
        return {f"{prefix}_n": 0, f"{prefix}_median": None, f"{prefix}_low": None, f"{prefix}_high": None,
                f"{prefix}_interval": None, f"{prefix}_coverage": None}  # fmt: skip
    kind = (
        "order-statistic CI" if summary.coverage is not None else ("range" if summary.n > 1 else "single run")
    )
    return {
        f"{prefix}_n": summary.n,
        f"{prefix}_median": _num(summary.median),
        f"{prefix}_low": _num(summary.low),
        f"{prefix}_high": _num(summary.high),
        f"{prefix}_interval": kind,
        f"{prefix}_coverage": summary.coverage,
    }


def row_record(row: Row) -> dict[str, Any]:
    """One cell of the summary as plain values."""
    g = row.group
    setup = dict(g.setup)
    out: dict[str, Any] = {
        "device": g.device,
        "machine": g.machine,
        "framework": g.framework,
        "mode": g.mode,
        "model": g.model,
    }
    out.update({name: setup.get(name) for name in SETUP_FIELDS})
    extra = {k: v for k, v in setup.items() if k not in SETUP_FIELDS}
    out["other_setup"] = json.dumps(extra, sort_keys=True) if extra else ""
    out["n_runs"] = len(g.runs)
    out["n_full_runs"] = len(g.full_runs)
    out.update(_stat("examples_per_sec", row.throughput))
    out.update(_stat("accuracy", row.accuracy))
    out["ratio_vs_fastest"] = _num(row.ratio) if row.ratio is not None else None
    out["verdict"] = row.verdict
    out["p_value"] = row.test.p if row.test is not None else None
    out["test"] = row.test.rule() if row.test is not None else ""
    out["ratio_low"] = row.test.low if row.test is not None else None
    out["ratio_high"] = row.test.high if row.test is not None else None
    out["sitting"] = g.sitting
    out["accuracy_gate"] = row.gate.text
    out["time_to_target_seconds"] = _num(row.ttt.train_seconds.median) if row.ttt.train_seconds else None
    out["time_to_target_reached"] = f"{row.ttt.reached}/{row.ttt.total}"
    out["first_epoch_seconds"] = _num(row.first_epoch.median) if row.first_epoch else None
    out["share_of_device_peak_percent"] = _num(row.share_of_best) if row.share_of_best is not None else None
    return out


def summary_records(
    results_dirs: Sequence[Path], summary_input: str | None = "device"
) -> list[dict[str, Any]]:
    """The summary's cells (only ``summary_input`` rows; None: all) as a list of plain dicts."""
    rows = collect(results_dirs, records_only=True).rows
    if summary_input is not None:
        rows = [r for r in rows if cells.setup_value(r.group.setup, "input") == summary_input]
    return [row_record(r) for r in rows]


def default_path(results: Path, fmt: str) -> Path:
    """``results/summary.csv`` / ``.json`` / ``.md``."""
    return Path(results) / f"summary.{fmt}"


def write_tables(
    results_dirs: Sequence[Path], out_path: Path | None, fmt: str, summary_input: str | None = "device"
) -> Path:
    """Write the summary cells as ``fmt`` (csv, json, md) to ``out_path`` (default results/summary.<fmt>)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    dirs = [Path(d) for d in results_dirs]
    out = Path(out_path) if out_path is not None else default_path(dirs[0], fmt)
    found = summary_records(dirs, summary_input)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if fmt == "json":
            payload = {"schema_version": 1, "results": [str(d) for d in dirs], "summary_input": summary_input,
                       "cells": found}  # fmt: skip
            tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        elif fmt == "csv":
            columns = list(found[0]) if found else ["device", "machine", "framework", "mode", "model"]
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                for line in found:
                    writer.writerow({k: "" if v is None else v for k, v in line.items()})
        else:
            shown = [{k: "—" if v is None else v for k, v in line.items()} for line in found]
            tmp.write_text(table(shown, list(shown[0]) if shown else []) + "\n", encoding="utf-8")
        os.replace(tmp, out)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full or read-only disk leaves no temporary behind
        raise
    return out
