"""Render ``results/REPORT.md`` and ``results/figures/*.png`` from the run records.

The report is a pure function of the record files (and any pytest-benchmark JSON under
``<results>/microbench/``): rows are sorted, statistics are seeded, and the only timestamps are the
records' own, so regenerating it after new runs gives a readable diff.

Records are grouped by framework, resolved mode, model, device kind and the training setup
(everything in the config but the seed and repeat). When several records share a configuration,
the newest (``finished_at``) counts. Records measured on data whose sha256 differs from the
majority's are reported in their own section, never mixed into the main tables.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import impls
from bench.records import Unreadable, load_records
from bench.specs import MODELS, ModelSpec
from bench.stats import CONFIDENCE, Summary, overlaps

DEVICE_ORDER = ("cpu", "gpu")
# Config fields that identify a row of the report rather than its training setup.
NOT_SETUP = ("framework", "model", "device", "mode", "seed", "repeat", "data_dir")
FIGURE_PREFIXES = ("accuracy_", "throughput_", "time_to_target_")
MIB = 2**20

# Published numbers we did NOT measure. Shown in their own section, never in our tables.
EXTERNAL_REFERENCES: tuple[dict[str, str], ...] = (
    {
        "source": "d2l.ai, Dive into Deep Learning: LeNet chapter",
        "url": "https://d2l.ai/chapter_convolutional-neural-networks/lenet.html",
        "setup": "this exact LeNet-5 setup: sigmoid, avg-pool, SGD lr 0.9, batch 256, 10 epochs",
        "result": "test accuracy roughly 0.70–0.83, varying across builds of the book",
    },
    {
        "source": "d2l.ai, Dive into Deep Learning: MLP implementation chapter",
        "url": "https://d2l.ai/chapter_multilayer-perceptrons/mlp-implementation.html",
        "setup": "784-256-10 ReLU MLP, SGD lr 0.1, batch 256, 10 epochs",
        "result": "test accuracy about 0.83–0.86",
    },
    {
        "source": "Zalando Research, Fashion-MNIST benchmark table",
        "url": "https://github.com/zalandoresearch/fashion-mnist#benchmark",
        "setup": "scikit-learn classifiers with tuned hyperparameters (not our models or training)",
        "result": "e.g. MLPClassifier about 0.87 test accuracy",
    },
)


# ----------------------------------------------------------------------------------------------
# loading, de-duplication, grouping


def _sha(record: dict[str, Any]) -> str | None:
    return (record.get("data") or {}).get("sha256")


def _mode(record: dict[str, Any]) -> str:
    return str((record.get("framework") or {}).get("mode") or record["config"].get("mode") or "?")


def _framework(record: dict[str, Any]) -> str:
    return str((record.get("framework") or {}).get("name") or record["config"].get("framework") or "?")


def _model(record: dict[str, Any]) -> str:
    return str((record.get("model") or {}).get("name") or record["config"].get("model") or "?")


def _device(record: dict[str, Any]) -> str:
    return str((record.get("device") or {}).get("kind") or record["config"].get("device") or "?")


def _setup(record: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in record["config"].items() if k not in NOT_SETUP))


def _identity(record: dict[str, Any]) -> str:
    config = {k: v for k, v in record["config"].items() if k != "data_dir"}
    config["mode"] = _mode(record)
    return json.dumps(config, sort_keys=True, default=str)


def _newest_first(record: dict[str, Any]) -> tuple[str, str]:
    return (str(record.get("finished_at") or ""), str(record.get("run_id") or ""))


def dedupe(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the newest record of each configuration; return (kept, superseded).

    Two records are the same configuration when their ``config_key`` matches, or when their
    configs are equal and their data hashes match or one is unknown (a run that failed before
    loading the data has no hash and no key).
    """
    kept: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    seen_keys: set[str] = set()
    seen_shas: dict[str, set[str | None]] = defaultdict(set)
    for record in sorted(records, key=_newest_first, reverse=True):
        key, identity, sha = record.get("config_key"), _identity(record), _sha(record)
        shas = seen_shas.get(identity)
        same_config = shas is not None and (sha is None or None in shas or sha in shas)
        if (key and key in seen_keys) or same_config:
            superseded.append(record)
            continue
        kept.append(record)
        if key:
            seen_keys.add(key)
        seen_shas[identity].add(sha)
    return kept, superseded


def majority_sha(records: Iterable[dict[str, Any]]) -> str | None:
    """The data hash most ok records used (ties: the lexicographically smallest)."""
    counts = Counter(_sha(r) for r in records if r["status"] == "ok")
    if not counts:
        return None
    return min(counts, key=lambda sha: (-counts[sha], str(sha)))


def _device_rank(device: str) -> tuple[int, str]:
    return (DEVICE_ORDER.index(device) if device in DEVICE_ORDER else len(DEVICE_ORDER), device)


def _setup_text(setup: Sequence[tuple[str, Any]]) -> str:
    values = dict(setup)
    parts = []
    if "epochs" in values:
        parts.append(f"{values.pop('epochs')} ep")
    if "batch_size" in values:
        parts.append(f"bs {values.pop('batch_size')}")
    if "lr" in values:
        parts.append(f"lr {values.pop('lr'):g}")
    if "threads" in values:
        parts.append(f"{values.pop('threads')} thr")
    parts.extend(f"{k}={v}" for k, v in sorted(values.items()))
    return " · ".join(parts) or "—"


@dataclass
class Group:
    """The records of one (framework, mode, model, device, setup): seeds and repeats of one cell."""

    framework: str
    mode: str
    model: str
    device: str
    setup: tuple[tuple[str, Any], ...]
    runs: list[dict[str, Any]] = field(default_factory=list)  # status ok
    others: list[dict[str, Any]] = field(default_factory=list)  # failed / skipped

    @property
    def label(self) -> str:
        """Framework and mode, e.g. ``torch (eager)``."""
        return f"{self.framework} ({self.mode})"

    @property
    def setup_text(self) -> str:
        """The training setup in a few words."""
        return _setup_text(self.setup)

    @property
    def sort_key(self) -> tuple[Any, ...]:
        """Rows sort by device, model, framework, mode, setup."""
        return (_device_rank(self.device), self.model, self.framework, self.mode, repr(self.setup))

    def metric(self, name: str) -> list[float]:
        """The finite values of one metric across the ok runs."""
        values = [(r.get("metrics") or {}).get(name) for r in self.runs]
        return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]

    def summary(self, name: str, unit: str, factor: float = 1.0) -> Summary | None:
        """Summary of one metric across the ok runs, or None when no run has it."""
        values = self.metric(name)
        return Summary.of([v * factor for v in values], unit) if values else None

    def count_text(self) -> str:
        """How many runs, and how many seeds, with failed/skipped runs of the same cell."""
        seeds = {r["config"].get("seed") for r in self.runs}
        runs = len(self.runs)
        text = str(runs) if len(seeds) == runs else f"{runs} ({len(seeds)} seeds)"
        statuses = Counter(r["status"] for r in self.others)
        extra = ", ".join(f"+{statuses[s]} {s}" for s in ("failed", "skipped") if statuses[s])
        return f"{text} ({extra})" if extra else text


def group_records(records: Iterable[dict[str, Any]]) -> list[Group]:
    """Group records into report cells; groups without an ok run are dropped."""
    groups: dict[tuple[Any, ...], Group] = {}
    for record in records:
        key = (_framework(record), _mode(record), _model(record), _device(record), _setup(record))
        group = groups.setdefault(key, Group(*key))
        (group.runs if record["status"] == "ok" else group.others).append(record)
    return sorted((g for g in groups.values() if g.runs), key=lambda g: g.sort_key)


# ----------------------------------------------------------------------------------------------
# per-cell numbers


@dataclass(frozen=True)
class Gate:
    """The accuracy gate's verdict for one cell."""

    text: str
    flagged: bool
    band: tuple[float, float] | None = None


def accuracy_gate(model: str, setup: Sequence[tuple[str, Any]], accuracy: float) -> Gate:
    """Flag a median final test accuracy outside the spec's band (only at the spec's defaults)."""
    spec = MODELS.get(model)
    if spec is None:
        return Gate("no spec for this model", False)
    if not _at_defaults(spec, dict(setup)):
        return Gate("no band for this setup", False)
    if not math.isfinite(accuracy):
        return Gate("no accuracy recorded", False)
    low, high = spec.accuracy_band
    if low <= accuracy <= high:
        return Gate(f"ok ({low:.2f}–{high:.2f})", False, (low, high))
    return Gate(f"⚠ OUTSIDE {low:.2f}–{high:.2f}", True, (low, high))


def _at_defaults(spec: ModelSpec, config: dict[str, Any]) -> bool:
    try:
        return (
            int(config.get("epochs", -1)) == spec.epochs
            and int(config.get("batch_size", -1)) == spec.batch_size
            and math.isclose(float(config.get("lr", math.nan)), spec.lr, rel_tol=1e-9)
        )
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class TimeToTarget:
    """How the runs of a cell did against the time-to-accuracy target."""

    targets: tuple[float, ...]
    reached: int
    total: int
    train_seconds: Summary | None
    wall_seconds: Summary | None
    epoch: float | None

    def cell(self) -> str:
        """Median training seconds of the runs that reached it, with k/n when not all did."""
        if self.total == 0:
            return "n/a"
        if self.train_seconds is None:
            return f"not reached ({self.reached}/{self.total})"
        text = self.train_seconds.fmt_median(".2f", unit=False)
        return text if self.reached == self.total else f"{text} ({self.reached}/{self.total} reached)"

    def target_text(self) -> str:
        """The target accuracy (or targets, if the records disagree)."""
        return ", ".join(f"{t:.2f}" for t in self.targets) or "—"


def time_to_target(group: Group) -> TimeToTarget:
    """Summarise ``metrics.time_to_target`` over the ok runs of a cell."""
    entries = [(r.get("metrics") or {}).get("time_to_target") for r in group.runs]
    entries = [e for e in entries if isinstance(e, dict)]
    targets = tuple(sorted({float(e["target"]) for e in entries if e.get("target") is not None}))
    reached = [e for e in entries if e.get("train_seconds") is not None]
    walls = [e["wall_seconds"] for e in reached if e.get("wall_seconds") is not None]
    return TimeToTarget(
        targets=targets,
        reached=len(reached),
        total=len(entries),
        train_seconds=Summary.of([e["train_seconds"] for e in reached], "s") if reached else None,
        wall_seconds=Summary.of(walls, "s") if walls else None,
        epoch=float(pd.Series([e["epoch"] for e in reached]).median()) if reached else None,
    )


@dataclass
class Row:
    """Everything the report says about one cell."""

    group: Group
    accuracy: Summary
    throughput: Summary | None
    first_epoch: Summary | None
    ttt: TimeToTarget
    gflops: Summary | None
    share: Summary | None
    peak_rss: Summary | None
    gate: Gate
    versus: str = "n/a"
    share_of_best: float | None = None  # achieved / the best peak any framework measured on this device


def build_rows(groups: Iterable[Group]) -> list[Row]:
    """Compute every cell's numbers and its '× vs fastest' among like cells on the same device."""
    rows = []
    for group in groups:
        accuracy = group.summary("final_test_accuracy", "")
        if accuracy is None:  # an ok record always has it; be lenient with hand-made ones
            accuracy = Summary(math.nan, math.nan, math.nan, 0)
        rows.append(
            Row(
                group=group,
                accuracy=accuracy,
                throughput=group.summary("steady_examples_per_sec", "examples/s"),
                first_epoch=group.summary("first_epoch_seconds", "s"),
                ttt=time_to_target(group),
                gflops=group.summary("achieved_gflops", "GFLOP/s"),
                share=group.summary("share_of_peak", "%", 100.0),
                peak_rss=group.summary("peak_rss_bytes", "MiB", 1.0 / MIB),
                gate=accuracy_gate(group.model, group.setup, accuracy.median),
            )
        )
    like: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        like[(row.group.device, row.group.model, row.group.setup)].append(row)
    for peers in like.values():
        _rank(peers)
    # Each framework measures the peak with its own matrix product, and those differ (BLAS builds);
    # the device's peak is best estimated by the highest of them, which makes shares comparable.
    best_peak: dict[str, float] = {}
    for row in rows:
        peak = row.group.summary("device_peak_gflops", "GFLOP/s")
        if peak is not None and math.isfinite(peak.median):
            best_peak[row.group.device] = max(best_peak.get(row.group.device, 0.0), peak.median)
    for row in rows:
        if row.gflops is not None and best_peak.get(row.group.device):
            row.share_of_best = 100.0 * row.gflops.median / best_peak[row.group.device]
    return rows


def _rank(peers: list[Row]) -> None:
    measured = [r for r in peers if r.throughput is not None]
    if not measured:
        return
    # A cell that fails the accuracy gate may be fast because it is wrong: it is never the yardstick.
    candidates = [r for r in measured if not r.gate.flagged] or measured
    fastest = max(candidates, key=lambda r: (r.throughput.median, r.group.label))  # type: ignore[union-attr]
    assert fastest.throughput is not None
    for row in measured:
        assert row.throughput is not None
        ratio = row.throughput.median / fastest.throughput.median
        if row is fastest:
            row.versus = "1.00× (fastest)" if len(measured) > 1 else "1.00× (only one)"
            row.versus += " ⚠ fails accuracy gate" if row.gate.flagged else ""
        elif row.gate.flagged:
            row.versus = f"{ratio:.2f}× ⚠ not ranked (fails accuracy gate)"
        elif overlaps(row.throughput, fastest.throughput):
            row.versus = f"≈ within noise ({ratio:.2f}×)"
        else:
            row.versus = f"{ratio:.2f}×"


# ----------------------------------------------------------------------------------------------
# micro-benchmarks


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
                    }
                )
    rows.sort(key=lambda r: (r["benchmark"], r["framework"], r["model"], r["device"], str(r["median"])))
    return rows, unreadable


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _plain(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) and math.isfinite(value) else "—"


# ----------------------------------------------------------------------------------------------
# markdown helpers


def _cell(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table (pandas + tabulate) of pre-formatted cells; '_none_' when empty."""
    if not rows:
        return "_none_"
    frame = pd.DataFrame([[_cell(r.get(c)) for c in columns] for r in rows], columns=list(columns))
    return frame.to_markdown(index=False, disable_numparse=True)


def _ci(summary: Summary | None, missing: str = "—") -> str:
    return summary.fmt(unit=False) if summary else missing


def _med(summary: Summary | None, missing: str = "—") -> str:
    return summary.fmt_median(unit=False) if summary else missing


def _code_list(items: Iterable[Any]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _short(sha: str | None) -> str:
    return f"`{sha[:12]}…`" if sha else "unknown"


# ----------------------------------------------------------------------------------------------
# sections


def _summary_table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        g = row.group
        flag = "⚠ " if row.gate.flagged else ""
        lines.append(
            {
                "framework (mode)": g.label,
                "model": g.model,
                "setup": g.setup_text,
                "n runs": g.count_text(),
                f"test accuracy [{CONFIDENCE:.0%} CI]": flag + row.accuracy.fmt(unit=False),
                "examples/s [CI]": _ci(row.throughput, "n/a (1 epoch)"),
                "× vs fastest": row.versus,
                "first epoch (s)": _med(row.first_epoch),
                "time to target (s)": row.ttt.cell(),
                "GFLOP/s": _med(row.gflops),
                "% of device peak": _plain(row.share_of_best, ".1f"),
                "peak RSS (MiB)": _med(row.peak_rss),
                "accuracy gate": row.gate.text,
            }
        )
    return table(lines, list(lines[0]))


def _device_line(device: str, groups: Sequence[Group]) -> str:
    runs = [r for g in groups for r in g.runs]
    names = sorted({str((r.get("device") or {}).get("name") or "?") for r in runs})
    cpus = sorted(
        {
            f"{(r.get('environment') or {}).get('cpu_model', '?')}, "
            f"{(r.get('environment') or {}).get('cpu_cores', '?')} cores"
            for r in runs
        }
    )
    hosts = sorted({str((r.get("environment") or {}).get("host_id") or "?") for r in runs})
    what = "; ".join(cpus) if device == "cpu" else ", ".join(names)
    line = f"Device: **{device}** — {what}; host {_code_list(hosts)}."
    if len(hosts) > 1 or (device != "cpu" and len(names) > 1) or len(cpus) > 1:
        line += " ⚠ These runs come from different machines: compare with care."
    return line


def _summary_section(rows: list[Row], others: list[dict[str, Any]], heading: str) -> list[str]:
    out = []
    devices = sorted({r.group.device for r in rows} | {_device(r) for r in others}, key=_device_rank)
    for device in devices:
        device_rows = [r for r in rows if r.group.device == device]
        out.append(f"{heading} {device}\n")
        if not device_rows:
            statuses = Counter(r["status"] for r in others if _device(r) == device)
            counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
            out.append(f"No successful runs on {device} ({counts}; see *Skipped and failed runs*).\n")
            continue
        out.append(_device_line(device, [r.group for r in device_rows]) + "\n")
        out.append(_summary_table(device_rows) + "\n")
    return out


SUMMARY_NOTES = f"""\
How to read the summary: medians over runs (seeds × repeats), with a {CONFIDENCE:.0%} percentile-bootstrap \
interval of the median in brackets (none for a single run). *examples/s* is steady-state training \
throughput (each run's median over the epochs after the first). *× vs fastest* divides by the fastest \
cell of the same model, device and setup that passes the accuracy gate; when the two intervals \
overlap the cell reads *≈ within noise* instead of a rank (with one run there is no interval, so no \
difference is called noise). *time to target* is the median training time (sync'ed, evaluation \
excluded) to the model's target accuracy; *(k/n)* counts the runs that reached it. *% of device peak* \
is achieved GFLOP/s over the highest fp32 matrix-product peak any framework measured on the device. \
*accuracy gate* checks the median final test accuracy against the model's expected band (below)."""


def _accuracy_section(rows: list[Row], figure_links: dict[tuple[str, str], str]) -> list[str]:
    out = ["## Accuracy\n"]
    bands = [
        {
            "model": spec.name,
            "defaults": f"{spec.epochs} epochs, batch {spec.batch_size}, SGD lr {spec.lr:g}",
            "expected final test accuracy": f"{spec.accuracy_band[0]:.2f}–{spec.accuracy_band[1]:.2f}",
            "time-to-accuracy target": f"{spec.target_accuracy:.2f}",
            "band source": spec.band_source,
        }
        for spec in sorted(MODELS.values(), key=lambda s: s.name)
    ]
    out.append(
        "The accuracy gate applies a model's band only to runs at its defaults (epochs, batch size, "
        "learning rate); any other setup reads *no band for this setup*. A cell outside its band is "
        "marked ⚠: a fast but wrong implementation must not win on speed.\n"
    )
    out.append(table(bands, list(bands[0])) + "\n")
    for (model, device), cell_rows in _by_model_device(rows):
        out.append(f"### Test accuracy per epoch: {model} on {device}\n")
        if (model, device) in figure_links:
            out.append(f"![test accuracy per epoch, {model} on {device}]({figure_links[(model, device)]})\n")
        epochs = max(len(r.get("curve") or []) for row in cell_rows for r in row.group.runs)
        lines = []
        for row in cell_rows:
            medians = _epoch_values(row.group, "test_accuracy")
            line = {"framework (mode)": row.group.label, "setup": row.group.setup_text}
            for epoch in range(1, epochs + 1):
                values = medians.get(epoch)
                line[f"ep {epoch}"] = f"{pd.Series(values).median():.3f}" if values else ""
            line["final (median [CI])"] = row.accuracy.fmt(unit=False)
            line["min–max"] = _range(row.accuracy)
            lines.append(line)
        out.append("Median test accuracy over runs after each epoch.\n")
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def _range(summary: Summary) -> str:
    if summary.minimum is None or summary.maximum is None:
        return "—"
    return f"{summary.minimum:.3f}–{summary.maximum:.3f}"


def _epoch_values(group: Group, name: str) -> dict[int, list[float]]:
    values: dict[int, list[float]] = defaultdict(list)
    for record in group.runs:
        for point in record.get("curve") or []:
            if isinstance(point.get(name), int | float):
                values[int(point["epoch"])].append(float(point[name]))
    return dict(sorted(values.items()))


def _by_model_device(rows: list[Row]) -> list[tuple[tuple[str, str], list[Row]]]:
    cells: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        cells[(row.group.model, row.group.device)].append(row)
    return sorted(cells.items(), key=lambda item: (item[0][0], _device_rank(item[0][1])))


def _by_device(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    cells: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        cells[row.group.device].append(row)
    return sorted(cells.items(), key=lambda item: _device_rank(item[0]))


def _throughput_section(rows: list[Row], figure_links: dict[str, str]) -> list[str]:
    out = [
        "## Throughput\n",
        "Training examples per second with the device synchronised before each clock read; the first "
        "epoch (compilation, autotuning, allocator warm-up) is excluded from steady state and shown "
        "on its own. *IQR over runs* is the spread of the runs' steady-state medians; *evaluation* is "
        "inference throughput on the test set.\n",
    ]
    for device, device_rows in _by_device(rows):
        out.append(f"### {device}\n")
        if device in figure_links:
            out.append(f"![steady-state training throughput on {device}]({figure_links[device]})\n")
        lines = []
        for row in device_rows:
            g = row.group
            steady_epochs = sorted({(r.get("metrics") or {}).get("steady_epochs") for r in g.runs}, key=str)
            evaluation = g.summary("eval_examples_per_sec", "examples/s")
            device_memory = g.summary("peak_device_memory_bytes", "MiB", 1.0 / MIB)
            lines.append(
                {
                    "framework (mode)": g.label,
                    "model": g.model,
                    "setup": g.setup_text,
                    "n runs": g.count_text(),
                    "steady examples/s [CI]": _ci(row.throughput, "n/a"),
                    "IQR over runs": row.throughput.fmt_iqr(unit=False) if row.throughput else "—",
                    "steady epochs/run": ", ".join(str(s) for s in steady_epochs),
                    "first epoch (s) [CI]": _ci(row.first_epoch),
                    "evaluation examples/s": _med(evaluation),
                    "peak device memory (MiB)": _med(device_memory),
                }
            )
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def _ttt_section(rows: list[Row], figure_links: dict[str, str]) -> list[str]:
    targets = ", ".join(
        f"{spec.name} {spec.target_accuracy:.2f}" for spec in sorted(MODELS.values(), key=lambda s: s.name)
    )
    out = [
        "## Time to accuracy\n",
        f"Targets (test accuracy, `bench/specs.py`): {targets}. Training seconds are summed over epochs "
        "up to the first epoch whose test accuracy reaches the target (evaluation excluded); wall "
        "seconds include evaluation. Medians over the runs that reached it; *reached* counts them.\n",
    ]
    for device, device_rows in _by_device(rows):
        out.append(f"### {device}\n")
        if device in figure_links:
            out.append(f"![time to target accuracy on {device}]({figure_links[device]})\n")
        lines = []
        for row in device_rows:
            ttt = row.ttt
            lines.append(
                {
                    "framework (mode)": row.group.label,
                    "model": row.group.model,
                    "setup": row.group.setup_text,
                    "target": ttt.target_text(),
                    "reached": f"{ttt.reached}/{ttt.total}",
                    "epoch (median)": "—" if ttt.epoch is None else f"{ttt.epoch:g}",
                    "train seconds [CI]": _ci(ttt.train_seconds, "not reached"),
                    "wall seconds (median)": _med(ttt.wall_seconds),
                }
            )
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def _peak_section(rows: list[Row]) -> list[str]:
    flops = sorted(
        {
            (r["model"].get("name"), r["model"].get("train_flops_per_example"))
            for row in rows
            for r in row.group.runs
            if r.get("model", {}).get("train_flops_per_example")
        }
    )
    flops_text = "; ".join(f"{name} {value:,} FLOPs per training example" for name, value in flops)
    out = [
        "## Share of device peak\n",
        "Achieved GFLOP/s = FLOPs per training example × steady-state examples/s. FLOPs count only "
        "convolutions and dense layers, a multiply-add as 2, forward plus both backward products "
        f"(`bench/specs.py`){': ' + flops_text if flops_text else ''}. The peak is measured by each "
        "framework in its own environment with a large fp32 matrix product (method below). *% of own "
        "peak* divides by that framework's own measurement; *% of device peak* (the summary's column) "
        "divides by the highest peak any framework measured on the device, so it compares across "
        "frameworks.\n",
    ]
    lines = []
    for row in rows:
        g = row.group
        peak = g.summary("device_peak_gflops", "GFLOP/s")
        methods = sorted({str((r.get("metrics") or {}).get("device_peak_method") or "—") for r in g.runs})
        lines.append(
            {
                "framework (mode)": g.label,
                "model": g.model,
                "device": g.device,
                "setup": g.setup_text,
                "achieved GFLOP/s [CI]": _ci(row.gflops),
                "device peak GFLOP/s (median)": _med(peak),
                "% of own peak (median)": _med(row.share),
                "% of device peak": _plain(row.share_of_best, ".1f"),
                "how the peak was measured": "; ".join(methods),
            }
        )
    out.append(table(lines, list(lines[0])) + "\n")
    return out


def _microbench_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        {
            "benchmark": r["benchmark"],
            "framework": r["framework"],
            "mode": r["mode"],
            "model": r["model"],
            "device": r["device"],
            "median": _duration(r["median"]),
            "IQR": _duration(r["iqr"]),
            "ops/s": _plain(r["ops"], ",.1f"),
            "rounds": _plain(r["rounds"], "d"),
        }
        for r in rows
    ]
    return [
        "## Micro-benchmarks\n",
        "From pytest-benchmark (`<results>/microbench/*.json`, `nox -s microbench`), merged as reported: "
        "time per call (one SGD step or one inference batch), device synchronised.\n",
        table(lines, list(lines[0])) + "\n",
    ]


def load_baselines(results_dirs: Iterable[Path]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Read ``<results>/baseline/*.json`` written by ``python -m bench baseline`` (nox -s baseline)."""
    rows: list[dict[str, Any]] = []
    unreadable: list[Unreadable] = []
    for results in results_dirs:
        for path in sorted((Path(results) / "baseline").glob("*.json")):
            try:
                payload = json.loads(path.read_text())
                found = [r for r in payload["rows"] if isinstance(r, dict) and "ratio" in r]
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
                unreadable.append(Unreadable(str(path), f"not a baseline file: {str(exc).splitlines()[0]}"))
                continue
            rows.extend(found)
    rows.sort(key=lambda r: (str(r.get("framework")), str(r.get("model")), str(r.get("device"))))
    return rows, unreadable


def _baseline_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        {
            "framework (mode)": f"{r.get('framework')} ({r.get('mode')})",
            "model": r.get("model"),
            "device": r.get("device"),
            "threads": r.get("threads"),
            "our loop examples/s": _plain(r.get("harness_examples_per_sec"), ",.0f"),
            "plain loop examples/s": _plain(r.get("plain_examples_per_sec"), ",.0f"),
            "ratio of medians (ours / plain)": _plain(r.get("ratio"), ".2f"),
            "median paired ratio": _plain(r.get("paired_ratio"), ".2f"),
            "steady epochs per side": len(r.get("harness_samples") or []),
            "measured": r.get("measured_at"),
        }
        for r in rows
    ]
    return [
        "## Our training loop vs a plain idiomatic loop\n",
        "From `nox -s baseline` (`<results>/baseline/*.json`): the harness's training path and the "
        "framework's plain textbook loop (`impls/<name>/baseline.py`) train the same model from the same "
        "weights in one process, interleaved epoch by epoch (A B, B A, ...) so that both see the same "
        "machine conditions; each side's first epoch is dropped. The paired ratio is the median over "
        "adjacent epoch pairs. A ratio ≥ 1 means the harness costs the framework nothing; within a few "
        "percent of 1 is within this machine's epoch-to-epoch noise.\n",
        table(lines, list(lines[0])) + "\n",
    ]


def _versions_text(framework: str, versions: dict[str, Any]) -> str:
    keys = sorted(versions, key=lambda k: (k != framework, k))
    return ", ".join(f"{k} {versions[k]}" for k in keys) or "—"


def _environment_section(records: list[dict[str, Any]]) -> list[str]:
    known = ("intra_op_threads", "inter_op_threads", "dtype", "tf32", "mode")
    frameworks: dict[str, dict[str, Any]] = {}
    counts: Counter[str] = Counter()
    without_settings: set[str] = set()
    for r in records:
        fw = r.get("framework") or {}
        settings = fw.get("settings") or {}
        env = r.get("environment") or {}
        threads = f"{settings.get('intra_op_threads', '—')}/{settings.get('inter_op_threads', '—')}"
        line = {
            "framework": _framework(r),
            "mode": _mode(r),
            "device": _device(r),
            "versions": _versions_text(_framework(r), fw.get("versions") or {}),
            "threads intra/inter": threads if settings else "—",
            "dtype": settings.get("dtype", "—"),
            "tf32": settings.get("tf32", "—"),
            "other settings": ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k not in known)
            or "—",
            "Python": env.get("python", "—"),
        }
        key = json.dumps(line, sort_keys=True, default=str)
        frameworks[key] = line
        counts[key] += 1
        if not settings:
            without_settings.add(key)
    # Skipped/failed runs stop before their settings are known: list them only for a framework
    # that has no better row (they still show its versions).
    described = {line["framework"] for k, line in frameworks.items() if k not in without_settings}
    for key in without_settings:
        if frameworks[key]["framework"] in described:
            del frameworks[key]
    order = sorted(frameworks, key=_env_sort(frameworks))
    framework_lines = [dict(frameworks[k], runs=counts[k]) for k in order]

    machines: dict[str, dict[str, Any]] = {}
    machine_counts: Counter[str] = Counter()
    for r in records:
        env = r.get("environment") or {}
        commit = env.get("framebench_commit")
        dirty = env.get("framebench_dirty")
        line = {
            "host": env.get("host_id", "—"),
            "OS": env.get("os", "—"),
            "CPU": env.get("cpu_model", "—"),
            "cores": env.get("cpu_cores", "—"),
            "GPU": "; ".join(
                f"{g.get('name', '?')} (driver {g.get('driver', '?')}, {g.get('memory', '?')})"
                for g in env.get("gpus") or []
            )
            or "none",
            "framebench commit": (commit[:12] if commit else "unknown") + _dirty_text(dirty),
        }
        key = json.dumps(line, sort_keys=True, default=str)
        machines[key] = line
        machine_counts[key] += 1
    machine_lines = [dict(machines[k], runs=machine_counts[k]) for k in sorted(machines)]
    return [
        "## Environment\n",
        "### Framework environments\n",
        table(framework_lines, list(framework_lines[0]) if framework_lines else []) + "\n",
        "### Machines\n",
        table(machine_lines, list(machine_lines[0]) if machine_lines else []) + "\n",
    ]


def _dirty_text(dirty: bool | None) -> str:
    if dirty is None:
        return " (dirty: unknown)"
    return " (dirty: uncommitted changes)" if dirty else ""


def _env_sort(lines: dict[str, dict[str, Any]]) -> Any:
    def key(k: str) -> tuple[Any, ...]:
        line = lines[k]
        return (line["framework"], line["mode"], _device_rank(line["device"]), k)

    return key


def _not_ok_section(records: list[dict[str, Any]]) -> list[str]:
    grouped: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for r in records:
        if r["status"] == "ok":
            continue
        seed = r["config"].get("seed", "?")
        repeat = r["config"].get("repeat") or 0
        key = (_framework(r), _model(r), _device(r), _mode(r), r["status"], str(r.get("reason") or "—"))
        grouped[key].append(f"{seed}" + (f" (repeat {repeat})" if repeat else ""))
    lines = [
        {
            "framework": k[0],
            "model": k[1],
            "device": k[2],
            "mode": k[3],
            "seed": ", ".join(sorted(seeds, key=_seed_order)),
            "status": k[4],
            "reason": k[5],
        }
        for k, seeds in sorted(
            grouped.items(), key=lambda item: (*item[0][:2], _device_rank(item[0][2]), item[0])
        )
    ]
    columns = ["framework", "model", "device", "mode", "seed", "status", "reason"]
    return ["## Skipped and failed runs\n", table(lines, columns) + "\n"]


def _seed_order(text: str) -> tuple[int, str]:
    head = text.split(" ")[0]
    return (int(head) if head.isdigit() else -1, text)


def _unreadable_section(unreadable: list[Unreadable]) -> list[str]:
    if not unreadable:
        return []
    lines = [{"file": u.path, "reason": u.reason} for u in sorted(unreadable, key=lambda u: u.path)]
    return [
        "## Unreadable record files\n",
        "These files were skipped:\n",
        table(lines, ["file", "reason"]) + "\n",
    ]


def _ranges(values: Iterable[int]) -> str:
    ordered = sorted(set(values))
    parts, start = [], None
    for i, value in enumerate(ordered):
        if start is None:
            start = value
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def _reproduce_section(records: list[dict[str, Any]], results_dirs: Sequence[Path]) -> list[str]:
    setups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        config = r["config"]
        spec = MODELS.get(_model(r))
        overrides = []
        for option, name in (("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--lr", "lr")):
            value = config.get(name)
            default = getattr(spec, name, None) if spec else None
            if value is not None and value != default:
                overrides.append((option, f"{value:g}" if isinstance(value, float) else str(value)))
        if config.get("threads") is not None:
            overrides.append(("--threads", str(config["threads"])))
        setups[tuple(overrides)].append(r)
    registered = set(impls.FRAMEWORKS)
    lines = []
    for overrides, group in sorted(setups.items()):
        models = ",".join(sorted({_model(r) for r in group}))
        devices = ",".join(sorted({_device(r) for r in group}, key=_device_rank))
        seeds = _ranges(int(r["config"].get("seed", 0)) for r in group)
        repeats = max(int(r["config"].get("repeat") or 0) for r in group) + 1
        common = f"--models {models} --devices {devices} --seeds {seeds}"
        common += "".join(f" {option} {value}" for option, value in overrides)
        common += f" --repeats {repeats}" if repeats > 1 else ""
        modes_per_framework: dict[str, set[str]] = defaultdict(set)
        for r in group:
            modes_per_framework[_framework(r)].add(_mode(r))
        if set(modes_per_framework) == registered:  # the whole matrix: one line runs every framework
            several = any(len(m) > 1 for m in modes_per_framework.values())
            lines.append(f"nox -s bench -- {common}{' --modes all' if several else ''}")
        else:
            for framework, modes in sorted(modes_per_framework.items()):
                lines.append(
                    f"nox -s \"bench(framework='{framework}')\" -- {common} --modes {','.join(sorted(modes))}"
                )
    commits = sorted(
        {
            (
                (r.get("environment") or {}).get("framebench_commit") or "unknown",
                (r.get("environment") or {}).get("framebench_dirty"),
            )
            for r in records
        },
        key=str,
    )
    commit_text = "; ".join(
        f"`{c}`" + (" with uncommitted changes (not reproducible from the commit alone)" if d else "")
        for c, d in commits
    )
    dirs = " ".join(str(d) for d in results_dirs)
    return [
        "## Reproduce\n",
        f"framebench commit: {commit_text}. Each framework runs in its own nox environment; inside "
        "one, `python -m bench run --framework NAME` takes the same options.\n",
        "```sh\n" + "\n".join(lines) + f"\npython -m bench report --results {dirs}\n```\n",
    ]


def _references_section() -> list[str]:
    lines = [
        {
            "source (EXTERNAL)": f"[{ref['source']}]({ref['url']})",
            "setup": ref["setup"],
            "published result (approximate)": ref["result"],
        }
        for ref in EXTERNAL_REFERENCES
    ]
    return [
        "## Published reference points (EXTERNAL — not measured here)\n",
        "Numbers from other people's runs, for orientation only: approximate, stated as ranges, "
        "never mixed into the tables above.\n",
        table(lines, list(lines[0])) + "\n",
    ]


# ----------------------------------------------------------------------------------------------
# figures


def _figure_links(rows: list[Row], out: Path, figures: Path) -> dict[str, dict[Any, str]]:
    rel = Path(os.path.relpath(figures.resolve(), out.parent.resolve())).as_posix()
    links: dict[str, dict[Any, str]] = {"accuracy": {}, "throughput": {}, "ttt": {}}
    for model, device in {(r.group.model, r.group.device) for r in rows}:
        links["accuracy"][(model, device)] = f"{rel}/accuracy_{model}_{device}.png"
    for device in {r.group.device for r in rows}:
        if any(r.throughput for r in rows if r.group.device == device):
            links["throughput"][device] = f"{rel}/throughput_{device}.png"
        links["ttt"][device] = f"{rel}/time_to_target_{device}.png"
    return links


def _colors(rows: list[Row]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    labels = sorted({r.group.label for r in rows})
    return {label: palette(i % 10) for i, label in enumerate(labels)}


def _save(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


def _bar_label(row: Row, several_setups: bool) -> str:
    label = f"{row.group.framework}\n{row.group.mode}"
    return f"{label}\n{row.group.setup_text}" if several_setups else label


def _ttt_note(row: Row) -> str | None:
    if row.ttt.train_seconds is None:
        return f"not reached\n({row.ttt.reached}/{row.ttt.total})"
    if row.ttt.reached < row.ttt.total:
        return f"{row.ttt.reached}/{row.ttt.total} reached"
    return None


def _bar_figure(
    rows: list[Row],
    colors: dict[str, Any],
    value: Callable[[Row], Summary | None],
    note: Callable[[Row], str | None],
    ylabel: str,
    title: str,
    with_target: bool = False,
) -> Any:
    """One panel per model: a bar per cell at its median, error bars at its interval."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    models = sorted({r.group.model for r in rows})
    fig = Figure(figsize=(1.2 + 4.0 * len(models), 4.4))
    for i, model in enumerate(models):
        ax = fig.add_subplot(1, len(models), i + 1)
        panel = [r for r in rows if r.group.model == model]
        several = len({r.group.setup for r in panel}) > 1
        summaries = [value(r) for r in panel]
        heights = [s.median if s else 0.0 for s in summaries]
        errors = [
            [s.median - s.low if s else 0.0 for s in summaries],
            [s.high - s.median if s else 0.0 for s in summaries],
        ]
        positions = list(range(len(panel)))
        bars = ax.bar(positions, heights, width=0.6, color=[colors[r.group.label] for r in panel])
        shown = [j for j, s in enumerate(summaries) if s is not None and s.n > 1]
        if shown:
            ax.errorbar(
                [positions[j] for j in shown],
                [heights[j] for j in shown],
                yerr=[[errors[0][j] for j in shown], [errors[1][j] for j in shown]],
                fmt="none",
                ecolor="black",
                capsize=4,
                linewidth=1,
            )
        top = max((s.high for s in summaries if s), default=0.0) or 1.0
        if not any(summaries):
            ax.set_yticks([])  # nothing to measure: no scale to read
        for bar, row, summary in zip(bars, panel, summaries, strict=True):
            if row.gate.flagged:
                bar.set_hatch("//")
            text = summary.fmt_median(unit=False) if summary else ""
            extra = note(row)
            text = f"{text}\n{extra}" if text and extra else text or extra or ""
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                (summary.high if summary else 0.0) + 0.02 * top,
                text,
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
        ax.set_ylim(0, top * 1.3)
        margin = 0.1 + max(0.0, (2 - len(panel)) / 2)  # a lone bar stays centred and slim
        ax.set_xlim(-0.5 - margin, len(panel) - 0.5 + margin)
        ax.set_xticks(positions, [_bar_label(r, several) for r in panel], fontsize="small")
        target = MODELS[model].target_accuracy if with_target and model in MODELS else None
        ax.set_title(f"{model} (target accuracy {target:.2f})" if target is not None else model)
        ax.set_ylabel(ylabel)
        if top >= 1000:
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


def draw_figures(rows: list[Row], figures: Path) -> list[Path]:
    """Draw the accuracy, throughput and time-to-accuracy figures (Agg, no pyplot state)."""
    from matplotlib.figure import Figure

    figures.mkdir(parents=True, exist_ok=True)
    for stale in sorted(figures.glob("*.png")):
        if stale.name.startswith(FIGURE_PREFIXES):
            stale.unlink()
    colors = _colors(rows)
    written = []

    for (model, device), cell_rows in _by_model_device(rows):
        fig = Figure(figsize=(7, 4.2))
        ax = fig.add_subplot()
        spec = MODELS.get(model)
        several = len({r.group.setup for r in cell_rows}) > 1
        # Like-for-like frameworks often give identical curves: shrinking markers and varied dashes
        # keep every line visible where they overlap exactly.
        for index, row in enumerate(cell_rows):
            values = _epoch_values(row.group, "test_accuracy")
            epochs = list(values)
            label = row.group.label + (f", {row.group.setup_text}" if several else "")
            label += " ⚠ outside band" if row.gate.flagged else ""
            color = colors[row.group.label]
            ax.plot(
                epochs,
                [pd.Series(v).median() for v in values.values()],
                marker="o",
                markersize=max(9 - 2.5 * index, 3),
                color=color,
                label=f"{label} (n={len(row.group.runs)})",
                linestyle="--" if row.gate.flagged else ("-", (0, (5, 2)), (0, (1, 1)))[index % 3],
                linewidth=1.5,
            )
            ax.fill_between(
                epochs,
                [min(v) for v in values.values()],
                [max(v) for v in values.values()],
                color=color,
                alpha=0.18,
                linewidth=0,
            )
        if spec is not None:
            low, high = spec.accuracy_band
            ax.axhspan(
                low, high, color="0.85", alpha=0.5, zorder=0, label=f"expected band {low:.2f}–{high:.2f}"
            )
            ax.axhline(
                spec.target_accuracy,
                color="0.3",
                linestyle=":",
                linewidth=1,
                label=f"time-to-accuracy target {spec.target_accuracy:.2f}",
            )
        ax.set_title(f"Test accuracy per epoch: {model} on {device} (median, shaded min–max over runs)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (fraction correct)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best")
        path = figures / f"accuracy_{model}_{device}.png"
        _save(fig, path)
        written.append(path)

    for device, device_rows in _by_device(rows):
        if any(r.throughput for r in device_rows):
            fig = _bar_figure(
                device_rows,
                colors,
                value=lambda r: r.throughput,
                note=lambda r: "⚠ accuracy\noutside band" if r.gate.flagged else None,
                ylabel="training examples/s (steady state)",
                title=f"Steady-state training throughput on {device} (median, {CONFIDENCE:.0%} CI)",
            )
            written.append(figures / f"throughput_{device}.png")
            _save(fig, written[-1])
        fig = _bar_figure(
            device_rows,
            colors,
            value=lambda r: r.ttt.train_seconds,
            note=_ttt_note,
            ylabel="training seconds to target",
            title=f"Time to target test accuracy on {device} (median, {CONFIDENCE:.0%} CI)",
            with_target=True,
        )
        written.append(figures / f"time_to_target_{device}.png")
        _save(fig, written[-1])
    return written


# ----------------------------------------------------------------------------------------------
# the report


def _header(
    results_dirs: Sequence[Path],
    kept: list[dict[str, Any]],
    superseded: list[dict[str, Any]],
    unreadable: list[Unreadable],
    main_sha: str | None,
) -> list[str]:
    statuses = Counter(r["status"] for r in kept)
    counts = ", ".join(f"{statuses[s]} {s}" for s in ("ok", "skipped", "failed"))
    newest = max((str(r.get("finished_at")) for r in kept if r.get("finished_at")), default="unknown")
    lines = [
        f"Generated from {len(kept)} run records ({counts}) in {_code_list(results_dirs)}; "
        f"newest finished_at {newest}."
    ]
    if superseded:
        lines.append(
            f"{len(superseded)} older record(s) superseded by a newer run of the same configuration "
            "(the newest finished_at counts)."
        )
    if unreadable:
        lines.append(f"{len(unreadable)} file(s) could not be read (see *Unreadable record files*).")
    datasets = [r.get("data") or {} for r in kept if _sha(r) == main_sha and r["status"] == "ok"]
    if main_sha and datasets:
        data = datasets[0]
        sizes = (data.get("train_examples"), data.get("test_examples"))
        size_text = f" ({sizes[0]:,} training / {sizes[1]:,} test examples)" if all(sizes) else ""
        lines.append(f"Data: {data.get('name', '?')}, content sha256 {_short(main_sha)}{size_text}.")
    return ["# framebench report\n", " ".join(lines) + "\n"]


def _alerts(rows: list[Row], other_data: list[dict[str, Any]], main_sha: str | None) -> list[str]:
    alerts = [
        f"> **⚠ Accuracy gate:** {r.group.label} {r.group.model} on {r.group.device} ({r.group.setup_text}): "
        f"median final test accuracy {r.accuracy.median:.3f} is OUTSIDE the expected band "
        f"{r.gate.band[0]:.2f}–{r.gate.band[1]:.2f}; its speed does not count as a win."
        for r in rows
        if r.gate.flagged
    ]
    if other_data:
        shas = sorted({str(_sha(r)) for r in other_data})
        alerts.append(
            f"> **⚠ Different data:** {len(other_data)} ok record(s) used data with sha256 "
            f"{', '.join(_short(s) for s in shas)} instead of the majority's {_short(main_sha)}; they are "
            "reported apart in *Runs on different data*, not in the tables below."
        )
    return ["\n>\n".join(alerts) + "\n"] if alerts else []


def _other_data_section(other: list[dict[str, Any]]) -> list[str]:
    if not other:
        return []
    out = [
        "## ⚠ Runs on different data (not comparable with the tables above)\n",
        "These ok records were measured on a data set whose content hash differs from the majority's.\n",
    ]
    by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in other:
        by_sha[str(_sha(r))].append(r)
    for sha, records in sorted(by_sha.items()):
        out.append(f"### Data sha256 {_short(sha)}\n")
        out.extend(_summary_section(build_rows(group_records(records)), [], "####"))
    return out


def _empty_report(
    results_dirs: Sequence[Path], unreadable: list[Unreadable], microbench: list[dict[str, Any]]
) -> str:
    parts = [
        "# framebench report\n",
        f"No run records found in {_code_list(results_dirs)}; run `nox -s bench` "
        "(or `python -m bench run --framework NAME`) to produce some.\n",
    ]
    parts += _unreadable_section(unreadable) + _microbench_section(microbench) + _references_section()
    return "\n".join(parts)


def _well_formed(loaded: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
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


def build_report(results_dirs: Sequence[Path], out: Path, figures: Path, draw: bool = True) -> str:
    """Return the markdown of the report (drawing the figures unless ``draw`` is False)."""
    results_dirs = [Path(d) for d in results_dirs]
    loaded, unreadable = load_records(*results_dirs)
    loaded, malformed = _well_formed(loaded)
    microbench, bad_microbench = load_microbench(results_dirs)
    baselines, bad_baselines = load_baselines(results_dirs)
    unreadable = unreadable + malformed + bad_microbench + bad_baselines
    if not loaded:
        return _empty_report(results_dirs, unreadable, microbench)

    kept, superseded = dedupe(loaded)
    main_sha = majority_sha(kept)
    main = [r for r in kept if r["status"] != "ok" or _sha(r) == main_sha]
    other_data = [r for r in kept if r["status"] == "ok" and _sha(r) != main_sha]
    rows = build_rows(group_records(main))
    others = [r for r in main if r["status"] != "ok"]

    links = _figure_links(rows, out, figures)
    if draw and rows:
        draw_figures(rows, figures)

    parts = _header(results_dirs, kept, superseded, unreadable, main_sha)
    parts += _alerts(rows, other_data, main_sha)
    parts.append("## Summary\n")
    if rows:
        parts.append(SUMMARY_NOTES + "\n")
    else:
        parts.append("No successful runs: every record is skipped or failed (reasons below).\n")
    parts += _summary_section(rows, others, "###")
    parts += _other_data_section(other_data)
    if rows:
        parts += _accuracy_section(rows, links["accuracy"])
        parts += _throughput_section(rows, links["throughput"])
        parts += _ttt_section(rows, links["ttt"])
        parts += _peak_section(rows)
    parts += _microbench_section(microbench)
    parts += _baseline_section(baselines)
    parts += _environment_section(kept)
    parts += _not_ok_section(kept)
    parts += _unreadable_section(unreadable)
    parts += _reproduce_section(kept, results_dirs)
    parts += _references_section()
    return "\n".join(parts)


def render(results_dirs: list[Path], out: Path, figures: Path, draw: bool = True) -> Path:
    """Write the report (and its figures) from every record under ``results_dirs``; return its path."""
    out = Path(out)
    text = build_report([Path(d) for d in results_dirs], out, Path(figures), draw=draw)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out
