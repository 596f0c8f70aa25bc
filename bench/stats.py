"""Small statistics for the report: medians, quartiles, distribution-free intervals and a stated test.

* The interval of a median is the order-statistic (binomial) interval: for n values the symmetric
  order statistics (x(k), x(n+1-k)) with the largest k whose coverage 1 - 2·BinomCDF(k-1; n, 1/2)
  is at least 95%. Its coverage is exact and assumption-free (independent runs, a continuous
  distribution), and it is printed as it is (e.g. 96.9% for [min, max] of 6 runs). With n <= 5 no
  pair of order statistics reaches 95%: the values are then shown as a *range*, never as an interval.
* The tests here (exact Mann–Whitney U, exact Wilcoxon signed-rank) are building blocks; the words
  faster / slower / tie / open come from ``bench.judge`` only, whose α this module shares.
  With too few runs the smallest attainable p-value is above alpha: then there is no verdict.
* The interval of a ratio of two cells (``ratio_interval``) is the Hodges–Lehmann/Moses interval
  of the shift of log values: order statistics of the n1·n2 pairwise ratios, with the coverage of the
  exact Mann–Whitney null distribution (valid when one cell is the other scaled by a constant).

Everything is deterministic (no resampling). Quartiles use linear interpolation between order
statistics (numpy's default, ``statistics.quantiles(method="inclusive")``; ``bench.child`` uses these).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.judge import (
    ALPHA,  # the judge's level: one α everywhere (re-exported)
    _u_counts,  # the exact Mann–Whitney null counts, written once
)

CONFIDENCE = 0.95  # the least coverage an interval must have to be called one

# How a number with this unit is written when no format is asked for.
UNIT_FORMATS: dict[str, str] = {
    "": ".3f",  # accuracies and other fractions
    "examples/s": ",.0f",
    "s": ".2f",
    "GFLOP/s": ".2f",
    "%": ".1f",
    "MiB": ",.0f",
}


def _clean(values: Iterable[float]) -> np.ndarray:
    """Finite values as a float64 array; fail on an empty input."""
    array = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError("no finite values to summarise")
    return array


def median(values: Iterable[float]) -> float:
    """Return the median of the finite values."""
    return float(np.median(_clean(values)))


def quartiles(values: Iterable[float]) -> tuple[float, float]:
    """Return the first and third quartiles (linear interpolation between order statistics)."""
    q1, q3 = np.percentile(_clean(values), [25.0, 75.0])
    return float(q1), float(q3)


def iqr(values: Iterable[float]) -> float:
    """Return the interquartile range q3 - q1."""
    q1, q3 = quartiles(values)
    return q3 - q1


def order_statistic_k(n: int, confidence: float = CONFIDENCE) -> tuple[int, float] | None:
    """The largest k with coverage of (x(k), x(n+1-k)) >= confidence, and that coverage; None if none."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    from scipy.stats import binom  # lazily: the runner imports this module where scipy is absent

    best = None
    for k in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * float(binom.cdf(k - 1, n, 0.5))
        if coverage < confidence:
            break
        best = (k, coverage)
    return best


@dataclass(frozen=True)
class Interval:
    """An interval [low, high] for a median; ``coverage`` None means it is only the range of n values."""

    low: float
    high: float
    n: int
    coverage: float | None
    k: int | None = None

    @property
    def is_ci(self) -> bool:
        """Whether this is a confidence interval (coverage >= 95%), not a plain range."""
        return self.coverage is not None

    def label(self) -> str:
        """``96.9% CI, order statistics`` or ``range of 3``."""
        if self.coverage is None:
            return f"range of {self.n}"
        return f"{_percent(self.coverage)} CI, order statistics"


def _percent(coverage: float) -> str:
    return f"{100 * coverage:.1f}%"


def median_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """The order-statistic interval of the median (or the range, when n is too small for ``confidence``)."""
    array = np.sort(_clean(values))
    n = int(array.size)
    found = order_statistic_k(n, confidence)
    if found is None:
        return Interval(float(array[0]), float(array[-1]), n, None)
    k, coverage = found
    return Interval(float(array[k - 1]), float(array[n - k]), n, coverage, k)


def min_p_value(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the exact Mann–Whitney test can give for these sizes."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


@dataclass(frozen=True)
class Test:
    """The outcome of a two-sided Mann–Whitney U test of two samples."""

    p: float | None  # None: too few runs for the test to ever reach p < alpha
    n1: int
    n2: int

    @property
    def testable(self) -> bool:
        """Whether the sizes allow p < alpha at all."""
        return self.p is not None

    @property
    def differs(self) -> bool:
        """Whether the test rejects 'same distribution' at alpha."""
        return self.p is not None and self.p < ALPHA

    def p_text(self) -> str:
        """``p=0.002`` (or ``p<0.001``); empty when untestable."""
        if self.p is None:
            return ""
        return "p<0.001" if self.p < 0.001 else f"p={self.p:.3f}"


def mann_whitney(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Test:
    """Two-sided exact Mann–Whitney U test; p None when even total separation cannot reach ``alpha``."""
    x, y = [float(v) for v in a if v is not None], [float(v) for v in b if v is not None]
    x = [v for v in x if math.isfinite(v)]
    y = [v for v in y if math.isfinite(v)]
    if min_p_value(len(x), len(y)) >= alpha:
        return Test(None, len(x), len(y))
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(x, y, alternative="two-sided", method="exact")
    return Test(float(result.pvalue), len(x), len(y))


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Test:
    """Two-sided exact Wilcoxon signed-rank test of paired samples (``a[i]`` with ``b[i]``), on the
    log ratios log(a/b); p None when even all pairs on one side cannot reach ``alpha`` (2 / 2^n)."""
    pairs = zip(a, b, strict=True)
    logs = [math.log(x / y) for x, y in pairs if x and y and x > 0 and y > 0 and math.isfinite(x / y)]
    if 2.0 / 2 ** len(logs) >= alpha:
        return Test(None, len(logs), len(logs))
    magnitudes = [abs(v) for v in logs]
    if 0.0 not in magnitudes and len(set(magnitudes)) == len(magnitudes):
        return Test(_signed_rank_exact_p(logs), len(logs), len(logs))
    from scipy.stats import wilcoxon  # ties or zero differences: scipy's handling of them

    result = wilcoxon(logs, alternative="two-sided", method="exact")
    return Test(float(result.pvalue), len(logs), len(logs))


def _signed_rank_exact_p(differences: Sequence[float]) -> float:
    """Two-sided exact p of the signed-rank statistic for differences without ties or zeros: the null
    distribution of W+ (every sign equally likely) counted by subset sums of the ranks 1..n. Standard
    library only, so the framework environments (``bench baseline``) need no scipy."""
    n = len(differences)
    order = sorted(range(n), key=lambda i: abs(differences[i]))
    w_plus = sum(rank for rank, i in enumerate(order, start=1) if differences[i] > 0)
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    w = min(w_plus, n * (n + 1) // 2 - w_plus)
    return min(1.0, 2.0 * sum(counts[: w + 1]) / 2**n)


@dataclass(frozen=True)
class RatioInterval:
    """Estimate and interval of new/base: Hodges–Lehmann (median pairwise ratio) with Moses' interval."""

    estimate: float
    low: float
    high: float
    coverage: float | None  # None: a range of all pairwise ratios, too few runs for 95%

    def label(self) -> str:
        """``95.9% CI, Hodges–Lehmann`` or ``range of pairwise ratios``."""
        if self.coverage is None:
            return "range of pairwise ratios"
        return f"{_percent(self.coverage)} CI, Hodges–Lehmann"


def ratio_interval(
    base: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE
) -> RatioInterval:
    """Interval of new/base from the n1·n2 pairwise ratios (Moses' distribution-free interval on logs).

    The k-th smallest and k-th largest pairwise ratio bound it, with the largest k whose coverage
    1 - 2·P(U <= k-1) (exact Mann–Whitney null distribution) is at least ``confidence``.
    """
    x, y = _clean(base), _clean(new)
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("ratios need positive values")
    ratios = np.sort((y[None, :] / x[:, None]).ravel())
    estimate = float(np.exp(np.median(np.log(ratios))))
    counts = _u_counts(int(x.size), int(y.size))
    total = float(sum(counts))
    best = None
    cumulative = 0
    for k in range(1, ratios.size // 2 + 1):
        cumulative += counts[k - 1]
        coverage = 1.0 - 2.0 * cumulative / total
        if coverage < confidence:
            break
        best = (k, coverage)
    if best is None:
        return RatioInterval(estimate, float(ratios[0]), float(ratios[-1]), None)
    k, coverage = best
    return RatioInterval(estimate, float(ratios[k - 1]), float(ratios[ratios.size - k]), coverage)


def _number(value: float, spec: str) -> str:
    text = format(value, spec)
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"


@dataclass(frozen=True)
class Summary:
    """A median with its interval [low, high] (coverage None: the range), quartiles, range, count, unit."""

    median: float
    low: float
    high: float
    n: int
    unit: str = ""
    q1: float | None = None
    q3: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    coverage: float | None = None
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Iterable[float], unit: str = "") -> Summary:
        """Summarise measurements (None and non-finite values are dropped)."""
        array = _clean(values)
        interval = median_interval(array)
        q1, q3 = quartiles(array)
        return cls(
            median=float(np.median(array)),
            low=interval.low,
            high=interval.high,
            n=int(array.size),
            unit=unit,
            q1=q1,
            q3=q3,
            minimum=float(array.min()),
            maximum=float(array.max()),
            coverage=interval.coverage,
            values=tuple(float(v) for v in np.sort(array)),
        )

    @property
    def interval(self) -> Interval:
        """The interval of the median as an :class:`Interval`."""
        return Interval(self.low, self.high, self.n, self.coverage)

    def scaled(self, factor: float, unit: str) -> Summary:
        """Return the same summary in another unit (e.g. a fraction as %)."""

        def scale(value: float | None) -> float | None:
            return None if value is None else value * factor

        return Summary(
            self.median * factor,
            self.low * factor,
            self.high * factor,
            self.n,
            unit,
            scale(self.q1),
            scale(self.q3),
            scale(self.minimum),
            scale(self.maximum),
            self.coverage,
            tuple(v * factor for v in self.values),
        )

    def _spec(self, spec: str | None) -> str:
        return spec or UNIT_FORMATS.get(self.unit, ".4g")

    def _suffix(self, unit: bool) -> str:
        if not unit or not self.unit:
            return ""
        return self.unit if self.unit == "%" else f" {self.unit}"

    def interval_text(self, spec: str | None = None) -> str:
        """``[a–b] 96.9% CI`` for an interval, ``(range of 3: a–b)`` for a range, '' for one run."""
        spec = self._spec(spec)
        if self.n < 2:
            return ""
        bounds = f"{_number(self.low, spec)}–{_number(self.high, spec)}"
        if self.coverage is None:
            return f"(range of {self.n}: {bounds})"
        return f"[{bounds}] {_percent(self.coverage)} CI"

    def fmt(self, spec: str | None = None, unit: bool = True) -> str:
        """``median [low–high] 96.9% CI``, ``median (range of n: low–high)``, or the median alone for n=1.

        The unit, when asked for, follows the median: ``80.0% [78.0–82.0] 96.9% CI``.
        """
        text = _number(self.median, self._spec(spec)) + self._suffix(unit)
        extra = self.interval_text(spec)
        return f"{text} {extra}" if extra else text

    def fmt_median(self, spec: str | None = None, unit: bool = True) -> str:
        """Render only the median and the unit."""
        return _number(self.median, self._spec(spec)) + self._suffix(unit)

    def fmt_iqr(self, spec: str | None = None, unit: bool = True) -> str:
        """Render the interquartile range as ``q1–q3 unit``."""
        spec = self._spec(spec)
        q1 = self.median if self.q1 is None else self.q1
        q3 = self.median if self.q3 is None else self.q3
        return f"{_number(q1, spec)}–{_number(q3, spec)}" + self._suffix(unit)
