"""The verdict at the top of the report (and of the README): per machine-device, sitting and model, who wins.

A **sitting** is one stretch of interleaved measurement (``record["schedule"]["sitting"]``; an older
record without one belongs to a legacy sitting per framebench commit and machine). A machine's speed
drifts between sittings by more than the gaps being called, so nothing here pairs rows of two
sittings: each (machine-device, sitting) gets its own block, the newest sitting first, headed by the
sitting's id, its time span and its machine-speed probe (``metrics.device_peak_gflops`` of its runs).

Within a block, for each model, one setup is taken (the one most frameworks were measured in), every
framework's best measured mode is ranked, and each is judged against the leader by the one judge
(``bench.judge``): paired by round over the rounds both cells share (at least
``bench.planner.paired_minimum``, else as independent samples), at the α the sitting's race used when it
recorded one (else ``bench.judge.ALPHA``). The accuracy parity is checked seed by seed at the epochs
each seed has. ``forest_data`` gives the same numbers to the figures and the HTML page, and
``verdict_markdown`` the block's text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import records, stats
from bench.judge import Judgement, rule_text
from bench.report import cells
from bench.report.markdown import code_list
from bench.report.markdown import table as md_table
from bench.report.numbers import Row, judge_cells, sitting_alpha, sitting_tie_margin
from bench.text import md

README_START, README_END = records.README_GENERATED
ACCURACY_TOLERANCE = 0.001  # final test accuracies within this (absolute) agree


@dataclass
class Entry:
    """One framework in a verdict: its best mode's row and its judgement against the leader."""

    row: Row
    modes: list[str]
    judged: Judgement | None = None  # this ÷ leader; None for the leader itself


@dataclass
class Sitting:
    """The rows of one machine-device measured in one sitting, with what the block says about it."""

    device: str
    machine: str
    id: str
    rows: list[Row]

    @property
    def records(self) -> list[dict[str, Any]]:
        """The ok runs of this sitting behind the rows."""
        return [r for row in self.rows for r in row.group.runs if cells.sitting_id(r) == self.id]

    @property
    def newest(self) -> str:
        """When the sitting's newest run finished (ISO text sorts in time)."""
        return max((str(r.get("finished_at") or r.get("started_at") or "") for r in self.records), default="")

    def span_text(self) -> str:
        """``2026-12-02T22:57:00Z – 2026-12-03T00:27:10Z`` from the records' own times."""
        times = sorted(str(t) for r in self.records for t in (r.get("started_at"), r.get("finished_at")) if t)
        return f"{md(times[0])} – {md(times[-1])}" if times else "time not recorded"

    def probe_text(self) -> str:
        """The machine-speed probe of the sitting: median and range of its runs' peak GFLOP/s."""
        values = [
            float(v)
            for r in self.records
            if isinstance(v := (r.get("metrics") or {}).get("device_peak_gflops"), int | float)
            and not isinstance(v, bool)
            and v > 0
        ]
        if not values:
            return "machine-speed probe: not recorded"
        return (
            f"machine-speed probe (matmul peak, `device_peak_gflops`): median {stats.median(values):,.1f} "
            f"GFLOP/s, range {min(values):,.1f}–{max(values):,.1f} over {len(values)} runs"
        )


def sittings(rows: list[Row]) -> list[Sitting]:
    """Rows split by (machine-device, sitting); machine-devices with the newest sitting first (a
    user's own fresh measurement before a committed reference), and within one the newest first."""
    found: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        g = row.group
        found[(g.device, g.machine, g.sitting)].append(row)
    blocks = [Sitting(d, m, s, r) for (d, m, s), r in found.items()]
    newest_of_where: dict[tuple[str, str], str] = defaultdict(str)
    for b in blocks:
        newest_of_where[(b.device, b.machine)] = max(newest_of_where[(b.device, b.machine)], b.newest)

    def key(b: Sitting) -> tuple[Any, ...]:
        where_newest = newest_of_where[(b.device, b.machine)]
        return (_desc(where_newest), cells.where_rank((b.device, b.machine)), _desc(b.newest), b.id)

    return sorted(blocks, key=key)


def _desc(text: str) -> tuple[int, ...]:
    return (*(-ord(ch) for ch in text), 1)


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


def rank_frameworks(rows: list[Row], alpha: float | None = None) -> list[Entry]:
    """Each framework's fastest mode (gate-failing cells only when it has no other), fastest first,
    each judged against the leader (rows of one sitting only)."""
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
        groups = [e.row.group for e in entries]
        tie = sitting_tie_margin(groups)
        if alpha is None:
            alpha, _ = sitting_alpha(groups)
        for entry in entries[1:]:
            entry.judged = judge_cells(entry.row.group, entries[0].row.group, alpha, tie)
    return entries


def label_text(judged: Judgement | None) -> str:
    """The verdict row's word against the leader: leader, settled slower/faster, tie within ±P, open."""
    if judged is None:
        return "leader"
    if judged.label in ("faster", "slower"):
        return f"settled {judged.label}"
    return judged.word()


def headline(entries: list[Entry]) -> str:
    """One sentence: who leads, by how much over the next, and whether that is settled."""
    first = entries[0].row
    if len(entries) == 1:
        return f"only **{md(first.group.label)}** was measured here."
    second = entries[1]
    judged = second.judged
    assert judged is not None and judged.ratio is not None
    lead = 1 / judged.ratio
    bounds = ""
    if judged.low and judged.high:
        kind = "range" if judged.coverage is None else f"{100 * judged.coverage:.1f}% CI"
        bounds = f" [{1 / judged.high:.2f}–{1 / judged.low:.2f}, {kind}]"
    who = f"**{md(first.group.label)}** leads **{md(second.row.group.label)}** by {lead:.2f}×{bounds}"
    if judged.label == "slower":
        return f"{who}: settled, {md(first.group.label)} is faster ({judged.test}, {judged.p_text()})."
    if judged.label == "tie":
        return f"{who}: a {judged.word()}, so neither is faster."
    if judged.label == "faster":  # a gate-failing leader only
        return f"{who} nominally, but {md(second.row.group.label)} is faster by the test."
    return f"{who}: **open**, not settled by these runs ({judged.n_a} vs {judged.n_b} processes)."


def _ratio_cell(judged: Judgement | None) -> str:
    if judged is None:
        return "1.00"
    if judged.ratio is None:
        return "—"
    return f"{judged.ratio:.2f} {judged.interval_text()}".rstrip()


def accuracy_line(rows: list[Row]) -> str:
    """Whether the final test accuracies agree within ``ACCURACY_TOLERANCE`` across the cells, checked at
    every seed at the epochs that seed was trained for, with the seeds and epochs covered."""
    by_seed: dict[tuple[int, Any], dict[str, float]] = defaultdict(dict)
    for row in rows:
        for record in row.group.full_runs:
            value = (record.get("metrics") or {}).get("final_test_accuracy")
            seed = record["config"].get("seed")
            if isinstance(value, int | float) and isinstance(seed, int) and not isinstance(seed, bool):
                by_seed[(seed, record["config"].get("epochs"))][row.group.label] = float(value)
    tolerance = f"tolerance ±{ACCURACY_TOLERANCE:g} absolute"
    if not by_seed:
        return "Accuracy: no full run here (throughput-only repeats)."
    compared = {k: v for k, v in by_seed.items() if len(v) >= 2}
    single = sorted(k for k in by_seed if k not in compared)
    covered = ", ".join(f"seed {s} at {e} epochs ({len(by_seed[(s, e)])} cells)" for s, e in sorted(compared))
    alone = (
        f" Not compared (one cell only): {', '.join(f'seed {s} at {e} epochs' for s, e in single)}."
        if single
        else ""
    )
    if not compared:
        return f"Accuracy: no seed was trained in full by two cells, so parity is not checked.{alone}"
    gaps = []
    for (seed, epochs), values in sorted(compared.items()):
        low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
        spread = values[high] - values[low]
        if spread > ACCURACY_TOLERANCE:
            gaps.append((spread, seed, epochs, low, values[low], high, values[high]))
    if not gaps:
        return f"Accuracy parity ({tolerance}): every cell agrees at {covered}.{alone}"
    spread, seed, epochs, low, low_value, high, high_value = max(gaps)
    return (
        f"Accuracy parity ({tolerance}): differs at {len(gaps)} of {len(compared)} seed/epoch pairs "
        f"(checked: {covered}); largest at seed {seed}, {epochs} epochs: {md(low)} {low_value:.4f} vs "
        f"{md(high)} {high_value:.4f} (gap {spread:.4f}).{alone}"
    )


def skilled_line(entries: list[Entry], baselines: list[dict[str, Any]]) -> str | None:
    """Which ranked rows trail a skilled user's own loop of their mode: the ``nox -s baseline`` gate,
    which compares loops inside its own process (its own sitting), never against these runs."""
    from bench import baseline

    checked, trailing = [], []
    for entry in entries:
        g = entry.row.group
        base = next(
            (
                b
                for b in baselines
                if (b.get("framework"), b.get("model"), b.get("device"), b.get("machine"), b.get("mode"))
                == (g.framework, g.model, g.device, g.machine, g.mode)
            ),
            None,
        )
        if not base or not base.get("skilled_samples"):
            continue
        judged = baseline.row_judgements(base)["skilled"]
        checked.append(g.label)
        if judged.trails:
            trailing.append(f"**{md(g.label)}** trails it, {judged.text()}")
    if not checked:
        return None
    rule = f"`nox -s baseline`, measured apart in its own process: {baseline.GATE_RULE}"
    found = "; ".join(trailing) if trailing else "no ranked row trails its own"
    return f"Skilled loops ({rule}): {found} ({len(checked)} of {len(entries)} checked)."


def model_rows(
    rows: list[Row], alpha: float | None = None
) -> tuple[tuple[tuple[str, Any], ...], list[Entry]]:
    """The setup picked for one model of one sitting, and its ranked entries."""
    setup = pick_setup(rows)
    return setup, rank_frameworks([r for r in rows if r.group.setup == setup], alpha)


def model_block(rows: list[Row], baselines: list[dict[str, Any]]) -> list[str]:
    """Headline, ranking table and accuracy line for one model of one sitting on one machine-device."""
    setup, entries = model_rows(rows)
    model = md(rows[0].group.model)
    if not entries:
        return [f"**{model}** ({md(cells.setup_text(setup))}): no throughput measured.\n"]
    lines = []
    for i, entry in enumerate(entries, start=1):
        row = entry.row
        assert row.throughput is not None
        judged = entry.judged
        lines.append(
            {
                "#": str(i),
                "framework (best mode)": md(row.group.label)
                + (" ⚠ fails accuracy gate" if row.gate.flagged else ""),
                "examples/s": f"{row.throughput.median:,.0f}",
                "speed ÷ leader [interval]": _ratio_cell(judged),
                "verdict vs leader": label_text(judged),
                "test": "—" if judged is None else f"{judged.test}, {judged.p_text() or 'too few to test'}",
                "processes": str(row.throughput.n),
                "modes measured": md(", ".join(entry.modes)),
            }
        )
    peers = [r for r in rows if r.group.setup == setup]
    out = [
        f"**{model}** ({md(cells.setup_text(setup))}): {headline(entries)}\n",
        md_table(lines, list(lines[0])) + "\n",
        accuracy_line(peers) + "\n",
    ]
    skilled = skilled_line(entries, baselines)
    if skilled:
        out.append(skilled + "\n")
    return out


def build_text(rows: list[Row]) -> str:
    """Commit(s), framework versions of the records behind a sitting's rows (record text made safe)."""
    runs = [r for row in rows for r in row.group.runs]
    commits = sorted(
        {
            cells.short_commit(r) + ("+dirty" if (r.get("environment") or {}).get("framebench_dirty") else "")
            for r in runs
        }
    )
    versions: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        name = cells.framework(r)  # a version entry (torch@2.13.0) is a row of its own
        found = ((r.get("framework") or {}).get("versions") or {}).get(cells.framework_name(r))
        versions[name].add(str(found) if found else "?")
    built = ", ".join(f"{name} {'/'.join(sorted(v))}" for name, v in sorted(versions.items()))
    return md(f"commit{'s' if len(commits) > 1 else ''} {', '.join(commits)} · {built}", limit=2000)


def sitting_block(sitting: Sitting, baselines: list[dict[str, Any]], heading: str = "###") -> list[str]:
    """One (machine-device, sitting) block: heading with the sitting, its span, probe, α, then models."""
    alpha, source = sitting_alpha([r.group for r in sitting.rows])
    out = [
        f"{heading} {md(sitting.device)} · {md(sitting.machine)} — sitting {md(sitting.id)}\n",
        f"Sitting {md(sitting.id)}: {sitting.span_text()}; {sitting.probe_text()}. Judged at α = {alpha:.3g} "
        f"({source}). Build: {build_text(sitting.rows)}.\n",
    ]
    by_model: dict[str, list[Row]] = defaultdict(list)
    for row in sitting.rows:
        by_model[row.group.model].append(row)
    for model in sorted(by_model):
        out += model_block(by_model[model], baselines)
    return out


def verdict_section(
    rows: list[Row],
    baselines: list[dict[str, Any]],
    heading: str = "##",
    summary_input: str | None = "device",
) -> list[str]:
    """The verdict: one block per (machine-device, sitting), newest first, one part per model."""
    if summary_input is not None:
        rows = [r for r in rows if cells.setup_value(r.group.setup, "input") == summary_input]
    if not rows:
        return []
    out = [f"{heading} Verdict\n"]
    blocks = sittings(rows)
    if len(blocks) > 1:
        out.append(
            f"Measured in {len(blocks)} (machine-device, sitting) blocks. A machine's speed drifts between "
            "sittings, so each block is its own ranking: nothing of one sitting is compared with another's "
            "(compare builds or machines with `python -m bench compare`).\n"
        )
    for block in blocks:
        out += sitting_block(block, baselines, heading + "#")
    out.append(
        "Each framework's fastest measured mode, ranked by median steady-state training examples/s within "
        "its sitting. *speed ÷ leader* is the judge's Hodges–Lehmann ratio (> 1 = faster) with its interval "
        "and exact coverage (a *range* when too few processes allow one); rows are paired by round when "
        f"both cells have rounds in common. Rule (`bench.judge`): {rule_text()}; a sitting whose race "
        "recorded an α per look is judged at that α. *processes* counts the runs (one process each). "
        "Every measured mode is in the report's *Summary*.\n"
    )
    return out


def verdict_markdown(
    rows: list[Row], baselines: Sequence[dict[str, Any]] = (), summary_input: str | None = "device"
) -> str:
    """The verdict block as one markdown string (for the HTML page: the same words as REPORT.md)."""
    return "\n".join(verdict_section(rows, list(baselines), "##", summary_input))


def forest_data(rows: list[Row], summary_input: str | None = "device") -> list[dict[str, Any]]:
    """Per (machine-device, sitting, model): ``{"title", "device", "machine", "sitting", "model", "rows"}``,
    rows ``{"framework", "mode", "ratio", "low", "high", "label", "n"}`` sorted fastest first (speed
    ratio to the leader; the leader 1.0 with no interval), the same numbers as the verdict block."""
    if summary_input is not None:
        rows = [r for r in rows if cells.setup_value(r.group.setup, "input") == summary_input]
    out = []
    for block in sittings(rows):
        by_model: dict[str, list[Row]] = defaultdict(list)
        for row in block.rows:
            by_model[row.group.model].append(row)
        for model in sorted(by_model):
            setup, entries = model_rows(by_model[model])
            if not entries:
                continue
            lines = []
            for entry in entries:
                judged, g = entry.judged, entry.row.group
                lines.append(
                    {
                        "framework": g.framework,
                        "mode": g.mode,
                        "ratio": 1.0 if judged is None else judged.ratio,
                        "low": None if judged is None else judged.low,
                        "high": None if judged is None else judged.high,
                        "label": label_text(judged),
                        "n": entry.row.throughput.n if entry.row.throughput else 0,
                    }
                )
            lines.sort(key=lambda line: -(line["ratio"] or 0.0))
            title = (
                f"{model} · {block.device} · {block.machine} · sitting {block.id} ({cells.setup_text(setup)})"
            )
            out.append({"title": title, "device": block.device, "machine": block.machine,
                        "sitting": block.id, "model": model, "rows": lines})  # fmt: skip
    return out


def readme_block(verdict: Sequence[str], results: Sequence[Any]) -> str:
    """The verdict as it goes into README.md between the markers."""
    body = "\n".join(part for part in verdict if not part.startswith("## Verdict")).strip()
    return (
        f"{README_START}\n"
        f"_Regenerated by `python -m bench report --readme` from {code_list(results)} (see "
        "[results/REPORT.md](results/REPORT.md)); edits between these markers are overwritten._\n\n"
        f"{body}\n{README_END}"
    )


def write_readme(readme: Any, block: str) -> bool:
    """Replace everything from the first verdict start marker to the last end marker of ``readme`` with
    ``block`` (a corrupted block, with duplicated markers or an end marker inside, is repaired whole);
    False when it has no markers."""
    from pathlib import Path

    path = Path(readme)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.rfind(README_END)
    if start < 0 or end < start:
        return False
    updated = text[:start] + block + text[end + len(README_END) :]
    if updated != text:
        records.write_text_atomic(path, updated)
    return True
