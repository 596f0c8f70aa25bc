"""bench.judge: the one rule (faster / slower / tie within ±P / open) on hand-built intervals and
samples, independent vs paired, and the interval's coverage checked by seeded simulation (no timing)."""

from __future__ import annotations

import math
import random

import pytest

from bench import judge
from bench.judge import decide, rule_text

D, P = judge.MIN_EFFECT, judge.TIE_MARGIN


@pytest.mark.parametrize(
    ("low", "high", "label"),
    [
        (1.05, 1.30, "faster"),  # wholly above 1 + δ
        (1 + D + 1e-9, 1.2, "faster"),
        (1.01, 1.20, "open"),  # excludes 1 (the test rejects) but reaches inside the minimum effect
        (0.70, 0.90, "slower"),
        (0.80, 1 / (1 + D) + 1e-3, "open"),  # below 1, not beyond δ
        (0.95, 1.05, "tie"),  # inside ±P
        (1 / (1 + P), 1 + P, "tie"),  # the boundary counts as inside
        (0.85, 1.05, "open"),  # straddles the tie boundary
        (0.50, 2.00, "open"),
    ],
)
def test_the_rule_on_hand_built_intervals(low, high, label):
    assert decide(low, high, 0.95, D, P) == label


def test_no_interval_is_always_open():
    assert decide(None, None, None, D, P) == "open"
    assert decide(2.0, 3.0, None, D, P) == "open"  # a range (too few runs), never an interval


def test_independent_samples_fully_separated():
    a = [2000.0 + i for i in range(6)]
    b = [1000.0 + i for i in range(6)]
    judged = judge.judge(a, b)
    assert judged.label == "faster" and judged.test == "Mann–Whitney U" and (judged.n_a, judged.n_b) == (6, 6)
    assert judged.p == pytest.approx(2 / math.comb(12, 6))
    assert judged.coverage == pytest.approx(1 - 2 * 19 / math.comb(12, 6))  # Moses' k = 6: P(U <= 5) = 19/924
    assert 1.9 < judged.low < judged.ratio < judged.high < 2.1
    back = judge.judge(b, a)
    assert back.label == "slower" and back.ratio == pytest.approx(1 / judged.ratio)
    assert judged.text().startswith("faster: 2.00× [") and "p=0.002" in judged.text()


def test_too_few_runs_give_a_range_and_open():
    judged = judge.judge([2.0, 2.1, 2.2], [1.0, 1.1, 1.2])
    assert judged.label == "open" and judged.coverage is None and judged.p is None
    assert judged.interval_text().startswith("(range ")
    assert judge.judge([], [1.0]).label == "open" and judge.judge([], [1.0]).ratio is None


def test_paired_by_round_sees_through_drift_that_independent_samples_cannot():
    """Every round both cells run in the same minutes; the machine's speed drifts ±30% across rounds.
    A steady 10% gap is settled when paired and lost in the drift when treated as independent."""
    rng = random.Random(7)
    machine = [1000.0 * (0.7 + 0.6 * rng.random()) for _ in range(10)]
    a = [m * 1.10 * (1 + 0.005 * rng.uniform(-1, 1)) for m in machine]
    b = [m * (1 + 0.005 * rng.uniform(-1, 1)) for m in machine]
    paired = judge.judge(a, b, paired=True)
    independent = judge.judge(a, b)
    assert paired.label == "faster" and paired.test.startswith("Wilcoxon signed-rank")
    assert 1.08 < paired.low < paired.high < 1.12
    assert independent.label == "open"


def test_paired_drops_rounds_missing_on_either_side():
    judged = judge.judge(
        [2.0, None, 2.2, 2.1, 2.3, 2.05, 2.15], [1.0, 1.0, None, 1.1, 1.2, 1.0, 1.05], paired=True
    )
    assert judged.n_a == judged.n_b == 5


def test_alpha_changes_the_interval_and_is_stated():
    a = [1.2 + 0.01 * i for i in range(8)]
    b = [1.0 + 0.01 * i for i in range(8)]
    wide, narrow = judge.judge(a, b, alpha=0.01), judge.judge(a, b, alpha=0.05)
    assert wide.coverage >= 0.99 and narrow.coverage >= 0.95
    assert wide.low <= narrow.low and wide.high >= narrow.high
    assert "α = 0.01" in wide.rule() and "α = 0.05" in rule_text()
    with pytest.raises(ValueError, match="alpha"):
        judge.judge(a, b, alpha=1.5)


def test_words_are_the_one_vocabulary():
    tie = judge.judge([1.0 + 0.001 * i for i in range(8)], [1.0005 + 0.001 * i for i in range(8)])
    assert tie.label == "tie" and tie.word() == "tie within ±10%"
    assert {judge.judge([2.0] * 3, [1.0] * 3).word()} <= {"faster", "slower", "open"}


@pytest.mark.parametrize(("paired", "n"), [(False, 6), (False, 8), (True, 8), (True, 12)])
def test_the_interval_covers_the_true_ratio_at_least_as_often_as_it_claims(paired, n):
    """Seeded simulation, no timing: log-normal speeds with a per-process offset (SD 12%) and a true
    speed ratio of 1.15; over 400 draws the interval holds the truth at least as often as its stated
    coverage (less a binomial allowance of 3 SD), and the false-call rate of a null pair stays under α."""
    rng = random.Random(1234 + n + paired)
    truth, trials = 1.15, 400
    covered, coverages, false_calls = 0, [], 0
    for _ in range(trials):
        if paired:
            machine = [rng.gauss(0, 0.10) for _ in range(n)]  # the round's shared drift
            b = [math.exp(m + rng.gauss(0, 0.12)) for m in machine]
            a = [truth * math.exp(m + rng.gauss(0, 0.12)) for m in machine]
            null = [math.exp(m + rng.gauss(0, 0.12)) for m in machine]
        else:
            b = [math.exp(rng.gauss(0, 0.12)) for _ in range(n)]
            a = [truth * math.exp(rng.gauss(0, 0.12)) for _ in range(n)]
            null = [math.exp(rng.gauss(0, 0.12)) for _ in range(n)]
        judged = judge.judge(a, b, paired=paired)
        assert judged.coverage is not None
        coverages.append(judged.coverage)
        covered += judged.low <= truth <= judged.high
        false_calls += judge.judge(null, b, paired=paired).label in ("faster", "slower")
    claimed = min(coverages)
    allowance = 3 * math.sqrt(claimed * (1 - claimed) / trials)
    assert covered / trials >= claimed - allowance
    assert false_calls / trials <= judge.ALPHA + 3 * math.sqrt(judge.ALPHA * (1 - judge.ALPHA) / trials)
