"""The run options and the matrix they describe: parse and validate ``bench run``'s options into a
Matrix (which frameworks, modes, models, devices, seeds, setups), or one shard of its runs.

Below the command line (``bench.cli``) and the launch planner (``bench.launch_plan``), which both
build matrices; it asks a framework's own interpreter for its modes through ``bench.runner``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import impls
from bench import config as cfg
from bench import planner
from bench.forkserver import STARTS
from bench.process import DEFAULT_RUN_TIMEOUT_S

MISSING_CHOICES = ("error", "skip")
DEFAULT_BUDGET = planner.DEFAULT_BUDGET_MINUTES
DEFAULT_TARGET = planner.DEFAULT_TARGET_PRECISION
MAX_BUDGET_SEED = planner.MAX_PROCESSES - 1
UNLOADED_MODE = "unloaded"  # the mode of the skipped records of a framework that does not load


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The options of ``bench run`` (also what ``bench launch`` and nox pass on to it)."""
    run.add_argument(
        "--frameworks",
        "--framework",
        dest="frameworks",
        required=True,
        help=f"comma-separated, or 'all': {', '.join(sorted(impls.registry()))}",
    )
    run.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="FW=PATH",
        help="run FW's runs with this interpreter (its own environment); default: this one",
    )
    run.add_argument("--models", default="lenet,mlp", help="comma-separated (default: lenet,mlp)")
    run.add_argument("--devices", default="cpu,gpu", help="comma-separated: cpu,gpu (default: both)")
    run.add_argument("--modes", default="default", help="'default' (each framework's first), 'all', or names")
    run.add_argument(
        "--seeds",
        help="e.g. 0,1,2 or 0-5: a cell's processes in order, at most (default: 0-5 with --budget 0; "
        f"0-{MAX_BUDGET_SEED} with a budget, which decides how many run)",
    )
    run.add_argument(
        "--budget",
        default=f"{DEFAULT_BUDGET:g}",
        help=f"minutes for the whole sitting (default {DEFAULT_BUDGET:g}): every cell runs its minimum (its "
        "accuracy run + 2 timing runs), then the time goes to the contests still open; the run ends "
        "within the budget plus one process. 0: the fixed design (every seed of --seeds, --repeats)",
    )
    run.add_argument(
        "--target-precision",
        default=f"{100 * DEFAULT_TARGET:g}",
        help=f"PERCENT: a cell whose interval against its contest's leader lies inside ±PERCENT is a tie "
        f"and leaves the race (default {100 * DEFAULT_TARGET:g})",
    )
    run.add_argument("--order-seed", help="the seed of the rounds' random order (default: drawn, recorded)")
    run.add_argument(
        "--accuracy-seeds",
        default=str(cfg.DEFAULT_ACCURACY_SEEDS),
        help="how many of the seeds (the first ones) train the full schedule; the rest are "
        "timing-only repeats; 'all' for every seed, 0 for none (default 1)",
    )
    run.add_argument(
        "--timing-epochs",
        default=str(cfg.DEFAULT_TIMING_EPOCHS),
        help="measured epochs of a timing-only repeat, after its warm-up epoch (default 1)",
    )
    run.add_argument("--repeats", default="1", help="runs per seed (timing spread; default 1)")
    run.add_argument("--epochs", help="default: each model's (10)")
    run.add_argument(
        "--batch-sizes",
        "--batch-size",
        dest="batch_sizes",
        help="comma-separated, each a setup of its own (default: each model's, 256)",
    )
    run.add_argument("--lr", help="default: each model's (LeNet 0.9, MLP 0.1)")
    run.add_argument("--threads", help="CPU threads, comma-separated, each a setup (default: all cores)")
    run.add_argument("--input", default="device", help="device (data on the device) and/or native (loader)")
    run.add_argument("--precision", default="fp32", help="fp32 (TF32 off, default) and/or tf32 (GPU)")
    run.add_argument("--loader-workers", default="0", help="worker processes of the native loaders (0)")
    run.add_argument(
        "--order",
        default="rotating",
        help="rotating (default: randomized rounds, one process of every open cell per round) or blocked "
        "(one run after another, no race)",
    )
    run.add_argument(
        "--shard",
        help="i/n: run only the i-th of n cost-balanced shards of the matrix, split by model, device and "
        "setup (never by framework: a shard keeps a verdict's cells together, as one sitting)",
    )
    run.add_argument("--data-dir", help="directory with the four Fashion-MNIST *-ubyte.gz files")
    run.add_argument("--results", default="results", help="results directory (default: results)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="skip runs that already have an ok record of this build (framework versions, commit)",
    )
    run.add_argument(
        "--pool-commits",
        action="store_true",
        help="with --resume, an ok record measured at another framebench commit counts too",
    )
    run.add_argument(
        "--unavailable",
        action="append",
        default=[],
        metavar="FW=REASON",
        help="record every run of FW as skipped with this reason, without loading FW (nox passes it for "
        "a framework no Python on the machine can run)",
    )
    run.add_argument(
        "--missing",
        default="error",
        help="a framework that does not load in its interpreter: error (default: stop, naming the fix) "
        "or skip (record its runs as skipped, saying what is missing and what to install)",
    )
    run.add_argument(
        "--start",
        default="fresh",
        choices=STARTS,
        help="how each run's process starts: fresh (a new interpreter, default) or fork (forked from a "
        "server that imported the harness and the framework once; torch and JAX: see bench.forkserver)",
    )
    run.add_argument(
        "--run-timeout",
        type=_seconds,
        default=DEFAULT_RUN_TIMEOUT_S,
        metavar="SECONDS",
        help="a run silent this long before its first epoch ends is killed and recorded failed; later "
        "epochs may take max(a tenth of it, 5 x its first epoch) each (default 600; bench.process)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds, e.g. 600")
    return value


def run_parser() -> argparse.ArgumentParser:
    """A parser of ``bench run``'s options alone (``bench launch`` and nox read them with it)."""
    parser = argparse.ArgumentParser(prog="python -m bench run", allow_abbrev=False)
    add_run_options(parser)
    return parser


def _seed_text(seeds: tuple[int, ...]) -> str:
    contiguous = list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 2 else ",".join(map(str, seeds))


def parse_frameworks(text: str) -> list[str]:
    """``all`` or a comma-separated list of registered frameworks, each plain (``torch``: its default
    pins) or at a version (``torch@2.13.0``: that release, its own environment and its own rows)."""
    table = impls.registry()
    if text.strip() == "all":
        return sorted(table)
    names = cfg.parse_list(text, "frameworks")
    for name in names:
        try:
            impls.check_name(name)
        except ValueError as exc:
            raise cfg.UsageError(str(exc)) from None
    return names


def parse_pythons(items: list[str], frameworks: list[str]) -> dict[str, str]:
    """``--python FW=PATH`` pairs; each FW must be among the requested frameworks."""
    pythons = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise cfg.UsageError(f"--python needs FW=PATH, got {item!r}")
        if name not in frameworks:
            raise cfg.UsageError(
                f"--python names {name!r}, which is not among --frameworks {','.join(frameworks)}"
            )
        pythons[name] = path
    return pythons


def parse_unavailable(items: list[str], frameworks: list[str]) -> dict[str, str]:
    """``--unavailable FW=REASON`` pairs; each FW must be among the requested frameworks."""
    reasons = {}
    for item in items:
        name, sep, reason = item.partition("=")
        if not sep or not name or not reason.strip():
            raise cfg.UsageError(f"--unavailable needs FW=REASON, got {item!r}")
        if name not in frameworks:
            raise cfg.UsageError(
                f"--unavailable names {name!r}, which is not among --frameworks {','.join(frameworks)}"
            )
        reasons[name] = reason.strip()
    return reasons


def resolve_modes(requested: list[str], framework: str, known: tuple[str, ...]) -> list[str]:
    """A framework's modes from --modes: default, all, or the requested names it has."""
    if requested == ["all"]:
        return list(known)
    modes = [
        known[0] if mode == "default" else mode for mode in requested if mode == "default" or mode in known
    ]
    if not modes:
        raise cfg.UsageError(
            f"none of --modes {','.join(requested)} exists in {framework}; choose among: default, all, "
            f"{', '.join(known)}"
        )
    return list(dict.fromkeys(modes))


def build_matrix(args: argparse.Namespace, describe: Any = None) -> cfg.Matrix:
    """Validate the run options into a Matrix; UsageError carries the one-line message.

    ``describe(framework, python)`` returns the framework's modes; by default it asks the framework's
    own interpreter (``bench.runner.describe_framework``), which also proves the install works.
    """
    from bench import runner

    describe = describe or runner.describe_framework
    frameworks = parse_frameworks(args.frameworks)
    pythons = parse_pythons(args.python, frameworks)
    skipped = parse_unavailable(args.unavailable, frameworks)
    models = cfg.parse_choices(args.models, "models", cfg.MODEL_NAMES)
    devices = cfg.parse_choices(args.devices, "devices", cfg.DEVICE_KINDS)
    inputs = cfg.parse_choices(args.input, "input", cfg.INPUTS)
    precisions = cfg.parse_choices(args.precision, "precision", cfg.PRECISIONS)
    requested = cfg.parse_list(args.modes, "modes")
    budget = parse_budget(args.budget)
    if args.seeds is not None:
        seeds = tuple(cfg.parse_ints(args.seeds, "seeds"))
    else:
        seeds = cfg.DEFAULT_SEEDS if budget is None else tuple(range(planner.MAX_PROCESSES))
    accuracy_seeds = (
        None if args.accuracy_seeds == "all" else _non_negative_int(args.accuracy_seeds, "accuracy-seeds")
    )
    timing_epochs = cfg.positive_int(args.timing_epochs, "timing-epochs")
    missing = cfg.parse_choices(args.missing, "missing", MISSING_CHOICES)[0]
    modes, unavailable, loaded, versions = {}, {}, [], {}
    for framework in frameworks:
        if framework in skipped:  # not loaded at all: one placeholder mode, every device skipped
            modes[framework] = (UNLOADED_MODE,)
            unavailable[framework] = dict.fromkeys(devices, skipped[framework])
            continue
        try:
            described = describe(framework, pythons.get(framework, sys.executable))
        except runner.FrameworkMissing as exc:
            if missing == "error":
                raise
            # Its modes cannot be read without importing it: one placeholder mode, every device skipped.
            modes[framework] = (UNLOADED_MODE,)
            unavailable[framework] = {d: exc.skip_reason(d) for d in devices}
            continue
        modes[framework] = tuple(resolve_modes(requested, framework, tuple(described["modes"])))
        unavailable[framework] = dict(described.get("unavailable") or {})
        if described.get("versions"):
            versions[framework] = {str(k): str(v) for k, v in described["versions"].items()}
        loaded.append(modes[framework])
    named = [m for m in requested if m not in ("all", "default")]
    unknown = [m for m in named if loaded and not any(m in v for v in loaded)]
    if unknown:
        raise cfg.UsageError(f"unknown mode {unknown[0]!r} for {', '.join(frameworks)}")
    threads = cfg.parse_int_list(args.threads, "threads") if args.threads else [cfg.default_threads()]
    batch_sizes = cfg.parse_int_list(args.batch_sizes, "batch-sizes") if args.batch_sizes else [None]
    return cfg.Matrix(
        frameworks=tuple(frameworks),
        models=tuple(models),
        devices=tuple(devices),
        modes=modes,
        seeds=seeds,
        repeats=cfg.positive_int(args.repeats, "repeats"),
        epochs=cfg.positive_int(args.epochs, "epochs") if args.epochs is not None else None,
        batch_sizes=tuple(batch_sizes),
        lr=cfg.positive_float(args.lr, "lr") if args.lr is not None else None,
        threads=tuple(dict.fromkeys(threads)),
        inputs=tuple(inputs),
        precisions=tuple(precisions),
        loader_workers=_non_negative_int(args.loader_workers, "loader-workers"),
        accuracy_seeds=accuracy_seeds,
        timing_epochs=timing_epochs,
        order=cfg.parse_choices(args.order, "order", cfg.ORDERS)[0],
        data_dir=args.data_dir,
        budget_minutes=budget,
        target_precision=parse_target_precision(args.target_precision),
        order_seed=_non_negative_int(args.order_seed, "order-seed") if args.order_seed is not None else None,
        unavailable=unavailable,
        versions=versions,
    )


def parse_budget(text: str) -> float | None:
    """``--budget MINUTES``: a positive number, or 0 for the fixed design (None)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise cfg.UsageError(f"--budget needs minutes (a number, 0 for every run asked for), got {text!r}")
    return value or None


def parse_target_precision(text: str) -> float:
    """``--target-precision PERCENT`` as a fraction (10 -> 0.10); between 0 and 100 exclusive."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 100.0:
        raise cfg.UsageError(
            f"--target-precision needs a percentage between 0 and 100, e.g. 10, got {text!r}"
        )
    return value / 100


def _non_negative_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise cfg.UsageError(f"--{what} must be a non-negative integer, got {text!r}")
    return value


def select_runs(matrix: cfg.Matrix, shard: str | None) -> list[cfg.RunConfig]:
    """The matrix's runs, or one cost-balanced shard of them: whole contests (model, device, setup),
    every framework's cells of a contest in the same shard."""
    configs = matrix.runs()
    if not shard:
        return configs
    from bench import shard as shard_mod

    try:
        index, count = shard_mod.parse_shard(shard)
    except ValueError as exc:
        raise cfg.UsageError(str(exc)) from None
    return shard_mod.select(configs, index, count, shard_mod.expected_cost, group=planner.contest_key)
