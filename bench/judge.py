"""The one judge: two cells' throughput samples in, one of faster / slower / tie / open out.

Every place in framebench that says "faster", "slower", "tie" or "within noise" (the verdict,
``bench compare``, wrapper cost, input pipelines, ``bench baseline``, version over version and the
race that decides which cells keep running) calls ``judge``. Its rule, stated once:

* the **ratio** is a's speed ÷ b's speed (> 1: a is faster), estimated by Hodges–Lehmann on log values;
* its **interval** has coverage ≥ 1 − α: Moses' interval of the pairwise ratios (independent samples,
  exact Mann–Whitney null) or, for samples paired by round, the Walsh-average interval of the log
  ratios (exact Wilcoxon signed-rank null);
* **faster** (slower): the test rejects at α *and* the whole interval lies above 1 + δ (below
  1 / (1 + δ)), δ the stated minimum effect — a "win" smaller than δ is never called;
* **tie within ±P**: the whole interval lies inside [1 / (1 + P), 1 + P], P the tie margin;
* **open**: anything else (too few runs, or an interval that straddles a boundary).

Because the interval has coverage ≥ 1 − α, "the interval excludes 1" is the test's rejection at α,
so the two conditions of "faster" are one: an interval above 1 + δ. The p-value is kept for display.
Repeated looks (the race) pass a smaller ``alpha`` (see ``bench.planner``: Bonferroni over the
planned looks); the report judges a sitting at the α that sitting's race used, so the report and the
race can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

ALPHA = 0.05  # family-wise level of a verdict (one comparison, or a race's looks together)
MIN_EFFECT = 0.03  # δ: a difference under 3% is never called faster or slower
TIE_MARGIN = 0.10  # P: an interval inside ±10% is a tie (``bench run --target-precision`` sets it)

LABELS = ("faster", "slower", "tie", "open")


@dataclass(frozen=True)
class Judgement:
    """What the judge decided for a ÷ b, and everything needed to say why."""

    label: str  # faster | slower | tie | open  (a relative to b)
    ratio: float | None  # a's speed ÷ b's speed (Hodges–Lehmann); None without data
    low: float | None  # the interval of the ratio
    high: float | None
    coverage: float | None  # the interval's exact coverage; None: no interval (too few runs: a range)
    p: float | None  # two-sided p of the test; None: too few runs for the test to reach alpha
    test: str  # "Mann–Whitney U" or "Wilcoxon signed-rank, paired by round"
    alpha: float
    min_effect: float  # δ
    tie_margin: float  # P
    n_a: int
    n_b: int

    @property
    def settled(self) -> bool:
        """Whether the comparison is decided (faster, slower or tie)."""
        return self.label != "open"

    def interval_text(self) -> str:
        """``[1.06–1.34, 95.9% CI]`` or ``(range 0.91–1.20)``; '' without data."""
        if self.low is None or self.high is None:
            return ""
        bounds = f"{self.low:.2f}–{self.high:.2f}"
        if self.coverage is None:
            return f"(range {bounds})"
        return f"[{bounds}, {100 * self.coverage:.1f}% CI]"

    def p_text(self) -> str:
        """``p=0.015``, ``p<0.001``, or '' when untestable."""
        if self.p is None:
            return ""
        return "p<0.001" if self.p < 0.001 else f"p={self.p:.3f}"

    def word(self) -> str:
        """The verdict as a reader reads it: ``faster``, ``slower``, ``tie within ±10%``, ``open``."""
        if self.label == "tie":
            return f"tie within ±{self.tie_margin:.0%}"
        return self.label

    def text(self) -> str:
        """``faster: 1.19× [1.06–1.34, 95.9% CI] (Mann–Whitney U, p=0.015)``."""
        if self.ratio is None:
            return f"{self.word()} (no runs to compare)"
        extra = ", ".join(filter(None, [self.test, self.p_text()]))
        return f"{self.word()}: {self.ratio:.2f}× {self.interval_text()} ({extra})".replace("  ", " ")

    def rule(self) -> str:
        """The rule this judgement applied, for a report's legend."""
        return rule_text(self.alpha, self.min_effect, self.tie_margin, self.test)


def rule_text(alpha: float = ALPHA, min_effect: float = MIN_EFFECT, tie_margin: float = TIE_MARGIN,
              test: str = "Mann–Whitney U") -> str:  # fmt: skip
    """One sentence stating the judge's rule with its parameters."""
    return (
        f"faster/slower: two-sided exact {test} at α = {alpha:.3g} and the ratio's {100 * (1 - alpha):.3g}% "
        f"interval outside ±{min_effect:.0%} (minimum effect); tie: the interval inside ±{tie_margin:.0%}; "
        f"otherwise open"
    )


def _finite_positive(values: Sequence[float | None]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            out.append(f)
    return out


def judge(
    a: Sequence[float | None],
    b: Sequence[float | None],
    *,
    paired: bool = False,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    tie_margin: float = TIE_MARGIN,
) -> Judgement:
    """Judge a against b (speeds: larger is faster). ``paired``: ``a[i]`` and ``b[i]`` were measured
    in the same round (same minutes); None entries (a cell without a run that round) drop the pair."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if paired:
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if _finite_positive([x]) and _finite_positive([y])]
        logs = [math.log(float(x) / float(y)) for x, y in pairs]
        estimate, low, high, coverage, p = _paired(logs, alpha)
        n_a = n_b = len(logs)
        test = "Wilcoxon signed-rank, paired by round"
    else:
        xs, ys = _finite_positive(a), _finite_positive(b)
        estimate, low, high, coverage, p = _independent(xs, ys, alpha)
        n_a, n_b = len(xs), len(ys)
        test = "Mann–Whitney U"
    label = decide(low, high, coverage, min_effect, tie_margin)
    return Judgement(label, estimate, low, high, coverage, p, test, alpha, min_effect, tie_margin, n_a, n_b)


def decide(low: float | None, high: float | None, coverage: float | None, min_effect: float,
           tie_margin: float) -> str:  # fmt: skip
    """The rule on an interval of coverage ≥ 1 − α (None: no interval, so open)."""
    if low is None or high is None or coverage is None:
        return "open"
    if low > 1 + min_effect:
        return "faster"
    if high < 1 / (1 + min_effect):
        return "slower"
    if low >= 1 / (1 + tie_margin) and high <= 1 + tie_margin:
        return "tie"
    return "open"


# ----------------------------------------------------------------------------------------------
# independent samples: Hodges–Lehmann estimate, Moses interval, exact Mann–Whitney


@lru_cache(maxsize=512)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """Counts of each U = 0..n1·n2 over all C(n1+n2, n1) orderings (Gaussian binomial coefficient)."""
    size = n1 * n2 + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, n1 + 1):
        shift = n2 + i
        for u in range(size - 1, shift - 1, -1):
            poly[u] -= poly[u - shift]
        for u in range(i, size):
            poly[u] += poly[u - i]
    return tuple(poly)


def _order_interval(values: list[float], counts: tuple[int, ...], total: float, alpha: float):
    """(low, high, coverage) of the sorted log ``values``: the k-th smallest and largest with the
    largest k whose exact coverage 1 - 2·P(statistic <= k-1) (null ``counts`` of ``total``) reaches
    1 - alpha, back on the ratio scale; (min, max, None) when no k does (a range, not an interval)."""
    best, cumulative = None, 0
    for k in range(1, len(values) // 2 + 1):
        cumulative += counts[k - 1]
        coverage = 1.0 - 2.0 * cumulative / total
        if coverage < 1 - alpha:
            break
        best = (k, coverage)
    if best is None:
        return math.exp(values[0]), math.exp(values[-1]), None
    k, coverage = best
    return math.exp(values[k - 1]), math.exp(values[len(values) - k]), coverage


def _independent(xs: list[float], ys: list[float], alpha: float):
    if not xs or not ys:
        return None, None, None, None, None
    logs = sorted(math.log(x) - math.log(y) for x in xs for y in ys)
    estimate = math.exp(_median(logs))
    counts = _u_counts(len(xs), len(ys))
    total = float(sum(counts))
    low, high, coverage = _order_interval(logs, counts, total, alpha)
    if coverage is None:
        return estimate, low, high, None, None
    # U of a over b, with ties counted one half; exact two-sided p from the null counts (no ties) or
    # scipy's handling of ties.
    u = sum((x > y) + 0.5 * (x == y) for x in xs for y in ys)
    p = _mw_p(u, len(xs), len(ys), counts, total, tied=len(set(xs) | set(ys)) < len(xs) + len(ys))
    return estimate, low, high, coverage, p


def _mw_p(u: float, n1: int, n2: int, counts: tuple[int, ...], total: float, tied: bool) -> float:
    """Two-sided p of U: exact from the null counts without ties; with ties the normal approximation
    with continuity correction (standard library only: the framework environments have no scipy)."""
    if not tied:
        lower = min(u, n1 * n2 - u)
        return min(1.0, 2.0 * sum(counts[: math.floor(lower) + 1]) / total)
    mean, sd = n1 * n2 / 2, math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    z = max(abs(u - mean) - 0.5, 0.0) / sd if sd else 0.0
    return min(1.0, math.erfc(z / math.sqrt(2)))


# ----------------------------------------------------------------------------------------------
# paired samples: Walsh averages, exact signed-rank null


@lru_cache(maxsize=256)
def _signed_rank_counts(n: int) -> tuple[int, ...]:
    """Counts of each W+ = 0..n(n+1)/2 over the 2^n sign patterns."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    return tuple(counts)


def _paired(logs: list[float], alpha: float):
    n = len(logs)
    if n == 0:
        return None, None, None, None, None
    walsh = sorted((logs[i] + logs[j]) / 2 for i in range(n) for j in range(i, n))
    estimate = math.exp(_median(walsh))
    low, high, coverage = _order_interval(walsh, _signed_rank_counts(n), float(2**n), alpha)
    if coverage is None:
        return estimate, low, high, None, None
    nonzero = [d for d in logs if d != 0]
    order = sorted(range(len(nonzero)), key=lambda i: abs(nonzero[i]))
    w_plus = sum(rank for rank, i in enumerate(order, start=1) if nonzero[i] > 0)
    m = len(nonzero)
    if m == 0:
        return estimate, low, high, coverage, 1.0
    null = _signed_rank_counts(m)
    w = min(w_plus, m * (m + 1) // 2 - w_plus)
    p = min(1.0, 2.0 * sum(null[: w + 1]) / 2**m)
    return estimate, low, high, coverage, p


def _median(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
