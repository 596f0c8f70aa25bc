"""The README's costs block: the newest sitting's wall time and processes, the environments' disk.

Hand-made records and a hand-made environments.json; nothing here is a measurement.
"""

from __future__ import annotations

import json

from bench.report.costs import COSTS_END, COSTS_START, NOT_MEASURED, costs_block, replace_costs


def record(started, finished, status="ok", sitting=None, commit="a" * 40, framework="torch", budget=None):
    schedule = {"index": 0}
    if sitting:
        schedule["sitting"] = {"id": sitting, "started_at": started, "budget_minutes": budget}
    return {
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "schedule": schedule,
        "framework": {"name": framework},
        "device": {"kind": "cpu"},
        "environment": {"cpu_model": "Fixture CPU <b>", "cpu_cores": 4, "framebench_commit": commit},
    }


def test_the_newest_sitting_gives_the_time_and_the_processes():
    records = [
        # an older sitting, longer: must not be the one shown
        record("2026-01-01T00:00:00Z", "2026-01-01T05:00:00Z", sitting="old"),
        record("2026-01-02T10:00:00Z", "2026-01-02T10:05:00Z", sitting="s2", budget=20),
        record("2026-01-02T10:05:00Z", "2026-01-02T10:17:30Z", sitting="s2", framework="jax", budget=20),
        record("2026-01-02T10:06:00Z", "2026-01-02T10:06:01Z", sitting="s2", status="skipped", budget=20),
        record("2026-01-02T10:07:00Z", "2026-01-02T10:09:00Z", sitting="s2", status="failed", budget=20),
    ]
    text = costs_block(records, None)
    (time_line,) = [line for line in text.splitlines() if line.startswith("- time:")]
    assert "s2" in time_line and "**18 min**" in time_line and "**3** run processes" in time_line
    assert "budget 20 min" in time_line and "2 framework(s)" in time_line
    assert "&lt;b&gt;" in time_line and "<b>" not in time_line  # a record's text is data
    assert f"- disk: {NOT_MEASURED}" in text


def test_records_without_a_sitting_form_one_legacy_sitting_per_commit():
    records = [
        record("2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z", commit="b" * 40),
        record("2026-01-01T02:00:00Z", "2026-01-01T02:00:50Z", commit="c" * 40),
    ]
    line = costs_block(records, None).splitlines()[2]
    assert "legacy sitting at ccccccc" in line and "**50 s**" in line and "**1** run processes" in line


def test_no_records_and_no_environments_say_not_measured_yet(tmp_path):
    text = costs_block([], tmp_path / "missing.json")
    assert text.count(NOT_MEASURED) == 2


def test_the_disk_is_the_sum_of_the_environments_and_says_what_is_missing(tmp_path):
    path = tmp_path / "environments.json"
    path.write_text(
        json.dumps(
            {
                "env-framework-torch": {
                    "python": "3.12",
                    "disk_bytes": 5_500_000_000,
                    "built_at": "2026-01-02",
                },
                "env-framework-jax": {
                    "python": "3.13",
                    "disk_bytes": 1_200_000_000,
                    "built_at": "2026-01-03",
                },
                "env-framework-mxnet": {"python": "3.11"},
            }
        )
    )
    line = costs_block([], path).splitlines()[-1]
    assert line.startswith("- disk: **6.7 GB** for 2 framework environment(s)")
    assert "Python 3.11, 3.12, 3.13" in line and "newest built 2026-01-03" in line
    assert "1 more not measured yet" in line
    path.write_text("{not json")
    assert NOT_MEASURED in costs_block([], path).splitlines()[-1]


def test_replace_costs_writes_between_the_markers_only():
    readme = f"intro\n{COSTS_START}\nold\n{COSTS_END}\ntail\n"
    assert replace_costs(readme, "new\nlines") == f"intro\n{COSTS_START}\nnew\nlines\n{COSTS_END}\ntail\n"
    assert replace_costs("no markers\n", "new") == "no markers\n"
