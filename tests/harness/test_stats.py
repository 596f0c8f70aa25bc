"""bench.stats: known inputs give known medians, quartiles, bootstrap intervals and overlaps."""

from __future__ import annotations

import math
import statistics

import pytest

from bench import stats
from bench.stats import Summary, bootstrap_ci, iqr, median, overlaps, quartiles


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


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], (1.0, 5.0)),  # n=5: the median can land on an extreme
        ([float(i) for i in range(1, 11)], (3.0, 8.0)),
        ([float(i) for i in range(1, 21)], (6.4875, 14.5)),
        ([0.2, 0.9, 0.4, 0.7, 0.5, 0.6], (0.3, 0.8)),
    ],
)
def test_bootstrap_ci_known_values(values, expected):
    """Pinned: the seeded bootstrap gives these intervals (same on numpy 1.23 and 2.x)."""
    assert bootstrap_ci(values) == pytest.approx(expected)


def test_bootstrap_ci_is_deterministic_and_order_free():
    values = [10.2, 9.7, 10.9, 10.1, 9.5, 10.4, 10.0]
    first = bootstrap_ci(values)
    assert bootstrap_ci(values) == first
    assert bootstrap_ci(list(reversed(values))) == first
    assert bootstrap_ci(sorted(values)) == first
    low, high = first
    assert min(values) <= low <= median(values) <= high <= max(values)


def test_bootstrap_ci_narrower_at_lower_confidence():
    values = [float(i) for i in range(1, 21)]
    assert bootstrap_ci(values, confidence=0.5) == pytest.approx((9.0, 12.0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(values, confidence=1.0)


def test_bootstrap_ci_degenerate_inputs():
    assert bootstrap_ci([4.2]) == (4.2, 4.2)
    assert bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)


def test_bootstrap_uses_a_fixed_seed():
    assert isinstance(stats.BOOTSTRAP_SEED, int)
    values = [1.0, 5.0, 2.0, 8.0, 3.0, 9.0]
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)


def test_summary_of_collects_everything():
    summary = Summary.of([10.0, 12.0, 11.0, None], unit="s")
    assert summary.median == 11.0
    assert (summary.low, summary.high) == (10.0, 12.0)
    assert summary.n == 3
    assert (summary.q1, summary.q3) == (10.5, 11.5)
    assert (summary.minimum, summary.maximum) == (10.0, 12.0)
    assert summary.unit == "s"


def test_summary_renders_itself_with_its_unit():
    throughput = Summary.of([10_000.0, 60_000 / 6.1, 60_000 / 5.9], unit="examples/s")
    assert throughput.fmt() == "10,000 [9,836–10,169] examples/s"
    assert throughput.fmt(unit=False) == "10,000 [9,836–10,169]"
    assert throughput.fmt_median() == "10,000 examples/s"
    assert Summary.of([0.81, 0.80, 0.79]).fmt() == "0.800 [0.790–0.810]"
    assert Summary.of([2.5], unit="s").fmt() == "2.50 s"  # one run: no interval
    assert Summary.of([1.0, 2.0, 3.0, 4.0], unit="s").fmt_iqr() == "1.75–3.25 s"
    assert Summary.of([0.0581]).scaled(100.0, "%").fmt() == "5.8%"
    assert Summary.of([1.0, 2.0]).fmt(".1f", unit=False) == "1.5 [1.0–2.0]"


def test_summary_never_prints_negative_zero():
    assert Summary.of([-0.0001], unit="s").fmt() == "0.00 s"


def test_overlaps():
    a = Summary(10.0, 9.0, 11.0, 3)
    assert overlaps(a, Summary(12.0, 10.5, 13.0, 3))  # interval overlap
    assert overlaps(a, Summary(12.0, 11.0, 13.0, 3))  # touching counts
    assert not overlaps(a, Summary(12.5, 11.5, 13.0, 3))
    assert overlaps(a, a)
    assert a.overlaps(Summary(8.0, 7.0, 9.5, 3))
    assert overlaps((1.0, 2.0), (1.5, 3.0)) and not overlaps((1.0, 2.0), (2.5, 3.0))
    assert not overlaps((math.nan, 1.0), (0.0, 1.0))


def test_overlaps_is_symmetric_and_single_runs_only_overlap_when_equal():
    single, other = Summary.of([100.0]), Summary.of([101.0])
    assert not overlaps(single, other) and not overlaps(other, single)
    assert overlaps(single, Summary.of([100.0]))
