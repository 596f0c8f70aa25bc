"""What a run's per-epoch curve says: steady throughput, time to the target accuracy, warm evaluation.

Pure functions over the curve the child records (one point per epoch; curve[0] is the warm-up).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.stats import quartiles


def time_to_target(curve: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """First epoch whose test accuracy reaches ``target``: cumulative training and wall seconds."""
    train_seconds = wall_seconds = 0.0
    for point in curve:
        train_seconds += point["train_seconds"]
        wall_seconds += point["train_seconds"] + point["eval_seconds"]
        if point["test_accuracy"] >= target:
            return {"target": target, "epoch": point["epoch"], "train_seconds": train_seconds,
                    "wall_seconds": wall_seconds}  # fmt: skip
    return {"target": target, "epoch": None, "train_seconds": None, "wall_seconds": None}


def summarize(curve: list[dict[str, Any]], train_examples: int, test_examples: int) -> dict[str, Any]:
    """Metrics from the per-epoch curve; curve[0] (the warm-up: compilation) is kept out of steady state.

    ``first_epoch_seconds`` is curve[0]'s time only when it was a whole epoch (not a warm-up by steps);
    accuracy and loss are the last evaluated point's (a timing run is never evaluated: None)."""
    steady = [p.get("train_examples", train_examples) / p["train_seconds"] for p in curve[1:]]
    evaluated = [p for p in curve if p.get("test_accuracy") is not None]
    return {
        "final_test_accuracy": evaluated[-1]["test_accuracy"] if evaluated else None,
        "final_train_loss": curve[-1]["train_loss"],
        "steady_examples_per_sec": statistics.median(steady) if steady else None,
        "steady_examples_per_sec_iqr": list(quartiles(steady)) if len(steady) >= 2 else None,
        "steady_epochs": len(steady),
        "first_epoch_seconds": None if curve[0].get("warmup_steps") else curve[0]["train_seconds"],
        "train_seconds_total": sum(p["train_seconds"] for p in curve),
        "eval_examples_per_sec": warm_eval_examples_per_sec(curve, test_examples),
    }


def warm_eval_examples_per_sec(curve: list[dict[str, Any]], test_examples: int) -> float | None:
    """Median evaluation throughput over the warm evaluations only (None when there is none).

    A run's first evaluation compiles or warms up the eval path (JAX traces its eval function then), so
    it never counts: an epoch's evaluation counts when it says ``eval_warm``, or, in records without the
    flag, when it is not the run's first.
    """
    evaluated = [p for p in curve if p.get("eval_seconds")]
    flagged = any("eval_warm" in p for p in evaluated)
    warm = [p for p in evaluated if p.get("eval_warm")] if flagged else evaluated[1:]
    return statistics.median(test_examples / p["eval_seconds"] for p in warm) if warm else None
