"""Command line: parse, validate, call the runner or the report. Nothing else lives here.

python -m bench run --frameworks torch,jax --models lenet,mlp --devices cpu,gpu --epochs 10 --seeds 0
python -m bench report [--results results/ ...]
python -m bench data [--download]
python -m bench baseline --framework torch
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any

import impls
from bench import config as cfg

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run", help="train a matrix of runs (frameworks interleaved) and record them", allow_abbrev=False
    )
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
    run.add_argument("--seeds", default=_seed_text(cfg.DEFAULT_SEEDS), help="e.g. 0,1,2 or 0-5 (default 0-5)")
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
        help="rotating (frameworks interleaved, default) or blocked (one after another)",
    )
    run.add_argument("--shard", help="i/n: run only the i-th of n cost-balanced shards of the matrix")
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
        "--missing",
        default="error",
        help="a framework that does not load in its interpreter: error (default: stop, naming the fix) "
        "or skip (record its runs as skipped, saying what is missing and what to install)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")


MISSING_CHOICES = ("error", "skip")
UNLOADED_MODE = "unloaded"  # the mode of the skipped records of a framework that does not load


def _seed_text(seeds: tuple[int, ...]) -> str:
    contiguous = list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 2 else ",".join(map(str, seeds))


def parse_frameworks(text: str) -> list[str]:
    """``all`` or a comma-separated list of registered frameworks."""
    table = impls.registry()
    if text.strip() == "all":
        return sorted(table)
    names = cfg.parse_list(text, "frameworks")
    for name in names:
        if name not in table:
            raise cfg.UsageError(f"unknown framework {name!r}; choose one of: {', '.join(sorted(table))}")
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
    models = cfg.parse_choices(args.models, "models", cfg.MODEL_NAMES)
    devices = cfg.parse_choices(args.devices, "devices", cfg.DEVICE_KINDS)
    inputs = cfg.parse_choices(args.input, "input", cfg.INPUTS)
    precisions = cfg.parse_choices(args.precision, "precision", cfg.PRECISIONS)
    requested = cfg.parse_list(args.modes, "modes")
    seeds = tuple(cfg.parse_ints(args.seeds, "seeds"))
    accuracy_seeds = (
        None if args.accuracy_seeds == "all" else _non_negative_int(args.accuracy_seeds, "accuracy-seeds")
    )
    timing_epochs = cfg.positive_int(args.timing_epochs, "timing-epochs")
    missing = cfg.parse_choices(args.missing, "missing", MISSING_CHOICES)[0]
    modes, unavailable, loaded, versions = {}, {}, [], {}
    for framework in frameworks:
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
        unavailable=unavailable,
        versions=versions,
    )


def _non_negative_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise cfg.UsageError(f"--{what} must be a non-negative integer, got {text!r}")
    return value


def select_runs(matrix: cfg.Matrix, shard: str | None) -> list[cfg.RunConfig]:
    """The matrix's runs in their interleaved order, or one cost-balanced shard of them."""
    configs = matrix.runs()
    if not shard:
        return configs
    from bench import shard as shard_mod

    try:
        index, count = shard_mod.parse_shard(shard)
    except ValueError as exc:
        raise cfg.UsageError(str(exc)) from None
    return shard_mod.select(configs, index, count, shard_mod.expected_cost)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the matrix; exit 0 if every run is ok or skipped, 1 if any failed."""
    from bench import runner
    from bench.progress import make_progress

    results = results_path(args.results)
    matrix = build_matrix(args)
    pythons = parse_pythons(args.python, list(matrix.frameworks))
    configs = select_runs(matrix, args.shard)
    outcomes = runner.run_matrix(
        matrix, results, args.resume, make_progress(args.quiet), pythons=pythons, configs=configs,
        pool_commits=args.pool_commits,
    )  # fmt: skip
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed", "resumed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs"
    names = ",".join(matrix.frameworks)
    print(f"{names}: {summary}; records in {results / 'runs'}", file=sys.stderr)
    return 1 if counts["failed"] else 0


def results_path(text: str) -> Path:
    """A --results folder name; an empty one is a usage error (it would write into ./runs)."""
    if not text.strip():
        raise cfg.UsageError("--results needs a folder name, got an empty one; e.g. --results results")
    return Path(text)


def existing_results(texts: list[str]) -> list[Path]:
    """The --results folders of a report: each must name an existing folder."""
    folders = [results_path(text) for text in texts]
    for folder in folders:
        if not folder.is_dir():
            raise cfg.UsageError(
                f"--results {folder}: no such folder; name a results folder (one with runs/), e.g. results"
            )
    return folders


def cmd_report(args: argparse.Namespace) -> int:
    """Render REPORT.md and the figures, or export the summary tables as csv/json.

    The report and its figures go into the (first) results folder unless --out / --figures say
    otherwise: rendering another folder never overwrites the committed results/REPORT.md."""
    from bench import report

    results = existing_results(args.results)
    summary_input = None if args.summary_input == "all" else args.summary_input
    if args.format == "md":
        out_path = Path(args.out) if args.out else results[0] / "REPORT.md"
        figures = Path(args.figures) if args.figures else results[0] / "figures"
        out = report.render(
            results, out_path, figures, summary_input=summary_input, pool_commits=args.pool_commits
        )
    else:
        from bench.report import export

        table_out = Path(args.table_out) if args.table_out else None
        out = export.write_tables(results, table_out, args.format, summary_input=summary_input)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """Locate (or download) and verify Fashion-MNIST."""
    from bench import data

    if args.download:
        data.download()
    dataset = data.load(args.data_dir, allow_download=False)
    print(f"Fashion-MNIST verified in {dataset.source} (content sha256 {dataset.sha256[:16]}...)")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Compare the harness's training path with a plain idiomatic loop, side by side."""
    import subprocess

    from bench import baseline

    framework = parse_frameworks(args.framework)[0] if args.framework != "all" else ""
    if not framework or "," in args.framework:
        raise cfg.UsageError("baseline takes one --framework")
    models = cfg.parse_choices(args.models, "models", cfg.MODEL_NAMES)
    epochs = cfg.positive_int(args.epochs, "epochs")
    threads = cfg.positive_int(args.threads, "threads") if args.threads else cfg.default_threads()
    if len(models) > 1:
        # One fresh process per model, as the runner does per run: measured in one process, a model
        # trained after another was seen to slow one side by up to 2x (allocator/cache state).
        for model in models:
            command = [sys.executable, "-m", "bench", "baseline", "--framework", framework,
                       "--models", model, "--epochs", str(epochs), "--threads", str(threads),
                       "--results", args.results]  # fmt: skip
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            if subprocess.run(command).returncode != 0:
                return 1
        return 0
    baseline.compare(framework, models, epochs, threads, Path(args.results), args.data_dir)
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    top = argparse.ArgumentParser(
        prog="python -m bench", description="framebench harness", allow_abbrev=False
    )
    sub = top.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    rep = sub.add_parser("report", help="render results/REPORT.md from the run records", allow_abbrev=False)
    rep.add_argument("--results", nargs="+", default=["results"], help="one or more results directories")
    rep.add_argument("--out", help="where REPORT.md goes (default: <first results folder>/REPORT.md)")
    rep.add_argument("--figures", help="the figures folder (default: <first results folder>/figures)")
    rep.add_argument(
        "--pool-commits",
        action="store_true",
        help="let runs of one framework build at several framebench commits share a cell "
        "(default: a cell is one build: framework versions and commit)",
    )
    rep.add_argument(
        "--format",
        choices=("md", "csv", "json"),
        default="md",
        help="md: REPORT.md + figures (default); csv/json: the summary tables, one row per cell",
    )
    rep.add_argument("--table-out", help="where --format csv/json writes (default: <results>/summary.<fmt>)")
    rep.add_argument(
        "--summary-input",
        choices=("device", "native", "all"),
        default="device",
        help="which input path the summary tables show (default: device)",
    )
    from bench import compare, launch

    compare.configure_parser(
        sub.add_parser("compare", help="compare two results folders cell by cell", allow_abbrev=False)
    )
    launch.configure_parser(
        sub.add_parser("launch", help="run the matrix as shards on Slurm via submitit", allow_abbrev=False)
    )
    dat = sub.add_parser("data", help="locate and verify Fashion-MNIST (or download it)", allow_abbrev=False)
    dat.add_argument("--download", action="store_true", help="download from the canonical mirrors")
    dat.add_argument("--data-dir")
    base = sub.add_parser(
        "baseline", help="harness path vs a plain idiomatic loop, side by side", allow_abbrev=False
    )
    base.add_argument("--framework", required=True)
    base.add_argument("--models", default="lenet,mlp")
    base.add_argument("--epochs", default="8", help="measured epochs per side, interleaved (plus 1 warm-up)")
    base.add_argument("--threads")
    base.add_argument("--data-dir")
    base.add_argument("--results", default="results")
    return top


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two result sets cell by cell (see bench.compare)."""
    from bench import compare

    return compare.main(args)


def cmd_launch(args: argparse.Namespace) -> int:
    """Submit the matrix's shards through submitit (see bench.launch)."""
    from bench import launch

    return launch.main(args)


COMMANDS = {
    "run": cmd_run,
    "report": cmd_report,
    "data": cmd_data,
    "baseline": cmd_baseline,
    "compare": cmd_compare,
    "launch": cmd_launch,
}


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; every expected error is one line on stderr with a non-zero exit."""
    from bench.data import DataError
    from bench.runner import RunInterrupted

    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (cfg.UsageError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        hint = (
            "rerun the same command with --resume to finish the rest"
            if args.command in ("run", "launch")
            else "rerun the same command"
        )
        print(
            f"error: no space left on the device{where}; the runs recorded so far are kept. Free some "
            f"space, then {hint}.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except RunInterrupted as exc:
        print(
            f"interrupted: {exc}; finished runs are recorded. Rerun the same command with --resume "
            "to finish the rest.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
