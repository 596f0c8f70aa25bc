"""Where a torch training step's time goes, per mode: ``python -m impls.torch.profile``.

For each mode it trains ``--warmup`` epochs-worth of steps unprofiled (compiles, captures), then
profiles ``--steps`` steps of real Fashion-MNIST batches in the harness's way (``train_epoch`` over a
slice of the order, so graph and epoch-graph replay what they replay in a run) with
``torch.profiler``, and prints per step:

- wall time (host clock around synchronised epochs) and the examples/sec it implies,
- device time (sum of the kernels' self device time) and device busy = device / wall,
- kernel launches (``cudaLaunchKernel``-family calls) and graph launches,
- the top operators by self device time and by self CPU time.

Low device busy with many launches per step means the step is launch/Python bound; high busy means
the kernels themselves (cuDNN convolutions, the gather, the update) are the cost. The numbers are a
diagnosis printed to stdout, not benchmark records: the harness's ``bench run`` measures those.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")
GRAPH_LAUNCH_CALLS = ("cudaGraphLaunch", "cuGraphLaunch")


def _device_time_us(event: Any) -> float:
    """Self device time of a profiler event in µs (the attribute was renamed across torch versions)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def summarize(events: list[Any], steps: int, wall_seconds: float, batch_size: int) -> dict[str, Any]:
    """Per-step figures from ``profiler.key_averages()`` events and the wall time of ``steps`` steps."""
    device_us = sum(_device_time_us(e) for e in events)
    launches = sum(e.count for e in events if e.key in LAUNCH_CALLS)
    graph_launches = sum(e.count for e in events if e.key in GRAPH_LAUNCH_CALLS)
    wall_us = wall_seconds * 1e6 / steps
    return {
        "wall_us_per_step": wall_us,
        "examples_per_sec": batch_size * steps / wall_seconds,
        "device_us_per_step": device_us / steps,
        "device_busy": (device_us / steps) / wall_us if wall_us else None,
        "kernel_launches_per_step": launches / steps,
        "graph_launches_per_step": graph_launches / steps,
    }


def top_operators(events: list[Any], key: str, limit: int) -> list[tuple[str, int, float]]:
    """(name, calls, self µs) of the ``limit`` largest events by self device (``key='device'``) or
    self CPU time."""

    def self_time(e: Any) -> float:
        return _device_time_us(e) if key == "device" else float(e.self_cpu_time_total)

    ranked = sorted(events, key=self_time, reverse=True)
    return [(e.key, e.count, self_time(e)) for e in ranked[:limit] if self_time(e) > 0]


def profile_mode(
    framework: Any, spec: Any, device: str, mode: str, dataset: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Build, warm up and profile one mode; returns summarize()'s figures plus the top operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench.data import Dataset

    model = framework.build(spec, device, mode, precision=args.precision)
    model.set_weights(spec.initial_weights(0))
    data = model.put(Dataset.as_float(dataset.train_images), dataset.train_labels)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size

    def epoch() -> None:
        model.train_epoch(data, rng.permutation(len(dataset.train_labels))[:n], args.batch_size, spec.lr)

    for _ in range(args.warmup):
        epoch()
    model.sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "gpu" else [])
    start = time.perf_counter()
    epoch()
    model.sync()
    wall = time.perf_counter() - start  # unprofiled: the profiler's own overhead is not in it
    with profile(activities=activities) as prof:
        epoch()
        model.sync()
    events = list(prof.key_averages())
    figures = summarize(events, args.steps, wall, args.batch_size)
    figures["top_device"] = top_operators(events, "device", args.top)
    figures["top_cpu"] = top_operators(events, "cpu", args.top)
    if device == "gpu":
        figures["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
    return figures


def render(model: str, device: str, mode: str, figures: dict[str, Any]) -> str:
    """The text block printed for one (model, mode)."""
    lines = [
        f"## {model} on {device}, mode {mode}",
        f"wall {figures['wall_us_per_step']:.1f} us/step "
        f"({figures['examples_per_sec']:,.0f} ex/s, unprofiled)",
    ]
    if device == "gpu":
        lines.append(
            f"device {figures['device_us_per_step']:.1f} us/step (busy {figures['device_busy']:.0%}); "
            f"kernel launches {figures['kernel_launches_per_step']:.1f}/step, "
            f"graph launches {figures['graph_launches_per_step']:.2f}/step"
        )
    for title, key in (("self device time", "top_device"), ("self CPU time", "top_cpu")):
        if figures[key]:
            lines.append(f"top by {title} (name, calls, total us):")
            lines += [f"  {name[:70]:<70} {calls:>7} {us:>12.1f}" for name, calls, us in figures[key]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impls.torch.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="gpu", choices=["cpu", "gpu"])
    parser.add_argument("--models", default="lenet,mlp")
    parser.add_argument("--modes", default="all", help="'all' or comma-separated torch modes")
    parser.add_argument("--steps", type=int, default=100, help="profiled steps (default 100)")
    parser.add_argument("--warmup", type=int, default=2, help="unprofiled warm-up epochs of --steps steps")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--top", type=int, default=8, help="operators listed per table")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST *-ubyte.gz files")
    args = parser.parse_args(argv)

    from bench import data as data_mod
    from bench.contract import Unsupported
    from bench.specs import MODELS
    from impls.torch import TorchFramework

    framework = TorchFramework(threads=os.cpu_count() or 1)
    modes = list(framework.MODES) if args.modes == "all" else args.modes.split(",")
    unknown = [m for m in modes if m not in framework.MODES] + [
        m for m in args.models.split(",") if m not in MODELS
    ]
    if unknown:
        print(f"error: unknown model or mode {', '.join(unknown)}; modes: {', '.join(framework.MODES)}; "
              f"models: {', '.join(MODELS)}", file=sys.stderr)  # fmt: skip
        return 2
    try:
        dataset = data_mod.load(args.data_dir, allow_download=False)
    except data_mod.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = framework.device_name(args.device) if args.device in framework.devices() else args.device
    print(
        f"# torch {framework.versions()['torch']} on {where}, batch {args.batch_size}, {args.steps} "
        f"profiled steps after {args.warmup} warm-up epochs of them, precision {args.precision}"
    )
    for name in args.models.split(","):
        for mode in modes:
            try:
                figures = profile_mode(framework, MODELS[name], args.device, mode, dataset, args)
            except Unsupported as exc:
                print(f"## {name} on {args.device}, mode {mode}: skipped: {exc}")
                continue
            print(render(name, args.device, mode, figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
