"""Evaluation throughput counts warm evaluations only: a run's cold first evaluation never enters it.

The child is run in this process on the real data with a framework whose evaluation costs 100 s the
first time (a compile) and 0.25 s afterwards, on a fake clock the child reads: no real timing.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fake_frameworks import NumpyFramework, NumpyModel

import impls
from bench import child, data
from bench.config import RunConfig
from bench.contract import EpochStats, EvalStats
from bench.report.sections.detail import warm_eval

COLD, WARM, TRAIN = 100.0, 0.25, 2.0  # fake seconds: first evaluation, later ones, one epoch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def cold_first_framework(clock: Clock) -> type:
    class ColdFirstModel(NumpyModel):
        evaluations = 0

        def train_epoch(self, data, order, batch_size, lr):
            clock.now += TRAIN
            return EpochStats(1.0, 0.5)

        def evaluate(self, data):
            type(self).evaluations += 1
            clock.now += COLD if type(self).evaluations == 1 else WARM
            return EvalStats(1.0, 0.5)

    class ColdFirstFramework(NumpyFramework):
        model_class = ColdFirstModel

    return ColdFirstFramework


@pytest.fixture
def fake_child(monkeypatch):
    try:
        data.load(None, allow_download=False)
    except data.DataError as exc:  # the child records what it trained on: the real data set
        pytest.skip(f"Fashion-MNIST not installed: {exc}")
    clock = Clock()
    framework = cold_first_framework(clock)
    monkeypatch.setenv(impls.EXTRA_ENV_VAR, "numpy=fake_frameworks:NumpyFramework")
    monkeypatch.setattr(impls, "load_class", lambda name: framework)
    monkeypatch.setattr(child, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    return framework


def run(tmp_path, purpose: str, epochs: int = 3) -> dict:
    config = RunConfig(
        framework="numpy", model="mlp", device="cpu", mode="float64", seed=0, epochs=epochs,
        batch_size=256, lr=0.1, threads=1, purpose=purpose, timing_epochs=1,
    )  # fmt: skip
    return child.run_one(config, tmp_path)


def test_a_timing_run_is_never_evaluated(tmp_path, fake_child):
    """A throughput-only run pays for no evaluation (issue 29, item 6): its eval figure is the full runs'."""
    record = run(tmp_path, "timing")
    assert record["status"] == "ok", record["reason"]
    assert fake_child.model_class.evaluations == 0
    assert all(p["eval_seconds"] is None and p["test_accuracy"] is None for p in record["curve"])
    assert record["metrics"]["eval_examples_per_sec"] is None
    assert record["metrics"]["final_test_accuracy"] is None


def test_a_full_runs_first_evaluation_is_cold_and_left_out(tmp_path, fake_child):
    record = run(tmp_path, "full")
    assert [p["eval_warm"] for p in record["curve"]] == [False, True, True]
    assert record["curve"][0]["eval_seconds"] == COLD
    assert record["metrics"]["eval_examples_per_sec"] == pytest.approx(10_000 / WARM)


def _old_record(evals: list[float], purpose: str) -> dict:
    """A record as the harness wrote it before ``eval_warm`` existed."""
    curve = [{"epoch": i + 1, "eval_seconds": s} for i, s in enumerate(evals)]
    return {"config": {"purpose": purpose}, "data": {"test_examples": 10_000}, "curve": curve}


def test_a_cold_first_evaluation_never_enters_the_figure():
    """Old records: a timing run's only evaluation was cold (its compile): it gives no eval figure."""
    cold_timing = [_old_record([None, COLD], "timing") for _ in range(5)]
    full = _old_record([COLD, WARM, WARM], "full")
    group = SimpleNamespace(runs=[*cold_timing, full])
    summary = warm_eval(group)
    assert summary is not None and summary.n == 1
    assert summary.median == pytest.approx(10_000 / WARM)
    # a cell with only cold evaluations has no evaluation throughput at all, not a cold one
    assert warm_eval(SimpleNamespace(runs=cold_timing)) is None
    # records with the flag: only the flagged-warm evaluations count
    flagged = _old_record([COLD, WARM], "full")
    flagged["curve"][0]["eval_warm"], flagged["curve"][1]["eval_warm"] = False, True
    assert warm_eval(SimpleNamespace(runs=[flagged])).median == pytest.approx(10_000 / WARM)
