"""Framework versions as an axis: ``name@version`` entries, their pins, their records, and the report's
"Version over version" section (hand-made records in, its table out)."""

from __future__ import annotations

from typing import Any

import pytest
from test_report import fixed_environment, make_record, parse_table, render, section, write

import impls
from bench import config as cfg
from bench import matrix
from bench.report.sections import versions

__all__ = ["fixed_environment"]  # autouse: every record gets the same fixed machine


# --- entries and their pins ------------------------------------------------------------------------


def test_an_entry_is_a_registered_name_and_an_optional_version():
    assert impls.split_entry("torch@2.13.0") == ("torch", "2.13.0")
    assert impls.split_entry("keras-jax") == ("keras-jax", None)
    assert impls.check_name("torch@2.13.0") == "torch@2.13.0"
    with pytest.raises(ValueError, match=r"unknown framework 'pytorch'; choose one of: .*torch"):
        impls.check_name("pytorch@2.13.0")
    with pytest.raises(
        ValueError, match=r"names no version after '@'; write it as torch@<version>, e.g. torch@2"
    ):
        impls.check_name("torch@")
    with pytest.raises(ValueError, match="names no version"):
        impls.check_name("torch@latest")


def test_bench_run_takes_entries_and_refuses_a_bad_one_in_one_line():
    assert matrix.parse_frameworks("torch@2.13.0,torch@2.14.1,jax") == ["torch@2.13.0", "torch@2.14.1", "jax"]
    with pytest.raises(cfg.UsageError, match=r"^unknown framework 'tourch'; choose one of: "):
        matrix.parse_frameworks("tourch@2.13.0")
    with pytest.raises(cfg.UsageError, match="names no version after '@'"):
        matrix.parse_frameworks("torch@,jax")


def test_a_version_with_its_own_pin_file_uses_it():
    path = impls.requirements_file("torch@2.13.0")
    assert path.relative_to(impls.framework_folder("torch")).as_posix() == "versions/2.13.0.txt"
    assert impls.version_pins("torch@2.13.0") == ["torch==2.13.0"]  # no torchvision beside the CPU wheel
    assert impls.python_requirement("torch@2.13.0") == "==3.11.*"  # the wheel on disk is cp311
    assert "2.13.0" in impls.pinned_versions("torch")


def test_the_default_pins_version_gives_the_default_pins():
    assert impls.main_pin("torch") == ("torch", "2.14.1")
    assert (
        impls.version_pins("torch@2.14.1")
        == impls.version_pins("torch")
        == ["torch==2.14.1", "torchvision==0.29.1"]
    )


def test_another_version_derives_its_pins_companions_follow_or_keep_theirs():
    # jax: jaxlib moves in lockstep, flax/optax/grain (marked "# follows") are left to pip
    assert impls.version_pins("jax@0.9.2") == ["jax==0.9.2", "jaxlib==0.9.2", "flax", "optax", "grain"]
    # torchvision is built for one torch: pip chooses the one for that torch
    assert impls.version_pins("torch@2.12.0") == ["torch==2.12.0", "torchvision"]
    # Keras on a backend: only keras moves; the backend keeps its pins
    assert impls.version_pins("keras-jax@3.14.0") == ["keras==3.14.0", "jax==0.10.2", "jaxlib==0.10.2"]
    # mxnet: numpy's cap is not a version pin and stays; tensorflow's "2.21.*" is replaced
    assert impls.version_pins("mxnet@1.9.0") == ["mxnet==1.9.0", "numpy<1.24"]
    assert impls.version_pins("tensorflow@2.20.0") == ["tensorflow-cpu==2.20.0"]
    # the GPU pins: the extra and the index line survive
    assert impls.version_pins("jax@0.9.2", gpu=True)[0] == "jax[cuda13]==0.9.2"
    assert impls.version_pins("paddle@3.2.2", gpu=True)[-1] == "paddlepaddle-gpu==3.2.2"


def test_records_keep_the_frameworks_name_and_the_entry_in_their_config():
    record = make_record("torch@2.13.0", "mlp")
    assert record["framework"]["name"] == "torch"
    assert record["config"]["framework"] == "torch@2.13.0"


# --- the report's section --------------------------------------------------------------------------

SITTING = {"id": "s1", "started_at": "2026-01-02T03:00:00Z", "order_seed": 1, "budget_minutes": None,
           "target_precision": 0.10, "alpha_per_look": 0.05, "planned_looks": 1}  # fmt: skip
NEW = (3.0, 3.05, 2.95, 3.02, 2.98, 3.1)  # seconds per epoch: twice as fast as OLD
OLD = (6.0, 6.1, 5.9, 6.05, 5.95, 6.2)


def at(version: str, seconds: tuple[float, ...], *, sitting: dict[str, Any] | None = SITTING,
       finals: tuple[float, ...] = (0.80, 0.81, 0.79), framework: str = "torch",
       paired: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Six runs of one version (3 full, 3 timing), one per round of the sitting."""
    out = []
    for i, secs in enumerate(seconds):
        schedule = None
        if sitting is not None:
            schedule = {"sitting": sitting, "round": i if paired else None, "position": 0, "round_size": 2}
        full = i < len(finals)
        record = make_record(
            f"{framework}@{version}", "mlp", seed=i, seconds=secs, final=finals[i] if full else 0.3,
            purpose="full" if full else "timing", schedule=schedule,
        )  # fmt: skip
        record["framework"]["versions"] = {framework: version, "numpy": "2.1.3"}
        out.append(record)
    return out


def table_of(tmp_path, *recs: dict[str, Any]) -> list[dict[str, str]]:
    write(tmp_path, *recs)
    return parse_table(section(render(tmp_path), "## Version over version"))


def test_newer_version_twice_as_fast_is_faster_paired_by_round(tmp_path):
    (row,) = table_of(tmp_path, *at("2.13.0", OLD), *at("2.14.1", NEW))
    assert row["Newer"] == "2.14.1" and row["Older"] == "2.13.0"
    assert row["Framework (mode)"] == "torch (eager)"
    assert row["Newer ÷ older speed"].startswith("2.0") and "CI]" in row["Newer ÷ older speed"]
    assert row["Verdict"].startswith("faster (p=")
    assert row["Runs (newer / older)"] == "6 / 6"
    assert row["Accuracy"] == "same to 3 decimals (seeds 0, 1, 2)"
    judged = versions.compare(at("2.14.1", NEW), at("2.13.0", OLD))
    assert judged.test.startswith("Wilcoxon") and judged.label == "faster"


def test_an_older_version_measured_faster_makes_the_upgrade_slower(tmp_path):
    (row,) = table_of(tmp_path, *at("2.13.0", NEW), *at("2.14.1", OLD, paired=False))
    assert row["Newer"] == "2.14.1" and row["Newer ÷ older speed"].startswith("0.5")
    assert row["Verdict"].startswith("slower")
    assert versions.compare(at("2.14.1", OLD, paired=False), at("2.13.0", NEW)).test == "Mann–Whitney U"


def test_the_same_speed_is_a_tie_within_the_sittings_margin(tmp_path):
    (row,) = table_of(tmp_path, *at("2.13.0", OLD), *at("2.14.1", tuple(s * 1.001 for s in OLD)))
    assert row["Verdict"].startswith("tie within ±10%")


def test_too_few_runs_is_open_and_accuracy_differences_are_named(tmp_path):
    (row,) = table_of(
        tmp_path, *at("2.13.0", OLD[:2], finals=(0.80, 0.81)), *at("2.14.1", NEW[:2], finals=(0.80, 0.83))
    )
    assert row["Verdict"] == "open" and row["Runs (newer / older)"] == "2 / 2"
    assert row["Accuracy"] == "differs at 1 of 2 seed(s); largest at seed 1: 0.830 vs 0.810 (gap 0.020)"


def test_three_versions_compare_each_with_the_one_before_in_release_order(tmp_path):
    rows = table_of(tmp_path, *at("2.9.1", OLD), *at("2.14.1", NEW), *at("2.13.0", OLD))
    assert [(r["Newer"], r["Older"]) for r in rows] == [("2.13.0", "2.9.1"), ("2.14.1", "2.13.0")]


def test_versions_measured_in_different_sittings_are_not_compared(tmp_path):
    other = dict(SITTING, id="s2")
    write(tmp_path, *at("2.13.0", OLD), *at("2.14.1", NEW, sitting=other))
    assert "## Version over version" not in render(tmp_path)
    assert versions.version_rows([*at("2.13.0", OLD), *at("2.14.1", NEW, sitting=other)]) == []


def test_one_version_per_framework_gives_no_section():
    assert versions.versions_section([*at("2.14.1", NEW), *at("0.10.2", OLD, framework="jax")]) == []


def test_a_version_from_a_record_is_data_never_markup():
    hostile = at("2.14.1", NEW)
    for record in hostile:
        record["framework"]["versions"]["torch"] = "2.14.1|**x**"
    rows = versions.version_rows([*at("2.13.0", OLD), *hostile])
    assert rows and rows[0]["Newer"] == r"2.14.1\|\*\*x\*\*"
