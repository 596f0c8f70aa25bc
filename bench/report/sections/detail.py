"""Detail sections: accuracy per epoch, throughput, time to accuracy and share of device peak."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.markdown import ci, med, plain, table
from bench.report.numbers import MIB, Row, by_model_where, by_where, epoch_values
from bench.specs import MODELS


def _range(summary: Any) -> str:
    if summary.minimum is None or summary.maximum is None:
        return "—"
    return f"{summary.minimum:.3f}–{summary.maximum:.3f}"


def accuracy_section(rows: list[Row], links: dict[Any, str]) -> list[str]:
    """Bands of the accuracy gate, then per-epoch test accuracy per model and machine-device."""
    out = ["## Accuracy\n"]
    bands = [
        {
            "model": spec.name,
            "defaults": f"{spec.epochs} epochs, batch {spec.batch_size}, SGD lr {spec.lr:g}",
            "expected final test accuracy": f"{spec.accuracy_band[0]:.2f}–{spec.accuracy_band[1]:.2f}",
            "time-to-accuracy target": f"{spec.target_accuracy:.2f}",
            "band source": spec.band_source,
        }
        for spec in sorted(MODELS.values(), key=lambda s: s.name)
    ]
    out.append(
        "The accuracy gate applies a model's band only to runs at its defaults (epochs, batch size, "
        "learning rate); any other setup reads *no band for this setup*. A cell outside its band is "
        "marked ⚠: a fast but wrong implementation must not win on speed. Accuracy uses only the runs "
        "that trained the full schedule (*n full*); timing-only repeats are left out.\n"
    )
    out.append(table(bands, list(bands[0])) + "\n")
    for (model, device, machine), cell_rows in by_model_where(rows):
        cell_rows = [r for r in cell_rows if r.group.full_runs]
        if not cell_rows:
            continue
        out.append(f"### Test accuracy per epoch: {model} on {device} · {machine}\n")
        if (model, device, machine) in links:
            out.append(
                f"![test accuracy per epoch, {model} on {device}]({links[(model, device, machine)]})\n"
            )
        epochs = max(len(r.get("curve") or []) for row in cell_rows for r in row.group.full_runs)
        lines = []
        for row in cell_rows:
            medians = epoch_values(row.group, "test_accuracy")
            line = {
                "framework (mode)": row.group.label,
                "setup": row.group.setup_text,
                "n full": str(len(row.group.full_runs)),
            }
            for epoch in range(1, epochs + 1):
                values = medians.get(epoch)
                line[f"ep {epoch}"] = f"{pd.Series(values).median():.3f}" if values else ""
            line["final (median [interval])"] = ci(row.accuracy) if row.accuracy.n else "—"
            line["min–max"] = _range(row.accuracy)
            lines.append(line)
        out.append("Median test accuracy over the full runs after each epoch.\n")
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def throughput_section(rows: list[Row], links: dict[Any, str]) -> list[str]:
    """Steady-state and evaluation throughput per machine-device (every input and setup)."""
    out = [
        "## Throughput\n",
        "Training examples per second with the device synchronised before each clock read; the first "
        "epoch (compilation, autotuning, allocator warm-up) is excluded from steady state and shown "
        "on its own. Every ok run of a setup counts (full and timing-only). *IQR over runs* is the "
        "spread of the runs' steady-state medians; *evaluation* is inference throughput on the test "
        "set.\n",
    ]
    for where, device_rows in by_where(rows):
        out.append(f"### {where[0]} · {where[1]}\n")
        if where in links:
            out.append(f"![steady-state training throughput on {where[0]}]({links[where]})\n")
        lines = []
        for row in device_rows:
            g = row.group
            steady_epochs = sorted({(r.get("metrics") or {}).get("steady_epochs") for r in g.runs}, key=str)
            evaluation = g.summary("eval_examples_per_sec", "examples/s")
            device_memory = g.summary("peak_device_memory_bytes", "MiB", 1.0 / MIB)
            lines.append(
                {
                    "framework (mode)": g.label,
                    "model": g.model,
                    "setup": g.setup_text,
                    "n runs": str(len(g.runs)),
                    "steady examples/s [interval]": ci(row.throughput, "n/a"),
                    "IQR over runs": row.throughput.fmt_iqr(unit=False) if row.throughput else "—",
                    "steady epochs/run": ", ".join(str(s) for s in steady_epochs),
                    "first epoch (s) [interval]": ci(row.first_epoch),
                    "evaluation examples/s": med(evaluation),
                    "peak device memory (MiB)": med(device_memory),
                }
            )
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def ttt_section(rows: list[Row], links: dict[Any, str]) -> list[str]:
    """Time to the model's target accuracy (full runs only)."""
    targets = ", ".join(
        f"{spec.name} {spec.target_accuracy:.2f}" for spec in sorted(MODELS.values(), key=lambda s: s.name)
    )
    out = [
        "## Time to accuracy\n",
        f"Targets (test accuracy, `bench/specs.py`): {targets}. Training seconds are summed over epochs "
        "up to the first epoch whose test accuracy reaches the target (evaluation excluded); wall "
        "seconds include evaluation. Medians over the full runs that reached it; *reached* counts them "
        "out of the full runs.\n",
    ]
    for where, device_rows in by_where(rows):
        device_rows = [r for r in device_rows if r.group.full_runs]
        if not device_rows:
            continue
        out.append(f"### {where[0]} · {where[1]}\n")
        if where in links:
            out.append(f"![time to target accuracy on {where[0]}]({links[where]})\n")
        lines = []
        for row in device_rows:
            ttt = row.ttt
            lines.append(
                {
                    "framework (mode)": row.group.label,
                    "model": row.group.model,
                    "setup": row.group.setup_text,
                    "target": ttt.target_text(),
                    "reached": f"{ttt.reached}/{ttt.total}",
                    "epoch (median)": "—" if ttt.epoch is None else f"{ttt.epoch:g}",
                    "train seconds [interval]": ci(ttt.train_seconds, "not reached"),
                    "wall seconds (median)": med(ttt.wall_seconds),
                }
            )
        out.append(table(lines, list(lines[0])) + "\n")
    return out


def peak_section(rows: list[Row]) -> list[str]:
    """Achieved GFLOP/s against each framework's own and the best measured peak."""
    flops = sorted(
        {
            (r["model"].get("name"), r["model"].get("train_flops_per_example"))
            for row in rows
            for r in row.group.runs
            if r.get("model", {}).get("train_flops_per_example")
        }
    )
    flops_text = "; ".join(f"{name} {value:,} FLOPs per training example" for name, value in flops)
    out = [
        "## Share of device peak\n",
        "Achieved GFLOP/s = FLOPs per training example × steady-state examples/s. FLOPs count only "
        "convolutions and dense layers, a multiply-add as 2, forward plus both backward products "
        f"(`bench/specs.py`){': ' + flops_text if flops_text else ''}. The peak is measured by each "
        "framework in its own environment with a large fp32 matrix product (method below). *% of own "
        "peak* divides by that framework's own measurement; *% of device peak* (the summary's column) "
        "divides by the highest peak any framework measured on the machine-device, so it compares "
        "across frameworks.\n",
    ]
    lines = []
    for row in rows:
        g = row.group
        peak = g.summary("device_peak_gflops", "GFLOP/s")
        methods = sorted({str((r.get("metrics") or {}).get("device_peak_method") or "—") for r in g.runs})
        lines.append(
            {
                "framework (mode)": g.label,
                "model": g.model,
                "device": g.where,
                "setup": g.setup_text,
                "achieved GFLOP/s [interval]": ci(row.gflops),
                "device peak GFLOP/s (median)": med(peak),
                "% of own peak (median)": med(row.share),
                "% of device peak": plain(row.share_of_best, ".1f"),
                "how the peak was measured": "; ".join(methods),
            }
        )
    out.append(table(lines, list(lines[0])) + "\n")
    return out
