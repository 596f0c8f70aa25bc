"""Everything the report and the exports read, loaded once: records, cells, rows, extras."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.records import Unreadable, load_records
from bench.report import cells
from bench.report.extras import load_baselines, load_microbench, well_formed
from bench.report.numbers import Row, build_rows


@dataclass
class Collected:
    """The records of some results folders, de-duplicated, split by data hash and turned into rows."""

    results_dirs: list[Path]
    kept: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    main_sha: str | None = None
    other_data: list[dict[str, Any]] = field(default_factory=list)  # ok records on another data hash
    others: list[dict[str, Any]] = field(default_factory=list)  # failed / skipped
    older_builds: list[cells.OlderBuild] = field(default_factory=list)  # set aside for a newer build
    rows: list[Row] = field(default_factory=list)
    microbench: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)
    loaded: int = 0


def collect(
    results_dirs: Sequence[Path],
    records_only: bool = False,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    pool_commits: bool = False,
) -> Collected:
    """Load, validate, de-duplicate (per machine and build) and group every record under ``results_dirs``.

    Records with impossible metrics are listed as unreadable (``records.metric_problems``), never
    counted. Each machine-device shows the newest build of each framework; older builds are listed
    (``older_builds``), and ``bench compare`` is how two builds meet. ``pool_commits`` lets runs of
    one framework build at several framebench commits share a cell. ``records_only`` skips the
    microbench/baseline files; ``keep`` filters the records first.
    """
    dirs = [Path(d) for d in results_dirs]
    loaded, unreadable = load_records(*dirs)
    loaded, malformed = well_formed(loaded)
    if keep is not None:
        loaded = [r for r in loaded if keep(r)]
    found = Collected(dirs, unreadable=unreadable + malformed, loaded=len(loaded))
    if not records_only:
        found.microbench, bad_microbench = load_microbench(dirs)
        found.baselines, bad_baselines = load_baselines(dirs)
        found.unreadable += bad_microbench + bad_baselines
    if not loaded:
        return found
    found.kept, found.superseded = cells.dedupe(loaded, pool_commits)
    found.main_sha = cells.majority_sha(found.kept)
    main = [r for r in found.kept if r["status"] != "ok" or cells.sha(r) == found.main_sha]
    found.other_data = [r for r in found.kept if r["status"] == "ok" and cells.sha(r) != found.main_sha]
    groups, found.older_builds = cells.newest_builds(cells.group_records(main, pool_commits))
    found.rows = build_rows(groups)
    older = {
        (b.device, b.machine, b.framework, b.versions, None if pool_commits else b.commit)
        for b in found.older_builds
    }

    def of_older_build(record: dict[str, Any]) -> bool:
        build = (cells.versions(record), None if pool_commits else cells.commit(record))
        return (cells.device(record), cells.machine(record), cells.framework(record), *build) in older

    found.others = [r for r in main if r["status"] != "ok" and not of_older_build(r)]
    return found
