"""The verdict at the top of the report (and of the README): per machine-device and model, who wins.

For each machine-device and model it takes one setup (the one most frameworks were measured in),
ranks every framework by its best measured mode, and states the ratio to the fastest with the
Hodges–Lehmann/Moses interval of that ratio (``bench.stats.ratio_interval``), the exact two-sided
Mann–Whitney U verdict against the fastest, the accuracy parity computed seed by seed, and what each
framework's plain textbook loop gave on the same machine (``<results>/baseline/``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import records
from bench.report import cells
from bench.report.markdown import code_list, plain, table
from bench.report.numbers import Row, by_where
from bench.report.sections.context import paired_test_text
from bench.stats import ALPHA, RatioInterval, Test, mann_whitney, ratio_interval

README_START, README_END = records.README_GENERATED


@dataclass
class Entry:
    """One framework in a verdict: its best mode's row, ratio to the fastest and test against it."""

    row: Row
    modes: list[str]
    ratio: RatioInterval | None = None  # this / fastest; None for the fastest itself
    test: Test | None = None


def pick_setup(rows: list[Row]) -> tuple[tuple[str, Any], ...]:
    """The setup most frameworks were measured in (ties: at the spec's defaults, more runs, order)."""
    by_setup: dict[tuple[tuple[str, Any], ...], list[Row]] = defaultdict(list)
    for row in rows:
        by_setup[row.group.setup].append(row)

    def score(item: tuple[tuple[tuple[str, Any], ...], list[Row]]) -> tuple[Any, ...]:
        setup, peers = item
        return (
            -len({r.group.framework for r in peers}),
            -any(r.gate.band is not None for r in peers),
            -sum(len(r.group.runs) for r in peers),
            cells.setup_order(setup),
        )

    return min(by_setup.items(), key=score)[0]


def rank_frameworks(rows: list[Row]) -> list[Entry]:
    """Each framework's fastest mode (gate-failing cells only when it has no other), fastest first."""
    by_framework: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.throughput is not None:
            by_framework[row.group.framework].append(row)
    entries = []
    for peers in by_framework.values():
        candidates = [r for r in peers if not r.gate.flagged] or peers
        best = max(candidates, key=lambda r: (r.throughput.median, r.group.mode))  # type: ignore[union-attr]
        entries.append(Entry(best, sorted({r.group.mode for r in peers})))
    entries.sort(key=lambda e: (e.row.gate.flagged, -e.row.throughput.median, e.row.group.label))  # type: ignore[union-attr]
    if entries:
        fastest = entries[0].row.throughput
        assert fastest is not None
        for entry in entries[1:]:
            values = entry.row.throughput.values  # type: ignore[union-attr]
            entry.ratio = ratio_interval(fastest.values, values)
            entry.test = mann_whitney(values, fastest.values)
    return entries


def test_text(test: Test | None) -> str:
    """The Mann–Whitney verdict in words."""
    if test is None:
        return "fastest"
    if not test.testable:
        return f"too few runs to test ({test.n1} vs {test.n2})"
    if test.differs:
        return f"slower ({test.p_text()})"
    return f"≈ within noise ({test.p_text()})"


def _ratio_bounds(ratio: RatioInterval) -> str:
    return f"{ratio.low:.2f}–{ratio.high:.2f}"


def headline(entries: list[Entry]) -> str:
    """One sentence: who is fastest and by how much over the next, with the test's verdict."""
    first = entries[0].row
    if len(entries) == 1:
        return f"only **{first.group.label}** was measured here."
    second = entries[1]
    assert first.throughput is not None and second.row.throughput is not None
    margin = ratio_interval(second.row.throughput.values, first.throughput.values)
    assert second.test is not None
    ratio = first.throughput.median / second.row.throughput.median
    gap = f"{ratio:.2f}× [{_ratio_bounds(margin)}, {margin.label()}]"
    if not second.test.testable:
        return (
            f"**{first.group.label}** leads **{second.row.group.label}** by {gap}; "
            f"too few runs for the Mann–Whitney test to call it ({second.test.n1} vs {second.test.n2})."
        )
    if not second.test.differs:
        return (
            f"**{first.group.label}** and **{second.row.group.label}** are within noise of each other "
            f"(Mann–Whitney {second.test.p_text()}); nominal lead {gap}."
        )
    return (
        f"**{first.group.label}** is fastest, {gap} the next, **{second.row.group.label}** "
        f"(Mann–Whitney {second.test.p_text()})."
    )


def accuracy_line(rows: list[Row]) -> str:
    """Whether the final test accuracy agrees to 3 decimals across the cells at every seed, computed."""
    by_seed: dict[int, dict[str, float]] = defaultdict(dict)
    for row in rows:
        for record in row.group.full_runs:
            value = (record.get("metrics") or {}).get("final_test_accuracy")
            if isinstance(value, int | float):
                by_seed[int(record["config"].get("seed", -1))][row.group.label] = float(value)
    labels = sorted({label for values in by_seed.values() for label in values})
    if not by_seed:
        return "Accuracy: no full run here (throughput-only repeats)."
    if len(labels) == 1:
        finals = ", ".join(
            f"{v:.3f}" for _, v in sorted((s, next(iter(d.values()))) for s, d in by_seed.items())
        )
        return f"Accuracy: one cell with full runs ({labels[0]}: {finals}), nothing to compare."
    common = sorted(s for s, values in by_seed.items() if len(values) == len(labels))
    seeds_text = f"seed{'s' if len(common) != 1 else ''} {', '.join(str(s) for s in common)}"
    if not common:
        return "Accuracy: no seed was trained in full by every cell, so parity is not checked."
    gaps = []
    for seed in common:
        values = by_seed[seed]
        rounded = {label: round(v, 3) for label, v in values.items()}
        if len(set(rounded.values())) > 1:
            low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
            gaps.append((values[high] - values[low], seed, low, values[low], high, values[high]))
    partial = len(common) < len(by_seed)
    scope = f"{len(labels)} cells" + (
        f", at the {len(common)} seed(s) all of them trained" if partial else ""
    )
    if not gaps:
        finals = ", ".join(f"{round(next(iter(by_seed[s].values())), 3):.3f}" for s in common)
        return (
            f"Accuracy: identical to 3 decimals across frameworks at every seed ({scope}; "
            f"{seeds_text}: {finals})."
        )
    gap, seed, low, low_value, high, high_value = max(gaps)
    return (
        f"Accuracy differs at {len(gaps)} of {len(common)} seed(s) ({scope}): largest at seed {seed}, "
        f"{low} {low_value:.3f} vs {high} {high_value:.3f} (gap {gap:.3f})."
    )


def _baseline(baselines: list[dict[str, Any]], row: Row) -> dict[str, Any] | None:
    g = row.group
    found = [
        b
        for b in baselines
        if (b.get("framework"), b.get("model"), b.get("device"), b.get("machine"))
        == (g.framework, g.model, g.device, g.machine)
    ]
    same_mode = [b for b in found if b.get("mode") == g.mode]
    return (same_mode or found or [None])[0]


def _textbook_cell(base: dict[str, Any] | None, mode: str) -> str:
    if base is None:
        return "—"
    ours = plain(base.get("ratio"), ".2f")
    mode_note = "" if base.get("mode") == mode else f", {base.get('mode')} mode"
    test = paired_test_text(base)
    return f"{plain(base.get('plain_examples_per_sec'), ',.0f')} (ours {ours}×; Wilcoxon: {test}{mode_note})"


def textbook_line(entries: list[Entry], baselines: list[dict[str, Any]]) -> str | None:
    """How the plain textbook loops rank, and whether that order differs from ours."""
    found = [(e, _baseline(baselines, e.row)) for e in entries]
    found = [(e, b) for e, b in found if b and isinstance(b.get("plain_examples_per_sec"), int | float)]
    if len(found) < 2:
        return None
    plain_order = sorted(found, key=lambda item: -float(item[1]["plain_examples_per_sec"]))
    ours_order = [e.row.group.framework for e, _ in found]
    text = " > ".join(
        f"{b.get('framework')} ({b.get('mode')}) {float(b['plain_examples_per_sec']):,.0f}"
        for _, b in plain_order
    )
    same = [e.row.group.framework for e, _ in plain_order] == ours_order
    verdict = (
        "the same order as ours"
        if same
        else "**a different order**: a user's own plain loop would rank them so"
    )
    return f"Textbook loops (`nox -s baseline`, same machine, measured apart): {text} examples/s, {verdict}."


def skilled_line(entries: list[Entry], baselines: list[dict[str, Any]]) -> str | None:
    """Which ranked rows trail a skilled user's own loop of their mode (the ``nox -s baseline`` gate)."""
    from bench import baseline

    checked, trailing = [], []
    for entry in entries:
        base = _baseline(baselines, entry.row)
        if not base or base.get("mode") != entry.row.group.mode or not base.get("skilled_samples"):
            continue
        judged = baseline.row_judgements(base)["skilled"]
        checked.append(entry.row.group.label)
        if judged.trails:
            trailing.append(f"**{entry.row.group.label}** trails it, {judged.text()}")
    if not checked:
        return None
    rule = (
        f"`nox -s baseline`: slower by the exact paired Wilcoxon test at α = 0.05 and by more than "
        f"{baseline.MARGIN:.0%}, same machine, measured apart"
    )
    if not trailing:
        return (
            f"Skilled loops ({rule}): no ranked row trails its own "
            f"({len(checked)} of {len(entries)} checked)."
        )
    return f"Skilled loops ({rule}): " + "; ".join(trailing) + f" ({len(checked)} of {len(entries)} checked)."


def _ratio_cells(entries: list[Entry]) -> tuple[str, list[str]]:
    """The ratio column's header (coverage stated once when it is the same for every row) and cells."""
    labels = {e.ratio.label() for e in entries if e.ratio is not None}
    once = len(labels) == 1
    header = f"× fastest [{next(iter(labels))}]" if once else "× fastest [interval]"
    out = []
    for entry in entries:
        if entry.ratio is None:
            out.append("1.00")
            continue
        bounds = f"[{_ratio_bounds(entry.ratio)}]"
        ratio = entry.row.throughput.median / entries[0].row.throughput.median  # type: ignore[union-attr]
        out.append(f"{ratio:.2f} {bounds}" + ("" if once else f" {entry.ratio.label()}"))
    return header, out


def model_block(rows: list[Row], baselines: list[dict[str, Any]]) -> list[str]:
    """Headline, ranking table and accuracy line for one model on one machine-device."""
    setup = pick_setup(rows)
    peers = [r for r in rows if r.group.setup == setup]
    entries = rank_frameworks(peers)
    model = rows[0].group.model
    if not entries:
        return [f"**{model}** ({cells.setup_text(setup)}): no throughput measured.\n"]
    header, ratios = _ratio_cells(entries)
    lines = []
    for i, (entry, ratio) in enumerate(zip(entries, ratios, strict=True), start=1):
        row = entry.row
        assert row.throughput is not None
        lines.append(
            {
                "#": str(i),
                "framework (best mode)": row.group.label
                + (" ⚠ fails accuracy gate" if row.gate.flagged else ""),
                "examples/s": f"{row.throughput.median:,.0f}",
                header: ratio,
                "Mann–Whitney vs fastest": test_text(entry.test),
                "runs": str(row.throughput.n),
                "modes measured": ", ".join(entry.modes),
                "textbook loop examples/s": _textbook_cell(_baseline(baselines, row), row.group.mode),
            }
        )
    if all(line["textbook loop examples/s"] == "—" for line in lines):
        for line in lines:
            del line["textbook loop examples/s"]
    out = [
        f"**{model}** ({cells.setup_text(setup)}): {headline(entries)}\n",
        table(lines, list(lines[0])) + "\n",
    ]
    out.append(accuracy_line(peers) + "\n")
    textbook = textbook_line(entries, baselines)
    if textbook:
        out.append(textbook + "\n")
    skilled = skilled_line(entries, baselines)
    if skilled:
        out.append(skilled + "\n")
    return out


def build_text(rows: list[Row]) -> str:
    """Commit(s), framework versions and Python of the records behind a machine-device's rows."""
    runs = [r for row in rows for r in row.group.runs]
    commits = sorted(
        {
            cells.short_commit(r) + ("+dirty" if (r.get("environment") or {}).get("framebench_dirty") else "")
            for r in runs
        }
    )
    versions: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        name = cells.framework(r)
        found = ((r.get("framework") or {}).get("versions") or {}).get(name)
        versions[name].add(str(found) if found else "?")
    built = ", ".join(f"{name} {'/'.join(sorted(v))}" for name, v in sorted(versions.items()))
    return f"commit{'s' if len(commits) > 1 else ''} {', '.join(commits)} · {built}"


def commits_of(rows: list[Row]) -> set[str]:
    """The harness commits of the records behind some rows."""
    return {cells.short_commit(r) for row in rows for r in row.group.runs}


def sittings_line(rows: list[Row]) -> str | None:
    """When a machine-device's rows come from records of several harness commits (e.g. one framework
    measured again after a change), say which frameworks were measured when: the runs are
    interleaved across frameworks within a sitting only, and a machine's speed drifts between them."""
    sittings: dict[str, dict[str, Any]] = {}
    for row in rows:
        for r in row.group.runs:
            commit = cells.short_commit(r)
            sitting = sittings.setdefault(commit, {"frameworks": set(), "times": []})
            sitting["frameworks"].add(cells.framework(r))
            sitting["times"] += [t for t in (r.get("started_at"), r.get("finished_at")) if t]
    if len(sittings) < 2:
        return None
    parts = []
    for commit, sitting in sorted(sittings.items(), key=lambda item: min(item[1]["times"] or [""])):
        times = sorted(sitting["times"])
        span = f"{times[0]} – {times[-1]}" if times else "time not recorded"
        parts.append(f"{', '.join(sorted(sitting['frameworks']))} at {commit} ({span})")
    return (
        f"⚠ Measured in {len(sittings)} sittings: {'; '.join(parts)}. Runs are interleaved across "
        "frameworks within a sitting only, and this machine's speed drifts between sittings, so a gap "
        "between frameworks of different sittings is less certain than its test says.\n"
    )


def verdict_section(
    rows: list[Row],
    baselines: list[dict[str, Any]],
    heading: str = "##",
    summary_input: str | None = "device",
) -> list[str]:
    """The verdict: one block per machine-device (commit and versions in its heading), one per model."""
    if summary_input is not None:
        rows = [r for r in rows if cells.setup_value(r.group.setup, "input") == summary_input]
    if not rows:
        return []
    out = [f"{heading} Verdict\n"]
    blocks = by_where(rows)
    commits = {where: commits_of(device_rows) for where, device_rows in blocks}
    if len({frozenset(c) for c in commits.values()}) > 1:
        per = "; ".join(f"{w[1]}: {', '.join(sorted(c))}" for w, c in commits.items())
        out.append(
            f"⚠ These machine-devices were measured at different harness commits ({per}): each block is its "
            "own result set, never one ranking; compare machines with `python -m bench compare`.\n"
        )
    for (device, machine), device_rows in blocks:
        out.append(f"{heading}# {device} · {machine} — {build_text(device_rows)}\n")
        sittings = sittings_line(device_rows)
        if sittings:
            out.append(sittings)
        by_model: dict[str, list[Row]] = defaultdict(list)
        for row in device_rows:
            by_model[row.group.model].append(row)
        for model in sorted(by_model):
            out += model_block(by_model[model], baselines)
    out.append(
        "Each framework's fastest measured mode, ranked by median steady-state training examples/s. "
        "*× fastest* is the ratio of medians; its interval is the Hodges–Lehmann/Moses distribution-free "
        "interval of the ratio (order statistics of all pairwise ratios), coverage in the heading; with too "
        "few runs it is the range of the pairwise ratios, not an interval. The test is the exact two-sided "
        f"Mann–Whitney U at α = {ALPHA:g}; *textbook loop* is `nox -s baseline` (paired, exact Wilcoxon "
        "signed-rank). Every measured mode is in the report's *Summary*.\n"
    )
    return out


def readme_block(verdict: Sequence[str], results: Sequence[Any]) -> str:
    """The verdict as it goes into README.md between the markers."""
    body = "\n".join(part for part in verdict if not part.startswith("## Verdict")).strip()
    return (
        f"{README_START}\n"
        f"_Regenerated by `python -m bench report` from {code_list(results)} (see "
        "[results/REPORT.md](results/REPORT.md)); edits between these markers are overwritten._\n\n"
        f"{body}\n{README_END}"
    )


def write_readme(readme: Any, block: str) -> bool:
    """Replace the text between the verdict markers of ``readme``; False when it has no markers."""
    from pathlib import Path

    path = Path(readme)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    updated = text[:start] + block + text[end + len(README_END) :]
    if updated != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(updated, encoding="utf-8")
        tmp.replace(path)
    return True
