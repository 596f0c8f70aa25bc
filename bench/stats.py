"""Small statistics for the report: median, quartiles, a seeded bootstrap CI, and "within noise".

Everything here is deterministic: the bootstrap draws its resamples from a fixed seed, so the same
measurements always give the same interval and the report diffs cleanly. Quartiles use linear
interpolation between order statistics (numpy's default, ``statistics.quantiles(method="inclusive")``,
the same definition ``bench.runner.summarize`` uses). Works with numpy 1.23 and 2.x.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95  # two-sided level of the bootstrap interval
BOOTSTRAP_RESAMPLES = 2000  # enough for stable 2.5/97.5 percentiles; < 10 ms for a few seeds
BOOTSTRAP_SEED = 20_240_607  # fixed: the same inputs always give the same interval

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


def bootstrap_ci(
    values: Iterable[float],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Return the seeded percentile-bootstrap interval of the median (a point for n = 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    array = np.sort(_clean(values))  # sorted: the interval does not depend on the input order
    if array.size == 1 or float(array.min()) == float(array.max()):
        return float(array[0]), float(array[0])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, array.size, size=(resamples, array.size))
    medians = np.median(array[picks], axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


def _number(value: float, spec: str) -> str:
    text = format(value, spec)
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"


@dataclass(frozen=True)
class Summary:
    """A median with its bootstrap interval [low, high], quartiles, range, count and unit."""

    median: float
    low: float
    high: float
    n: int
    unit: str = ""
    q1: float | None = None
    q3: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def of(cls, values: Iterable[float], unit: str = "") -> Summary:
        """Summarise measurements (None and non-finite values are dropped)."""
        array = _clean(values)
        low, high = bootstrap_ci(array)
        q1, q3 = quartiles(array)
        return cls(
            median=float(np.median(array)),
            low=low,
            high=high,
            n=int(array.size),
            unit=unit,
            q1=q1,
            q3=q3,
            minimum=float(array.min()),
            maximum=float(array.max()),
        )

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
        )

    def _spec(self, spec: str | None) -> str:
        return spec or UNIT_FORMATS.get(self.unit, ".4g")

    def _suffix(self, unit: bool) -> str:
        if not unit or not self.unit:
            return ""
        return self.unit if self.unit == "%" else f" {self.unit}"

    def fmt(self, spec: str | None = None, unit: bool = True) -> str:
        """Render ``median [low–high] unit``; a single measurement renders without an interval."""
        spec = self._spec(spec)
        text = _number(self.median, spec)
        if self.n > 1:
            text += f" [{_number(self.low, spec)}–{_number(self.high, spec)}]"
        return text + self._suffix(unit)

    def fmt_median(self, spec: str | None = None, unit: bool = True) -> str:
        """Render only the median and the unit."""
        return _number(self.median, self._spec(spec)) + self._suffix(unit)

    def fmt_iqr(self, spec: str | None = None, unit: bool = True) -> str:
        """Render the interquartile range as ``q1–q3 unit``."""
        spec = self._spec(spec)
        q1 = self.median if self.q1 is None else self.q1
        q3 = self.median if self.q3 is None else self.q3
        return f"{_number(q1, spec)}–{_number(q3, spec)}" + self._suffix(unit)

    def overlaps(self, other: Summary) -> bool:
        """Whether the two intervals share any value (the difference is within noise)."""
        return overlaps(self, other)


def overlaps(a: Summary | Sequence[float], b: Summary | Sequence[float]) -> bool:
    """Whether two intervals (Summaries or (low, high) pairs) overlap; touching counts as overlap."""
    a_low, a_high = (a.low, a.high) if isinstance(a, Summary) else (float(a[0]), float(a[1]))
    b_low, b_high = (b.low, b.high) if isinstance(b, Summary) else (float(b[0]), float(b[1]))
    if any(math.isnan(x) for x in (a_low, a_high, b_low, b_high)):
        return False
    return a_low <= b_high and b_low <= a_high
