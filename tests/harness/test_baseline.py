"""``bench baseline``: the interleaving of the three loops, the paired judgement and the gate."""

from __future__ import annotations

import itertools
from argparse import Namespace

import pytest

from bench import baseline
from bench import config as cfg


def test_rounds_cycle_through_every_order_of_the_sides():
    orders = baseline.round_orders(12, baseline.SIDES)
    assert set(orders[:6]) == set(itertools.permutations(baseline.SIDES)) and orders[6:] == orders[:6]
    for side in baseline.SIDES:  # each side in each position equally often over 6 rounds
        assert sorted(order.index(side) for order in orders[:6]) == [0, 0, 1, 1, 2, 2]


def test_interleave_drops_each_warm_up_and_runs_one_epoch_per_side_per_round():
    calls = []

    def side(name, seconds):
        while True:
            calls.append(name)
            yield seconds

    samples = baseline.interleave({"ours": side("ours", 2.0), "skilled": side("skilled", 4.0)}, 4, 100)
    assert calls[:2] == ["ours", "skilled"]  # the warm-ups, dropped
    assert calls[2:] == ["ours", "skilled", "skilled", "ours", "ours", "skilled", "skilled", "ours"]
    assert samples == {"ours": [50.0] * 4, "skilled": [25.0] * 4}


def pairs(ratio, n=8):
    reference = [1000.0 + 37 * i for i in range(n)]  # drifting speeds, as on a real machine
    return [r * (ratio + 0.001 * (i % 3)) for i, r in enumerate(reference)], reference


def test_slower_by_the_test_and_by_more_than_the_margin_trails():
    ours, skilled = pairs(0.90)
    judged = baseline.judge(ours, skilled)
    assert judged.verdict == "slower" and judged.trails
    assert judged.paired_ratio == pytest.approx(0.901, abs=0.002)
    assert judged.text().startswith("0.90× (slower, Wilcoxon p=0.008")


def test_slower_within_the_margin_does_not_trail():
    ours, skilled = pairs(0.99)  # consistently 1% slower: significant, but inside the 2% margin
    judged = baseline.judge(ours, skilled)
    assert judged.verdict == "slower" and not judged.trails


def test_too_few_pairs_never_trail_and_say_so():
    ours, skilled = pairs(0.5, n=5)
    judged = baseline.judge(ours, skilled)
    assert judged.p is None and judged.verdict == "open" and not judged.trails
    assert judged.text() == "0.50× (open, too few pairs)"
    assert baseline.judge([], None).text() == "—"


def row(**extra):
    ours, skilled = pairs(1.05)
    return {"framework": "jax", "mode": "jit", "model": "mlp", "status": "ok", "harness_samples": ours,
            "plain_samples": skilled, "skilled_samples": skilled, "harness_examples_per_sec": 1100.0,
            "skilled_examples_per_sec": 1100.0, **extra}  # fmt: skip


def test_the_gate_names_each_trailing_or_unchecked_row_and_ignores_skipped_ones():
    slow_ours, skilled = pairs(0.85)
    rows = [
        row(),
        row(model="lenet", harness_samples=slow_ours, skilled_samples=skilled),
        row(mode="scan", skilled_samples=None, skilled_missing="impls.jax.baseline has no skilled loop"),
        row(mode="graph", status="skipped", reason="needs CUDA"),
    ]
    problems = baseline.gate_problems(rows)
    assert len(problems) == 2
    assert problems[0].startswith("jax jit lenet: ours trails the skilled loop, 0.85× (slower")
    assert (
        problems[1]
        == "jax scan mlp: no skilled loop to check it against (impls.jax.baseline has no skilled loop)"
    )


def args(**extra):
    return Namespace(**{"framework": "numpy", "models": "mlp", "modes": "all", "epochs": "6",
                        "threads": "1", "data_dir": None, "results": "results", "once": False,
                        **extra})  # fmt: skip


@pytest.fixture
def numpy_framework(monkeypatch):
    monkeypatch.setenv("FRAMEBENCH_EXTRA_FRAMEWORKS", "numpy=fake_frameworks:NumpyFramework")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # main() sets them
        monkeypatch.setenv(var, "1")


def test_fewer_epochs_than_the_test_needs_is_a_usage_error(numpy_framework):
    with pytest.raises(cfg.UsageError, match=r"at least 6 epochs per side .* use --epochs 6"):
        baseline.main(args(epochs="5"))


def test_an_unknown_mode_or_several_frameworks_are_usage_errors(numpy_framework):
    with pytest.raises(cfg.UsageError, match="none of --modes nope exists in numpy"):
        baseline.main(args(modes="nope"))
    with pytest.raises(cfg.UsageError, match="one --framework"):
        baseline.main(args(framework="numpy,torch"))


def test_a_measuring_process_exits_3_when_its_row_trails(numpy_framework, monkeypatch):
    slow_ours, skilled = pairs(0.8)
    trailing = row(framework="numpy", mode="float64", harness_samples=slow_ours, skilled_samples=skilled)
    monkeypatch.setattr(baseline, "compare", lambda *a: trailing)
    assert baseline.main(args(once=True)) == baseline.EXIT_TRAILS  # not 1, which any Python error exits with
    monkeypatch.setattr(baseline, "compare", lambda *a: row(framework="numpy", mode="float64"))
    assert baseline.main(args(once=True)) == 0


@pytest.mark.parametrize("second_trails", [True, False])
def test_a_trailing_row_is_measured_again_and_the_second_measurement_decides(
    numpy_framework, monkeypatch, capsys, tmp_path, second_trails
):
    slow_ours, skilled = pairs(0.8)
    trailing = row(framework="numpy", mode="float64", harness_samples=slow_ours, skilled_samples=skilled,
                   measured_at="first")  # fmt: skip
    second = dict(trailing, measured_at="second") if second_trails else row(framework="numpy", mode="float64")
    measured = iter([(trailing, None), (second, None)])
    calls = []
    monkeypatch.setattr(baseline, "_measure", lambda *a: calls.append(a[:3]) or next(measured))
    code = baseline.main(args(modes="float64", results=str(tmp_path)))
    out = capsys.readouterr().out
    assert calls == [("numpy", "mlp", "float64")] * 2
    assert "numpy float64 mlp: trails; measuring it again to confirm" in out
    saved = __import__("json").loads((tmp_path / "baseline" / "numpy-mlp-float64.json").read_text())
    assert saved["rows"][0]["first_measurement"]["measured_at"] == "first"
    assert saved["rows"][0]["first_measurement"]["harness_samples"] == slow_ours
    if second_trails:
        assert code == 1
        assert "baseline gate FAILED (1 of 1 rows):" in out and "numpy float64 mlp: ours trails" in out
    else:
        assert code == 0 and "baseline gate passed: 1 rows" in out


def test_a_row_that_does_not_trail_is_measured_once(numpy_framework, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(baseline, "_measure", lambda *a: calls.append(a[:3]) or (row(), None))
    assert baseline.main(args(modes="float64")) == 0
    assert len(calls) == 1


def test_the_exact_signed_rank_p_needs_no_scipy_and_matches_it():
    """Framework environments have no scipy: without ties the p is counted exactly in pure Python."""
    import numpy as np
    from scipy.stats import wilcoxon

    from bench import stats

    rng = np.random.default_rng(5)
    for n in (6, 7, 9, 12):
        for _ in range(20):
            d = list(rng.normal(0.3, 1.0, n))
            expected = wilcoxon(d, alternative="two-sided", method="exact").pvalue
            assert stats._signed_rank_exact_p(d) == pytest.approx(expected, rel=1e-12)
    assert stats._signed_rank_exact_p([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == pytest.approx(2 / 64)
