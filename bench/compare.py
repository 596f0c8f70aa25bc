"""``python -m bench compare BASE NEW``: your results against committed ones, cell by cell.

Cells match on framework, mode, model, device kind and setup; the machine may differ (that is the
point: "compare your machine with the committed results"). For each match:

* the ratio NEW/BASE of the median steady examples/sec, with the Hodges–Lehmann estimate (median of
  the pairwise ratios) and Moses' distribution-free interval from the pairwise ratios, printed with its
  exact coverage (``bench.stats.ratio_interval``; with too few runs for 95% it is the range of the
  pairwise ratios and says so);
* the verdict: the two-sided exact Mann–Whitney U test at alpha = 0.05 on the runs' steady
  examples/sec AND a practical threshold: *faster* / *slower* only when p < 0.05 and
  |ratio − 1| > threshold; *within noise* when p >= 0.05; *within threshold* when the test finds a
  difference smaller than the threshold; *too few runs to test* when no outcome could reach p < 0.05;
* the same for the final test accuracy (full runs only); reported, never a failure.

A gate cannot be fooled by what is missing: under ``--fail-on``, a BASE cell without an ok run in
NEW (it vanished: crashed, skipped or not run) and a comparison that cannot be tested (too few runs,
or no throughput on one side) fail too, each named on stderr; ``--incomplete warn`` turns those two
into loud warnings instead. Unreadable or invalid record files of either side are named on stderr.
Each side shows each machine's newest build (``bench.report.collect``); ``--commit`` picks another.

Exit codes: 0, 1 when ``--fail-on`` matches a throughput verdict beyond the threshold (or, unless
``--incomplete warn``, a vanished or untestable cell), 2 for usage errors (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the report (pandas, scipy) is imported only when a comparison runs
    from bench.report.numbers import Row
    from bench.stats import Summary

ALPHA = 0.05  # bench.stats.ALPHA
FAIL_ON = ("slower", "faster", "any")
INCOMPLETE = ("fail", "warn")
DEFAULT_THRESHOLD = 0.05
UNTESTABLE = ("too few runs to test", "n/a")


class CompareError(Exception):
    """A usage problem: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Verdict:
    """NEW/BASE of one metric of one matched cell."""

    ratio: float | None  # ratio of the medians
    text: str  # the ratio with its interval
    verdict: str  # faster | slower | within noise | within threshold | too few runs to test | n/a
    p: float | None


def judge(base: Summary | None, new: Summary | None, threshold: float, up: str, down: str) -> Verdict:
    """Ratio of medians, its Hodges–Lehmann interval, and the test + threshold verdict."""
    from bench.stats import mann_whitney, ratio_interval

    if base is None or new is None or not base.values or not new.values:
        return Verdict(None, "—", "n/a", None)
    if not base.median or base.median <= 0 or new.median < 0:  # impossible values are never a ratio
        return Verdict(None, "—", "n/a", None)
    ratio = new.median / base.median
    try:
        interval = ratio_interval(base.values, new.values)
        bounds = f"[{interval.low:.3f}–{interval.high:.3f}]"
        text = f"{ratio:.3f}× (HL {interval.estimate:.3f}× {bounds} {interval.label()})"
    except ValueError:  # zeros: no ratios
        text = f"{ratio:.3f}×"
    test = mann_whitney(base.values, new.values)
    if not test.testable:
        verdict = "too few runs to test"
    elif not test.differs:
        verdict = "within noise"
    elif abs(ratio - 1.0) <= threshold:
        verdict = "within threshold"
    else:
        verdict = up if ratio > 1.0 else down
    return Verdict(ratio, text, verdict, test.p)


@dataclass(frozen=True)
class Match:
    """One BASE cell and one NEW cell of the same framework, mode, model, device kind and setup."""

    base: Row
    new: Row
    throughput: Verdict
    accuracy: Verdict


def _key(row: Row) -> tuple[Any, ...]:
    g = row.group
    return (g.framework, g.mode, g.model, g.device, g.setup)


def match_rows(base: list[Row], new: list[Row], threshold: float) -> tuple[list[Match], list[Row], list[Row]]:
    """Every (BASE, NEW) pair of like cells, and the cells only one side has."""
    new_by_key: dict[tuple[Any, ...], list[Row]] = {}
    for row in new:
        new_by_key.setdefault(_key(row), []).append(row)
    base_keys = {_key(r) for r in base}
    matches = []
    for b in base:
        for n in new_by_key.get(_key(b), []):
            matches.append(
                Match(
                    b,
                    n,
                    judge(b.throughput, n.throughput, threshold, "faster", "slower"),
                    judge(
                        b.accuracy if b.accuracy.n else None,
                        n.accuracy if n.accuracy.n else None,
                        threshold,
                        "higher",
                        "lower",
                    ),
                )
            )
    only_base = [b for b in base if _key(b) not in new_by_key]
    only_new = [n for n in new if _key(n) not in base_keys]
    return matches, only_base, only_new


def _p(verdict: Verdict) -> str:
    return "—" if verdict.p is None else ("<0.001" if verdict.p < 0.001 else f"{verdict.p:.3f}")


def render(matches: list[Match], only_base: list[Row], only_new: list[Row], threshold: float) -> str:
    """The comparison as markdown."""
    from bench.report.markdown import table

    lines = []
    for m in matches:
        g = m.base.group
        lines.append(
            {
                "framework (mode)": g.label,
                "model": g.model,
                "device": g.device,
                "setup": g.setup_text,
                "BASE machine": g.machine,
                "NEW machine": m.new.group.machine,
                "n BASE / NEW": f"{len(g.runs)} / {len(m.new.group.runs)}",
                "BASE examples/s": m.base.throughput.fmt_median(unit=False) if m.base.throughput else "—",
                "NEW examples/s": m.new.throughput.fmt_median(unit=False) if m.new.throughput else "—",
                "NEW/BASE examples/s": m.throughput.text,
                "p": _p(m.throughput),
                "throughput": m.throughput.verdict,
                "NEW/BASE accuracy": m.accuracy.text,
                "accuracy": m.accuracy.verdict,
            }
        )
    out = [
        "NEW/BASE per matching cell. Ratios are of the medians; HL is the Hodges–Lehmann estimate "
        "(median of all pairwise ratios) with Moses' distribution-free interval and its exact coverage. "
        f"Verdicts: two-sided exact Mann–Whitney U test at α = {ALPHA:g} AND |ratio − 1| > {threshold:g}.",
        "",
        table(lines, list(lines[0])) if lines else "_no matching cells_",
    ]
    for name, rows in (("BASE", only_base), ("NEW", only_new)):
        if rows:
            names = sorted(
                {f"{r.group.label} {r.group.model} {r.group.device} ({r.group.setup_text})" for r in rows}
            )
            out += ["", f"Only in {name} ({len(rows)}): " + "; ".join(names)]
    return "\n".join(out) + "\n"


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add compare's arguments to a (sub)parser."""
    parser.add_argument("base", help="results folder to compare against (e.g. the committed results/)")
    parser.add_argument("new", help="results folder with the new runs")
    parser.add_argument("--machine", help="only cells whose machine label contains this (case-insensitive)")
    parser.add_argument("--commit", help="only BASE records measured at this framebench commit (prefix)")
    parser.add_argument(
        "--fail-on", choices=FAIL_ON, help="exit 1 when any cell is slower/faster beyond the threshold"
    )
    parser.add_argument(
        "--incomplete",
        choices=INCOMPLETE,
        default="fail",
        help="under --fail-on, a BASE cell with no ok run in NEW or a comparison too small to test: "
        "fail (default) or warn (loudly, on stderr, exit 0)",
    )
    parser.add_argument(
        "--pool-commits",
        action="store_true",
        help="let runs of one framework build at several framebench commits share a cell",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"practical threshold on |NEW/BASE - 1| (default {DEFAULT_THRESHOLD})",
    )
    return parser


def _rows(
    folder: str, machine: str | None, commit: str | None, pool_commits: bool = False, err: Any = None
) -> list[Row]:
    from bench.report import cells
    from bench.report.collect import collect

    path = Path(folder)
    if not folder.strip() or not path.is_dir():
        raise CompareError(f"{folder!r}: not a results folder")

    def keep(record: dict[str, Any]) -> bool:
        if machine and machine.lower() not in cells.machine(record).lower():
            return False
        found = str((record.get("environment") or {}).get("framebench_commit") or "")
        return not commit or found.startswith(commit)

    found = collect([path], records_only=True, keep=keep, pool_commits=pool_commits)
    for bad in found.unreadable:  # named, as the report names them: never silently left out
        print(f"warning: {bad.path}: skipped ({bad.reason})", file=err or sys.stderr)
    for older in found.older_builds:
        print(f"note: {folder}: an older build is not compared: {older.framework} on {older.device} · "
              f"{older.machine} ({older.versions_text}, commit {(older.commit or 'unknown')[:12]}, "
              f"{older.records} records); --commit selects it", file=err or sys.stderr)  # fmt: skip
    if not found.loaded:
        raise CompareError(
            f"{folder}: no run records" + (" matching the filters" if machine or commit else "")
        )
    return found.rows


def _cell_text(row: Row) -> str:
    g = row.group
    return f"{g.label} {g.model} {g.where} ({g.setup_text})"


def gaps(matches: list[Match], only_base: list[Row]) -> list[str]:
    """What a gate cannot judge: BASE cells without an ok run in NEW, and untestable comparisons."""
    found = [f"{_cell_text(b)}: no ok run in NEW (vanished: failed, skipped or not run)" for b in only_base]
    for m in matches:
        if m.throughput.verdict in UNTESTABLE:
            runs = f"{len(m.base.group.runs)} / {len(m.new.group.runs)} runs"
            found.append(f"{_cell_text(m.base)}: {m.throughput.verdict} ({runs}), so no verdict")
    return found


def compare(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Run the comparison; raise CompareError for usage errors."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if not 0.0 <= args.threshold < 1.0:
        raise CompareError(f"--threshold must be in [0, 1), got {args.threshold}")
    pool = bool(getattr(args, "pool_commits", False))
    base = _rows(args.base, args.machine, args.commit, pool, err)
    new = _rows(args.new, args.machine, None, pool, err)
    matches, only_base, only_new = match_rows(base, new, args.threshold)
    if not matches:
        raise CompareError(
            f"no cell of {args.new} matches a cell of {args.base} (framework, mode, model, device, setup)"
        )
    out.write(render(matches, only_base, only_new, args.threshold))
    verdicts = {m.throughput.verdict for m in matches}
    wanted = {"slower": {"slower"}, "faster": {"faster"}, "any": {"slower", "faster"}}.get(
        args.fail_on or "", set()
    )
    failed = bool(verdicts & wanted)
    missing = gaps(matches, only_base)
    strict = bool(args.fail_on) and getattr(args, "incomplete", "fail") == "fail"
    if missing:
        word = "FAIL" if strict else "WARNING"
        consequence = (
            "the gate fails (--incomplete warn to only warn)" if strict else "a gate cannot judge these"
        )
        err.write(f"{word}: {len(missing)} cell(s) of BASE cannot be judged; {consequence}:\n")
        err.writelines(f"{word}:   {line}\n" for line in missing)
    return 1 if failed or (strict and missing) else 0


def main(args: argparse.Namespace) -> int:
    """Entry point for the CLI: 0 ok, 1 when --fail-on matched, 2 for usage errors (one line)."""
    try:
        return compare(args)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(configure_parser(argparse.ArgumentParser(prog="python -m bench compare")).parse_args()))
