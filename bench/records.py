"""Run records: one JSON file per run under ``results/runs/``, written atomically.

Standard library only (the noxfile writes records for frameworks whose environment failed).
A record is written to a temporary file in the same directory, flushed, fsync'ed and renamed, so a
crash or SIGKILL at any moment leaves either the whole record or none (never half of one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import socket
import stat
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import schema, validation
from bench.schema import SCHEMA_VERSION

STATUSES = schema.STATUSES
REQUIRED_FIELDS = ("schema_version", "run_id", "status", "framework", "model", "device", "config")
REPO_ROOT = Path(__file__).resolve().parent.parent
CPUINFO = Path("/proc/cpuinfo")  # the CPU's model name and flags (Linux)
MAX_RECORD_BYTES = 2 * 1024 * 1024  # a record is a few KiB; 2 MiB leaves room for long curves and logs
MAX_NESTING = 32  # a record nests 4 deep; far below Python's recursion limit in any reader


def utc_now() -> str:
    """ISO-8601 UTC timestamp, seconds precision."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_dir(results: str | os.PathLike) -> Path:
    """Where the records live inside a results directory."""
    return Path(results) / "runs"


def new_run_id(config: dict[str, Any]) -> str:
    """A unique, sortable, readable id: framework-model-device-mode-seed-time-random."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    parts = [config["framework"], config["model"], config["device"], config["mode"], f"s{config['seed']}"]
    return "-".join([*parts, stamp, os.urandom(3).hex()])


def write_atomic(path: Path, payload: dict[str, Any]) -> Path:
    """Write JSON to ``path`` via a temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a record is as readable as any new file
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (/proc), else set and reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a text file via a temp file + rename; on any error (a full disk) no temp file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_record(results: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Validate and write one record; return its path."""
    problems = validate(record)
    if problems:
        raise ValueError(f"refusing to write an invalid record: {problems[0]}")
    return write_atomic(runs_dir(results) / f"{record['run_id']}.json", record)


def validate(record: Any, now: dt.datetime | None = None) -> list[str]:
    """Return what is wrong with a record (empty when it is usable): ``bench.validation.validate``."""
    return validation.validate(record, now)


# Metrics that cannot be negative, and those that must be positive (a throughput of 0 is no run).
NON_NEGATIVE = ("first_epoch_seconds", "train_seconds_total", "peak_rss_bytes", "peak_device_memory_bytes",
                "final_test_accuracy", "share_of_peak", "final_train_loss")  # fmt: skip
POSITIVE = ("steady_examples_per_sec", "eval_examples_per_sec", "achieved_gflops", "device_peak_gflops")
AT_MOST_ONE = {
    "final_test_accuracy": "an accuracy above 1",
    "share_of_peak": "over 100% of the device's peak",
}


def metric_problems(record: dict[str, Any]) -> list[str]:
    """What is impossible in an ok record's metrics (NaN or infinite values, negative throughput,
    accuracy or times, accuracy above 1, a share of peak above 100%); empty when they are plausible.
    The one validator every reader applies: such a record is listed as invalid, never averaged."""
    if not isinstance(record, dict) or record.get("status") != "ok":
        return []
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    # The peak is an fp32 matrix product: a tf32 run may pass it without anything being wrong.
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    fp32 = config.get("precision", "fp32") == "fp32"
    problems = []
    values = dict(metrics)
    ttt = metrics.get("time_to_target")
    if isinstance(ttt, dict):
        values.update({f"time_to_target.{k}": v for k, v in ttt.items() if k != "target"})
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            problems.append(f"{name} is {value}")
        elif name in POSITIVE and value <= 0:
            problems.append(f"{name} is {value:g} (must be positive)")
        elif (name in NON_NEGATIVE or name.startswith("time_to_target.")) and value < 0:
            problems.append(f"{name} is {value:g} (must not be negative)")
        elif name in AT_MOST_ONE and value > 1 and (name != "share_of_peak" or fp32):
            problems.append(f"{name} is {value:g} ({AT_MOST_ONE[name]})")
    return [f"invalid metrics: {'; '.join(problems)}"] if problems else []


@dataclass(frozen=True)
class Unreadable:
    """A file in runs/ that could not be used, and why."""

    path: str
    reason: str


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def nesting_depth(text: str) -> int:
    """How deeply JSON ``text`` nests arrays and objects, counted without parsing it (no recursion)."""
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", _STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_json(path: str | os.PathLike) -> tuple[Any, str | None]:
    """Parse a JSON file from outside: ``(value, None)``, or ``(None, a one-line reason)``.

    Only a regular file is opened (a FIFO would block, /dev/zero never end), without blocking, and
    read to at most MAX_RECORD_BYTES; nesting deeper than MAX_NESTING is refused before parsing, so no
    reader can hit Python's recursion limit on it."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file (a FIFO, device or folder named like a record)"
        if info.st_size > MAX_RECORD_BYTES:
            return None, f"{info.st_size:,} bytes, more than a record's limit of {MAX_RECORD_BYTES:,}"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
                return None, "not a regular file (a FIFO, device or folder named like a record)"
            chunks, size = [], 0
            while size <= MAX_RECORD_BYTES:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        if size > MAX_RECORD_BYTES:
            return None, f"more than a record's limit of {MAX_RECORD_BYTES:,} bytes"
        text = b"".join(chunks).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable: {_first_line(exc)}"
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        return None, f"invalid JSON: nested {depth} deep, more than a record's {MAX_NESTING}"
    try:
        return json.loads(text), None
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        return None, f"invalid JSON: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def leftover_records(*results_dirs: str | os.PathLike) -> list[Unreadable]:
    """Complete records left as temporary files (a writer stopped between writing and renaming).

    A partial temp file (a writer killed mid-write) is no record and is not listed."""
    found = []
    for results in results_dirs:
        for path in sorted(runs_dir(results).glob(".*.tmp")):
            record, _ = read_json(path)
            record = validation.migrate(record)
            if record is not None and not validate(record) and isinstance(record.get("run_id"), str):
                found.append(Unreadable(str(path), f"a complete record left as a temporary file (its writer "
                                        f"stopped before renaming it); rename it to {record['run_id']}.json "
                                        "to count it, or delete it"))  # fmt: skip
    return found


def load_records(
    *results_dirs: str | os.PathLike, now: dt.datetime | None = None
) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Read every record under the given results directories; bad files are listed, not fatal.

    Each file is read safely (``read_json``), migrated to this schema version (``validation.migrate``)
    and validated (``validate``, ``metric_problems``; ``now`` is the clock a future ``finished_at`` is
    judged by). Listed, with the file and one line why, and never returned as records: invalid files,
    records whose ``run_id`` another file holds with different content (every copy: which one is true
    cannot be told), and complete records left as temporary files (``leftover_records``)."""
    records, unreadable = [], []
    for results in results_dirs:
        for path in sorted(runs_dir(results).glob("*.json")):
            record, reason = read_json(path)
            if reason is None:
                record = validation.migrate(record)
                problems = validate(record, now) or metric_problems(record)
                reason = problems[0] if problems else None
            if reason is not None:
                unreadable.append(Unreadable(str(path), reason))
                continue
            record["_path"] = str(path)
            records.append(record)
    kept, duplicates = _without_conflicting_duplicates(records)
    return kept, unreadable + duplicates + leftover_records(*results_dirs)


def _without_conflicting_duplicates(
    loaded: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Records whose run_id no other file holds with different content, and the others named."""
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in loaded:
        by_id[record["run_id"]].append(record)

    def content(record: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in record.items() if k != "_path"}, sort_keys=True, default=str)

    conflicting = {run_id for run_id, copies in by_id.items() if len({content(r) for r in copies}) > 1}
    kept, named = [], []
    for record in loaded:
        if record["run_id"] not in conflicting:
            kept.append(record)
            continue
        others = [r["_path"] for r in by_id[record["run_id"]] if r is not record]
        named.append(Unreadable(record["_path"], f"duplicate run_id {record['run_id']} with different "
                                f"content in {', '.join(others)}: neither copy is counted"))  # fmt: skip
    return kept, named


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags_sha() -> str | None:
    """12 hex digits of the SHA-256 of the CPU's feature flags (/proc/cpuinfo ``flags`` on x86,
    ``Features`` on ARM), sorted; None where they cannot be read. Two CPUs with one model name and
    core count but other instruction sets (or a VM exposing fewer) differ here."""
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                flags = " ".join(sorted(set(value.split())))
                return hashlib.sha256(flags.encode()).hexdigest()[:12]
    except OSError:
        pass
    return None


def host_id(cpu_model: str | None, cpu_cores: int | None, cpu_flags_sha: str | None) -> str:
    """12 hex digits naming the host: its name, CPU model, core count and CPU flags (a host name alone
    is shared by containers and cloud machines of one image)."""
    identity = "|".join(str(part) for part in (socket.gethostname(), cpu_model, cpu_cores, cpu_flags_sha))
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def fingerprint(record: dict[str, Any]) -> str:
    """A record's machine fingerprint: CPU model, cores and flags hash (``flags ?`` when the record
    predates it), e.g. to tell two machines of one label apart."""
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    flags = env.get("cpu_flags_sha") or "?"
    return f"{env.get('cpu_model') or '?'} · {env.get('cpu_cores') or '?'} cores · flags {flags}"


_GPU_CACHE: list[list[dict[str, str]]] = []


def _gpu_info() -> list[dict[str, str]]:
    """Name, driver and memory of each NVIDIA GPU (nvidia-smi), once per process; [] without one."""
    if _GPU_CACHE:
        return _GPU_CACHE[0]
    gpus = []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        out = None
    for line in out.stdout.strip().splitlines() if out else []:
        name, driver, memory = (part.strip() for part in line.split(",", 2))
        gpus.append({"name": name, "driver": driver, "memory": memory})
    _GPU_CACHE.append(gpus)
    return gpus


COMMIT_ENV, DIRTY_ENV = "FRAMEBENCH_COMMIT", "FRAMEBENCH_DIRTY"


# The README block `bench report` regenerates (bench.report.sections.verdict writes it).
README_GENERATED = ("<!-- verdict:start -->", "<!-- verdict:end -->")
GENERATED_BLOCKS = ("verdict", "costs")  # the README's blocks that `bench report --readme` regenerates


def without_generated(text: str) -> str:
    """``text`` with whatever stands between generated-block markers removed: the verdict block
    (``README_GENERATED``) and the other blocks the report regenerates (``GENERATED_BLOCKS``: the
    first screen's costs), so a regenerated README is not a dirty tree."""
    names = "|".join(GENERATED_BLOCKS)
    return re.sub(rf"(<!-- ({names}):start -->).*?(<!-- \2:end -->)", r"\1\3", text, flags=re.DOTALL)


def _only_generated_readme(status_line: str) -> bool:
    """Whether a ``git status --porcelain`` line is README.md changed only inside its generated block."""
    if status_line[3:].strip() != "README.md" or status_line[:2].strip() != "M":
        return False
    committed = _git("show", "HEAD:README.md")
    try:
        current = (REPO_ROOT / "README.md").read_text()
    except OSError:
        return False
    return committed is not None and without_generated(committed) == without_generated(current.strip())


def source_state() -> dict[str, Any]:
    """The framebench commit and whether the tree was dirty: from git, or, in a copied tree without
    ``.git`` (e.g. on a lent GPU machine), from $FRAMEBENCH_COMMIT / $FRAMEBENCH_DIRTY, recorded as such."""
    commit = _git("rev-parse", "HEAD")
    if commit:
        # results/ changes with every run, and `bench report` rewrites the README's verdict block:
        # only other changes make the tree "dirty".
        status = _git("status", "--porcelain", "--", ".", ":(exclude)results")
        if status is not None:
            status = "\n".join(line for line in status.splitlines() if not _only_generated_readme(line))
        return {"framebench_commit": commit, "framebench_dirty": bool(status) if status is not None else None,
                "framebench_commit_source": "git"}  # fmt: skip
    commit = os.environ.get(COMMIT_ENV) or None
    dirty = os.environ.get(DIRTY_ENV, "").strip().lower()
    return {
        "framebench_commit": commit,
        "framebench_dirty": {"1": True, "true": True, "0": False, "false": False}.get(dirty),
        "framebench_commit_source": f"{COMMIT_ENV} env" if commit else None,
    }


def machine_of(device_kind: str, env: dict[str, Any] | None = None) -> str:
    """The machine part of a device's identity: CPU model and core count, or the GPU model.

    Host names are not enough (containers share them), so two machines with the same CPU model and
    core count count as the same machine-device, which is what a comparison of them needs.
    """
    env = (
        env
        if env is not None
        else {"cpu_model": _cpu_model(), "cpu_cores": os.cpu_count(), "gpus": _gpu_info()}
    )
    if device_kind == "gpu":
        names = sorted({g.get("name", "?") for g in env.get("gpus") or []})
        return " + ".join(names) if names else "no GPU"
    return f"{env.get('cpu_model') or '?'} · {env.get('cpu_cores') or '?'} cores"


def machine_label(record: dict[str, Any]) -> str:
    """A record's machine-device label; derived from its environment for records that predate it."""
    device = record.get("device") or {}
    if device.get("machine"):
        return str(device["machine"])
    kind = device.get("kind") or (record.get("config") or {}).get("device") or "cpu"
    env = record.get("environment") or {}
    if kind == "gpu" and device.get("name") and not env.get("gpus"):
        return str(device["name"])
    return machine_of(kind, env)


def environment() -> dict[str, Any]:
    """Where a run happened: Python, OS, CPU (model, cores, flags hash), GPU, host, framebench commit."""
    cpu_model, cpu_cores, flags = _cpu_model(), os.cpu_count(), _cpu_flags_sha()
    return {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": cpu_model,
        "cpu_cores": cpu_cores,
        "cpu_flags_sha": flags,
        "host_id": host_id(cpu_model, cpu_cores, flags),
        "gpus": _gpu_info(),
        **source_state(),
    }


def base_record(config: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The fields every record has, before the run's outcome is known."""
    env = environment()
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or new_run_id(config),
        "config_key": None,
        "status": None,
        "reason": None,
        "log_path": None,
        "started_at": utc_now(),
        "finished_at": None,
        "framework": {
            "name": config["framework"].partition("@")[0],
            "mode": config["mode"],
            "versions": {},
            "settings": {},
        },
        "model": {"name": config["model"]},
        "device": {"kind": config["device"], "name": None, "machine": machine_of(config["device"], env)},
        "config": {k: v for k, v in config.items() if k != "data_dir"},
        "data": None,
        "metrics": None,
        "curve": [],
        "environment": env,
    }


def outcome_record(
    config: dict[str, Any],
    status: str,
    reason: str,
    config_key: str | None = None,
    run_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A complete failed/skipped record for a run that produced no measurements."""
    record = base_record(config, run_id)
    record.update(status=status, reason=reason, config_key=config_key, finished_at=utc_now(), **extra)
    return record
