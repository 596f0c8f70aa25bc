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
    assert first["Mann–Whitney vs fastest"] == "fastest" and first["examples/s"] == "19,934"
    assert second["framework (best mode)"] == "mxnet (hybrid)"
    assert second["Mann–Whitney vs fastest"] == "slower (p=0.002)"  # 6 vs 6, fully separated
    ratio_header = next(h for h in second if h.startswith("× fastest"))
    assert "CI, Hodges–Lehmann" in ratio_header  # coverage stated once, in the heading
    assert re.fullmatch(r"0\.25 \[0\.2\d–0\.2\d\]", second[ratio_header]), second[ratio_header]
    # the margin of the winner over the next is computed, not left to the reader
    assert "**torch (compile)** is fastest, 4.00× [" in verdict(text)
    assert "the next, **mxnet (hybrid)** (Mann–Whitney p=0.002)" in verdict(text)
    # every mode stays in the per-mode summary
    summary = section(text, "## Summary")
    assert "torch (eager)" in summary and "torch (compile)" in summary


def test_verdict_says_within_noise_and_too_few_runs(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("tensorflow", seconds=(6.02, 6.12, 5.92, 6.07, 5.97, 6.22)))
    assert "are within noise of each other (Mann–Whitney p=" in verdict(render(tmp_path))
    few = tmp_path / "few"
    write(few, make_record("torch"), make_record("mxnet", seconds=12.0))
    text = render(few)
    assert "too few runs for the Mann–Whitney test to call it (1 vs 1)" in verdict(text)
    (_, second) = ranking(text)
    assert second["Mann–Whitney vs fastest"] == "too few runs to test (1 vs 1)"


def test_accuracy_parity_is_computed_seed_by_seed(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    line = next(ln for ln in verdict(render(tmp_path)).splitlines() if ln.startswith("Accuracy"))
    assert line.startswith("Accuracy: identical to 3 decimals across frameworks at every seed")
    assert "seeds 0, 1, 2: 0.800, 0.810, 0.790" in line
    other = tmp_path / "other"
    write(other, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW, finals=(0.80, 0.83, 0.79)))
    line = next(ln for ln in verdict(render(other)).splitlines() if ln.startswith("Accuracy"))
    assert "identical" not in line
    assert line.startswith("Accuracy differs at 1 of 3 seed(s)")
    assert "seed 1, torch (eager) 0.810 vs mxnet (hybrid) 0.830 (gap 0.020)" in line


def test_heading_names_commit_and_versions_and_warns_about_different_commits(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    text = render(tmp_path)
    assert heading_line(text) == f"### {CPU} — commit aaaaaaa · mxnet 1.9.1, torch 2.5.1"
    assert "different harness commits" not in text
    other = make_record("torch", machine="Other CPU · 4 cores")
    other["environment"]["framebench_commit"] = "b" * 40
    write(tmp_path, other)
    assert "measured at different harness commits" in verdict(render(tmp_path))


def test_a_block_measured_in_two_sittings_says_which_framework_was_measured_when(tmp_path):
    later = six_runs("mxnet", seconds=SLOW, finished_at="2026-01-03T05:06:07Z")
    for record in later:
        record["environment"]["framebench_commit"] = "c" * 40
        record["started_at"] = "2026-01-03T05:00:00Z"
    write(tmp_path, *six_runs("torch"), *later)
    text = verdict(render(tmp_path))
    assert heading_line(render(tmp_path)).startswith(f"### {CPU} — commits aaaaaaa, ccccccc")
    line = next(ln for ln in text.splitlines() if ln.startswith("⚠ Measured in 2 sittings"))
    assert "torch at aaaaaaa (" in line
    assert "mxnet at ccccccc (2026-01-03T05:00:00Z – 2026-01-03T05:06:07Z)" in line
    assert line.index("torch at") < line.index("mxnet at")  # in the order they were measured
    one = tmp_path / "one"
    write(one, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    assert "sittings" not in verdict(render(one))


def test_textbook_loop_beside_the_verdict(tmp_path):
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
    assert first["textbook loop examples/s"] == "4,000 (ours 2.50×; Wilcoxon: slower (p=0.008))"
    assert "mxnet (hybrid) 6,000 > torch (eager) 4,000 examples/s, **a different order**" in verdict(text)


def test_bench_report_writes_the_verdict_into_the_readme_between_markers(tmp_path):
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nkeep me\n\n{README_START}\nstale 1,234\n{README_END}\n\ntail\n")
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    text = readme.read_text()
    assert text.startswith("# title\n\nkeep me\n\n") and text.endswith(f"{README_END}\n\ntail\n")
    assert "stale 1,234" not in text
    block = text[text.index(README_START) : text.index(README_END)]
    assert f"### {CPU} — commit aaaaaaa" in block and "**torch (eager)** is fastest" in block
    assert block.count("Accuracy: identical") == 1
    # regenerating is idempotent, and a README without markers is left untouched
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    assert readme.read_text() == text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers here\n")
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=plain)
    assert plain.read_text() == "no markers here\n"


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
