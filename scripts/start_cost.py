"""What a run pays outside training, started fresh and forked: the same small matrix both ways.

    PYTHONPATH=. python scripts/start_cost.py [--frameworks torch,jax] [--models mlp] [--devices cpu]
        [--modes eager,compile,jit,scan] [--seeds 1-3] [--rounds 2] [--data-dir DIR]

First one throughput-only run of every cell (seed 0) fills a compile cache and a peak cache in a
scratch folder, as the GPU session's warm-up does; then each round runs the matrix (``bench run``,
throughput-only: a warm-up epoch and one measured epoch) with ``--start fresh`` and with ``--start
fork``, and prints per cell the median of the records' ``process.seconds_before_training``
(interpreter or fork, imports, data, device start, build) and of the first epoch's excess over the
second (compilation), and per start the matrix's wall time less every run's training and timed
evaluation, divided by its runs: what a run costs outside training, the matrix's own start-up
(matrix building, one ``--describe`` per framework, the parent's data check) included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_run(args: argparse.Namespace, results: Path, seeds: str, start: str, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "bench", "run", "--frameworks", args.frameworks, "--models", args.models,
               "--devices", args.devices, "--modes", args.modes, "--seeds", seeds, "--accuracy-seeds", "0",
               "--budget", "0", "--results", str(results), "--start", start, "--quiet"]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    began = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if out.returncode:
        raise SystemExit(f"bench run failed ({start}):\n{out.stderr[-2000:]}")
    return wall


def summarize(results: Path, start: str, wall: float) -> str:
    cells: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    inside = 0.0
    runs = 0
    for path in sorted((results / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        if record["status"] != "ok":
            continue
        runs += 1
        curve = record["curve"]
        inside += sum(p["train_seconds"] + (p["eval_seconds"] or 0.0) for p in curve)
        cells[(record["framework"]["name"], record["framework"]["mode"])].append(
            (
                record["process"]["seconds_before_training"],
                # the warm-up as recorded (a fixed number of steps, or a whole epoch), else older
                # records' first epoch less the last
                record["process"].get("warmup_seconds")
                or curve[0]["train_seconds"] - curve[-1]["train_seconds"],
            )
        )
    lines = []
    for (framework, mode), values in sorted(cells.items()):
        before = statistics.median(v[0] for v in values)
        compile_ = statistics.median(v[1] for v in values)
        lines.append(f"  {start:5s} {framework:6s} {mode:12s} before training {before:5.2f} s, "
                     f"warm-up {compile_:5.2f} s  ({len(values)} runs)")  # fmt: skip
    per_run = (wall - inside) / runs if runs else float("nan")
    lines.append(f"{start}: {runs} runs in {wall:.1f} s wall, {inside:.1f} s of it training and timed "
                 f"evaluation: {per_run:.2f} s per run outside training")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default="torch,jax")
    parser.add_argument("--models", default="mlp")
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--modes", default="eager,compile,jit,scan")
    parser.add_argument("--seeds", default="1-3")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="framebench-start-cost-"))
    cache = scratch / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FRAMEBENCH_COMPILE_CACHE": str(cache / "compile"),
           "FRAMEBENCH_PEAK_CACHE": str(cache / "peak")}  # fmt: skip
    bench_run(args, scratch / "warm-up", "0", "fresh", env)
    for index in range(args.rounds):
        for start in ("fresh", "fork"):
            results = scratch / f"{start}-{index}"
            print(summarize(results, start, bench_run(args, results, args.seeds, start, env)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
