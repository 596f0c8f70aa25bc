"""Which record of a configuration counts: the one rule, for the report and for ``--resume`` alike.

Standard library only. Records are the same configuration when they share a machine-device and
config (or a ``config_key``), their data hashes match (or one is unknown) and they are one software
build (``same_build``: framework versions and, unless commits are pooled, the framebench commit).
Of one configuration, the newest ``ok`` record counts; only a configuration without an ok record
counts its newest failed or skipped record. ``bench.report.cells.dedupe`` and ``completed_keys``
(``--resume``) both call ``choose``, so they can never disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bench.records import load_records, machine_label
from bench.validation import parse_time

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _section(record: dict[str, Any], name: str) -> dict[str, Any]:
    value = record.get(name) if isinstance(record, dict) else None
    return value if isinstance(value, dict) else {}


def _mode(record: dict[str, Any]) -> str:
    return str(_section(record, "framework").get("mode") or _section(record, "config").get("mode") or "?")


def finished(record: dict[str, Any]) -> dt.datetime:
    """When a record finished, parsed (a record without a readable time sorts oldest)."""
    return parse_time(record.get("finished_at")) or _NEVER


def config_identity(record: dict[str, Any]) -> str:
    """A configuration on one machine-device: the config (without the data folder), the resolved mode,
    the device kind and the machine. The data hash and the build are compared apart (``choose``)."""
    config = {k: v for k, v in _section(record, "config").items() if k != "data_dir"}
    config["mode"] = _mode(record)
    device = _section(record, "device")
    config["device"] = device.get("kind") or config.get("device")
    try:
        config["machine"] = machine_label(record)
    except (AttributeError, KeyError, TypeError):
        config["machine"] = "?"
    return json.dumps(config, sort_keys=True, default=str)


def build_of(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """A record's software build: its framework versions (as canonical JSON) and framebench commit;
    each None when unknown (a run that died before its framework reported its versions)."""
    versions = _section(record, "framework").get("versions") or None
    commit = _section(record, "environment").get("framebench_commit") or None
    return (json.dumps(versions, sort_keys=True, default=str) if versions else None,
            str(commit) if commit else None)  # fmt: skip


def same_build(
    a: tuple[str | None, str | None], b: tuple[str | None, str | None], pool_commits: bool
) -> bool:
    """Two builds are one when their versions match (or either is unknown) and, unless commits are
    pooled, their commits match (or either is unknown)."""
    versions = a[0] is None or b[0] is None or a[0] == b[0]
    commits = pool_commits or a[1] is None or b[1] is None or a[1] == b[1]
    return versions and commits


def _data_sha(record: dict[str, Any]) -> str | None:
    return _section(record, "data").get("sha256")


def _same_configuration(a: dict[str, Any], b: dict[str, Any], pool_commits: bool) -> bool:
    sha_a, sha_b = _data_sha(a), _data_sha(b)
    return (sha_a is None or sha_b is None or sha_a == sha_b) and same_build(
        build_of(a), build_of(b), pool_commits
    )


def choose(
    records: Iterable[dict[str, Any]], pool_commits: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Which record of each configuration counts; return (counted, superseded).

    The rule: records are the same configuration when they share a machine-device and config (or a
    ``config_key``), their data hashes match (or one is unknown) and they are one software build
    (``same_build``). Of one configuration, the newest ``ok`` record counts; only a configuration
    without an ok record counts its newest failed or skipped record. So a failure recorded after a
    good run (a run repeated without --resume, a child outliving a killed parent) never hides it, and
    ``--resume`` (``completed_keys``) skips exactly the configurations the report shows as ok.
    Newest is by parsed ``finished_at`` (load_records has refused times in the future).
    """
    order = sorted(
        (r for r in records if isinstance(r, dict)),
        key=lambda r: (r.get("status") == "ok", finished(r), str(r.get("run_id") or "")),
        reverse=True,
    )
    counted: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    by_identity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in order:
        identity, key = config_identity(record), record.get("config_key")
        key = key if isinstance(key, str) else None
        place = json.loads(identity)
        where = f"{place.get('device')}|{place.get('machine')}|{key}" if key else None
        candidates = by_identity[identity] + (by_key[where] if where else [])
        if any(_same_configuration(record, other, pool_commits) for other in candidates):
            superseded.append(record)
            continue
        counted.append(record)
        by_identity[identity].append(record)
        if where:
            by_key[where].append(record)
    return counted, superseded


def completed_keys(
    results: str | os.PathLike,
    versions: dict[str, dict[str, Any]] | None = None,
    commit: str | None = None,
    pool_commits: bool = False,
) -> set[str]:
    """Configuration keys whose counted record (``choose``) is ``ok`` (for --resume).

    With ``versions`` (framework -> the versions its environment reports now) and ``commit`` (this
    framebench's), only records of this build count: a new framework version or commit is a new cell
    and is measured again."""
    counted, _ = choose(load_records(results)[0], pool_commits)
    keys = set()
    for record in counted:
        if record["status"] != "ok" or not record.get("config_key"):
            continue
        if versions is not None or commit is not None:
            current = (versions or {}).get(str(_section(record, "framework").get("name")))
            now = (json.dumps(current, sort_keys=True, default=str) if current else None, commit)
            if not same_build(build_of(record), now, pool_commits):
                continue
        keys.add(record["config_key"])
    return keys
