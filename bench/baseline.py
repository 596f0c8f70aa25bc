"""Our training path vs the plain loops of the same framework, measured side by side, and the gate.

Each implementation folder provides ``baseline.py`` (see impls/ADDING_A_FRAMEWORK.md) with
``plain_epochs(args)``, the framework's **textbook** loop, and ``skilled_epochs(args)`` with
``SKILLED``, the plain loop a **skilled** user writes for each CPU mode (``args.mode``): they train the
way those scripts would and yield the wall seconds of each epoch. Their one argument object
(``LoopArgs``), the skilled loops' mode guard and the clock around each epoch are ``bench.loops``'s.
The three sides (ours in the mode, the
textbook loop, the skilled loop) train the same model from the same canonical weights on the same
data, in one process with the same thread settings, **interleaved epoch by epoch**: each round runs
every side once, the rounds cycling through every order of the sides, so that each pair of epochs
compared sees the same machine conditions (this machine's speed drifts by tens of percent over
minutes). Each side's first epoch (warm-up, tracing, compilation) is dropped.

**The gate**: a row *trails* its skilled loop when the one judge (``bench.judge``, paired by round:
exact two-sided Wilcoxon signed-rank at its α) calls ours slower with a minimum effect of 2%: the
interval of the paired ratio ours / skilled lies wholly below 1 / 1.02. A row that trails is
measured once more, in a fresh process,
and the second measurement decides (the first is kept in the row as ``first_measurement``): each
row is tested at the judge's α, so over a full run's ~30 rows one trails by chance about a third of the
time when nothing differs, a given row twice in a row about 1 time in 4,000. ``nox -s baseline``
exits non-zero when any row trails, or has no skilled loop to check it against.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import json
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import judge as judging
from bench import records, stats
from bench.loops import LoopArgs, deferred, timed_epochs

SIDES = ("ours", "textbook", "skilled")
MARGIN = 0.02  # ours may trail its skilled loop by up to 2% before the gate fails
MIN_PAIRS = 6  # the exact signed-rank test's smallest two-sided p with 5 pairs is 2/32 > 0.05
EXIT_TRAILS = 3  # a measuring process whose row fails the gate (1 is any Python error)


GATE_RULE = (
    f"a row trails when the judge, paired by round, calls it slower with a minimum effect of {MARGIN:.0%} "
    f"({judging.rule_text(min_effect=MARGIN, test='Wilcoxon signed-rank, paired by round')})"
)


@dataclass(frozen=True)
class Judgement:
    """Ours against one reference loop, from the per-round pairs of examples/s (``bench.judge``)."""

    ratio: float | None  # ratio of medians, ours / reference
    paired_ratio: float | None  # median of the per-round ratios ours / reference
    p: float | None  # exact two-sided Wilcoxon signed-rank p; None: too few pairs to ever reach α
    pairs: int
    judged: judging.Judgement | None = None  # the judge with no minimum effect: the test's word
    gate: judging.Judgement | None = None  # the judge with the gate's minimum effect, ``MARGIN``

    @property
    def verdict(self) -> str:
        """The judge's word: ``slower``, ``faster``, ``tie within ±P`` or ``open``."""
        return "open" if self.judged is None else self.judged.word()

    @property
    def trails(self) -> bool:
        """Slower by the judge (paired by round) beyond the gate's minimum effect ``MARGIN``."""
        return self.gate is not None and self.gate.label == "slower"

    def text(self) -> str:
        """``0.89× (slower, Wilcoxon p=0.031)``."""
        if self.paired_ratio is None:
            return "—"
        p = "too few pairs" if self.p is None else (" p<0.001" if self.p < 0.001 else f" p={self.p:.3f}")
        test = f"{self.verdict}, too few pairs" if self.p is None else f"{self.verdict}, Wilcoxon{p}"
        return f"{self.paired_ratio:.2f}× ({test})"


def judge(ours: list[float], reference: list[float] | None) -> Judgement:
    """Compare per-round examples/s of ours with a reference loop's (paired by round, ``bench.judge``)."""
    if not ours or not reference or len(ours) != len(reference):
        return Judgement(None, None, None, 0)
    judged = judging.judge(ours, reference, paired=True, min_effect=0.0)
    return Judgement(
        ratio=statistics.median(ours) / statistics.median(reference),
        paired_ratio=statistics.median(o / r for o, r in zip(ours, reference, strict=True)),
        p=judged.p,
        pairs=len(ours),
        judged=judged,
        gate=judging.judge(ours, reference, paired=True, min_effect=MARGIN),
    )


def row_judgements(row: dict[str, Any]) -> dict[str, Judgement]:
    """``textbook`` and ``skilled`` judgements of a saved row (older rows have only the textbook)."""
    ours = row.get("harness_samples") or []
    return {
        "textbook": judge(ours, row.get("plain_samples")),
        "skilled": judge(ours, row.get("skilled_samples")),
    }


def gate_problems(rows: list[dict[str, Any]]) -> list[str]:
    """One line per row that fails the gate: trails its skilled loop, or has none to be checked by."""
    problems = []
    for row in rows:
        if row.get("status", "ok") != "ok":
            continue  # a mode that does not run on this device: recorded as skipped, nothing to gate
        where = f"{row.get('framework')} {row.get('mode')} {row.get('model')}"
        if not row.get("skilled_samples"):
            problems.append(
                f"{where}: no skilled loop to check it against "
                f"({row.get('skilled_missing') or 'not measured'})"
            )
            continue
        skilled = row_judgements(row)["skilled"]
        if skilled.trails:
            problems.append(
                f"{where}: ours trails the skilled loop, {skilled.text()}: ours "
                f"{row.get('harness_examples_per_sec', 0):,.0f} vs skilled "
                f"{row.get('skilled_examples_per_sec', 0):,.0f} examples/s"
            )
    return problems


def round_orders(rounds: int, sides: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The order of the sides in each round: every permutation in turn (each side in each position
    equally often over ``len(sides)!`` rounds)."""
    perms = list(itertools.permutations(sides))
    return [perms[i % len(perms)] for i in range(rounds)]


def interleave(sides: dict[str, Iterator[float]], rounds: int, examples: int) -> dict[str, list[float]]:
    """Drop each side's first epoch, then ``rounds`` rounds of one epoch per side; examples/s per round."""
    for side in sides.values():
        next(side)  # warm-up epoch, dropped
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for order in round_orders(rounds, tuple(sides)):
        for name in order:
            samples[name].append(examples / next(sides[name]))
    return samples


def reference_module(framework_name: str) -> ModuleType:
    """The module holding a framework's reference loops: ``<package>.baseline`` of its registry entry
    (or the entry's module itself when that defines ``plain_epochs``, as the test frameworks do)."""
    import impls

    module_name = impls.registry()[impls.check_name(framework_name)].partition(":")[0]
    module = importlib.import_module(module_name)
    if hasattr(module, "plain_epochs"):
        return module
    try:
        return importlib.import_module(module_name + ".baseline")
    except ModuleNotFoundError as exc:
        raise SystemExit(
            f"baseline: {framework_name} has no reference loops ({module_name}.baseline is missing); "
            "write impls/<folder>/baseline.py as impls/ADDING_A_FRAMEWORK.md describes"
        ) from exc


def _harness_epochs(model: Any, spec: Any, images: Any, labels: Any, seed: int) -> Iterator[float]:
    """Yield the seconds of each epoch of the harness's own path (as the runner times it)."""
    import numpy as np

    model.set_weights(spec.initial_weights(seed))
    train = model.put(images, labels)
    rng = np.random.default_rng(seed)
    yield from timed_epochs(
        lambda order: model.train_epoch(train, order, spec.batch_size, spec.lr),
        sync=model.sync,
        draw=lambda: rng.permutation(len(labels)),
    )


def _first_line(obj: Any) -> str:
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]


def compare(
    framework_name: str,
    model_name: str,
    mode: str,
    epochs: int,
    threads: int,
    results: Path,
    data_dir: str | None,
) -> dict[str, Any]:
    """Measure ours, the textbook and the skilled loop for one model and mode on the CPU; print the
    row and save it (``<results>/baseline/<framework>-<model>-<mode>.json``). ``main`` has set the
    thread environment before the framework was first imported."""
    import impls
    from bench.contract import Unsupported
    from bench.data import Dataset, load
    from bench.specs import get_spec

    framework = impls.load_class(framework_name)(threads=threads)
    loops = reference_module(framework_name)
    spec = get_spec(model_name)
    row: dict[str, Any] = {
        "framework": framework_name, "mode": mode, "model": model_name, "device": "cpu",
        "threads": threads, "epochs_per_side": epochs, "versions": framework.versions(),
        "measured_at": records.utc_now(), "machine": records.machine_of("cpu"), **records.source_state(),
        "textbook_loop": _first_line(loops), "skilled_loop": getattr(loops, "SKILLED", {}).get(mode),
        "order": "rounds of one epoch per side, cycling through every order of the sides",
    }  # fmt: skip
    try:
        model = framework.build(spec, "cpu", mode)
    except Unsupported as exc:
        row.update(status="skipped", reason=str(exc))
        print(f"{framework_name} {mode} {model_name}: skipped: {exc}")
        return _save(results, row)
    dataset = load(data_dir)
    images, labels = Dataset.as_float(dataset.train_images), dataset.train_labels
    args = LoopArgs(
        spec, spec.initial_weights(0), images, labels, spec.batch_size, spec.lr, seed=0, device="cpu"
    )
    sides: dict[str, Iterator[float]] = {
        "ours": _harness_epochs(model, spec, images, labels, seed=0),
        "textbook": deferred(loops.plain_epochs, args),
    }
    skilled: Callable[[LoopArgs], Iterator[float]] | None = getattr(loops, "skilled_epochs", None)
    if skilled is None or row["skilled_loop"] is None:
        row["skilled_missing"] = f"{loops.__name__} defines no skilled loop for mode {mode!r}"
    else:
        sides["skilled"] = deferred(skilled, dataclasses.replace(args, mode=mode))
    samples = interleave(sides, epochs, len(labels))
    row.update(status="ok", reason=None)
    for side, key in (("ours", "harness"), ("textbook", "plain"), ("skilled", "skilled")):
        if side in samples:
            row[f"{key}_samples"] = samples[side]
            row[f"{key}_examples_per_sec"] = statistics.median(samples[side])
    _save(results, row)  # the measurement first: nothing below can lose it
    judged = row_judgements(row)
    row["ratio"], row["paired_ratio"] = judged["textbook"].ratio, judged["textbook"].paired_ratio
    row["skilled_ratio"], row["skilled_paired_ratio"] = (
        judged["skilled"].ratio,
        judged["skilled"].paired_ratio,
    )
    print(
        f"{framework_name} {mode} {model_name}: ours {row['harness_examples_per_sec']:,.0f} ex/s; "
        f"textbook {row['plain_examples_per_sec']:,.0f} (ours {judged['textbook'].text()}); "
        + (
            f"skilled {row['skilled_examples_per_sec']:,.0f} (ours {judged['skilled'].text()})"
            if "skilled_samples" in row
            else f"skilled: none ({row['skilled_missing']})"
        )
        + f"; {epochs} interleaved steady epochs per side"
    )
    return _save(results, row)


def _save(results: Path, row: dict[str, Any]) -> dict[str, Any]:
    out = Path(results) / "baseline" / f"{row['framework']}-{row['model']}-{row['mode']}.json"
    records.write_atomic(out, {"schema_version": records.SCHEMA_VERSION, "rows": [row]})
    return row


def configure_parser(base: Any) -> None:
    """``bench baseline``'s options."""
    base.add_argument("--framework", required=True)
    base.add_argument("--models", default="lenet,mlp")
    base.add_argument("--modes", default="all", help="'all' (every mode; those a CPU lacks are skipped), "
                      "'default' (the framework's first), or names")  # fmt: skip
    base.add_argument(
        "--epochs", default=str(MIN_PAIRS),
        help=f"measured epochs per side, interleaved (plus 1 warm-up); at least {MIN_PAIRS}",
    )  # fmt: skip
    base.add_argument("--threads")
    base.add_argument("--data-dir")
    base.add_argument("--results", default="results")
    base.add_argument("--once", action="store_true", help=argparse.SUPPRESS)  # a measuring process


def main(args: Any) -> int:
    """Measure every requested (model, mode) in a fresh process each (a row that trails measured
    once more, the second measurement deciding), then apply the gate: exit 1 when a row trails its
    skilled loop or has none, naming each; rows already saved stay saved."""
    import impls
    from bench import config as cfg
    from bench import matrix as matrix_mod

    if args.framework == "all" or "," in args.framework:
        raise cfg.UsageError("baseline takes one --framework (nox -s baseline runs each framework's own)")
    from bench.child import _set_thread_env

    framework = matrix_mod.parse_frameworks(args.framework)[0]
    models = cfg.parse_choices(args.models, "models", cfg.MODEL_NAMES)
    epochs = cfg.positive_int(args.epochs, "epochs")
    if epochs < MIN_PAIRS:
        raise cfg.UsageError(
            f"--epochs {epochs}: the paired test needs at least {MIN_PAIRS} epochs per side to ever "
            f"reach α = {stats.ALPHA}; use --epochs {MIN_PAIRS} or more"
        )
    threads = cfg.positive_int(args.threads, "threads") if args.threads else cfg.default_threads()
    _set_thread_env(threads)  # before the framework's package is imported (some read it at import)
    modes = matrix_mod.resolve_modes(
        cfg.parse_list(args.modes, "modes"), framework, tuple(impls.load_class(framework).MODES)
    )
    pairs = [(model, mode) for model in models for mode in modes]
    if args.once:  # a measuring process: one model and mode, in this process
        (model, mode), results = pairs[0], Path(args.results)
        row = compare(framework, model, mode, epochs, threads, results, args.data_dir)
        return EXIT_TRAILS if gate_problems([row]) else 0
    rows, crashed = [], []
    for model, mode in pairs:
        row, failure = _measure(framework, model, mode, epochs, threads, args)
        if row is not None and gate_problems([row]) and row.get("skilled_samples"):
            # It trails: measure it once more, independently, and let the second measurement decide.
            # Each row is tested at α = 0.05; over the ~30 rows of a full run, one of them trails by
            # chance about a third of the time when nothing differs (1.6% a row), and twice in a row
            # for a given row far more rarely (0.02%).
            first = {key: row.get(key) for key in CONFIRMED_KEYS}
            print(f"{framework} {mode} {model}: trails; measuring it again to confirm")
            row, failure = _measure(framework, model, mode, epochs, threads, args)
            if row is not None:
                row["first_measurement"] = first
                _save(Path(args.results), row)
        if failure:
            crashed.append(failure)
        if row is not None:
            rows.append(row)
    return _report_gate(rows, crashed)


CONFIRMED_KEYS = ("measured_at", "harness_samples", "plain_samples", "skilled_samples")


def _measure(
    framework: str, model: str, mode: str, epochs: int, threads: int, args: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """One fresh process measures one model and mode, as the runner does per run (in one process, a
    model trained after another was seen to slow one side by up to 2x: allocator/cache state).
    Returns its saved row (None when it saved none) and a line when the process failed."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "bench", "baseline", "--once", "--framework", framework,
               "--models", model, "--modes", mode, "--epochs", str(epochs), "--threads", str(threads),
               "--results", args.results]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    saved = Path(args.results) / "baseline" / f"{framework}-{model}-{mode}.json"
    before = saved.stat().st_mtime_ns if saved.is_file() else None
    code = subprocess.run(command).returncode
    fresh = saved.is_file() and saved.stat().st_mtime_ns != before
    row = json.loads(saved.read_text())["rows"][0] if fresh else None
    if code not in (0, EXIT_TRAILS) or row is None:
        # a failure after the measurement was saved keeps the row
        return row, f"{framework} {mode} {model}: the measuring process failed (exit {code}); see above"
    return row, None


def _report_gate(rows: list[dict[str, Any]], crashed: list[str] | None = None) -> int:
    problems = [*(crashed or []), *gate_problems(rows)]
    checked = sum(1 for r in rows if r.get("status", "ok") == "ok")
    if problems:
        print(f"baseline gate FAILED ({len(problems)} of {checked + len(crashed or [])} rows):")
        for line in problems:
            print(f"  {line}")
        return 1
    print(
        f"baseline gate passed: {checked} rows, none slower than its skilled loop by the paired test "
        f"(exact Wilcoxon signed-rank, α = {stats.ALPHA}) and by more than {MARGIN:.0%}"
    )
    return 0
