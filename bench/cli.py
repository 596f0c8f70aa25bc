"""Command line: parse, dispatch to the runner, the report, compare or launch. Nothing else lives here
(the run options and their matrix are bench.matrix).

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

from bench import config as cfg
from bench import matrix as matrix_mod

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run", help="train a matrix of runs (frameworks interleaved) and record them", allow_abbrev=False
    )
    matrix_mod.add_run_options(run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the matrix as one sitting; exit 0 if every run is ok or skipped, 1 if any failed."""
    from datetime import UTC, datetime

    from bench import planner, runner
    from bench.progress import make_progress

    results = results_path(args.results)
    matrix = matrix_mod.build_matrix(args)
    pythons = matrix_mod.parse_pythons(args.python, list(matrix.frameworks))
    configs = matrix_mod.select_runs(matrix, args.shard)
    sitting = planner.new_sitting(datetime.now(UTC), matrix.budget_minutes, matrix.target_precision,
                                  matrix.order_seed)  # fmt: skip
    outcomes = runner.run_matrix(
        matrix, results, args.resume, make_progress(args.quiet), pythons=pythons, configs=configs,
        pool_commits=args.pool_commits, start=args.start, sitting=sitting, run_timeout=args.run_timeout,
    )  # fmt: skip
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed", "resumed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs"
    names = ",".join(matrix.frameworks)
    print(f"{names}: {summary}; sitting {sitting.id} (--order-seed {sitting.order_seed}); records in "
          f"{results / 'runs'}", file=sys.stderr)  # fmt: skip
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
        # A maintainer's flag: a user's own run never rewrites README.md.
        readme = Path(args.readme) if args.readme else None
        out_path = Path(args.out) if args.out else results[0] / "REPORT.md"
        figures = Path(args.figures) if args.figures else results[0] / "figures"
        out = report.render(
            results, out_path, figures, summary_input=summary_input, readme=readme,
            pool_commits=args.pool_commits,
        )  # fmt: skip
    else:
        try:
            if args.format == "html":
                from bench.report import html

                out = html.write_html(results, Path(args.html_out or results[0] / "report.html"))
            else:
                from bench.report import export

                table_out = Path(args.table_out) if args.table_out else None
                out = export.write_tables(results, table_out, args.format, summary_input=summary_input)
        except OSError as exc:  # read-only or full disk: one line, exit 2, the previous file kept
            raise cfg.UsageError(
                f"cannot write the {args.format} report ({exc.strerror or exc}: {exc.filename or ''}); "
                "the previous one is kept. Make the folder writable or free some space, then rerun."
            ) from exc
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
    """Our training path vs the textbook and the skilled loop, side by side, then the gate."""
    from bench import baseline

    return baseline.main(args)


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
        choices=("md", "html", "csv", "json"),
        default="md",
        help="md: REPORT.md + figures (default); html: one self-contained interactive page; "
        "csv/json: the summary tables, one row per cell",
    )
    rep.add_argument("--html-out", help="where --format html writes (default: <first results>/report.html)")
    rep.add_argument(
        "--readme",
        nargs="?",
        const="README.md",
        default=None,
        help="a maintainer's flag: also copy the verdict into this README's <!-- verdict:start/end --> "
        "block (README.md when no path is given); without it README.md is never touched",
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
    from bench import baseline

    baseline.configure_parser(
        sub.add_parser(
            "baseline",
            help="our loop vs the textbook and the skilled loop, side by side; the gate",
            allow_abbrev=False,
        )
    )
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
