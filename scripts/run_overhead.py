"""What one run costs outside training, phase by phase, in fresh processes as the runner starts them.

    PYTHONPATH=. python scripts/run_overhead.py --framework torch --model lenet --mode compile \
        --cache warm --repeats 5 [--device cpu] [--data-dir DIR]

Each sample is a new interpreter that goes through what ``bench.child`` does for one run, with a
clock around each phase: interpreter start, harness imports, framework import, backend
initialisation (versions, devices: where CUDA/XLA start), data load and verification, build + weights
+ upload, two short epochs (the first holds the compilation, the second is steady), two evaluations
(the first compiles), the peak measurement, and interpreter exit. The epochs train on a slice of
the harness's order with the run's shapes (4 full batches and the epoch's short last batch of 96),
so compilation is the real one and training costs little. ``--cache`` is ``none`` (no shared
compile cache: every process compiles, as JAX did before), ``cold`` (an empty cache per sample) or
``warm`` (a cache filled by a process before the samples); the peak is measured in every sample and
also read from a warm ``$FRAMEBENCH_PEAK_CACHE`` to time what a cached peak costs. Prints each
phase's median over the samples (and min-max), in seconds, and one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL_BATCHES = 4


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children: what a phase costs
    on a core of its own, which a shared machine's load inflates far less than wall time."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sample(args: argparse.Namespace) -> dict[str, float]:
    """One fresh process: the phases' durations (its first mark is printed by the caller)."""
    marks, cpu = {"start": time.time()}, {"start": _cpu_seconds()}

    def mark(name: str) -> None:
        marks[name] = time.time()
        cpu[name] = _cpu_seconds()

    import numpy as np

    import bench.child  # noqa: F401 - what the child imports before the framework
    import impls
    from bench import data as data_mod
    from bench import peak as peak_mod
    from bench import records
    from bench.specs import get_spec

    mark("harness")
    framework = impls.load_class(args.framework)(threads=os.cpu_count() or 1)
    mark("framework")
    framework.versions()
    framework.devices()
    framework.device_name(args.device)
    mark("backend")
    dataset = data_mod.load(args.data_dir)
    mark("data")
    spec = get_spec(args.model)
    model = framework.build(spec, args.device, args.mode)
    model.set_weights(spec.initial_weights(0))
    train = model.put(data_mod.Dataset.as_float(dataset.train_images), dataset.train_labels)
    test = model.put(data_mod.Dataset.as_float(dataset.test_images), dataset.test_labels)
    model.sync()
    mark("build")
    order = np.random.default_rng(0).permutation(len(dataset.train_labels))[: FULL_BATCHES * 256 + 96]
    for name in ("epoch1", "epoch2"):
        model.train_epoch(train, order, 256, spec.lr)
        model.sync()
        mark(name)
    for name in ("eval1", "eval2"):
        model.evaluate(test)
        model.sync()
        mark(name)
    framework.peak_gflops(args.device)
    mark("peak")
    record = records.base_record({"framework": args.framework, "model": args.model, "device": args.device,
                                  "mode": args.mode, "seed": 0, "threads": os.cpu_count() or 1})  # fmt: skip
    record["device"]["name"] = framework.device_name(args.device)
    record["framework"]["versions"] = framework.versions()
    os.environ[peak_mod.PEAK_CACHE_ENV] = args.peak_cache
    peak_mod.device_peak(framework, record)  # fills the cache (the first sample) or reads it
    mark("peak_prime")
    peak_mod.device_peak(framework, record)  # what a later run pays: a read
    mark("peak_cached")
    names = list(marks)
    phases = {b: marks[b] - marks[a] for a, b in itertools.pairwise(names)}
    phases.update({f"cpu_{b}": cpu[b] - cpu[a] for a, b in itertools.pairwise(names)})
    phases["peak_prime"] = 0.0  # priming is not a phase of a run (its CPU time stays out of "exit")
    phases["marks_end"] = marks[names[-1]]
    phases["marks_start"] = marks["start"]
    return phases


def run_samples(args: argparse.Namespace) -> list[dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    cache_root = Path(tempfile.mkdtemp(prefix="framebench-overhead-"))
    peak_cache = cache_root / "peak"
    command = [sys.executable, __file__, "--sample", "--framework", args.framework, "--model", args.model,
               "--mode", args.mode, "--device", args.device, "--peak-cache", str(peak_cache)]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]

    def one(cache: Path | None) -> dict[str, float]:
        run_env = dict(env)
        run_env.pop("FRAMEBENCH_COMPILE_CACHE", None)
        if cache is not None:
            run_env["FRAMEBENCH_COMPILE_CACHE"] = str(cache)
        elif args.framework == "torch":  # torch caches by default: keep it from sharing one
            run_env["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_root)
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned = time.time()
        out = subprocess.run(command, capture_output=True, text=True, env=run_env, check=False)
        ended = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode:
            raise SystemExit(f"a sample failed:\n{out.stderr[-3000:]}")
        phases = json.loads(out.stdout.strip().splitlines()[-1])
        phases["interpreter"] = phases.pop("marks_start") - spawned
        phases["exit"] = ended - phases.pop("marks_end")
        phases["wall"] = ended - spawned
        # the process's whole CPU time (it and its children, from the parent's side); what the
        # marks inside it do not see, interpreter start and exit together, is shown on the exit row
        phases["cpu_wall"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        inside = sum(v for k, v in phases.items() if k.startswith("cpu_") and k != "cpu_wall")
        phases["cpu_exit"] = phases["cpu_wall"] - inside
        return phases

    warm = cache_root / "warm"
    if args.cache == "warm":
        one(warm)  # fills the cache; not a sample
    samples = []
    for index in range(args.repeats):
        cache = {"none": None, "cold": cache_root / f"cold{index}", "warm": warm}[args.cache]
        samples.append(one(cache))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True)
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--mode", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", choices=("none", "cold", "warm"), default="none")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir")
    parser.add_argument("--sample", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peak-cache", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sample:
        print(json.dumps(sample(args)))
        return 0
    samples = run_samples(args)
    order = ["interpreter", "harness", "framework", "backend", "data", "build", "epoch1", "epoch2",
             "eval1", "eval2", "peak", "peak_cached", "exit", "wall"]  # fmt: skip
    medians = {name: statistics.median(s[name] for s in samples) for name in order}
    timed = [name for name in order if f"cpu_{name}" in samples[0]]
    cpu = {name: statistics.median(s[f"cpu_{name}"] for s in samples) for name in timed}
    title = f"{args.framework} {args.model} {args.device} {args.mode}, cache {args.cache}"
    print(f"{title}: median [min-max] of {len(samples)} fresh processes, seconds (wall; the process's CPU)")
    for name in order:
        values = [s[name] for s in samples]
        extra = f"  cpu {cpu[name]:7.3f}" if name in cpu else ""
        print(f"  {name:12s} {medians[name]:8.3f}  [{min(values):.3f}-{max(values):.3f}]{extra}")
    print(json.dumps({"what": title, "repeats": len(samples), "median_seconds": medians,
                      "median_cpu_seconds": cpu}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
