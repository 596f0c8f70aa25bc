"""bench.compare: ratios NEW/BASE, their intervals, verdicts and exit codes on hand-made records."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from test_report import FIXED_ENVIRONMENT, make_record, six_runs, three_seeds, write

from bench import compare, records

OTHER = "Intel Xeon 8480 · 8 cores"


@pytest.fixture(autouse=True)
def fixed_environment(monkeypatch):
    """base_record() would ask git and nvidia-smi; every record gets the same fixed machine."""
    monkeypatch.setattr(records, "environment", lambda: dict(FIXED_ENVIRONMENT))


def parse(*argv: str) -> argparse.Namespace:
    return compare.configure_parser(argparse.ArgumentParser()).parse_args(list(argv))


def run(*argv: str) -> tuple[int, str]:
    code, text, _ = run_err(*argv)
    return code, text


def run_err(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = compare.compare(parse(*argv), out, err)
    except compare.CompareError as exc:
        return 2, str(exc), err.getvalue()
    return code, out.getvalue(), err.getvalue()


def table_rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return [dict(zip(split[0], row, strict=True)) for row in split[2:]]


SECONDS = (6.0, 6.1, 5.9, 6.05, 5.95, 6.2)


def folders(tmp_path: Path, new_seconds: tuple[float, ...], machine: str = OTHER) -> tuple[str, str]:
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch", seconds=SECONDS))
    write(new, *six_runs("torch", seconds=new_seconds, machine=machine, finished_at="2026-02-01T00:00:00Z"))
    return str(base), str(new)


def test_slower_machine_is_slower_and_fails_when_asked(tmp_path):
    base, new = folders(tmp_path, tuple(2 * s for s in SECONDS))  # every epoch twice as long
    code, text = run(base, new, "--fail-on", "slower")
    assert code == 1
    (row,) = table_rows(text)
    assert row["throughput"] == "slower" and row["p"] == "0.002"
    assert row["NEW/BASE examples/s"].startswith("0.500× (HL 0.500× [")
    assert "95.9% CI, Hodges–Lehmann" in row["NEW/BASE examples/s"]
    assert row["BASE machine"] == "Example CPU 9000 · 8 cores" and row["NEW machine"] == OTHER
    assert row["n BASE / NEW"] == "6 / 6"
    assert row["accuracy"] == "open (too few runs to test)"  # three full runs per side
    assert "Mann–Whitney" in text and "α = 0.05" in text and "±5%" in text  # the judge's rule, stated
    # without --fail-on, or failing on 'faster' only, the same comparison exits 0
    assert run(base, new)[0] == 0
    assert run(base, new, "--fail-on", "faster")[0] == 0
    assert run(base, new, "--fail-on", "any")[0] == 1


def test_faster_and_within_noise(tmp_path):
    base, new = folders(tmp_path, tuple(s / 1.5 for s in SECONDS))
    code, text = run(base, new, "--fail-on", "faster")
    assert code == 1 and table_rows(text)[0]["throughput"] == "faster"
    assert table_rows(text)[0]["NEW/BASE examples/s"].startswith("1.500×")

    noise = tmp_path / "noise"
    base2, new2 = folders(noise, (6.02, 6.12, 5.92, 6.07, 5.97, 6.22))
    code, text = run(base2, new2, "--fail-on", "any")
    assert code == 0 and table_rows(text)[0]["throughput"] == "tie within ±5%"


def test_a_significant_but_small_difference_is_not_called(tmp_path):
    """3% slower in every run: the test rejects at α, but the interval reaches inside the threshold, so
    the judge calls nothing (open), and the gate does not fail; a real 10% loss is called slower."""
    base, new = folders(tmp_path, tuple(s * 1.03 for s in SECONDS))
    code, text = run(base, new, "--fail-on", "slower")
    (row,) = table_rows(text)
    assert float(row["p"]) < 0.05 and row["throughput"] == "open" and code == 0
    slow = tmp_path / "slow"
    base, new = folders(slow, tuple(s * 1.10 for s in SECONDS))
    assert run(base, new, "--fail-on", "slower")[0] == 1


def test_too_few_runs_fail_the_gate_unless_the_user_asks_to_warn(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *three_seeds("torch"))
    write(new, *three_seeds("torch", seconds=(12.0, 12.2, 11.8), machine=OTHER))
    code, text, err = run_err(str(base), str(new), "--fail-on", "slower")
    assert code == 1 and table_rows(text)[0]["throughput"] == "open (too few runs to test)"
    assert "range of pairwise ratios" in table_rows(text)[0]["NEW/BASE examples/s"]
    assert (
        "FAIL: 1 cell(s) of BASE cannot be judged" in err
        and "open (too few runs to test) (3 / 3 runs)" in err
    )
    code, _, err = run_err(str(base), str(new), "--fail-on", "slower", "--incomplete", "warn")
    assert code == 0 and "WARNING:   torch (eager) lenet cpu" in err  # loud, but the user chose it
    code, _, err = run_err(str(base), str(new))  # no gate: exit 0, still said
    assert code == 0 and "WARNING" in err


@pytest.mark.parametrize("fail_on", ["slower", "any"])
def test_a_cell_that_vanished_from_new_fails_the_gate(tmp_path, fail_on):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch", seconds=SECONDS), *six_runs("mxnet", seconds=SECONDS))
    crashed = [make_record("mxnet", seed=s, status="failed", reason="process died with SIGSEGV", sha=None,
                           machine=OTHER) for s in range(6)]  # fmt: skip
    write(new, *six_runs("torch", seconds=SECONDS, machine=OTHER), *crashed)
    code, text, err = run_err(str(base), str(new), "--fail-on", fail_on)
    assert code == 1
    assert "Only in BASE (1): mxnet (hybrid) lenet cpu" in text
    assert "FAIL:   mxnet (hybrid) lenet cpu" in err and "no ok run in NEW" in err
    assert run_err(str(base), str(new), "--fail-on", fail_on, "--incomplete", "warn")[0] == 0


def test_unreadable_and_invalid_record_files_are_named(tmp_path):
    base, new = folders(tmp_path, SECONDS)
    (Path(new) / "runs" / "broken.json").write_text("{not json")
    bad = make_record("torch", seed=9, machine=OTHER)
    bad["metrics"]["steady_examples_per_sec"] = -1.0
    write(Path(new), bad)
    _, text, err = run_err(base, new)
    assert "broken.json: skipped (invalid JSON" in err
    assert f"{bad['run_id']}.json: skipped (invalid metrics: steady_examples_per_sec is -1" in err
    (row,) = table_rows(text)
    assert row["n BASE / NEW"] == "6 / 6"  # the invalid record is not counted


def test_a_ratio_is_never_negative():
    from bench.stats import Summary

    base, new = Summary.of([100.0, 101.0, 99.0], ""), Summary.of([-1.0, -1.0, -1.0], "")
    verdict = compare.judge(base, new, 0.05, "faster", "slower")
    assert verdict.ratio is None and verdict.verdict == "n/a" and "-" not in verdict.text.replace("—", "")


def test_cells_match_on_setup_and_unmatched_cells_are_listed(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch"), make_record("mxnet"))
    write(new, *six_runs("torch", machine=OTHER), make_record("torch", "mlp", machine=OTHER))
    code, text = run(str(base), str(new))
    assert code == 0 and len(table_rows(text)) == 1
    assert "Only in BASE (1): mxnet (hybrid) lenet cpu" in text
    assert "Only in NEW (1): torch (eager) mlp cpu" in text


def test_machine_and_commit_filters(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch"), *six_runs("torch", machine=OTHER, finished_at="2026-01-05T00:00:00Z"))
    write(new, *six_runs("torch", machine=OTHER, finished_at="2026-02-01T00:00:00Z"))
    code, text = run(str(base), str(new))
    assert len(table_rows(text)) == 2  # both BASE machines match the NEW cell
    code, text = run(str(base), str(new), "--machine", "xeon")
    (row,) = table_rows(text)
    assert row["BASE machine"] == row["NEW machine"] == OTHER
    assert run(str(base), str(new), "--commit", "aaaa")[0] == 0  # FIXED_ENVIRONMENT's commit is a*40
    code, message = run(str(base), str(new), "--commit", "bbbb")
    assert code == 2 and "no run records matching the filters" in message


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    base, new = folders(tmp_path, SECONDS)
    assert compare.main(parse(str(tmp_path / "missing"), new)) == 2
    assert compare.main(parse(base, new, "--threshold", "1.5")) == 2
    (tmp_path / "empty").mkdir()
    assert compare.main(parse(base, str(tmp_path / "empty"))) == 2
    other = tmp_path / "other"
    write(other, make_record("mxnet", "mlp"))
    assert compare.main(parse(base, str(other))) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert "not a results folder" in lines[0] and "--threshold" in lines[1]
    assert "no run records" in lines[2] and "no cell of" in lines[3]
    with pytest.raises(SystemExit) as exc:
        parse(base, new, "--fail-on", "sometimes")
    assert exc.value.code == 2


def test_building_the_parser_imports_no_report_dependencies():
    """cli.py builds every subparser, also in framework environments without pandas/scipy."""
    import subprocess
    import sys

    code = ("import argparse, sys; import bench.compare as c; c.configure_parser(argparse.ArgumentParser()); "
            "sys.exit(int('pandas' in sys.modules or 'scipy' in sys.modules))")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_different_data_is_refused_with_what_differs_unless_allowed(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch", seconds=SECONDS))
    write(new, *six_runs("torch", seconds=SECONDS, machine=OTHER, sha="f" * 64))
    code, message, err = run_err(str(base), str(new))
    assert code == 2 and "differ in data or measurement settings" in message and "--allow-mismatch" in message
    assert "data sha256: BASE" in err and "NEW ffffffffffffffff" in err
    code, text, err = run_err(str(base), str(new), "--allow-mismatch")
    assert code == 0 and "WARNING: MISMATCH" in err and len(table_rows(text)) == 1


def test_different_timing_epochs_and_setups_are_refused(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch", seconds=SECONDS), make_record("mxnet"))
    longer = six_runs("torch", seconds=SECONDS, machine=OTHER)
    for rec in longer:
        rec["config"]["timing_epochs"] = 7
    other_epochs = make_record("mxnet", machine=OTHER)
    other_epochs["config"]["epochs"] = 3
    other_epochs["curve"] = other_epochs["curve"][:3]  # a valid record of 3 epochs
    write(new, *longer, other_epochs)
    code, _, err = run_err(str(base), str(new))
    assert code == 2
    assert "timing_epochs BASE" in err and "≠ NEW 7" in err
    assert "mxnet (hybrid) lenet cpu: epochs BASE 10 ≠ NEW 3" in err


def test_matched_cells_of_two_versions_say_they_compare_versions(tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    write(base, *six_runs("torch", seconds=SECONDS))
    newer = six_runs("torch", seconds=SECONDS, machine=OTHER)
    for rec in newer:
        rec["framework"]["versions"] = {"torch": "2.14.1"}
    write(new, *newer)
    base_version = six_runs("torch")[0]["framework"]["versions"]["torch"]
    code, text = run(str(base), str(new))
    assert code == 0 and f"Compares versions: torch {base_version} → 2.14.1." in text
