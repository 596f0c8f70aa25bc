"""bench.stats: known inputs give known medians, quartiles, order-statistic intervals and test verdicts."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy.stats import binom

from bench import stats
from bench.stats import (
    Summary,
    iqr,
    mann_whitney,
    median,
    median_interval,
    order_statistic_k,
    quartiles,
    ratio_interval,
)


def test_median_odd_even_and_unsorted():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5
    assert median([7.5]) == 7.5


def test_median_drops_none_and_non_finite():
    assert median([1.0, None, float("nan"), 3.0, float("inf")]) == 2.0


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="no finite values"):
        median([])
    with pytest.raises(ValueError, match="no finite values"):
        Summary.of([None, float("nan")])


def test_quartiles_interpolate_linearly():
    assert quartiles([1, 2, 3, 4]) == (1.75, 3.25)
    assert quartiles([1, 2, 3, 4, 5]) == (2.0, 4.0)
    assert iqr([1, 2, 3, 4]) == 1.5
    assert quartiles([5.0]) == (5.0, 5.0)


def test_quartiles_match_the_runners_definition():
    """bench.runner uses statistics.quantiles(method='inclusive'); the report must agree."""
    values = [9.0, 2.0, 7.5, 3.25, 11.0, 4.0, 6.0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert quartiles(values) == pytest.approx((q1, q3))


def test_six_runs_give_min_max_with_96_9_percent_coverage():
    interval = median_interval([0.2, 0.9, 0.4, 0.7, 0.5, 0.6])
    assert (interval.low, interval.high) == (0.2, 0.9)
    assert interval.k == 1 and interval.coverage == pytest.approx(1 - 2 / 2**6) == pytest.approx(0.96875)
    assert interval.label() == "96.9% CI, order statistics"


def test_ten_runs_drop_one_value_at_each_end():
    interval = median_interval([float(i) for i in range(10, 0, -1)])
    assert interval.k == 2 and (interval.low, interval.high) == (2.0, 9.0)
    assert interval.coverage == pytest.approx(1 - 2 * 11 / 1024) == pytest.approx(0.978515625)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_five_runs_or_fewer_are_a_range_not_a_ci(n):
    interval = median_interval([float(i) for i in range(n)])
    assert interval.coverage is None and not interval.is_ci
    assert (interval.low, interval.high) == (0.0, float(n - 1))
    assert interval.label() == f"range of {n}"
    # the best pair of order statistics would cover less than 95%: [min, max] of 5 covers 93.75%
    assert order_statistic_k(n) is None


def test_order_statistic_coverage_matches_the_binomial_and_is_at_least_95():
    for n in range(6, 60):
        k, coverage = order_statistic_k(n)
        assert coverage == pytest.approx(1 - 2 * binom.cdf(k - 1, n, 0.5))
        assert coverage >= 0.95
        assert 1 - 2 * binom.cdf(k, n, 0.5) < 0.95  # k is the largest that still reaches 95%
    assert order_statistic_k(20) == (6, pytest.approx(0.9586105))
    with pytest.raises(ValueError, match="confidence"):
        order_statistic_k(10, confidence=1.0)


def test_interval_is_order_free_and_contains_the_median():
    values = [10.2, 9.7, 10.9, 10.1, 9.5, 10.4, 10.0]
    first = median_interval(values)
    assert median_interval(list(reversed(values))) == first
    assert first.low <= median(values) <= first.high


def test_mann_whitney_needs_enough_runs_to_ever_reach_5_percent():
    assert stats.min_p_value(3, 3) == pytest.approx(0.1)
    assert stats.min_p_value(4, 4) == pytest.approx(2 / 70)
    too_few = mann_whitney([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])  # completely separated, still untestable
    assert not too_few.testable and not too_few.differs and too_few.p_text() == ""
    separated = mann_whitney([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0])
    assert separated.p == pytest.approx(2 / 924) and separated.differs and separated.p_text() == "p=0.002"
    mixed = mann_whitney([1.0, 3.0, 5.0, 7.0, 9.0, 11.0], [2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
    assert mixed.testable and not mixed.differs and mixed.p > 0.5


def test_u_distribution_counts_every_ordering():
    for n1, n2 in ((1, 1), (2, 3), (3, 3), (6, 6), (4, 9)):
        counts = stats._u_counts(n1, n2)
        assert sum(counts) == math.comb(n1 + n2, n1) and len(counts) == n1 * n2 + 1
        assert counts == counts[::-1]  # symmetric
    assert stats._u_counts(2, 2) == (1, 1, 2, 1, 1)


def test_ratio_interval_of_a_scaled_sample():
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02]
    ratio = ratio_interval(base, [2 * v for v in base])
    assert ratio.estimate == pytest.approx(2.0)
    assert ratio.low < 2.0 < ratio.high
    # Moses' interval for 6 vs 6: k = 6 (the tabled critical U is 5), coverage 1 - 2 * P(U <= 5) = 95.9%
    assert ratio.coverage == pytest.approx(1 - 2 * sum(stats._u_counts(6, 6)[:6]) / 924)
    assert ratio.label() == "95.9% CI, Hodges–Lehmann"
    small = ratio_interval([1.0, 1.1, 0.9], [2.0, 2.2, 1.8])
    assert small.coverage is None and small.label() == "range of pairwise ratios"
    assert (small.low, small.high) == pytest.approx((1.8 / 1.1, 2.2 / 0.9))
    with pytest.raises(ValueError, match="positive"):
        ratio_interval([0.0, 1.0], [1.0, 2.0])


def test_summary_of_collects_everything():
    summary = Summary.of([10.0, 12.0, 11.0, None], unit="s")
    assert summary.median == 11.0
    assert (summary.low, summary.high) == (10.0, 12.0)  # the range: 3 values cannot give 95%
    assert summary.coverage is None
    assert summary.n == 3
    assert (summary.q1, summary.q3) == (10.5, 11.5)
    assert (summary.minimum, summary.maximum) == (10.0, 12.0)
    assert summary.unit == "s"


def test_summary_renders_itself_with_its_unit():
    throughput = Summary.of([10_000.0, 60_000 / 6.1, 60_000 / 5.9], unit="examples/s")
    assert throughput.fmt() == "10,000 examples/s (range of 3: 9,836–10,169)"
    assert throughput.fmt(unit=False) == "10,000 (range of 3: 9,836–10,169)"
    assert throughput.fmt_median() == "10,000 examples/s"
    six = Summary.of([0.81, 0.80, 0.79, 0.82, 0.78, 0.80])
    assert six.fmt() == "0.800 [0.780–0.820] 96.9% CI"
    assert Summary.of([2.5], unit="s").fmt() == "2.50 s"  # one run: no interval
    assert Summary.of([1.0, 2.0, 3.0, 4.0], unit="s").fmt_iqr() == "1.75–3.25 s"
    assert Summary.of([0.0581]).scaled(100.0, "%").fmt() == "5.8%"
    assert Summary.of([1.0, 2.0]).fmt(".1f", unit=False) == "1.5 (range of 2: 1.0–2.0)"
    assert six.scaled(100.0, "%").fmt() == "80.0% [78.0–82.0] 96.9% CI"


def test_summary_never_prints_negative_zero():
    assert Summary.of([-0.0001], unit="s").fmt() == "0.00 s"


def test_wilcoxon_signed_rank_exact_p_values():
    """Exact two-sided p of the paired test on log ratios, checked against counting subsets."""
    ones = [1.0] * 8
    assert stats.wilcoxon_signed_rank([2.0] * 8, ones).p == pytest.approx(2 / 2**8)  # all faster
    assert stats.wilcoxon_signed_rank([0.5] * 6, [1.0] * 6).p == pytest.approx(2 / 2**6)
    assert not stats.wilcoxon_signed_rank([2.0] * 5, [1.0] * 5).testable  # 2/32 > 0.05: never rejects
    # log ratios 1..5 and -6: W- = 6; subsets of {1..6} with rank sum <= 6 number 14 -> p = 2 * 14/64
    mixed = [math.exp(v) for v in (1, 2, 3, 4, 5, -6)]
    test = stats.wilcoxon_signed_rank(mixed, [1.0] * 6)
    assert test.p == pytest.approx(28 / 64) and not test.differs and test.n1 == 6
