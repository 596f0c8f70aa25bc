"""Our training path vs a plain idiomatic loop of the same framework, measured side by side.

Each implementation folder may provide ``baseline.py`` with ``plain_train(...) -> seconds per epoch``.
Both sides train the same model from the same canonical weights on the same data, in the same process
and thread settings, alternating A-B-B-A so that drift (thermal, other load) hits both equally.
Steady-state examples/sec excludes each side's first epoch, as in the runner.
"""

from __future__ import annotations

import importlib
import statistics
import time
from pathlib import Path
from typing import Any

from bench import records


def _harness_epochs(framework: Any, spec: Any, dataset: Any, epochs: int, seed: int) -> list[float]:
    import numpy as np

    from bench.data import Dataset

    model = framework.build(spec, "cpu", framework.MODES[0])
    model.set_weights(spec.initial_weights(seed))
    train = model.put(Dataset.as_float(dataset.train_images), dataset.train_labels)
    rng = np.random.default_rng(seed)
    seconds = []
    for _ in range(epochs):
        order = rng.permutation(len(dataset.train_labels))
        model.sync()
        start = time.perf_counter()
        model.train_epoch(train, order, spec.batch_size, spec.lr)
        model.sync()
        seconds.append(time.perf_counter() - start)
    return seconds


def compare(
    framework_name: str, models: list[str], epochs: int, threads: int, results: Path, data_dir: str | None
) -> list[dict[str, Any]]:
    """Measure both paths for each model on CPU; print and save (results/baseline/<fw>.json)."""
    from bench.data import Dataset, load
    from bench.runner import _set_thread_env
    from bench.specs import get_spec

    _set_thread_env(threads)
    import impls

    cls = impls.load_class(framework_name)
    plain = importlib.import_module(impls.registry()[framework_name].partition(":")[0] + ".baseline")
    framework = cls(threads=threads)
    dataset = load(data_dir)
    rows = []
    for name in models:
        spec = get_spec(name)
        samples: dict[str, list[float]] = {"harness": [], "plain": []}
        for side in ("harness", "plain", "plain", "harness"):
            if side == "harness":
                secs = _harness_epochs(framework, spec, dataset, epochs, seed=0)
            else:
                secs = plain.plain_train(
                    spec, spec.initial_weights(0), Dataset.as_float(dataset.train_images),
                    dataset.train_labels, epochs, spec.batch_size, spec.lr, 0, "cpu",
                )  # fmt: skip
            samples[side].extend(len(dataset.train_labels) / s for s in secs[1:])  # drop warm-up epoch
        harness, baseline = statistics.median(samples["harness"]), statistics.median(samples["plain"])
        row = {
            "framework": framework_name, "mode": framework.MODES[0], "model": name, "device": "cpu",
            "threads": threads, "epochs_per_side": epochs, "harness_examples_per_sec": harness,
            "plain_examples_per_sec": baseline, "ratio": harness / baseline,
            "harness_samples": samples["harness"], "plain_samples": samples["plain"],
            "versions": framework.versions(), "measured_at": records.utc_now(),
        }  # fmt: skip
        rows.append(row)
        print(
            f"{framework_name} {name}: harness {harness:,.0f} ex/s, plain loop {baseline:,.0f} ex/s, "
            f"ratio {harness / baseline:.3f} (median of {len(samples['harness'])} steady epochs each)"
        )
    out = Path(results) / "baseline" / f"{framework_name}.json"
    records.write_atomic(out, {"schema_version": records.SCHEMA_VERSION, "rows": rows})
    return rows
