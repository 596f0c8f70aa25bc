"""Figures (matplotlib Agg, no pyplot state): accuracy curves, throughput and time-to-target bars.

File names carry the machine-device (``<kind>-<machine slug>``) so two machines never share a figure.
The verdict's forest plot, the input-pipeline and the scaling figures live in
:mod:`bench.report.figures_extra`. One palette, :data:`FRAMEWORK_COLOURS`, colours a framework the same
in every figure and in the HTML page.
"""

from __future__ import annotations

import os
import textwrap
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report.cells import setup_text
from bench.report.markdown import slug
from bench.report.numbers import Row, by_model_where, by_where, epoch_values
from bench.report.sections.detail import curve_groups, merged_text
from bench.specs import MODELS
from bench.stats import Summary

FIGURE_PREFIXES = ("verdict", "overview", "accuracy_", "throughput_", "time_to_target_", "input_", "scaling_")
ERRORBAR_NOTE = "error bars: order-statistic interval of the median (≥95%), or the range when n ≤ 5"


def where_slug(device: str, machine: str) -> str:
    """``cpu-example-cpu-9000-8-cores``."""
    return f"{device}-{slug(machine)}"


def relative(out: Path, figures: Path) -> str:
    """The figures folder relative to the report, URL-quoted (a link survives a path with spaces)."""
    return urllib.parse.quote(Path(os.path.relpath(figures.resolve(), out.parent.resolve())).as_posix())


def figure_links(rows: list[Row], out: Path, figures: Path) -> dict[str, dict[Any, str]]:
    """Where each figure of the accuracy, throughput and time-to-target sections is."""
    rel = relative(out, figures)
    links: dict[str, dict[Any, str]] = {"accuracy": {}, "throughput": {}, "ttt": {}}
    for (model, device, machine), cell_rows in by_model_where(rows):
        if any(r.group.full_runs for r in cell_rows):
            links["accuracy"][(model, device, machine)] = (
                f"{rel}/accuracy_{model}_{where_slug(device, machine)}.png"
            )
    for (device, machine), device_rows in by_where(rows):
        name = where_slug(device, machine)
        if any(r.throughput for r in device_rows):
            links["throughput"][(device, machine)] = f"{rel}/throughput_{name}.png"
        if any(r.group.full_runs for r in device_rows):
            links["ttt"][(device, machine)] = f"{rel}/time_to_target_{name}.png"
    return links


# One colour per framework, by registry name, in every figure and in report.html (html.py passes it on).
FRAMEWORK_COLOURS: dict[str, str] = {
    "torch": "#d62728",
    "tensorflow": "#ff7f0e",
    "mxnet": "#2ca02c",
    "jax": "#1f77b4",
    "paddle": "#9467bd",
    "keras-jax": "#17becf",
    "keras-torch": "#e377c2",
    "mlx": "#8c564b",
}
# Frameworks not in the palette (a newly added one) take these in turn, by a stable hash of the name.
FALLBACK_COLOURS = ("#bcbd22", "#7f7f7f", "#393b79", "#637939", "#e7ba52", "#000000")


def framework_colour(framework: str) -> str:
    """The framework's colour: its palette entry, else a fallback fixed by its name (never random).
    A version entry (``torch@2.13.0``) takes its framework's colour."""
    framework = framework.partition("@")[0]
    if framework in FRAMEWORK_COLOURS:
        return FRAMEWORK_COLOURS[framework]
    return FALLBACK_COLOURS[sum(framework.encode()) % len(FALLBACK_COLOURS)]


def colors_for(rows: list[Row]) -> dict[str, Any]:
    """label -> colour: one colour per framework (its modes share it; markers_for tells them apart)."""
    return {r.group.label: framework_colour(r.group.framework) for r in rows}


MODE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def markers_for(rows: list[Row]) -> dict[str, str]:
    """label -> marker: a framework's modes in the order of their names, one marker each."""
    modes: dict[str, set[str]] = {}
    for r in rows:
        modes.setdefault(r.group.framework, set()).add(r.group.mode)
    return {
        r.group.label: MODE_MARKERS[sorted(modes[r.group.framework]).index(r.group.mode) % len(MODE_MARKERS)]
        for r in rows
    }


def save(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


def varying(rows: list[Row]) -> set[str]:
    """The setup fields whose values differ between these cells."""
    keys = {k for r in rows for k, _ in r.group.setup}
    return {k for k in keys if len({dict(r.group.setup).get(k) for r in rows}) > 1}


def short_setup(row: Row, fields: set[str]) -> str:
    """Only the setup fields that tell these cells apart (e.g. ``bs 64``, ``native input``)."""
    return setup_text(tuple((k, v) for k, v in row.group.setup if k in fields)) if fields else ""


def _bar_label(row: Row, fields: set[str]) -> str:
    label = f"{row.group.framework}\n{row.group.mode}"
    extra = short_setup(row, fields)
    return f"{label}\n{extra}" if extra and extra != "—" else label


def _ttt_note(row: Row) -> str | None:
    if row.ttt.train_seconds is None:
        return f"not reached\n({row.ttt.reached}/{row.ttt.total})"
    if row.ttt.reached < row.ttt.total:
        return f"{row.ttt.reached}/{row.ttt.total} reached"
    return None


def _ttt_subtitle(rows: list[Row]) -> str:
    """What the bars are: never error bars where every cell has one run."""
    counts = {r.ttt.reached for r in rows if r.ttt.train_seconds is not None}
    if counts and max(counts) < 2:
        return "one run per cell: no error bars, no interval"
    if 1 in counts:
        return f"median; {ERRORBAR_NOTE}; cells with one run have none"
    return f"median; {ERRORBAR_NOTE}"


def bar_figure(
    rows: list[Row],
    colors: dict[str, Any],
    value: Callable[[Row], Summary | None],
    note: Callable[[Row], str | None],
    ylabel: str,
    title: str,
    with_target: bool = False,
    higher_is_faster: bool = True,
) -> Any:
    """One panel per model: a bar per cell at its median, error bars at its interval, fastest first
    (the highest value, or the lowest where ``higher_is_faster`` is False); cells without a value last."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    models = sorted({r.group.model for r in rows})
    widest = max(sum(1 for r in rows if r.group.model == m) for m in models)
    # Side by side while they fit a page; stacked (one panel per row) when there are many bars.
    stacked = widest * len(models) > 12
    width = 1.2 + max(4.0, 0.95 * widest) * (1 if stacked else len(models))
    fig = Figure(figsize=(width, 4.6 * (len(models) if stacked else 1)))
    for i, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, i + 1) if stacked else fig.add_subplot(1, len(models), i + 1)
        panel = _fastest_first([r for r in rows if r.group.model == model], value, higher_is_faster)
        fields = varying(panel)
        summaries = [value(r) for r in panel]
        heights = [s.median if s else 0.0 for s in summaries]
        errors = [
            [s.median - s.low if s else 0.0 for s in summaries],
            [s.high - s.median if s else 0.0 for s in summaries],
        ]
        positions = list(range(len(panel)))
        bars = ax.bar(positions, heights, width=0.6, color=[colors[r.group.label] for r in panel])
        shown = [j for j, s in enumerate(summaries) if s is not None and s.n > 1]
        if shown:
            ax.errorbar(
                [positions[j] for j in shown],
                [heights[j] for j in shown],
                yerr=[[errors[0][j] for j in shown], [errors[1][j] for j in shown]],
                fmt="none",
                ecolor="black",
                capsize=4,
                linewidth=1,
            )
        top = max((s.high for s in summaries if s), default=0.0) or 1.0
        if not any(summaries):
            ax.set_yticks([])  # nothing to measure: no scale to read
        for bar, row, summary in zip(bars, panel, summaries, strict=True):
            if row.gate.flagged:
                bar.set_hatch("//")
            text = summary.fmt_median(unit=False) if summary else ""
            extra = note(row)
            text = f"{text}\n{extra}" if text and extra else text or extra or ""
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                (summary.high if summary else 0.0) + 0.02 * top,
                text,
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
        ax.set_ylim(0, top * 1.3)
        margin = 0.1 + max(0.0, (2 - len(panel)) / 2)  # a lone bar stays centred and slim
        ax.set_xlim(-0.5 - margin, len(panel) - 0.5 + margin)
        ax.set_xticks(positions, [_bar_label(r, fields) for r in panel], fontsize="small")
        target = MODELS[model].target_accuracy if with_target and model in MODELS else None
        ax.set_title(f"{model} (target accuracy {target:.2f})" if target is not None else model)
        ax.set_ylabel(ylabel)
        if top >= 1000:
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


def _fastest_first(
    rows: list[Row], value: Callable[[Row], Summary | None], higher_is_faster: bool
) -> list[Row]:
    def key(row: Row) -> tuple[int, float, str]:
        summary = value(row)
        if summary is None:
            return (1, 0.0, row.group.label)
        return (0, -summary.median if higher_is_faster else summary.median, row.group.label)

    return sorted(rows, key=key)


def _merged_curve(ax: Any, rows: list[Row], color: Any = "tab:blue") -> None:
    """One line for cells whose median curves coincide, the band over all their full runs."""
    pooled: dict[int, list[float]] = {}
    for row in rows:
        for epoch, values in epoch_values(row.group, "test_accuracy").items():
            pooled.setdefault(epoch, []).extend(values)
    epochs = sorted(pooled)
    medians = epoch_values(rows[0].group, "test_accuracy")
    runs = sum(len(r.group.full_runs) for r in rows)
    names = ", ".join(r.group.label for r in rows)
    ax.plot(
        epochs,
        [pd.Series(medians[e]).median() for e in epochs],
        marker="o",
        color=color,
        label=textwrap.fill(f"{names} (one curve, {runs} full runs)", 48),
        linewidth=1.8,
    )
    if runs > len(rows):  # a band needs a cell with more than one run
        ax.fill_between(epochs, [min(pooled[e]) for e in epochs], [max(pooled[e]) for e in epochs],
                        color=color, alpha=0.18, linewidth=0)  # fmt: skip


def _accuracy_subtitle(rows: list[Row], groups: list[list[Row]]) -> str:
    """What the lines and any shading are: a min–max band is promised only where runs can make one."""
    most = max(len(r.group.full_runs) for r in rows)
    merged = [g for g in groups if len(g) > 1]
    if most > 1:
        what = "median, shaded min–max over each line's full runs"
    else:
        what = "one full run per cell: no band"
    if len(merged) == 1 and len(merged[0]) == len(rows):
        return f"({len(rows)} cells, {merged_text(rows)}: one curve;\n{what})"
    if merged:
        cells_merged = sum(len(g) for g in merged)
        return f"({what};\n{cells_merged} cells in {len(merged)} merged curve(s): {merged_text(merged[0])})"
    return f"({what})"


def remove_stale(figures: Path) -> None:
    """Delete the figures this report draws (others in the folder are left alone)."""
    figures.mkdir(parents=True, exist_ok=True)
    for stale in sorted(figures.glob("*.png")):
        if stale.name.startswith(FIGURE_PREFIXES):
            stale.unlink()


def draw_figures(rows: list[Row], figures: Path) -> list[Path]:
    """Draw the accuracy, throughput and time-to-accuracy figures of each machine-device."""
    from matplotlib.figure import Figure

    colors = colors_for(rows)
    written = []
    for (model, device, machine), cell_rows in by_model_where(rows):
        cell_rows = [r for r in cell_rows if r.group.full_runs]
        if not cell_rows:
            continue
        fig = Figure(figsize=(10.5, 4.6))
        ax = fig.add_subplot()
        spec = MODELS.get(model)
        fields = varying(cell_rows)
        groups = curve_groups(cell_rows)
        # Like-for-like frameworks give the same curve: each group of coinciding cells is one line,
        # shaded over its cells' runs; a cell that differs gets its own line.
        singles = [g[0] for g in groups if len(g) == 1]
        shades = ("tab:blue", "tab:gray", "tab:olive", "tab:cyan", "tab:pink")
        for index, group in enumerate(g for g in groups if len(g) > 1):
            _merged_curve(ax, group, shades[index % len(shades)])
        # Shrinking markers and varied dashes keep the single lines visible where some overlap.
        for index, row in enumerate(singles):
            values = epoch_values(row.group, "test_accuracy")
            epochs = list(values)
            extra = short_setup(row, fields)
            label = row.group.label + (f", {extra}" if extra and extra != "—" else "")
            label += " ⚠ outside band" if row.gate.flagged else ""
            color = colors[row.group.label]
            ax.plot(
                epochs,
                [pd.Series(v).median() for v in values.values()],
                marker="o",
                markersize=max(9 - 2.5 * index, 3),
                color=color,
                label=f"{label} (n={len(row.group.full_runs)})",
                linestyle="--" if row.gate.flagged else ("-", (0, (5, 2)), (0, (1, 1)))[index % 3],
                linewidth=1.5,
            )
            if len(row.group.full_runs) > 1:  # one run has no min–max to shade
                lows, highs = [min(v) for v in values.values()], [max(v) for v in values.values()]
                ax.fill_between(epochs, lows, highs, color=color, alpha=0.18, linewidth=0)
        if spec is not None:
            low, high = spec.accuracy_band
            ax.axhspan(
                low, high, color="0.85", alpha=0.5, zorder=0, label=f"expected band {low:.2f}–{high:.2f}"
            )
            ax.axhline(
                spec.target_accuracy,
                color="0.3",
                linestyle=":",
                linewidth=1,
                label=f"time-to-accuracy target {spec.target_accuracy:.2f}",
            )
        subtitle = _accuracy_subtitle(cell_rows, groups)
        ax.set_title(
            f"Test accuracy per epoch: {model} on {device} · {machine}\n{subtitle}", fontsize="medium"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (fraction correct)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        written.append(figures / f"accuracy_{model}_{where_slug(device, machine)}.png")
        save(fig, written[-1])

    for (device, machine), device_rows in by_where(rows):
        name, where = where_slug(device, machine), f"{device} · {machine}"
        if any(r.throughput for r in device_rows):
            fig = bar_figure(
                device_rows,
                colors,
                value=lambda r: r.throughput,
                note=lambda r: "⚠ accuracy\noutside band" if r.gate.flagged else None,
                ylabel="training examples/s (steady state)",
                title=f"Steady-state training throughput on {where}\n(median; {ERRORBAR_NOTE})",
            )
            written.append(figures / f"throughput_{name}.png")
            save(fig, written[-1])
        full_rows = [r for r in device_rows if r.group.full_runs]
        if full_rows:
            fig = bar_figure(
                full_rows,
                colors,
                value=lambda r: r.ttt.train_seconds,
                note=_ttt_note,
                ylabel="training seconds to target",
                title=f"Time to target test accuracy on {where}\n({_ttt_subtitle(full_rows)})",
                with_target=True,
                higher_is_faster=False,
            )
            written.append(figures / f"time_to_target_{name}.png")
            save(fig, written[-1])
    return written
