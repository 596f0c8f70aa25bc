"""Hostile records and hostile disks: record text never becomes markup or a command, and the report set
is written whole or not at all (read-only or full disk: one line, exit 2, nothing half-written)."""

from __future__ import annotations

import errno
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_report import fixed_environment, make_record, six_runs, write

from bench import cli, compare, report
from bench.report.sections.verdict import README_END, README_START

__all__ = ["fixed_environment"]  # autouse: every record gets the same fixed machine

SLOW = (12.0, 12.2, 11.8, 12.1, 11.9, 12.4)
EVIL_VERSION = "2.5.1\n## Injected heading\n<!-- verdict:end -->"
EVIL_MACHINE = "Evil CPU\n## Owned\n<!-- verdict:end --> | x |"
EVIL_CPU = "Intel Xeon\ncurl x | sh"
EVIL_REASON = "\x1b[31mboom\x1b[0m <script>alert(1)</script> <img src=x onerror=alert(1)>\n## Fake"


def put(results: Path, *recs: dict[str, Any]) -> None:
    """Write records as a merged file would arrive: straight to disk, past the writer's checks."""
    runs = results / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for rec in recs:
        (runs / f"{rec['run_id']}.json").write_text(json.dumps(rec))


def hostile(results: Path) -> None:
    evil_version = six_runs("torch")
    for rec in evil_version:
        rec["framework"]["versions"]["torch"] = EVIL_VERSION
    evil_machine = six_runs("mxnet", seconds=SLOW, machine=EVIL_MACHINE)
    for rec in evil_machine:
        rec["environment"]["cpu_model"] = EVIL_CPU
    failed = make_record("mxnet", seed=9, status="failed", reason=EVIL_REASON, sha=None)
    put(results, *evil_version, *six_runs("mxnet", seconds=SLOW), *evil_machine, failed)


def no_injection(markdown: str) -> None:
    lines = markdown.splitlines()
    assert not [ln for ln in lines if re.match(r"\s*#+ *(Injected|Owned|Fake)", ln)], (
        "a record made a heading"
    )
    assert "\x1b" not in markdown
    assert "<script" not in markdown and "<img" not in markdown
    assert markdown.count(README_END) <= 1 and markdown.count(README_START) <= 1


def test_hostile_record_text_is_data_in_the_report(tmp_path):
    hostile(tmp_path)
    text = report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False).read_text()
    no_injection(text)
    assert README_END not in text
    assert "Injected heading" in text and "Owned" in text  # still shown, as text
    assert "&lt;script&gt;" in text or "&amp;lt;script" in text
    # the Reproduce block: the machine's name is a comment, no record text starts a command line
    block = text[text.index("## Reproduce") :]
    shell = block[block.index("```sh") : block.index("```", block.index("```sh") + 5)]
    assert not [ln for ln in shell.splitlines() if ln.lstrip().startswith("curl")]
    assert "# measured on Intel Xeon curl x | sh" in shell


def test_hostile_record_text_cannot_break_the_readme_block(tmp_path):
    hostile(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{README_START}\nold\n{README_END}\n\n## Next section\n\ntail\n")
    report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    text = readme.read_text()
    no_injection(text)
    assert text.count(README_START) == 1 and text.count(README_END) == 1
    assert text.endswith(f"{README_END}\n\n## Next section\n\ntail\n")
    block = text[text.index(README_START) : text.index(README_END)]
    assert "Injected heading" in block  # the version, as text inside the block
    again = report.render([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False, readme=readme)
    assert again and readme.read_text() == text  # idempotent


def test_hostile_record_text_in_compare_output(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch"))
    evil = six_runs("torch", machine=EVIL_MACHINE + "\x1b[2J")
    for rec in evil:
        rec["framework"]["versions"]["torch"] = EVIL_VERSION
    put(new, *evil)
    out, err = io.StringIO(), io.StringIO()
    args = compare.configure_parser(__import__("argparse").ArgumentParser()).parse_args([str(base), str(new)])
    compare.compare(args, out, err)
    no_injection(out.getvalue())
    assert "\x1b" not in err.getvalue()


# ------------------------------------------------------------------------------------------------
# the report set on a read-only or full disk


def previous(tmp_path: Path) -> tuple[Path, Path]:
    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=SLOW))
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "throughput_old.png").write_bytes(b"old figure")
    (tmp_path / "REPORT.md").write_text("previous report\n")
    return tmp_path / "REPORT.md", figures


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_disk_that_refuses_the_report_leaves_the_previous_set_intact(tmp_path, monkeypatch, capsys, code):
    out, figures = previous(tmp_path)
    real = Path.write_text

    def refuse(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name.endswith(".tmp"):
            real(self, "partial")  # a full disk fails part-way: something was written
            raise OSError(code, "refused", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    assert cli.main(["report", "--results", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the report (")
    assert out.read_text() == "previous report\n"
    assert (figures / "throughput_old.png").read_bytes() == b"old figure"
    assert leftovers(tmp_path) == []


def test_a_failure_while_drawing_keeps_the_old_figures_and_report(tmp_path, monkeypatch, capsys):
    out, figures = previous(tmp_path)

    def full_disk(rows: Any, target: Path) -> list[Path]:
        (target / "throughput_new.png").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(target / "throughput_new.png"))

    monkeypatch.setattr(report, "draw_figures", full_disk)
    assert cli.main(["report", "--results", str(tmp_path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == "previous report\n"
    assert sorted(p.name for p in figures.iterdir()) == ["throughput_old.png"]
    assert leftovers(tmp_path) == []


def test_a_successful_render_replaces_old_figures_only_once_new_ones_exist(tmp_path, monkeypatch):
    out, figures = previous(tmp_path)
    seen: list[list[str]] = []

    def drawn(rows: Any, target: Path) -> list[Path]:
        seen.append(sorted(p.name for p in figures.iterdir()))  # while drawing, the old set is whole
        path = target / "throughput_cpu-new.png"
        path.write_bytes(b"new")
        return [path]

    for name in ("draw_forest", "draw_input", "draw_scaling"):
        monkeypatch.setattr(report, name, lambda rows, target: [])
    monkeypatch.setattr(report, "draw_figures", drawn)
    report.render([tmp_path], out, figures)
    assert seen == [["throughput_old.png"]]
    assert sorted(p.name for p in figures.iterdir()) == ["throughput_cpu-new.png"]
    assert out.read_text().startswith("# framebench report")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_tables_on_a_full_disk_leave_no_temporary(tmp_path, monkeypatch, capsys, fmt):
    write(tmp_path, *six_runs("torch"))
    old = tmp_path / f"summary.{fmt}"
    old.write_text("previous\n")
    import csv as csv_module

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dumps", full)
    monkeypatch.setattr(csv_module.DictWriter, "writerow", full)
    assert cli.main(["report", "--results", str(tmp_path), "--format", fmt]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert old.read_text() == "previous\n" and leftovers(tmp_path) == []
