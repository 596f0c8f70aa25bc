"""The overview figure (accuracy vs throughput), the input-pipeline and the scaling figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import cells
from bench.report.figures import ERRORBAR_NOTE, colors_for, markers_for, relative, save, where_slug
from bench.report.markdown import slug
from bench.report.numbers import Row, by_where
from bench.report.sections.pipeline import batch_series, input_pairs, thread_series

OVERVIEW = "overview.png"
OVERVIEW_CAPTION = (
    "Test accuracy (y) against steady-state training examples/sec (x): one point per framework (mode) "
    "at the model's default setup with device input, one panel per machine-device (row) and model "
    "(column), each with its own axes. Points "
    "are medians; error bars are the order-statistic interval of the median (coverage ≥ 95%, e.g. "
    "[min, max] of 6 runs = 96.9%) or, with 5 runs or fewer, the plain min–max range. Accuracy uses "
    "the full runs, throughput all runs. Up and to the right is better; a hollow marker fails the "
    "accuracy gate."
)


def _summary_rows(rows: list[Row]) -> list[Row]:
    """Device-input cells with both numbers, at the models' default setups when there are any."""
    found = [
        r
        for r in rows
        if cells.setup_value(r.group.setup, "input") == "device" and r.throughput is not None and r.accuracy.n
    ]
    defaults = [r for r in found if r.gate.band is not None]
    return defaults or found


def overview_link(rows: list[Row], out: Path, figures: Path) -> str | None:
    """The overview figure's link (None when no cell has both numbers)."""
    return f"{relative(out, figures)}/{OVERVIEW}" if _summary_rows(rows) else None


def draw_overview(rows: list[Row], figures: Path) -> Path | None:
    """Accuracy vs examples/sec, one panel per machine-device."""
    from matplotlib.figure import Figure

    shown = _summary_rows(rows)
    if not shown:
        return None
    panels = by_where(shown)
    colors, markers = colors_for(shown), markers_for(shown)
    models = sorted({r.group.model for r in shown})
    # One panel per machine-device (row) and model (column), each with its own axes: the accuracy gap
    # between models never takes the height, and throughputs of different models are not on one scale.
    labels = sorted({r.group.label for r in shown})
    legend_rows = -(-len(labels) // 4)
    fig = Figure(figsize=(1.0 + 4.6 * len(models), 0.9 + 3.9 * len(panels) + 0.22 * legend_rows))
    handles: dict[str, Any] = {}
    for i, ((device, machine), panel_rows) in enumerate(panels):
        for j, model in enumerate(models):
            ax = fig.add_subplot(len(panels), len(models), i * len(models) + j + 1)
            panel = [r for r in panel_rows if r.group.model == model]
            for row in panel:
                tp, acc = row.throughput, row.accuracy
                assert tp is not None
                color = colors[row.group.label]
                handles[row.group.label] = ax.errorbar(
                    [tp.median],
                    [acc.median],
                    xerr=[[tp.median - tp.low], [tp.high - tp.median]],
                    yerr=[[acc.median - acc.low], [acc.high - acc.median]],
                    fmt=markers[row.group.label],
                    color=color,
                    markerfacecolor="none" if row.gate.flagged else color,
                    markersize=7,
                    capsize=3,
                    linewidth=1,
                    label=row.group.label,
                )
            if not panel:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlabel("training examples/s, steady state")
            ax.set_ylabel("final test accuracy")
            ax.set_title(f"{model} · {device} · {machine}", fontsize="small")
            ax.grid(alpha=0.3, which="both")
            _readable_axes(ax, panel)
    fig.suptitle(
        "Accuracy vs training throughput, one panel per model\n"
        "(median; bars: interval of the median, or the range if n ≤ 5)",
        fontsize="medium",
    )
    fig.legend(
        [handles[label] for label in labels], labels, loc="lower center", ncol=4, fontsize="x-small",
        frameon=False, title="colour: framework · marker: its mode",
        title_fontsize="x-small",
    )  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout(rect=(0, 0.03 + 0.2 * legend_rows / fig.get_figheight(), 1, 1))
    path = figures / OVERVIEW
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def _readable_axes(ax: Any, panel: list[Row]) -> None:
    """Accuracy as 3 decimals (identical accuracies get a band of ±0.005 instead of float noise as the
    scale) and throughput in thousands."""
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3f"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1000:,.0f}k"))
    ax.xaxis.set_major_locator(MaxNLocator(6))
    if panel:
        accuracies = [v for r in panel for v in (r.accuracy.low, r.accuracy.high)]
        low, high = min(accuracies), max(accuracies)
        if high - low < 0.002:
            middle = (low + high) / 2
            ax.set_ylim(middle - 0.005, middle + 0.005)


def input_link(rows: list[Row], out: Path, figures: Path) -> str | None:
    """The input-pipeline figure's link (None without native-input runs)."""
    return f"{relative(out, figures)}/input_pipeline.png" if input_pairs(rows) else None


def draw_input(rows: list[Row], figures: Path) -> Path | None:
    """Device vs native input examples/sec side by side, one panel per machine-device."""
    from matplotlib.figure import Figure

    pairs = input_pairs(rows)
    if not pairs:
        return None
    wheres = sorted({p.key[:2] for p in pairs}, key=cells.where_rank)
    fig = Figure(figsize=(1.0 + 5.0 * len(wheres), 4.4))
    for i, where in enumerate(wheres):
        ax = fig.add_subplot(1, len(wheres), i + 1)
        mine = [p for p in pairs if p.key[:2] == where]
        labels = []
        for j, pair in enumerate(mine):
            assert pair.native is not None
            labels.append(f"{pair.native.group.label}\n{pair.native.group.model}")
            for offset, row, color, name in (
                (-0.2, pair.device, "tab:blue", "device"),
                (0.2, pair.native, "tab:orange", "native"),
            ):
                summary = row.throughput if row else None
                if summary is None:
                    continue
                ax.bar(j + offset, summary.median, width=0.38, color=color, label=name if j == 0 else None)
                if summary.n > 1:
                    ax.errorbar(
                        [j + offset],
                        [summary.median],
                        yerr=[[summary.median - summary.low], [summary.high - summary.median]],
                        fmt="none",
                        ecolor="black",
                        capsize=3,
                        linewidth=1,
                    )
        ax.set_xticks(list(range(len(mine))), labels, fontsize="small")
        ax.set_ylabel("training examples/s (steady state)")
        ax.set_title(f"{where[0]} · {where[1]}", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"Device-resident vs native input pipeline\n(median; {ERRORBAR_NOTE})", fontsize="small")
    path = figures / "input_pipeline.png"
    save(fig, path)
    return path


def scaling_links(rows: list[Row], out: Path, figures: Path) -> dict[Any, str]:
    """Links of the scaling figures, keyed like the scaling section's series."""
    rel = relative(out, figures)
    links: dict[Any, str] = {}
    for key in batch_series(rows):
        links[key] = f"{rel}/{_scaling_name('batch', key)}"
    for key in thread_series(rows):
        links[("threads", *key)] = f"{rel}/{_scaling_name('threads', key)}"
    return links


def _scaling_name(axis: str, key: tuple[Any, ...]) -> str:
    setup = slug(cells.setup_text(key[5]))
    return f"scaling_{axis}_{key[3]}-{key[4]}_{key[2]}_{where_slug(key[0], key[1])}_{setup}.png"


def draw_scaling(rows: list[Row], figures: Path) -> list[Path]:
    """Examples/sec against batch size (log2) and against threads, one figure per series."""
    from matplotlib.figure import Figure

    written = []
    for axis, series_of in (("batch", batch_series), ("threads", thread_series)):
        field = "batch_size" if axis == "batch" else "threads"
        for key, series in series_of(rows).items():
            fig = Figure(figsize=(6, 4))
            ax = fig.add_subplot()
            xs = [float(cells.setup_value(r.group.setup, field)) for r in series]
            summaries = [r.throughput for r in series]
            ax.errorbar(
                xs,
                [s.median for s in summaries if s],
                yerr=[
                    [s.median - s.low for s in summaries if s],
                    [s.high - s.median for s in summaries if s],
                ],
                marker="o",
                capsize=3,
            )
            if axis == "batch":
                ax.set_xscale("log", base=2)
                ax.set_yscale("log", base=2)
            ax.set_xlabel("batch size" if axis == "batch" else "CPU threads")
            ax.set_ylabel("training examples/s (steady state)")
            ax.set_title(
                f"{key[3]} ({key[4]}) {key[2]} on {key[0]} · {key[1]}\n({ERRORBAR_NOTE})", fontsize="small"
            )
            ax.grid(alpha=0.3, which="both")
            written.append(figures / _scaling_name(axis, key))
            save(fig, written[-1])
    return written
