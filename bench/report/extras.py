"""Loaders of what the report merges besides run records: pytest-benchmark and baseline JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.records import Unreadable


def load_microbench(results_dirs: Iterable[Path]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Read pytest-benchmark ``--benchmark-json`` files from ``<results>/microbench/``."""
    rows: list[dict[str, Any]] = []
    unreadable: list[Unreadable] = []
    for results in results_dirs:
        for path in sorted((Path(results) / "microbench").glob("*.json")):
            try:
                payload = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                unreadable.append(Unreadable(str(path), f"invalid JSON: {str(exc).splitlines()[0]}"))
                continue
            benchmarks = payload.get("benchmarks") if isinstance(payload, dict) else None
            if not isinstance(benchmarks, list):
                unreadable.append(Unreadable(str(path), "no 'benchmarks' list (not pytest-benchmark JSON)"))
                continue
            machine = _microbench_machine(payload)
            for bench in benchmarks:
                if not isinstance(bench, dict):
                    continue
                info: dict[str, Any] = {}
                for extra in (bench.get("params"), bench.get("extra_info")):
                    if isinstance(extra, dict):
                        info.update(extra)
                stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
                rows.append(
                    {
                        "benchmark": str(bench.get("name") or bench.get("fullname") or "?"),
                        "framework": str(info.get("framework") or path.stem),
                        "mode": str(info.get("mode") or "—"),
                        "model": str(info.get("model") or "—"),
                        "device": str(info.get("device") or "—"),
                        "median": stats.get("median"),
                        "iqr": stats.get("iqr"),
                        "ops": stats.get("ops"),
                        "rounds": stats.get("rounds"),
                        "machine": machine,
                    }
                )
    rows.sort(key=lambda r: (r["benchmark"], r["framework"], r["model"], r["device"], str(r["median"])))
    return rows, unreadable


def _microbench_machine(payload: dict[str, Any]) -> str:
    """The CPU of a pytest-benchmark file, labelled like a record's machine (model · cores)."""
    cpu = (payload.get("machine_info") or {}).get("cpu") or {}
    if not isinstance(cpu, dict) or not cpu.get("brand_raw"):
        return "not recorded"
    return f"{cpu['brand_raw']} · {cpu.get('count') or '?'} cores"


def load_baselines(results_dirs: Iterable[Path]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Read ``<results>/baseline/*.json`` written by ``python -m bench baseline`` (nox -s baseline)."""
    rows: list[dict[str, Any]] = []
    unreadable: list[Unreadable] = []
    for results in results_dirs:
        for path in sorted((Path(results) / "baseline").glob("*.json")):
            try:
                payload = json.loads(path.read_text())
                found = [
                    r
                    for r in payload["rows"]
                    if isinstance(r, dict) and ("ratio" in r or r.get("status") == "skipped")
                ]
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
                unreadable.append(Unreadable(str(path), f"not a baseline file: {str(exc).splitlines()[0]}"))
                continue
            rows.extend(found)
    rows.sort(key=lambda r: tuple(str(r.get(k)) for k in ("framework", "model", "device", "mode")))
    return rows, unreadable


def well_formed(loaded: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Records whose sections are JSON objects, and the others as unreadable."""
    good, bad = [], []
    for record in loaded:
        wrong = [
            name for name in ("framework", "model", "device", "config") if not isinstance(record[name], dict)
        ]
        if wrong:
            bad.append(
                Unreadable(str(record.get("_path", record["run_id"])), f"'{wrong[0]}' is not an object")
            )
        else:
            good.append(record)
    return good, bad
