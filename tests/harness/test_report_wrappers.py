"""bench.report.sections.wrappers: a wrapper framework's cells paired with its native framework's.

Hand-made records (no framework): a wrapper declares ``native_framework``/``native_mode`` in its
settings, as ``impls.keras_jax``/``impls.keras_torch`` do.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench import records, report
from bench.report.cells import group_records
from bench.report.numbers import build_rows
from bench.report.sections.wrappers import speed_ratio, wrappers_section

MACHINE = "Example CPU 9000 · 8 cores"
KERAS_JAX = {"wrapper": "Keras", "native_framework": "jax", "default_mode": "step"}


def record(
    framework: str,
    mode: str,
    seed: int,
    examples_per_sec: float | None,
    settings: dict[str, Any] | None = None,
    model: str = "mlp",
    threads: int = 8,
) -> dict[str, Any]:
    """A minimal ok record of one run (what the report's cells and rows read)."""
    config = {"framework": framework, "model": model, "device": "cpu", "mode": mode, "seed": seed,
              "epochs": 10, "batch_size": 256, "lr": 0.1, "threads": threads, "purpose": "full"}  # fmt: skip
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": f"{framework}-{mode}-{model}-{threads}-s{seed}",
        "status": "ok",
        "config": config,
        "framework": {"name": framework, "mode": mode, "settings": {"mode": mode, **(settings or {})}},
        "model": {"name": model},
        "device": {"kind": "cpu", "machine": MACHINE},
        "data": {"sha256": "d1fd84a8"},
        "finished_at": "2026-01-02T03:04:05Z",
        "metrics": {"steady_examples_per_sec": examples_per_sec, "final_test_accuracy": 0.85},
    }


def cells(
    framework: str, mode: str, speeds: list[float | None], settings: dict[str, Any] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return [record(framework, mode, seed, eps, settings, **kw) for seed, eps in enumerate(speeds)]


def keras_jax(
    mode: str, speeds: list[float | None], native_mode: str = "jit", **kw: Any
) -> list[dict[str, Any]]:
    return cells("keras-jax", mode, speeds, {**KERAS_JAX, "native_mode": native_mode}, **kw)


def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown pipe table in ``text``, each as a list of dicts."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            header, body = current[0], current[2:]
            tables.append([dict(zip(header, row, strict=True)) for row in body])
            current = []
    return tables


def section_of(recs: list[dict[str, Any]]) -> str:
    return "\n".join(wrappers_section(build_rows(group_records(recs))))


SIX_JAX = [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1002.0]
SIX_HALF = [500.0, 505.0, 495.0, 502.0, 498.0, 501.0]  # twice the time per example


def test_a_wrapper_is_paired_with_its_native_cell_and_the_cost_is_a_speed_ratio():
    text = section_of(cells("jax", "jit", SIX_JAX) + keras_jax("step", SIX_HALF))
    assert "## Wrapper cost: Keras's cost" in text
    assert f"### cpu · {MACHINE}" in text
    (line,) = parse_tables(text)[0]
    assert line["framework (mode)"] == "keras-jax (step)"
    assert line["against"] == "jax (jit)"
    assert line["n"] == "6 / 6"
    # wrapper 499.5 ÷ native 1001.0 examples/s -> 0.50x the speed (one direction: > 1 = faster)
    assert line["speed ÷ against [interval]"].startswith("0.50× [")
    assert "CI]" in line["speed ÷ against [interval]"]
    assert line["verdict"] == "slower"
    assert line["sitting"] == "legacy unknown"
    assert line["p"] == "p=0.002"  # total separation of 6 vs 6: the exact two-sided p = 2/924


def test_each_mode_is_paired_with_the_native_mode_it_declares():
    declared = {"native_framework": "torch", "native_mode": "compile", "default_mode": "step"}
    recs = (
        cells("torch", "eager", SIX_JAX)
        + cells("torch", "compile", SIX_HALF)
        + cells("keras-torch", "fit-compile", SIX_HALF, declared)
    )
    (line,) = parse_tables(section_of(recs))[0]
    assert line["against"] == "torch (compile)"
    assert line["speed ÷ against [interval]"].startswith("1.00×")
    assert line["verdict"] == "tie within ±10%"


def test_fit_over_step_is_a_second_table_within_the_wrapper():
    recs = cells("jax", "jit", SIX_JAX) + keras_jax("step", SIX_JAX) + keras_jax("fit", SIX_HALF)
    native, modes = parse_tables(section_of(recs))
    assert [r["framework (mode)"] for r in native] == ["keras-jax (fit)", "keras-jax (step)"]
    (line,) = modes
    assert (line["framework (mode)"], line["against"]) == ("keras-jax (fit)", "keras-jax (step)")
    assert line["speed ÷ against [interval]"].startswith("0.50×")
    assert line["verdict"] == "slower"


def test_a_missing_native_cell_is_said_not_measured():
    (line,) = parse_tables(section_of(keras_jax("step", SIX_HALF)))[0]
    assert line["against"] == "jax (jit): not measured in this sitting"
    assert line["verdict"] == "n/a"


def test_cells_pair_only_within_one_setup():
    """A native cell with another thread count is another setup: never the yardstick."""
    recs = cells("jax", "jit", SIX_JAX, threads=1) + keras_jax("step", SIX_HALF, threads=8)
    (line,) = parse_tables(section_of(recs))[0]
    assert line["against"] == "jax (jit): not measured in this sitting"


def test_cells_of_two_sittings_are_never_paired():
    """The native cell measured in another sitting is not the yardstick (machine speed drifts)."""
    native = cells("jax", "jit", SIX_JAX)
    for rec in native:
        rec["schedule"] = {"sitting": {"id": "s-old", "alpha_per_look": 0.01}, "round": rec["config"]["seed"]}
    (line,) = parse_tables(section_of(native + keras_jax("step", SIX_HALF)))[0]
    assert line["against"] == "jax (jit): not measured in this sitting"


def test_no_section_without_a_wrapper():
    assert section_of(cells("jax", "jit", SIX_JAX) + cells("torch", "eager", SIX_HALF)) == ""


def test_cells_without_steady_state_say_so():
    """One-epoch runs have no steady-state throughput (epoch 1 is the warm-up): no ratio is made up."""
    recs = cells("jax", "jit", [None, None]) + keras_jax("step", [None, None])
    (line,) = parse_tables(section_of(recs))[0]
    assert line["against"] == "jax (jit)"
    assert line["speed ÷ against [interval]"] == "— (no steady-state epoch in one of the cells)"
    assert line["verdict"] == "n/a"


def rows_of(recs: list[dict[str, Any]]) -> dict[str, Any]:
    return {row.group.framework: row for row in build_rows(group_records(recs))}


def test_too_few_runs_are_open():
    rows = rows_of(keras_jax("step", [500.0, 510.0]) + cells("jax", "jit", [1000.0, 1010.0]))
    cost = speed_ratio(rows["keras-jax"], rows["jax"])
    assert cost.verdict == "open" and "(range" in cost.text


@pytest.mark.parametrize("faster", [True, False])
def test_the_verdict_follows_the_direction(faster):
    speeds = [2000.0 + i for i in range(6)] if faster else [500.0 + i for i in range(6)]
    rows = rows_of(keras_jax("step", speeds) + cells("jax", "jit", SIX_JAX))
    cost = speed_ratio(rows["keras-jax"], rows["jax"])
    assert cost.verdict == ("faster" if faster else "slower")
    assert cost.text.startswith("2.00×" if faster else "0.50×")


def test_the_report_includes_the_section(tmp_path):
    for rec in cells("jax", "jit", SIX_JAX) + keras_jax("step", SIX_HALF):
        rec["environment"] = {"cpu_model": "Example CPU 9000", "cpu_cores": 8}
        records.write_record(tmp_path, rec)
    text = report.build_report([tmp_path], tmp_path / "REPORT.md", tmp_path / "figures", draw=False)
    assert "## Wrapper cost: Keras's cost" in text
