"""Input pipeline, scaling and run-order sections (each only when there are records for it)."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.judge import rule_text
from bench.report import cells
from bench.report.markdown import ci, table
from bench.report.numbers import Row, judge_cells
from bench.text import md

# A doubling of the batch that gains less than this factor in examples/sec is no longer overhead-bound.
OVERHEAD_GAIN = 1.5


@dataclass
class Pair:
    """Device-input and native-input cells of one framework, model, machine-device and setup."""

    key: tuple[Any, ...]
    device: Row | None = None
    native: Row | None = None


def input_pairs(rows: Iterable[Row]) -> list[Pair]:
    """Cells that have a native-input run, each lined up with its device-input twin (the same setup
    but for the input and the loader's workers, which the device path does not have)."""
    devices: dict[tuple[Any, ...], Row] = {}
    natives: list[tuple[tuple[Any, ...], Row]] = []
    for row in rows:
        g = row.group
        base = (g.device, g.machine, g.model, g.framework, g.mode,
                cells.setup_without(g.setup, "input", "loader_workers"), g.sitting)  # fmt: skip
        if cells.setup_value(g.setup, "input") == "native":
            natives.append((base, row))
        else:
            devices.setdefault(base, row)
    found = [
        Pair((*base[:5], cells.setup_without(row.group.setup, "input")), devices.get(base), row)
        for base, row in natives
        if row.throughput is not None
    ]
    return sorted(
        found, key=lambda p: (cells.where_rank(p.key[:2]), *p.key[2:5], cells.setup_order(p.key[5]))
    )


def ratio_text(base: Row | None, new: Row | None) -> tuple[str, str]:
    """(new ÷ base speed with its interval, the judge's word) of two cells of one sitting."""
    if base is None or new is None or base.throughput is None or new.throughput is None:
        return "—", "—"
    judged = judge_cells(new.group, base.group)
    if judged.ratio is None:
        return "—", "—"
    return f"{judged.ratio:.2f}× {judged.interval_text()}".rstrip(), (
        f"{judged.word()} ({judged.p_text()})" if judged.p_text() else judged.word()
    )


def input_section(rows: list[Row], link: str | None) -> list[str]:
    """Steady examples/sec with data resident on the device vs the framework's own loader."""
    pairs = input_pairs(rows)
    if not pairs:
        return []
    out = [
        "## Input pipeline\n",
        "Steady training examples/sec with the data already on the device (*device*, the main tables) "
        "and fed by the framework's own input pipeline from host memory (*native*: DataLoader, tf.data, "
        "Gluon DataLoader) in the harness's order, both cells of one sitting. *native ÷ device* is the "
        "speed ratio (> 1 = native faster), the judge's Hodges–Lehmann estimate with its interval and "
        f"coverage; *test* is the judge's word (`bench.judge`): {rule_text()}.\n",
    ]
    if link:
        out.append(f"![device vs native input]({link})\n")
    lines = []
    for pair in pairs:
        assert pair.native is not None
        g = pair.native.group
        device_tp = pair.device.throughput if pair.device else None
        ratio, verdict = ratio_text(pair.device, pair.native)
        lines.append(
            {
                "machine-device": md(g.where),
                "framework (mode)": md(g.label),
                "model": md(g.model),
                "sitting": md(g.sitting),
                "setup": md(cells.setup_text(pair.key[5])),
                "device input examples/s [interval]": ci(device_tp, "not measured"),
                "native input examples/s [interval]": ci(pair.native.throughput),
                "native ÷ device": ratio,
                "test": verdict,
            }
        )
    out.append(table(lines, list(lines[0])) + "\n")
    return out


def _series(rows: Iterable[Row], axis: str) -> dict[tuple[Any, ...], list[Row]]:
    """Cells that differ only in ``axis`` (batch_size or threads), with >= 2 values of it."""
    series: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        g = row.group
        if row.throughput is None:
            continue
        rest = cells.setup_without(g.setup, axis, "lr") if axis == "batch_size" else None
        rest = rest if rest is not None else cells.setup_without(g.setup, axis)
        series[(g.device, g.machine, g.model, g.framework, g.mode, rest)].append(row)
    return {
        k: sorted(v, key=lambda r: float(cells.setup_value(r.group.setup, axis) or 0))
        for k, v in sorted(
            series.items(),
            key=lambda item: (cells.where_rank(item[0][:2]), *item[0][2:5], cells.setup_order(item[0][5])),
        )
        if len({cells.setup_value(r.group.setup, axis) for r in v}) >= 2
    }


def batch_series(rows: Iterable[Row]) -> dict[tuple[Any, ...], list[Row]]:
    """Throughput against batch size (the learning rate may vary with it)."""
    return _series(rows, "batch_size")


def thread_series(rows: Iterable[Row]) -> dict[tuple[Any, ...], list[Row]]:
    """Throughput against CPU threads."""
    return _series(rows, "threads")


def overhead_bound_until(series: list[Row]) -> tuple[int | None, list[float | None]]:
    """Gain per doubling between consecutive batch sizes, and the first batch size past which a doubling
    gains less than OVERHEAD_GAIN (None: every measured doubling still gains that much)."""
    gains: list[float | None] = [None]
    stop = None
    for before, after in itertools.pairwise(series):
        b0 = float(cells.setup_value(before.group.setup, "batch_size"))
        b1 = float(cells.setup_value(after.group.setup, "batch_size"))
        assert before.throughput is not None and after.throughput is not None
        doublings = math.log2(b1 / b0)
        gain = (
            (after.throughput.median / before.throughput.median) ** (1.0 / doublings) if doublings else None
        )
        gains.append(gain)
        if stop is None and gain is not None and gain < OVERHEAD_GAIN:
            stop = int(b0)
    return stop, gains


def scaling_section(rows: list[Row], links: dict[Any, str]) -> list[str]:
    """Throughput vs batch size and vs threads, with where each framework stops being overhead-bound."""
    batches, threads = batch_series(rows), thread_series(rows)
    if not batches and not threads:
        return []
    out = [
        "## Scaling\n",
        "Steady training examples/sec of cells that differ only in batch size (and its learning rate) "
        "or only in CPU threads. *gain per doubling* is (examples/s ratio)^(1/log2(batch ratio)) "
        "between consecutive batch sizes. A framework is *overhead-bound* while doubling the batch "
        f"~doubles examples/sec; it stops at the first batch size whose doubling gains less than "
        f"{OVERHEAD_GAIN:g}× (the threshold used here).\n",
    ]
    for key, series in batches.items():
        where, model, label = f"{key[0]} · {key[1]}", key[2], f"{key[3]} ({key[4]})"
        stop, gains = overhead_bound_until(series)
        out.append(f"### Batch size: {md(label)} {md(model)} on {md(where)}\n")
        if key in links:
            out.append(f"![throughput vs batch size]({links[key]})\n")
        verdict = (
            f"stops being overhead-bound at batch {stop} (doubling it gains < {OVERHEAD_GAIN:g}×)"
            if stop is not None
            else "still overhead-bound at the largest batch measured "
            f"(every doubling gains ≥ {OVERHEAD_GAIN:g}×)"
        )
        out.append(f"{label}: {verdict}; setup {cells.setup_text(key[5])}.\n")
        lines = [
            {
                "batch size": str(cells.setup_value(r.group.setup, "batch_size")),
                "lr": f"{cells.setup_value(r.group.setup, 'lr'):g}",
                "n runs": str(len(r.group.runs)),
                "examples/s [interval]": ci(r.throughput),
                "gain per doubling": "—" if gain is None else f"{gain:.2f}×",
            }
            for r, gain in zip(series, gains, strict=True)
        ]
        out.append(table(lines, list(lines[0])) + "\n")
    for key, series in threads.items():
        where, model, label = f"{key[0]} · {key[1]}", key[2], f"{key[3]} ({key[4]})"
        out.append(f"### Threads: {md(label)} {md(model)} on {md(where)}\n")
        if ("threads", *key) in links:
            out.append(f"![throughput vs threads]({links[('threads', *key)]})\n")
        first = series[0].throughput
        assert first is not None
        lines = [
            {
                "threads": str(cells.setup_value(r.group.setup, "threads")),
                "n runs": str(len(r.group.runs)),
                "examples/s [interval]": ci(r.throughput),
                "speed-up vs fewest threads": f"{r.throughput.median / first.median:.2f}×"
                if r.throughput
                else "—",
            }
            for r in series
        ]
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def abbreviations(names: Iterable[str]) -> dict[str, str]:
    """A short, unique abbreviation per name: ``jax`` → ``ja``, ``keras-jax`` → ``kj``, ``keras-torch``
    → ``kt``; lengthened until no two names share one."""

    def abbreviate(name: str, k: int) -> str:
        parts = [p for p in name.replace("_", "-").split("-") if p] or [name]
        if len(parts) == 1:
            return name[:k]
        return parts[0][:1] + "".join(p[: k - 1] for p in parts[1:])

    names = sorted(set(names))
    length = dict.fromkeys(names, 2)
    for _ in range(64):
        found = {name: abbreviate(name, length[name]) for name in names}
        clashes = Counter(found.values())
        if all(clashes[v] == 1 for v in found.values()):
            return found
        for name in names:
            if clashes[found[name]] > 1:
                length[name] += 1
    return {name: name for name in names}


def run_order_section(records: list[dict[str, Any]]) -> list[str]:
    """How the runs were ordered across frameworks, from the records' ``schedule``."""
    scheduled = [
        r for r in records if isinstance(r.get("schedule"), dict) and r["schedule"].get("index") is not None
    ]
    if not scheduled:
        return []
    ordered = sorted(scheduled, key=lambda r: (str(r.get("started_at") or ""), int(r["schedule"]["index"])))
    orders = Counter(str(r["schedule"].get("order") or "?") for r in scheduled)
    sequence = [cells.framework(r) for r in ordered]
    switches = sum(1 for a, b in itertools.pairwise(sequence) if a != b)
    longest, current = 1, 1
    for a, b in itertools.pairwise(sequence):
        current = current + 1 if a == b else 1
        longest = max(longest, current)
    frameworks = sorted(set(sequence))
    initials = abbreviations(frameworks)
    shown = " ".join(initials[name] for name in sequence[:60]) + (" …" if len(sequence) > 60 else "")
    order_text = ", ".join(f"{name} ({n} runs)" for name, n in sorted(orders.items()))
    return [
        "## Run order\n",
        f"{len(scheduled)} of {len(records)} records carry their place in the run schedule; order: "
        f"{order_text}. In a *rotating* order each framework's runs are interleaved with the others', so "
        "slow drifts of the machine (heat, other load) spread over all frameworks instead of landing on "
        f"one. In start order the framework changed {switches} times between {len(sequence) - 1} "
        f"consecutive pairs of runs; the longest stretch of one framework was {longest} run(s).\n",
        f"Sequence ({md(', '.join(f'{v} = {k}' for k, v in initials.items()), limit=2000)}): "
        f"{md(shown, limit=4000)}\n",
    ]
