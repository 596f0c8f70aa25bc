"""Render ``results/REPORT.md`` and ``results/figures/*.png`` from the run records.

The report is a pure function of the record files (and any pytest-benchmark / baseline JSON under
``<results>/microbench/`` and ``<results>/baseline/``): rows are sorted, the statistics are exact
(no resampling), and the only timestamps are the records' own, so regenerating it gives a readable diff.

Records are grouped into cells by framework, resolved mode, model, device kind, machine, training
setup and software build (:mod:`bench.report.cells`). Of one configuration on one machine and build,
the newest ok record counts (``bench.counting.choose``, the rule ``--resume`` follows too); the
same configuration on two machines or builds is two cells, and each machine shows its newest build.
Records measured on data whose sha256 differs from the majority's are reported in their own
section, never mixed into the main tables.

The report opens with the verdict (``sections.verdict``): per machine-device and model, each
framework's best measured mode ranked, with the interval of its ratio to the fastest, the test's
verdict and the accuracy parity; ``render(readme=...)`` copies it into README.md between markers.

Modules: ``cells`` (grouping, de-duplication), ``numbers`` (per-cell numbers, '× vs fastest'),
``extras`` (microbench/baseline loaders), ``collect`` (load everything once), ``markdown`` (tables),
``sections.*`` (the text), ``figures`` / ``figures_extra`` (PNGs), ``export`` (CSV/JSON), ``html``
(the self-contained interactive page, with ``html_template.html`` and ``html_app.js``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.records import write_text_atomic
from bench.report.cells import Group, dedupe, group_records, majority_sha
from bench.report.collect import Collected, collect
from bench.report.export import summary_records, write_tables
from bench.report.figures import draw_figures, figure_links, remove_stale
from bench.report.figures_extra import draw_input, draw_scaling, input_link, scaling_links
from bench.report.markdown import code_list, table
from bench.report.numbers import Row, accuracy_gate, build_rows
from bench.report.sections import context, detail, pipeline, summary, verdict, wrappers

__all__ = [
    "Group",
    "Row",
    "accuracy_gate",
    "build_report",
    "build_rows",
    "collect",
    "dedupe",
    "group_records",
    "majority_sha",
    "render",
    "summary_records",
    "table",
    "write_tables",
]


def _empty_report(found: Collected) -> str:
    parts = [
        "# framebench report\n",
        f"No run records found in {code_list(found.results_dirs)}; run `nox -s bench` "
        "(or `python -m bench run --framework NAME`) to produce some.\n",
    ]
    parts += context.unreadable_section(found.unreadable) + context.microbench_section(found.microbench)
    parts += context.references_section()
    return "\n".join(parts)


def build_report(
    results_dirs: Sequence[Path],
    out: Path,
    figures: Path,
    draw: bool = True,
    summary_input: str | None = "device",
    pool_commits: bool = False,
) -> str:
    """Return the markdown of the report (drawing the figures unless ``draw`` is False)."""
    found = collect([Path(d) for d in results_dirs], pool_commits=pool_commits)
    if not found.loaded:
        return _empty_report(found)
    rows = found.rows
    links = figure_links(rows, out, figures)
    if draw and rows:
        remove_stale(figures)
        draw_figures(rows, figures)
        draw_input(rows, figures)
        draw_scaling(rows, figures)

    parts = summary.header(found.results_dirs, found.kept, found.superseded, found.unreadable, found.main_sha)
    parts += summary.alerts(rows, found.other_data, found.main_sha)
    parts += verdict.verdict_section(rows, found.baselines, "##", summary_input)
    parts.append("## Summary\n")
    if rows:
        shown = "all inputs" if summary_input is None else f"input = {summary_input} only"
        parts.append(f"Every measured mode, {shown}.\n")
    else:
        parts.append("No successful runs: every record is skipped or failed (reasons below).\n")
    parts += summary.summary_section(rows, found.others, "###", summary_input)
    if rows:
        parts.append(summary.HOW_TO_READ + "\n")
    parts += summary.other_data_section(found.other_data)
    parts += context.older_builds_section(found.older_builds)
    if rows:
        parts += detail.accuracy_section(rows, links["accuracy"])
        parts += detail.throughput_section(rows, links["throughput"])
        parts += wrappers.wrappers_section(rows)
        parts += pipeline.input_section(rows, input_link(rows, out, figures))
        parts += pipeline.scaling_section(rows, scaling_links(rows, out, figures))
        parts += detail.ttt_section(rows, links["ttt"])
        parts += detail.peak_section(rows)
    parts += pipeline.run_order_section(found.kept)
    parts += context.microbench_section(found.microbench)
    parts += context.baseline_section(found.baselines)
    parts += context.environment_section(found.kept)
    parts += context.not_ok_section(found.kept)
    parts += context.unreadable_section(found.unreadable)
    parts += context.reproduce_section(found.kept, found.results_dirs)
    parts += context.references_section()
    return "\n".join(parts)


def render(
    results_dirs: list[Path],
    out: Path,
    figures: Path,
    draw: bool = True,
    summary_input: str | None = "device",
    readme: Path | None = None,
    pool_commits: bool = False,
) -> Path:
    """Write the report (and its figures) from every record under ``results_dirs``; return its path.

    ``summary_input`` picks the input path the summary tables show ("device" by default, "native",
    or None for all); the other sections always show every input. ``readme``, when given, gets the
    verdict between its ``<!-- verdict:start -->`` / ``<!-- verdict:end -->`` markers (if it has them).
    """
    out = Path(out)
    text = build_report(
        [Path(d) for d in results_dirs], out, Path(figures), draw, summary_input, pool_commits
    )
    written = write_text_atomic(out, text.rstrip("\n") + "\n")  # a full disk leaves no temp file
    if readme is not None:
        update_readme(text, Path(readme), results_dirs)
    return written


def update_readme(report_text: str, readme: Path, results_dirs: Sequence[Path]) -> bool:
    """Copy the report's verdict into ``readme`` between its verdict markers (False: no markers)."""
    start = report_text.find("## Verdict\n")
    if start < 0:
        block = ["No verdict: no successful device-input run in these records."]
    else:
        end = report_text.find("\n## ", start + 1)
        block = [report_text[start + len("## Verdict\n") : end if end >= 0 else len(report_text)]]
    return verdict.write_readme(
        readme, verdict.readme_block(block, [Path(d).as_posix() for d in results_dirs])
    )
