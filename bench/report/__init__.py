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

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.config import UsageError
from bench.records import write_text_atomic
from bench.report import costs
from bench.report.cells import Group, dedupe, group_records, majority_sha
from bench.report.collect import Collected, collect
from bench.report.export import summary_records, write_tables
from bench.report.figures import FIGURE_PREFIXES, draw_figures, figure_links, remove_stale
from bench.report.figures_extra import VERDICT as VERDICT_FIGURE
from bench.report.figures_extra import (
    draw_forest,
    draw_input,
    draw_scaling,
    input_link,
    scaling_links,
    verdict_link,
)
from bench.report.markdown import code_list, table
from bench.report.numbers import Row, accuracy_gate, build_rows
from bench.report.sections import context, detail, pipeline, process, summary, verdict, versions, wrappers

__all__ = [
    "Group",
    "ReportWriteError",
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


class ReportWriteError(UsageError):
    """The report set could not be written (read-only or full disk): one line, exit 2, nothing half-done."""


def build_report(
    results_dirs: Sequence[Path],
    out: Path,
    figures: Path,
    draw: bool = True,
    summary_input: str | None = "device",
    pool_commits: bool = False,
    draw_into: Path | None = None,
) -> str:
    """Return the markdown of the report (drawing the figures unless ``draw`` is False). The figures
    are linked at ``figures``; they are drawn into ``draw_into`` when given (a staging folder that
    ``render`` moves into place only once everything was written), else into ``figures``."""
    found = collect([Path(d) for d in results_dirs], pool_commits=pool_commits)
    if not found.loaded:
        return _empty_report(found)
    rows = found.rows
    links = figure_links(rows, out, figures)
    if draw and rows:
        target = Path(draw_into) if draw_into is not None else figures
        if draw_into is None:
            remove_stale(figures)
        target.mkdir(parents=True, exist_ok=True)
        draw_forest(verdict.forest_data(rows, summary_input), target / VERDICT_FIGURE)
        draw_figures(rows, target)
        draw_input(rows, target)
        draw_scaling(rows, target)

    parts = summary.header(found.results_dirs, found.kept, found.superseded, found.unreadable, found.main_sha)
    parts += summary.alerts(rows, found.other_data, found.main_sha)
    verdict_parts = verdict.verdict_section(rows, found.baselines, "##", summary_input)
    if verdict_parts and rows:  # the picture of the verdict opens it
        picture = f"![the verdict: each framework's best mode as a speed ratio to the fastest, with its " \
                  f"interval and label]({verdict_link(out, figures)})\n"  # fmt: skip
        verdict_parts = [verdict_parts[0], picture, *verdict_parts[1:]]
    parts += verdict_parts
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
    parts += versions.versions_section(found.kept)
    if rows:
        parts += detail.accuracy_section(rows, links["accuracy"])
        parts += detail.throughput_section(rows, links["throughput"])
        parts += wrappers.wrappers_section(rows)
        parts += pipeline.input_section(rows, input_link(rows, out, figures))
        parts += pipeline.scaling_section(rows, scaling_links(rows, out, figures))
        parts += detail.ttt_section(rows, links["ttt"])
        parts += detail.peak_section(rows)
        parts += process.process_section(rows)
    parts += pipeline.run_order_section(found.kept)
    parts += context.microbench_section(found.microbench)
    parts += context.baseline_section(found.baselines)
    parts += context.environment_section(found.kept)
    parts += context.not_ok_section(found.kept)
    parts += context.unreadable_section(found.unreadable)
    parts += context.reproduce_section(found.kept, found.results_dirs)
    parts += context.references_section()
    return "\n".join(with_contents(parts))


def with_contents(parts: list[str]) -> list[str]:
    """The report's parts with a contents list (every ``## `` section, linked) after the title and
    provenance paragraph."""
    headings = [p.split("\n", 1)[0][3:].strip() for p in parts if p.startswith("## ")]
    if len(headings) < 3:
        return parts
    contents = "Contents: " + " · ".join(f"[{h}](#{_anchor(h)})" for h in headings) + "\n"
    return [*parts[:2], contents, *parts[2:]]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


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

    Written as a set: the figures are drawn into a staging folder and REPORT.md (and the README, when
    given) into temporary files; only when all of them were written are they renamed into place, and
    only then are figures the new report no longer draws removed. On a read-only or full disk nothing
    is left behind and the previous report and figures stay intact (``ReportWriteError``, one line).
    ``summary_input`` picks the input path the summary tables show ("device" by default, "native",
    or None for all). ``readme``, when given (``bench report --readme``), gets the verdict between its
    ``<!-- verdict:start -->`` / ``<!-- verdict:end -->`` markers (if it has them).
    """
    out, figures = Path(out), Path(figures)
    staging: Path | None = None
    temporaries: list[Path] = []
    try:
        if draw:
            figures.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{figures.name}.", suffix=".tmp", dir=figures.parent))
        text = build_report([Path(d) for d in results_dirs], out, figures, draw, summary_input, pool_commits,
                            draw_into=staging)  # fmt: skip
        pending = [(out, text.rstrip("\n") + "\n")]
        if readme is not None:
            updated = readme_text(text, Path(readme), results_dirs)
            if updated is not None:
                pending.append((Path(readme), updated))
        for path, content in pending:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            temporaries.append(tmp)
            tmp.write_text(content, encoding="utf-8")
        new_figures = sorted(staging.glob("*.png")) if staging is not None else []
        if staging is not None:
            figures.mkdir(parents=True, exist_ok=True)
        for figure in new_figures:
            os.replace(figure, figures / figure.name)
        for (path, _), tmp in zip(pending, temporaries, strict=True):
            os.replace(tmp, path)
        if staging is not None:
            drawn = {f.name for f in new_figures}
            for stale in sorted(figures.glob("*.png")):
                if stale.name.startswith(FIGURE_PREFIXES) and stale.name not in drawn:
                    stale.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = exc.filename or out
        raise ReportWriteError(
            f"cannot write the report ({reason}: {where}); the previous report and figures are kept. "
            "Make the folder writable or free some space, then rerun."
        ) from exc
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return out


def readme_text(report_text: str, readme: Path, results_dirs: Sequence[Path]) -> str | None:
    """The README with the report's verdict between its markers (first start marker to last end
    marker, so a corrupted block is replaced whole); None when it has no markers."""
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(verdict.README_START), text.rfind(verdict.README_END)
    if start < 0 or end < start:
        return None
    block = verdict.readme_block([_verdict_of(report_text)], [Path(d).as_posix() for d in results_dirs])
    text = text[:start] + block + text[end + len(verdict.README_END) :]
    found = collect([Path(d) for d in results_dirs], records_only=True)
    environments = Path(results_dirs[0]) / "environments.json" if results_dirs else None
    return costs.replace_costs(text, costs.costs_block(found.kept, environments))


def _verdict_of(report_text: str) -> str:
    """The verdict section of a rendered report: from its heading to the next section's (a ``## `` line
    at the start of a line; record text never makes one, ``bench.text.md`` escapes it)."""
    start = report_text.find("\n## Verdict\n")
    if start < 0:
        return "No verdict: no successful device-input run in these records."
    body = report_text[start + len("\n## Verdict\n") :]
    match = re.search(r"^## ", body, flags=re.MULTILINE)
    body = body[: match.start() if match else len(body)]
    # The picture's link is relative to REPORT.md; the README shows the picture beside its block.
    return re.sub(r"^!\[the verdict[^\n]*\n", "", body, flags=re.MULTILINE).strip()


def update_readme(report_text: str, readme: Path, results_dirs: Sequence[Path]) -> bool:
    """Copy the report's verdict into ``readme`` between its verdict markers (False: no markers)."""
    updated = readme_text(report_text, Path(readme), results_dirs)
    if updated is None:
        return False
    if updated != Path(readme).read_text(encoding="utf-8"):
        write_text_atomic(Path(readme), updated)
    return True
