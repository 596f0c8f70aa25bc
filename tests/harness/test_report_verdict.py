"""The verdict at the top of REPORT.md (and in README.md): hand-made records in, its lines out."""

from __future__ import annotations

import re

from test_report import CPU, fixed_environment, make_record, parse_table, render, section, six_runs, write

from bench import records, report
from bench.report.sections.verdict import README_END, README_START

__all__ = ["fixed_environment"]  # autouse: every record gets the same fixed machine

SLOW = (12.0, 12.2, 11.8, 12.1, 11.9, 12.4)  # every run slower than six_runs' default ~6 s
FAST = (3.0, 3.05, 2.95, 3.02, 2.98, 3.1)


def verdict(text: str) -> str:
    return section(text, "## Verdict")


def ranking(text: str, model: str = "lenet") -> list[dict[str, str]]:
    block = section(verdict(text), heading_line(text))
    start = block.index(f"**{model}**")
    return parse_table(block[start:])


def heading_line(text: str) -> str:
    match = re.search(rf"^### {re.escape(CPU)}.*$", verdict(text), flags=re.MULTILINE)
    assert match, verdict(text)
    return match.group(0)


def test_verdict_ranks_each_frameworks_best_mode_with_a_ratio_interval(tmp_path):
    write(
        tmp_path,
        *six_runs("torch", mode="eager"),
        *six_runs("torch", mode="compile", seconds=FAST),
        *six_runs("mxnet", seconds=SLOW),
    )
    text = render(tmp_path)
    assert text.index("## Verdict") < text.index("## Summary")  # the answer comes first
    first, second = ranking(text)
    assert first["framework (best mode)"] == "torch (compile)" and first["modes measured"] == "compile, eager"
    assert first["verdict vs leader"] == "leader" and first["examples/s"] == "19,934"
    assert second["framework (best mode)"] == "mxnet (hybrid)"
    assert second["verdict vs leader"] == "settled slower" and second["processes"] == "6"
    assert second["test"] == "Mann–Whitney U, p=0.002"  # 6 vs 6, fully separated
    assert re.fullmatch(r"0\.25 \[0\.2\d–0\.2\d, 95\.9% CI\]", second["speed ÷ leader [interval]"])
    # the headline: who leads, by how much, and whether it is settled
    assert "**torch (compile)** leads **mxnet (hybrid)** by 4.00× [" in verdict(text)
    assert ": settled, torch (compile) is faster (Mann–Whitney U, p=0.002)." in verdict(text)
    assert "α = 0.05" in verdict(text) and "±3%" in verdict(text)  # the judge's rule, from bench.judge
    summary = section(text, "## Summary")
    assert "torch (eager)" in summary and "torch (compile)" in summary


def test_verdict_says_tie_and_open(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("tensorflow", seconds=(6.02, 6.12, 5.92, 6.07, 5.97, 6.22)))
    text = verdict(render(tmp_path))
    assert ": a tie within ±10%, so neither is faster." in text
    few = tmp_path / "few"
    write(few, make_record("torch"), make_record("mxnet", seconds=12.0))
    text = render(few)
    assert ": **open**, not settled by these runs (1 vs 1 processes)." in verdict(text)
    (_, second) = ranking(text)
    assert second["verdict vs leader"] == "open" and second["test"] == "Mann–Whitney U, too few to test"


def test_accuracy_parity_checks_every_seed_at_its_epochs(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    line = next(ln for ln in verdict(render(tmp_path)).splitlines() if ln.startswith("Accuracy"))
    assert line.startswith("Accuracy parity (tolerance ±0.001 absolute): every cell agrees at ")
    assert (
        "seed 0 at 10 epochs (2 cells), seed 1 at 10 epochs (2 cells), seed 2 at 10 epochs (2 cells)" in line
    )
    other = tmp_path / "other"
    write(other, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW, finals=(0.80, 0.83, 0.79)))
    line = next(ln for ln in verdict(render(other)).splitlines() if ln.startswith("Accuracy"))
    assert "differs at 1 of 3 seed/epoch pairs" in line  # seed 1, not seed 0: every seed is checked
    assert "largest at seed 1, 10 epochs: torch (eager) 0.8100 vs mxnet (hybrid) 0.8300 (gap 0.0200)" in line
    lone = tmp_path / "lone"
    extra = make_record("torch", seed=7, final=0.5)
    write(lone, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW), extra)
    line = next(ln for ln in verdict(render(lone)).splitlines() if ln.startswith("Accuracy"))
    assert "Not compared (one cell only): seed 7 at 10 epochs." in line


def test_heading_names_the_sitting_its_span_and_probe(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    text = render(tmp_path)
    assert heading_line(text) == f"### {CPU} — sitting legacy aaaaaaa"
    body = section(verdict(text), heading_line(text))
    assert "Sitting legacy aaaaaaa: 2026-01-02T03:04:05Z – 2026-01-02T03:04:05Z;" in body
    assert "median 200.0 GFLOP/s, range 200.0–200.0 over 12 runs" in body
    assert "Build: commit aaaaaaa · mxnet 1.9.1, torch 2.5.1." in body
    assert "blocks" not in verdict(text)  # one sitting: no note about several


def sat(recs, sitting_id, start, alpha=None, rounds=True):
    """Put records into one sitting (the planner's fields), round r = the record's seed."""
    for rec in recs:
        sitting = {"id": sitting_id, "started_at": start, "order_seed": 1, "budget_minutes": None,
                   "target_precision": 0.1, "planned_looks": 4}  # fmt: skip
        if alpha is not None:
            sitting["alpha_per_look"] = alpha
        rec["schedule"] = {"sitting": sitting, "position": 0, "round_size": 2}
        if rounds:
            rec["schedule"]["round"] = rec["config"]["seed"] + 10 * rec["config"].get("repeat", 0)
        rec["started_at"] = rec["finished_at"] = start
    return recs


def test_two_sittings_are_two_blocks_never_one_ranking_newest_first(tmp_path):
    old = sat(six_runs("torch") + six_runs("mxnet", seconds=SLOW), "s-old", "2026-01-02T03:04:05Z")
    new = sat(
        six_runs("jax", seconds=FAST, finished_at="2026-01-05T00:00:00Z"), "s-new", "2026-01-05T00:00:00Z"
    )
    write(tmp_path, *old, *new)
    text = verdict(render(tmp_path))
    headings = re.findall(r"^### .*$", text, flags=re.MULTILINE)
    assert headings == [f"### {CPU} — sitting s-new", f"### {CPU} — sitting s-old"]
    new_block, old_block = (section(text, h) for h in headings)
    assert "only **jax (eager)** was measured here" in new_block and "torch" not in new_block
    assert "**torch (eager)** leads **mxnet (hybrid)**" in old_block and "jax" not in old_block
    assert "Measured in 2 (machine-device, sitting) blocks" in text


def test_one_cell_measured_in_two_sittings_is_never_pooled(tmp_path):
    """Same code, same build, two sittings: two cells, each judged only against its own sitting."""
    first = sat(six_runs("torch") + six_runs("mxnet", seconds=SLOW), "s1", "2026-01-02T03:04:05Z")
    later = six_runs("torch", seconds=FAST, finished_at="2026-01-04T00:00:00Z", repeat=7)  # not a rerun
    write(tmp_path, *first, *sat(later, "s2", "2026-01-04T00:00:00Z"))
    text = render(tmp_path)
    blocks = re.findall(r"^### .*$", verdict(text), flags=re.MULTILINE)
    assert blocks == [f"### {CPU} — sitting s2", f"### {CPU} — sitting s1"]
    (only,) = parse_table(section(verdict(text), blocks[0]))
    assert only["framework (best mode)"] == "torch (eager)" and only["processes"] == "6"
    old = parse_table(section(verdict(text), blocks[1]))
    assert [r["processes"] for r in old] == ["6", "6"] and old[1]["verdict vs leader"] == "settled slower"


def test_rounds_pair_the_cells_and_the_sittings_alpha_is_used(tmp_path):
    """The report judges by the race's rule (bench.planner.compare_cells) at the sitting's α: paired by
    round when the cells share enough rounds for the paired test to reach that α, else independent."""
    recs = sat(six_runs("torch") + six_runs("mxnet", seconds=SLOW), "s1", "2026-01-02T03:04:05Z", alpha=0.05)
    write(tmp_path, *recs)
    text = render(tmp_path)
    (_, second) = ranking(text)
    # 6 common rounds reach α = 0.05 paired (2 / 2^6 < 0.05): every pair slower
    assert second["test"].startswith("Wilcoxon signed-rank, paired by round")
    assert second["verdict vs leader"] == "settled slower"
    assert "Judged at α = 0.05 (the sitting's α per look, its race's error rule)" in verdict(text)
    strict = tmp_path / "strict"
    write(strict, *sat(six_runs("torch") + six_runs("mxnet", seconds=SLOW), "s3", "2026-01-02T03:04:05Z",
                       alpha=0.01))  # fmt: skip
    text = render(strict)
    (_, second) = ranking(text)
    # at α = 0.01 six pairs cannot reach it (2 / 2^6 > 0.01): the independent test, which can
    assert second["test"] == "Mann–Whitney U, p=0.002" and second["verdict vs leader"] == "settled slower"
    assert "Judged at α = 0.01 (the sitting's α per look, its race's error rule)" in verdict(text)
    unpaired = tmp_path / "unpaired"
    write(unpaired, *sat(six_runs("torch") + six_runs("mxnet", seconds=SLOW), "s2", "2026-01-02T03:04:05Z",
                         rounds=False))  # fmt: skip
    (_, second) = ranking(render(unpaired))
    assert second["test"] == "Mann–Whitney U, p=0.002" and second["verdict vs leader"] == "settled slower"


def test_no_textbook_loop_ratio_beside_the_verdict(tmp_path):
    """Baseline rows are their own sitting: they stay in their own section, never a ratio here."""
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    base = {"model": "lenet", "device": "cpu", "threads": 8, "machine": "Example CPU 9000 · 8 cores",
            "harness_samples": [float(v) for v in range(1, 9)],
            "plain_samples": [v * 1.1 for v in range(1, 9)],
            "measured_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    rows = [
        {**base, "framework": "torch", "mode": "eager", "plain_examples_per_sec": 4000.0, "ratio": 2.5},
        {**base, "framework": "mxnet", "mode": "hybrid", "plain_examples_per_sec": 6000.0, "ratio": 0.83},
    ]
    records.write_atomic(tmp_path / "baseline" / "all.json", {"schema_version": 1, "rows": rows})
    text = render(tmp_path)
    first, _ = ranking(text)
    assert not any("textbook" in key for key in first) and "textbook" not in verdict(text)
    assert "4,000" in section(text, "## Our training loop vs the textbook and the skilled loop")


def test_forest_data_and_the_verdict_markdown(tmp_path):
    from bench.report.collect import collect
    from bench.report.sections.verdict import forest_data, verdict_markdown

    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW), *six_runs("jax", seconds=FAST))
    found = collect([tmp_path])
    (panel,) = forest_data(found.rows)
    assert panel["title"].startswith("lenet · cpu · Example CPU 9000 · 8 cores · sitting legacy aaaaaaa")
    assert [r["framework"] for r in panel["rows"]] == ["jax", "torch", "mxnet"]
    lead, mid, last = panel["rows"]
    assert lead["ratio"] == 1.0 and lead["low"] is None and lead["label"] == "leader" and lead["n"] == 6
    assert mid["low"] < mid["ratio"] < mid["high"] < 1 and mid["label"] == "settled slower"
    assert last["ratio"] < mid["ratio"]
    markdown = verdict_markdown(found.rows, found.baselines)
    assert markdown.startswith("## Verdict") and "**jax (eager)** leads **torch (eager)**" in markdown
    # the same words as REPORT.md's block, which opens with the picture of the verdict
    shown = re.sub(r"!\[the verdict[^\n]*\n\n", "", render(tmp_path))
    assert markdown.strip() in shown


def test_bench_report_writes_the_verdict_into_the_readme_between_markers(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nkeep me\n\n{README_START}\nstale 1,234\n{README_END}\n\ntail\n")
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    text = readme.read_text()
    assert text.startswith("# title\n\nkeep me\n\n") and text.endswith(f"{README_END}\n\ntail\n")
    assert "stale 1,234" not in text
    block = text[text.index(README_START) : text.index(README_END)]
    assert f"### {CPU} — sitting legacy aaaaaaa" in block and "**torch (eager)** leads" in block
    assert block.count("Accuracy parity") == 1 and "## Summary" not in block
    # regenerating is idempotent, and a README without markers is left untouched
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    assert readme.read_text() == text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers here\n")
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=plain)
    assert plain.read_text() == "no markers here\n"


def test_a_corrupted_readme_block_is_replaced_whole(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    readme = tmp_path / "README.md"
    corrupted = (f"# title\n\n{README_START}\nold\n{README_END}\nstale verdict\n## Fake heading\n"
                 f"{README_START}\nmore\n{README_END}\n\ntail\n")  # fmt: skip
    readme.write_text(corrupted)
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    text = readme.read_text()
    assert text.count(README_START) == 1 and text.count(README_END) == 1
    assert (
        "stale verdict" not in text
        and "Fake heading" not in text
        and text.endswith(f"{README_END}\n\ntail\n")
    )


def test_the_readme_is_rewritten_only_with_the_maintainers_flag(tmp_path, monkeypatch):
    from bench import cli

    write(tmp_path / "results", *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    readme = tmp_path / "README.md"
    original = f"# title\n\n{README_START}\ncommitted\n{README_END}\n"
    readme.write_text(original)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--results", "results"]) == 0
    assert readme.read_text() == original  # a user's own run never rewrites README.md
    assert cli.main(["report", "--results", "results", "--readme"]) == 0
    assert "committed" not in readme.read_text() and "**torch (eager)** leads" in readme.read_text()


def test_identical_accuracy_curves_are_merged_and_said_so(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    accuracy = section(render(tmp_path), f"### Test accuracy per epoch: lenet on {CPU}")
    assert (
        "have median curves identical to 3 decimals at every epoch: the figure draws them as one" in accuracy
    )
    (row,) = parse_table(accuracy)
    assert row["framework (mode)"] == "mxnet (hybrid), torch (eager)" and row["n full"] == "3 each"
    apart = tmp_path / "apart"
    write(apart, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW, finals=(0.70, 0.72, 0.71)))
    accuracy = section(render(apart), f"### Test accuracy per epoch: lenet on {CPU}")
    assert "one curve" not in accuracy and len(parse_table(accuracy)) == 2
