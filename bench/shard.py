"""``--shard i/n``: split one requested matrix into n disjoint, cost-balanced parts. Standard library only.

Every shard computes the same whole matrix (the same ``bench run`` options) and keeps its own part, so
the n parts are disjoint and together complete without any coordination between the shards:

* runs go to shards in **groups** (``group(run)``; ``bench run --shard`` and ``bench launch`` group by
  contest, ``bench.planner.contest_key``: model, device and setup, never framework), so that a
  verdict's cells are measured in one shard, which is one sitting;
* each run gets an expected cost (:func:`expected_cost`, seconds), a group the sum of its runs';
* groups are taken from the most to the least expensive (ties: earlier in the matrix first) and each
  goes to the currently lightest shard (ties: the lowest shard index) -- the LPT rule, whose heaviest
  shard costs at most the mean shard cost plus the single most expensive group;
* a shard's runs are returned in their original (interleaved) order, so the rotating order across
  frameworks holds inside every shard too.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Expected training seconds per epoch of 60,000 examples at batch size 256, per (model, device): the
# median over frameworks of this repository's measured runs on a 2-core CPU (results/, Nov 2026: LeNet
# 3-6 s, MLP 0.3-0.8 s), and rough figures for one GPU. Only ratios matter for balancing.
SECONDS_PER_EPOCH: dict[tuple[str, str], float] = {
    ("lenet", "cpu"): 4.5,
    ("mlp", "cpu"): 0.5,
    ("lenet", "gpu"): 0.8,
    ("mlp", "gpu"): 0.4,
}
UNKNOWN_MODEL_SECONDS = {"cpu": 4.5, "gpu": 0.8}  # a model not in the table: assume LeNet-like
REFERENCE_BATCH = 256
STEP_OVERHEAD_SECONDS = {"cpu": 0.0005, "gpu": 0.0003}  # per optimizer step beyond the reference's
EVAL_SHARE = 0.06  # one evaluation (10,000 examples, forward only) relative to one training epoch
STARTUP_SECONDS = 6.0  # per run: a fresh process imports the framework, loads data, measures the peak
TRAIN_EXAMPLES = 60_000

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: the 2nd of 4 shards (1-based). ValueError: one line naming the fix."""
    match = _SHARD.fullmatch(text or "")
    if not match:
        raise ValueError(f"--shard needs i/n, e.g. 2/4 for the 2nd of 4 shards, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"--shard {text.strip()}: the shard count must be at least 1, e.g. 1/2")
    if index < 1:
        raise ValueError(f"--shard {text.strip()}: shards count from 1; use 1/{count} to {count}/{count}")
    if index > count:
        raise ValueError(
            f"--shard {text.strip()}: there are only {count} shards; use 1/{count} to {count}/{count}"
        )
    return index, count


def expected_cost(config: Any) -> float:
    """Expected wall seconds of one run (a RunConfig or anything with its attributes).

    startup + trained epochs x seconds per epoch + evaluations x EVAL_SHARE x seconds per epoch, where
    seconds per epoch = SECONDS_PER_EPOCH[model, device] plus STEP_OVERHEAD_SECONDS per optimizer step
    beyond those of batch size 256. A "full" run trains all ``epochs`` and evaluates after each; a
    "timing" run trains ``min(timing_epochs, epochs)`` and evaluates once.
    """
    model = str(getattr(config, "model", ""))
    device = str(getattr(config, "device", "cpu"))
    device = device if device in UNKNOWN_MODEL_SECONDS else "cpu"
    per_epoch = SECONDS_PER_EPOCH.get((model, device), UNKNOWN_MODEL_SECONDS[device])
    batch = max(1, int(getattr(config, "batch_size", REFERENCE_BATCH) or REFERENCE_BATCH))
    extra_steps = max(0.0, TRAIN_EXAMPLES / batch - TRAIN_EXAMPLES / REFERENCE_BATCH)
    per_epoch += extra_steps * STEP_OVERHEAD_SECONDS[device]
    epochs = max(1, int(getattr(config, "epochs", 1) or 1))
    if getattr(config, "purpose", "full") == "timing":
        trained = min(epochs, max(1, int(getattr(config, "timing_epochs", epochs) or epochs)))
        evaluations = 1
    else:
        trained = evaluations = epochs
    return STARTUP_SECONDS + per_epoch * (trained + EVAL_SHARE * evaluations)


def groups(runs: Sequence[T], group: Callable[[T], Hashable] | None = None) -> list[Hashable]:
    """Each run's group key (its own index when ``group`` is None: every run a group of one)."""
    return [i if group is None else group(run) for i, run in enumerate(runs)]


def assign(runs: Sequence[T], count: int, cost: Callable[[T], float],
           group: Callable[[T], Hashable] | None = None) -> list[int]:  # fmt: skip
    """The 0-based shard of each run (LPT over groups, deterministic); see the module docstring."""
    if count < 1:
        raise ValueError(f"the shard count must be at least 1, got {count}")
    keys = groups(runs, group)
    totals: dict[Hashable, float] = {}
    for key, run in zip(keys, runs, strict=True):
        totals[key] = totals.get(key, 0.0) + float(cost(run))
    first = {key: i for i, key in reversed(list(enumerate(keys)))}
    order = sorted(totals, key=lambda key: (-totals[key], first[key]))
    heap = [(0.0, shard) for shard in range(count)]  # (load, shard): the lightest, then the lowest index
    owner_of: dict[Hashable, int] = {}
    for key in order:
        load, shard = heapq.heappop(heap)
        owner_of[key] = shard
        heapq.heappush(heap, (load + totals[key], shard))
    return [owner_of[key] for key in keys]


def select(runs: Sequence[T], index: int, count: int, cost: Callable[[T], float],
           group: Callable[[T], Hashable] | None = None) -> list[T]:  # fmt: skip
    """The runs of shard ``index`` of ``count`` (1-based), in their original order."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: use 1/{count} to {count}/{count}")
    owner = assign(runs, count, cost, group)
    return [run for run, shard in zip(runs, owner, strict=True) if shard == index - 1]


def shard_costs(runs: Sequence[T], count: int, cost: Callable[[T], float],
                group: Callable[[T], Hashable] | None = None) -> list[float]:  # fmt: skip
    """Expected total cost of each shard (for the launcher's summary and the tests)."""
    totals = [0.0] * count
    for run, shard in zip(runs, assign(runs, count, cost, group), strict=True):
        totals[shard] += float(cost(run))
    return totals
