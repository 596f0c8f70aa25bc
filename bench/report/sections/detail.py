"""Detail sections: accuracy per epoch, throughput, time to accuracy and share of device peak."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.markdown import ci, med, plain, table
from bench.report.numbers import MIB, Row, by_model_where, by_where, epoch_values
from bench.specs import MODELS
from bench.text import md


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
        out.append(f"### Test accuracy per epoch: {md(model)} on {md(device)} · {md(machine)}\n")
        if (model, device, machine) in links:
            out.append(
                f"![test accuracy per epoch, {model} on {device}]({links[(model, device, machine)]})\n"
            )
        epochs = max(len(r.get("curve") or []) for row in cell_rows for r in row.group.full_runs)
        lines = []
        same = identical_curves(cell_rows)
        if same:
            out.append(
                f"The {len(cell_rows)} cells ({', '.join(r.group.label for r in cell_rows)}) have "
                f"{merged_text(cell_rows)}: the figure draws them as one curve, shaded min–max over "
                "all their full runs.\n"
            )
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
            line["accuracy gate"] = row.gate.text
            lines.append(line)
        rest = [{k: v for k, v in line.items() if k not in ("framework (mode)", "n full")} for line in lines]
        if len(lines) > 1 and all(r == rest[0] for r in rest):  # identical rows: one row says it all
            counts = sorted({line["n full"] for line in lines})
            n_full = f"{counts[0]} each" if len(counts) == 1 else " / ".join(line["n full"] for line in lines)
            labels = ", ".join(line["framework (mode)"] for line in lines)
            lines = [{"framework (mode)": labels, "n full": n_full, **rest[0]}]
            out.append(
                "Median test accuracy over the full runs after each epoch "
                "(the cells' rows are identical: one row).\n"
            )
        else:
            out.append("Median test accuracy over the full runs after each epoch.\n")
        out.append(table(lines, list(lines[0])) + "\n")
    return out


MERGE_TOLERANCE = 0.002  # test accuracy: curves this close are one line at any plot's resolution


def curve_gap(rows: list[Row]) -> float | None:
    """The largest difference between two cells' median test-accuracy curves at any epoch (None: fewer
    than two cells, or cells with different epochs)."""
    if len(rows) < 2:
        return None
    curves = [
        {e: float(pd.Series(v).median()) for e, v in epoch_values(r.group, "test_accuracy").items()}
        for r in rows
    ]
    if not curves[0] or any(c.keys() != curves[0].keys() for c in curves):
        return None
    return max(max(c[e] for c in curves) - min(c[e] for c in curves) for e in curves[0])


def identical_curves(rows: list[Row]) -> bool:
    """Whether the cells' median curves coincide (within MERGE_TOLERANCE at every epoch)."""
    gap = curve_gap(rows)
    return gap is not None and gap <= MERGE_TOLERANCE


def curve_groups(rows: list[Row]) -> list[list[Row]]:
    """The cells in groups whose median curves coincide (``identical_curves``), largest first: each
    cell joins the first group it coincides with, else starts one."""
    groups: list[list[Row]] = []
    for row in rows:
        home = next((g for g in groups if identical_curves([*g, row])), None)
        if home is None:
            groups.append([row])
        else:
            home.append(row)
    return sorted(groups, key=len, reverse=True)


def merged_text(rows: list[Row]) -> str:
    """How coincident curves were merged, in words."""
    gap = curve_gap(rows) or 0.0
    how = "identical to 3 decimals" if round(gap, 3) == 0 else f"within {gap:.3f} of each other"
    return f"median curves {how} at every epoch"


def warm_eval(group: Any) -> Any:
    """Evaluation examples/s over the runs' warm evaluations only: a run's cold first evaluation (its
    compilation) never counts, whatever its record's summary metric says
    (``curve.warm_eval_examples_per_sec``)."""
    from bench.curve import warm_eval_examples_per_sec
    from bench.stats import Summary

    values = []
    for record in group.runs:
        test_examples = (record.get("data") or {}).get("test_examples")
        if not test_examples:
            continue
        value = warm_eval_examples_per_sec(record.get("curve") or [], int(test_examples))
        if value is not None:
            values.append(value)
    return Summary.of(values, "examples/s") if values else None


def throughput_section(rows: list[Row], links: dict[Any, str]) -> list[str]:
    """Steady-state and evaluation throughput per machine-device (every input and setup)."""
    out = [
        "## Throughput\n",
        "Training examples per second with the device synchronised before each clock read; the first "
        "epoch (compilation, autotuning, allocator warm-up) is excluded from steady state and shown "
        "on its own. Every ok run of a setup counts (full and timing-only). *IQR over runs* is the "
        "spread of the runs' steady-state medians; *evaluation* is inference throughput on the test "
        "set over warm evaluations only (a run's first evaluation compiles the eval path and never counts; "
        "a throughput-only repeat evaluates twice and times the second), *n eval* the runs that have one.\n",
    ]
    for where, device_rows in by_where(rows):
        out.append(f"### {md(where[0])} · {md(where[1])}\n")
        if where in links:
            out.append(f"![steady-state training throughput on {where[0]}]({links[where]})\n")
        lines = []
        for row in device_rows:
            g = row.group
            steady_epochs = sorted({(r.get("metrics") or {}).get("steady_epochs") for r in g.runs}, key=str)
            evaluation = warm_eval(g)
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
                    "evaluation examples/s (warm)": med(evaluation),
                    "n eval": str(evaluation.n) if evaluation else "0",
                    "peak RSS (MiB)": med(row.peak_rss),
                    "peak device memory (MiB)": med(device_memory),
                }
            )
        if all(line["peak device memory (MiB)"] == "—" for line in lines):
            for line in lines:
                del line["peak device memory (MiB)"]
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
        out.append(f"### {md(where[0])} · {md(where[1])}\n")
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
