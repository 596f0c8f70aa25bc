"""Command line: parse, validate, call the runner or the report. Nothing else lives here.

python -m bench run --framework torch --models lenet,mlp --devices cpu,gpu --epochs 10 --seeds 0
python -m bench report [--results results/ ...]
python -m bench data [--download]
python -m bench baseline --framework torch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import impls
from bench import config as cfg

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run", help="train a matrix of runs for one framework and record them", allow_abbrev=False
    )
    run.add_argument("--framework", required=True, help=f"one of: {', '.join(sorted(impls.registry()))}")
    run.add_argument("--models", default="lenet,mlp", help="comma-separated (default: lenet,mlp)")
    run.add_argument("--devices", default="cpu,gpu", help="comma-separated: cpu,gpu (default: both)")
    run.add_argument("--modes", default="default", help="'default' (the framework's first), 'all', or a list")
    run.add_argument("--seeds", default=",".join(map(str, cfg.DEFAULT_SEEDS)), help="e.g. 0,1,2 or 0-4")
    run.add_argument("--repeats", default="1", help="runs per seed (timing spread; default 1)")
    run.add_argument("--epochs", help="default: each model's (10)")
    run.add_argument("--batch-size", help="default: each model's (256)")
    run.add_argument("--lr", help="default: each model's (LeNet 0.9, MLP 0.1)")
    run.add_argument("--threads", help="CPU threads for every framework (default: all cores)")
    run.add_argument("--data-dir", help="directory with the four Fashion-MNIST *-ubyte.gz files")
    run.add_argument("--results", default="results", help="results directory (default: results)")
    run.add_argument("--resume", action="store_true", help="skip runs that already have an ok record")
    run.add_argument("--quiet", action="store_true", help="no progress output")


def build_matrix(args: argparse.Namespace) -> cfg.Matrix:
    """Validate the run options into a Matrix; ValueError carries the one-line message."""
    framework = impls.check_name(args.framework)
    models = cfg.parse_choices(args.models, "models", cfg.MODEL_NAMES)
    devices = cfg.parse_choices(args.devices, "devices", cfg.DEVICE_KINDS)
    try:
        # Constructing it imports the framework itself (some defer that): fail here, once, not per run.
        cls = impls.load_class(framework)
        cls(threads=1)
        known_modes = cls.MODES
    except ImportError as exc:
        raise ValueError(
            f"{framework} is not installed in this Python ({exc}); run it through `nox -s bench` "
            f"or `pip install -r {impls.requirements_file(framework)}`"
        ) from None
    requested = cfg.parse_list(args.modes, "modes")
    if requested == ["all"]:
        modes = list(known_modes)
    else:
        modes = [known_modes[0] if mode == "default" else mode for mode in requested]
        for mode in modes:
            if mode not in known_modes:
                raise ValueError(
                    f"unknown mode {mode!r} for {framework}; choose one of: default, all, "
                    f"{', '.join(known_modes)}"
                )
    return cfg.Matrix(
        framework=framework,
        models=tuple(models),
        devices=tuple(devices),
        modes=tuple(dict.fromkeys(modes)),
        seeds=tuple(cfg.parse_ints(args.seeds, "seeds")),
        repeats=cfg.positive_int(args.repeats, "repeats"),
        epochs=cfg.positive_int(args.epochs, "epochs") if args.epochs is not None else None,
        batch_size=cfg.positive_int(args.batch_size, "batch-size") if args.batch_size is not None else None,
        lr=cfg.positive_float(args.lr, "lr") if args.lr is not None else None,
        threads=cfg.positive_int(args.threads, "threads")
        if args.threads is not None
        else cfg.default_threads(),
        data_dir=args.data_dir,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Run the matrix; exit 0 if every run is ok or skipped, 1 if any failed."""
    from bench import runner
    from bench.progress import make_progress

    matrix = build_matrix(args)
    outcomes = runner.run_matrix(matrix, Path(args.results), args.resume, make_progress(args.quiet))
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed", "resumed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"{matrix.framework}: {summary}; records in {Path(args.results) / 'runs'}", file=sys.stderr)
    return 1 if counts["failed"] else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render REPORT.md and the figures from every record found."""
    from bench import report

    out = report.render([Path(p) for p in args.results], Path(args.out), Path(args.figures))
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

    framework = impls.check_name(args.framework)
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
    rep.add_argument("--out", default="results/REPORT.md")
    rep.add_argument("--figures", default="results/figures")
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


COMMANDS = {"run": cmd_run, "report": cmd_report, "data": cmd_data, "baseline": cmd_baseline}


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; every expected error is one line on stderr with a non-zero exit."""
    from bench.data import DataError
    from bench.runner import RunInterrupted

    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
