"""The race's error control, proven by simulation: the real planner and judge, a simulated clock.

A fake pair of cells in one contest, each process's throughput drawn as
``true speed × per-process offset (lognormal, SD 12%) × epoch noise (lognormal, SD 8%, one timed
epoch per process) × 0.85 while a slow episode lasts`` (episodes of a few simulated minutes hit every
process that starts inside them, both cells alike). Each process costs simulated seconds (the
accuracy run ``FULL_S``, a timing run ``TIMING_S``); the budget is ``BUDGET_MINUTES``. No process,
no sleep, no timing: seeded and deterministic.

A race **calls a winner** when a look of the race settles the rival *slower*, or the final verdict
(``compare_cells`` on every sample at the sitting's ``alpha_per_look``, the report's look) says
faster or slower. Computed by this file at its seeds (``pytest -s`` prints them):

* no true difference, 400 races: false-winner rate 0.0125 (bound: α = 0.05 plus the binomial margin);
* a true 15% gap, 400 races: the right winner in 0.8825 of them (the wrong one in 0.0000) (bound: 0.80).

The budget (20 simulated minutes: 60 rounds of the pair) is what gives the 15% gap that power: each
timing process is 10 s here, so the pair gets ~60 processes each.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from types import SimpleNamespace

from bench import judge, planner

RACES = 400
FULL_S, TIMING_S = 20.0, 10.0
BUDGET_MINUTES = 20.0
PROCESS_SD, EPOCH_SD, EPISODE_DROP = 0.12, 0.08, 0.15
EPISODE_EVERY_S, EPISODE_MIN_S, EPISODE_MAX_S = 600.0, 120.0, 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lognormal(rng: random.Random, sd: float) -> float:
    sigma = math.sqrt(math.log(1 + sd**2))  # SD of the ratio itself, mean 1
    return rng.lognormvariate(-(sigma**2) / 2, sigma)


def _episodes(rng: random.Random, horizon: float) -> list[tuple[float, float]]:
    out, t = [], 0.0
    while t < horizon:
        t += rng.expovariate(1 / EPISODE_EVERY_S)
        out.append((t, t + rng.uniform(EPISODE_MIN_S, EPISODE_MAX_S)))
    return out


def race(seed: int, gap: float) -> tuple[str | None, planner.Planner]:
    """One simulated sitting of cells a (true speed 1 + gap) and b (1); the winner it calls, if any."""
    rng = random.Random(seed)
    truth = {"a": 1.0 + gap, "b": 1.0}
    runs = [
        SimpleNamespace(
            framework=name,
            mode="m",
            model="lenet",
            device="cpu",
            seed=s,
            purpose="full" if s == 0 else "timing",
        )
        for name in truth
        for s in range(200)
    ]
    clock = Clock()
    sitting = planner.new_sitting(datetime(2026, 12, 5, tzinfo=UTC), BUDGET_MINUTES,
                                  judge.TIE_MARGIN, order_seed=seed, rng=random.Random(seed))  # fmt: skip
    plan = planner.Planner(runs, sitting, clock)
    slow = _episodes(rng, 3 * 60 * BUDGET_MINUTES)
    called: str | None = None
    while slots := plan.next_round():
        for slot in slots:
            if not plan.begin(slot):
                continue
            start = clock.now
            factor = 1 - EPISODE_DROP if any(lo <= start < hi for lo, hi in slow) else 1.0
            speed = (
                truth[slot.run.framework] * _lognormal(rng, PROCESS_SD) * _lognormal(rng, EPOCH_SD) * factor
            )
            clock.now += FULL_S if slot.run.purpose == "full" else TIMING_S
            plan.finish(slot, "ok", speed)
        for cell in plan.end_round().left:
            if cell.judgement is not None and cell.judgement.label == "slower" and called is None:
                called = "b" if cell.key[0] == "a" else "a"
    if called is None:
        a, b = (cell.speeds for cell in plan.cells.values())
        final = planner.compare_cells(a, b, sitting.alpha_per_look, sitting.target_precision)
        called = {"faster": "a", "slower": "b"}.get(final.label)
    return called, plan


def _margin(p: float, n: int) -> float:
    """One-sided 99% binomial margin: z(0.99) · sqrt(p (1 − p) / n)."""
    return 2.326 * math.sqrt(p * (1 - p) / n)


def test_no_true_difference_calls_a_winner_in_at_most_alpha():
    wins = [race(seed, 0.0)[0] for seed in range(RACES)]
    rate = sum(w is not None for w in wins) / RACES
    print(f"\nno true difference: a winner called in {rate:.4f} of {RACES} races (alpha {judge.ALPHA})")
    assert rate <= judge.ALPHA + _margin(judge.ALPHA, RACES)


def test_a_true_15_percent_gap_is_found_in_at_least_80_percent():
    outcomes = [race(10_000 + seed, 0.15) for seed in range(RACES)]
    power = sum(w == "a" for w, _ in outcomes) / RACES
    wrong = sum(w == "b" for w, _ in outcomes) / RACES
    rounds = sorted(plan.round for _, plan in outcomes)
    print(f"\n15% gap: the right winner in {power:.4f} of {RACES} races, the wrong one in {wrong:.4f}; "
          f"rounds per race {rounds[0]}-{rounds[-1]}")  # fmt: skip
    assert power >= 0.80
    assert wrong <= judge.ALPHA + _margin(judge.ALPHA, RACES)


def test_every_race_ends_within_its_budget_plus_one_process():
    for seed in range(20):
        _, plan = race(seed, 0.15)
        assert plan.elapsed() <= 60 * BUDGET_MINUTES + FULL_S
