"""``python -m bench compare BASE NEW``: your results against committed ones, cell by cell.

Cells match on framework, mode, model, device kind and setup; the machine may differ (that is the
point: "compare your machine with the committed results"). For each match:

* the ratio NEW/BASE of the median steady examples/sec, with the Hodges–Lehmann estimate (median of
  the pairwise ratios) and Moses' distribution-free interval from the pairwise ratios, printed with its
  exact coverage (``bench.stats.ratio_interval``; with too few runs for 95% it is the range of the
  pairwise ratios and says so);
* the verdict of the one judge (``bench.judge``) with the practical threshold as its minimum effect
  and tie margin: *faster* / *slower* when the test rejects at α and the interval lies beyond the
  threshold, *tie within ±threshold* when the interval lies inside it, *open* otherwise (*open (too few
  runs to test)* when no outcome could reach α);
* the same for the final test accuracy (full runs only); reported, never a failure.

A gate cannot be fooled by what is missing: under ``--fail-on``, a BASE cell without an ok run in
NEW (it vanished: crashed, skipped or not run) and a comparison that cannot be tested (too few runs,
or no throughput on one side) fail too, each named on stderr; ``--incomplete warn`` turns those two
into loud warnings instead. Unreadable or invalid record files of either side are named on stderr.
Each side shows each machine's newest build (``bench.report.collect``); ``--commit`` picks another.

BASE and NEW must measure the same thing: a different data sha256, or matched cells whose measurement
settings differ (``timing_epochs``; the setup's epochs, batch size, lr, threads, precision, input are
part of a cell's key, so like-named cells that differ there are listed), make compare refuse with what
differs (exit 2); ``--allow-mismatch`` turns that into a loud warning. Matched cells of different
framework versions are a version comparison, and the output says so (``torch 2.13.0 → 2.14.1``).

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
    from bench.report.collect import Collected
    from bench.report.numbers import Row
    from bench.stats import Summary

FAIL_ON = ("slower", "faster", "any")
INCOMPLETE = ("fail", "warn")
DEFAULT_THRESHOLD = 0.05
UNTESTABLE_WORD = "open (too few runs to test)"
UNTESTABLE = (UNTESTABLE_WORD, "n/a")


class CompareError(Exception):
    """A usage problem: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Verdict:
    """NEW/BASE of one metric of one matched cell."""

    ratio: float | None  # ratio of the medians
    text: str  # the ratio with its interval
    verdict: str  # the judge's word: faster | slower | tie within ±P | open | open (too few ...) | n/a
    p: float | None


def judge(base: Summary | None, new: Summary | None, threshold: float, up: str, down: str) -> Verdict:
    """NEW ÷ BASE: the ratio of medians, the judge's Hodges–Lehmann interval and its word (``bench.judge``
    with the threshold as minimum effect and tie margin; ``up``/``down`` name faster/slower)."""
    from bench import judge as judging

    if base is None or new is None or not base.values or not new.values:
        return Verdict(None, "—", "n/a", None)
    if not base.median or base.median <= 0 or new.median < 0:  # impossible values are never a ratio
        return Verdict(None, "—", "n/a", None)
    ratio = new.median / base.median
    judged = judging.judge(new.values, base.values, min_effect=threshold, tie_margin=threshold)
    if judged.ratio is None or judged.low is None or judged.high is None:
        return Verdict(ratio, f"{ratio:.3f}×", "n/a", None)
    kind = (
        "range of pairwise ratios"
        if judged.coverage is None
        else f"{100 * judged.coverage:.1f}% CI, Hodges–Lehmann"
    )
    text = f"{ratio:.3f}× (HL {judged.ratio:.3f}× [{judged.low:.3f}–{judged.high:.3f}] {kind})"
    if judged.coverage is None:
        word = UNTESTABLE_WORD
    else:
        word = {"faster": up, "slower": down}.get(judged.label, judged.word())
    return Verdict(ratio, text, word, judged.p)


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
    from bench.text import md

    lines = []
    for m in matches:
        g = m.base.group
        lines.append(
            {
                "framework (mode)": md(g.label),
                "model": md(g.model),
                "device": md(g.device),
                "setup": md(g.setup_text),
                "BASE machine": md(g.machine),
                "NEW machine": md(m.new.group.machine),
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
    from bench.judge import rule_text

    out = [
        "NEW/BASE per matching cell. Ratios are of the medians; HL is the Hodges–Lehmann estimate "
        "(median of all pairwise ratios) with Moses' distribution-free interval and its exact coverage. "
        f"Verdicts (`bench.judge`): {rule_text(min_effect=threshold, tie_margin=threshold)}.",
        "",
        table(lines, list(lines[0])) if lines else "_no matching cells_",
    ]
    for name, rows in (("BASE", only_base), ("NEW", only_new)):
        if rows:
            names = sorted(
                {md(f"{r.group.label} {r.group.model} {r.group.device} ({r.group.setup_text})") for r in rows}
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
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare even when BASE and NEW differ in data or measurement settings (a loud warning "
        "instead of the refusal)",
    )
    return parser


def _rows(
    folder: str, machine: str | None, commit: str | None, pool_commits: bool = False, err: Any = None
) -> Collected:
    from bench.report import cells
    from bench.report.collect import collect
    from bench.text import terminal

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
        print(terminal(f"warning: {bad.path}: skipped ({bad.reason})", 1000), file=err or sys.stderr)
    for older in found.older_builds:
        note = f"note: {folder}: an older build is not compared: {older.framework} on {older.device} · "
        print(terminal(note +
              f"{older.machine} ({older.versions_text}, commit {(older.commit or 'unknown')[:12]}, "
              f"{older.records} records); --commit selects it", 1000), file=err or sys.stderr)  # fmt: skip
    if not found.loaded:
        raise CompareError(
            f"{folder}: no run records" + (" matching the filters" if machine or commit else "")
        )
    return found


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


def md_text(value: str) -> str:
    """Record text for compare's markdown output (``bench.text.md``)."""
    from bench.text import md

    return md(value, 4000)


SETTINGS = ("epochs", "timing_epochs", "batch_size", "lr", "threads", "precision", "input", "loader_workers")


def _config_values(row: Row, name: str) -> set[str]:
    return {str(r["config"].get(name)) for r in row.group.runs}


def mismatches(base_sha: str | None, new_sha: str | None, matches: list[Match], only_base: list[Row],
               only_new: list[Row]) -> list[str]:  # fmt: skip
    """What makes BASE and NEW different measurements: the data's sha256, and measurement settings of
    matched cells (``timing_epochs``) or of like-named cells that matched nowhere because their setup
    differs (epochs, batch size, lr, threads, precision, input, ...). One line per difference."""
    found: list[str] = []
    if base_sha and new_sha and base_sha != new_sha:
        found.append(f"data sha256: BASE {base_sha[:16]}… ≠ NEW {new_sha[:16]}…")
    for m in matches:
        for name in ("timing_epochs",):
            b, n = _config_values(m.base, name), _config_values(m.new, name)
            if b != n:
                found.append(
                    f"{_cell_text(m.base)}: {name} BASE {', '.join(sorted(b))} ≠ NEW {', '.join(sorted(n))}"
                )
    for b in only_base:
        for n in only_new:
            gb, gn = b.group, n.group
            if (gb.framework, gb.mode, gb.model, gb.device) != (gn.framework, gn.mode, gn.model, gn.device):
                continue
            sb, sn = dict(gb.setup), dict(gn.setup)
            diff = [
                f"{k} BASE {sb.get(k)} ≠ NEW {sn.get(k)}"
                for k in sorted(set(sb) | set(sn))
                if sb.get(k) != sn.get(k)
            ]
            found.append(f"{gb.label} {gb.model} {gb.device}: " + "; ".join(diff))
    return sorted(dict.fromkeys(found))


def version_changes(matches: list[Match]) -> list[str]:
    """``torch 2.13.0 → 2.14.1`` for each framework whose matched cells differ in version."""
    changes = []
    for m in matches:
        name = m.base.group.framework
        b, n = dict(m.base.group.versions).get(name), dict(m.new.group.versions).get(name)
        if b and n and b != n:
            changes.append(f"{name} {b} → {n}")
    return sorted(dict.fromkeys(changes))


def compare(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Run the comparison; raise CompareError for usage errors."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if not 0.0 <= args.threshold < 1.0:
        raise CompareError(f"--threshold must be in [0, 1), got {args.threshold}")
    from bench.text import terminal

    pool = bool(getattr(args, "pool_commits", False))
    base_found = _rows(args.base, args.machine, args.commit, pool, err)
    new_found = _rows(args.new, args.machine, None, pool, err)
    base, new = base_found.rows, new_found.rows
    matches, only_base, only_new = match_rows(base, new, args.threshold)
    differs = mismatches(base_found.main_sha, new_found.main_sha, matches, only_base, only_new)
    if differs and not getattr(args, "allow_mismatch", False):
        err.writelines(f"  {terminal(line, 1000)}\n" for line in differs)
        raise CompareError(
            f"BASE and NEW differ in data or measurement settings ({len(differs)} difference(s), listed "
            "above); measure NEW with BASE's settings, or pass --allow-mismatch to compare anyway"
        )
    if differs:
        err.write(f"WARNING: MISMATCH: BASE and NEW differ in {len(differs)} way(s); the ratios below "
                  "compare different measurements (--allow-mismatch):\n")  # fmt: skip
        err.writelines(f"WARNING:   {terminal(line, 1000)}\n" for line in differs)
    if not matches:
        raise CompareError(
            f"no cell of {args.new} matches a cell of {args.base} (framework, mode, model, device, setup)"
        )
    changes = version_changes(matches)
    if changes:
        out.write(f"Compares versions: {md_text('; '.join(changes))}.\n\n")
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
        err.writelines(f"{word}:   {terminal(line, 1000)}\n" for line in missing)
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
