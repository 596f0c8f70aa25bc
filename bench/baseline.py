"""Our training path vs a plain idiomatic loop of the same framework, measured side by side.

Each implementation folder may provide ``baseline.py`` with ``plain_epochs(...)``: a generator that
trains the way a textbook script would and yields the wall seconds of each epoch. Both sides train
the same model from the same canonical weights on the same data, in one process with the same
thread settings, **interleaved epoch by epoch** (A B, then B A, ...). This machine's speed drifts by
tens of percent over minutes, and interleaving makes each pair of epochs see the same conditions.
Each side's first epoch (warm-up, tracing) is dropped.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import records


def _harness_epochs(framework: Any, spec: Any, dataset: Any, seed: int) -> Iterator[float]:
    """Yield the seconds of each epoch of the harness's own path (as the runner times it)."""
    import numpy as np

    from bench.data import Dataset

    model = framework.build(spec, "cpu", framework.MODES[0])
    model.set_weights(spec.initial_weights(seed))
    train = model.put(Dataset.as_float(dataset.train_images), dataset.train_labels)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(dataset.train_labels))
        model.sync()
        start = time.perf_counter()
        model.train_epoch(train, order, spec.batch_size, spec.lr)
        model.sync()
        yield time.perf_counter() - start


def compare(
    framework_name: str, models: list[str], epochs: int, threads: int, results: Path, data_dir: str | None
) -> list[dict[str, Any]]:
    """Measure both paths for each model on CPU; print and save (results/baseline/<fw>-<models>.json)."""
    from bench.child import _set_thread_env
    from bench.data import Dataset, load
    from bench.specs import get_spec

    _set_thread_env(threads)
    import impls

    cls = impls.load_class(framework_name)
    plain = importlib.import_module(impls.registry()[framework_name].partition(":")[0] + ".baseline")
    framework = cls(threads=threads)
    dataset = load(data_dir)
    n = len(dataset.train_labels)
    rows = []
    for name in models:
        spec = get_spec(name)
        sides = {
            "harness": _harness_epochs(framework, spec, dataset, seed=0),
            "plain": plain.plain_epochs(
                spec, spec.initial_weights(0), Dataset.as_float(dataset.train_images),
                dataset.train_labels, spec.batch_size, spec.lr, 0, "cpu",
            ),
        }  # fmt: skip
        for side in sides.values():
            next(side)  # warm-up epoch, dropped
        samples: dict[str, list[float]] = {"harness": [], "plain": []}
        for round_index in range(epochs):
            pair = ("harness", "plain") if round_index % 2 == 0 else ("plain", "harness")
            for side in pair:
                samples[side].append(n / next(sides[side]))
        harness, baseline = statistics.median(samples["harness"]), statistics.median(samples["plain"])
        paired = statistics.median(h / p for h, p in zip(samples["harness"], samples["plain"], strict=True))
        row = {
            "framework": framework_name, "mode": framework.MODES[0], "model": name, "device": "cpu",
            "threads": threads, "epochs_per_side": epochs, "harness_examples_per_sec": harness,
            "plain_examples_per_sec": baseline, "ratio": harness / baseline, "paired_ratio": paired,
            "harness_samples": samples["harness"], "plain_samples": samples["plain"],
            "versions": framework.versions(), "measured_at": records.utc_now(),
            "machine": records.machine_of("cpu"),
        }  # fmt: skip
        rows.append(row)
        print(
            f"{framework_name} {name}: harness {harness:,.0f} ex/s, plain loop {baseline:,.0f} ex/s, "
            f"ratio {harness / baseline:.3f} (median of per-epoch pairs {paired:.3f}; "
            f"{epochs} interleaved steady epochs each)"
        )
    out = Path(results) / "baseline" / f"{framework_name}-{'-'.join(models)}.json"
    records.write_atomic(out, {"schema_version": records.SCHEMA_VERSION, "rows": rows})
    return rows
