"""The device's fp32 matrix-product peak for a run: measured by the run, or reused from a file.

Every run records the peak its framework measures on its device (``Framework.peak_gflops``), the
denominator of its share of peak. Where ``$FRAMEBENCH_PEAK_CACHE`` names a directory, the peak is
measured once per machine, framework build, device and thread count, written there with the run
that measured it, and reused by later runs with the same identity; each record says which it is
(``device_peak_source``). No framework is imported here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from bench import records

PEAK_CACHE_ENV = "FRAMEBENCH_PEAK_CACHE"


def identity(record: dict[str, Any]) -> dict[str, Any]:
    """What a cached peak must match: host, machine, device, framework and its versions, threads."""
    config = record["config"]
    return {
        "host_id": record["environment"]["host_id"],
        "machine": record["device"]["machine"],
        "device": config["device"],
        "device_name": record["device"]["name"],
        "framework": config["framework"],
        "versions": record["framework"]["versions"],
        "threads": config["threads"],
    }


def cache_path(folder: str | os.PathLike, ident: dict[str, Any]) -> Path:
    """The file holding the peak of this identity."""
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(folder) / f"peak-{ident['framework']}-{ident['device']}-{digest}.json"


def device_peak(framework: Any, record: dict[str, Any]) -> dict[str, Any]:
    """``{"gflops", "method", "source"}`` for the run of ``record`` (its device, name and versions
    already filled in): from the cache when it holds this identity, else measured now (and cached)."""
    device = record["config"]["device"]
    folder = os.environ.get(PEAK_CACHE_ENV)
    if not folder:
        return {**framework.peak_gflops(device), "source": "measured in this run"}
    ident = identity(record)
    path = cache_path(folder, ident)
    try:
        cached = json.loads(path.read_text())
        if cached["identity"] == json.loads(json.dumps(ident, default=str)):
            return {
                "gflops": float(cached["gflops"]),
                "method": cached["method"],
                "source": f"cached: measured by run {cached['run_id']} at {cached['measured_at']} "
                f"(${PEAK_CACHE_ENV}/{path.name})",
            }
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: measure it
    peak = framework.peak_gflops(device)
    entry = {"identity": ident, **peak, "run_id": record["run_id"], "measured_at": records.utc_now()}
    try:
        records.write_atomic(path, entry)
    except OSError:  # an unwritable cache costs the next run a measurement, nothing else
        return {**peak, "source": "measured in this run (the cache could not be written)"}
    return {**peak, "source": "measured in this run, cached for later runs"}
