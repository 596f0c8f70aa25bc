"""Planning a ``bench launch``: the whole matrix of the run options, split into N cost-balanced
shards of whole contests (model, device, setup: never split by framework, since each shard is a
sitting of its own and a verdict compares cells of one sitting), each described as the job that runs
it (pure: nothing is submitted here; ``bench.launch`` submits and waits).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench import config as cfg
from bench import matrix, planner
from bench import shard as shard_mod

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Shard:
    """One job: which runs, where its records go, what it runs."""

    index: int
    count: int
    runs: list[Any]
    results: Path
    command: list[str]
    expected_s: float = 0.0

    @property
    def gpu(self) -> bool:
        return any(getattr(run, "device", "") == "gpu" for run in self.runs)

    @property
    def name(self) -> str:
        return f"{self.index}/{self.count}"


def strip_dashes(run_args: Sequence[str]) -> list[str]:
    """argparse.REMAINDER keeps the ``--`` separator; drop it."""
    args = list(run_args)
    return args[1:] if args[:1] == ["--"] else args


def plan_from_cli(run_args: list[str], describe: Any = None, out: TextIO = sys.stderr) -> list[Any]:
    """The whole matrix ``bench run <run_args>`` would run (the default ``plan``).

    ``describe(framework, python)`` as in ``matrix.build_matrix``. By default a framework's modes come from
    its interpreter: ``--python FW=PATH`` in the run args, else the environment ``nox -s env`` built for
    it, else this interpreter. With ``--via nox`` the frameworks need not be installed here: when none of
    these has the framework and --modes is ``default`` (one mode each), a placeholder mode gives the same
    runs, costs and split as the shard's own ``bench run`` will compute.
    """
    from bench import runner

    args = matrix.run_parser().parse_args(run_args)
    placeholders: list[str] = []

    def describe_or_placeholder(framework: str, python: str) -> dict[str, Any]:
        candidates = [python]
        marker = ROOT / ".nox" / "framebench-envs" / f"{framework}.json"
        if python == sys.executable and marker.exists():
            built = json.loads(marker.read_text()).get("python")
            candidates = [built, python] if built and Path(built).exists() else candidates
        problem = None
        for candidate in candidates:
            try:
                return runner.describe_framework(framework, candidate)
            except cfg.UsageError as exc:
                problem = problem or exc
        if args.modes.strip() != "default":
            raise cfg.UsageError(
                f"launch needs {framework}'s modes for --modes {args.modes}, but {problem}; build its "
                f"environment first (nox -s \"env(framework='{framework}')\") or pass "
                f"--python {framework}=PATH"
            )
        placeholders.append(framework)
        return {"modes": ["default"]}

    runs = list(matrix.build_matrix(args, describe or describe_or_placeholder).runs())
    if placeholders:
        print(f"launch: {', '.join(placeholders)} not installed here: planned with one mode each, as "
              "--modes default runs them (the jobs resolve the real mode)", file=out)  # fmt: skip
    return runs


def shard_dir(results_root: Path, index: int, count: int) -> Path:
    return Path(results_root) / f"shard-{index}-of-{count}"


def shard_command(via: str, run_args: list[str], index: int, count: int, results: Path) -> list[str]:
    """The command a shard's job runs (in the repository root)."""
    tail = [*run_args, "--shard", f"{index}/{count}", "--results", str(results)]
    if via == "python":
        return [sys.executable, "-m", "bench", "run", *tail]
    # Each shard gets its own nox envdir: two jobs installing into one virtualenv corrupt it.
    envdir = ROOT / ".nox" / f"launch-shard-{index}-of-{count}"
    return ["nox", "--envdir", str(envdir), "-s", "bench", "--", *tail]


def parse_only(text: str | None, count: int) -> list[int]:
    if not text:
        return list(range(1, count + 1))
    values = cfg.parse_ints(text, "only")
    bad = [v for v in values if not 1 <= v <= count]
    if bad:
        raise cfg.UsageError(f"--only {text}: shards are numbered 1 to {count}")
    return values


def build_shards(
    runs: Sequence[Any],
    count: int,
    results_root: Path,
    via: str,
    run_args: list[str],
    only: list[int] | None = None,
    one_folder: bool = False,
) -> list[Shard]:
    """Split the matrix and describe each shard's job (pure: nothing is submitted). With
    ``one_folder`` every shard writes into ``results_root`` itself (a shared file system)."""
    if not runs:
        raise cfg.UsageError("the matrix of these run options is empty; nothing to launch")
    contests = len(set(shard_mod.groups(runs, planner.contest_key)))
    if count > contests:
        raise cfg.UsageError(
            f"--shards {count} but the matrix has only {contests} contests (model, device, setup: a shard "
            f"keeps a verdict's cells together); use --shards {contests} or fewer"
        )
    owner = shard_mod.assign(runs, count, shard_mod.expected_cost, planner.contest_key)
    out = []
    for index in only or range(1, count + 1):
        mine = [run for run, o in zip(runs, owner, strict=True) if o == index - 1]
        results = Path(results_root) if one_folder else shard_dir(results_root, index, count)
        out.append(
            Shard(
                index=index,
                count=count,
                runs=mine,
                results=results,
                command=shard_command(via, run_args, index, count, results),
                expected_s=sum(shard_mod.expected_cost(run) for run in mine),
            )
        )
    return out
