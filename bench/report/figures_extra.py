"""The picture of the verdict (a forest plot), the input-pipeline and the scaling figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.judge import TIE_MARGIN
from bench.report import cells
from bench.report.figures import ERRORBAR_NOTE, framework_colour, relative, save, where_slug
from bench.report.markdown import slug
from bench.report.numbers import Row
from bench.report.sections.pipeline import batch_series, input_pairs, thread_series

VERDICT = "verdict.png"
FOREST_CAPTION = (
    "Each framework's best mode as a speed ratio to the fastest (> 1 = faster; the fastest is 1.0), "
    "with the judge's interval of that ratio and its verdict, fastest on top, one panel per "
    "machine-device, sitting and model. The shaded band is the tie margin; a hollow marker is open "
    "(not settled yet)."
)


def _label_text(row: dict[str, Any]) -> str:
    """The words beside a row: its verdict against the fastest and the ratio with its interval."""
    label = str(row.get("label") or "")
    ratio, low, high = row.get("ratio"), row.get("low"), row.get("high")
    if ratio is None:
        return "not measured"
    words = {"faster": "settled faster", "slower": "settled slower", "tie": "tie", "open": "open"}
    word = "fastest" if ratio == 1.0 and label in ("", "fastest", "leader") else words.get(label, label)
    bounds = f" [{low:.2f}–{high:.2f}]" if low is not None and high is not None and word != "fastest" else ""
    n = f", n={row['n']}" if row.get("n") is not None else ""
    return f"{word}  {ratio:.2f}×{bounds}{n}"


def _limits(blocks: Sequence[dict[str, Any]], tie_margin: float) -> tuple[float, float]:
    """A log axis wide enough for every interval and the tie band, padded by a tenth of its span."""
    values = [1 / (1 + tie_margin), 1 + tie_margin]
    for block in blocks:
        for row in block["rows"]:
            values += [v for v in (row.get("ratio"), row.get("low"), row.get("high")) if v and v > 0]
    low, high = math.log(min(values)), math.log(max(values))
    pad = 0.08 * (high - low)
    return math.exp(low - pad), math.exp(high + pad)


def _ticks(xmin: float, xmax: float) -> list[float]:
    """Round ratios inside the axis, at least a seventh of its (log) width apart, 1.0 always kept."""
    candidates = (0.05, 0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
    gap = (math.log(xmax) - math.log(xmin)) / 7
    kept = [1.0]
    for tick in sorted((t for t in candidates if xmin <= t <= xmax), key=lambda t: abs(math.log(t))):
        if all(abs(math.log(tick) - math.log(k)) >= gap for k in kept):
            kept.append(tick)
    return sorted(kept)


def forest_figure(blocks: Sequence[dict[str, Any]], tie_margin: float = TIE_MARGIN) -> Any:
    """The verdict's forest plot as a matplotlib Figure; None when no block has a row.

    ``blocks`` is ``forest_data``'s list: ``{"title", "rows": [{"framework", "mode", "ratio", "low",
    "high", "label", "n"}]}``, rows fastest first, the leader's ratio 1.0. One panel per block, rows
    top to bottom in that order, x a log scale of the speed ratio to the fastest (> 1 = faster), a line
    at 1.0, the tie band [1 / (1 + P), 1 + P] shaded, each row's verdict written beside it.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    blocks = [b for b in blocks if b.get("rows")]
    if not blocks:
        return None
    heights = [1.0 + 0.42 * len(b["rows"]) for b in blocks]
    fig = Figure(figsize=(11.0, 0.9 + sum(heights)))
    grid = fig.add_gridspec(len(blocks), 1, height_ratios=heights)
    xmin, xmax = _limits(blocks, tie_margin)
    ticks = _ticks(xmin, xmax)
    seen: dict[str, Any] = {}
    for index, block in enumerate(blocks):
        ax = fig.add_subplot(grid[index])
        rows = block["rows"]
        ax.axvspan(1 / (1 + tie_margin), 1 + tie_margin, color="0.9", zorder=0)
        ax.axvline(1.0, color="0.35", linewidth=1, zorder=1)
        for y, row in enumerate(rows):
            colour = framework_colour(str(row["framework"]))
            ratio, low, high = row.get("ratio"), row.get("low"), row.get("high")
            if ratio is not None:
                if low is not None and high is not None:
                    ax.plot([low, high], [y, y], color=colour, linewidth=2.2, zorder=2, solid_capstyle="butt")
                is_open = row.get("label") == "open"
                ax.plot([ratio], [y], marker="o", markersize=8, color=colour, zorder=3,
                        markerfacecolor="white" if is_open else colour, markeredgewidth=1.8)  # fmt: skip
            seen.setdefault(str(row["framework"]), colour)
            note = ax.annotate(
                _label_text(row), xy=(1.0, y), xycoords=("axes fraction", "data"),
                xytext=(8, 0), textcoords="offset points", va="center", fontsize="small",
            )  # fmt: skip
            note.set_in_layout(False)  # the right margin is reserved for these below
        ax.set_yticks(range(len(rows)), [f"{r['framework']} ({r['mode']})" for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)  # the fastest on top
        ax.set_xscale("log")
        ax.set_xlim(xmin, xmax)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(str(block["title"]), fontsize="medium", loc="left")
        if index == len(blocks) - 1:
            ax.set_xlabel("speed ratio to the fastest (> 1 = faster), log scale")
    handles = [Line2D([], [], marker="o", linestyle="-", color=c, label=name) for name, c in seen.items()]
    handles += [
        Patch(color="0.9", label=f"tie band ±{100 * tie_margin:g}%"),
        Line2D([], [], marker="o", linestyle="", color="0.3", markerfacecolor="white", label="open"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 5), fontsize="small",
               frameon=False, bbox_to_anchor=(0.5, 1.0))  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    legend_rows = -(-len(handles) // 5)
    fig.tight_layout(rect=(0, 0, 0.75, 1 - (0.1 + 0.2 * legend_rows) / fig.get_figheight()))
    return fig


def draw_forest(blocks: Sequence[dict[str, Any]], path: Path, tie_margin: float = TIE_MARGIN) -> Path | None:
    """Write the verdict's forest plot (:func:`forest_figure`) to ``path``; None (nothing written)
    when no block has a row."""
    fig = forest_figure(blocks, tie_margin)
    if fig is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def verdict_link(out: Path, figures: Path) -> str:
    """The forest plot's link from the report at ``out``."""
    return f"{relative(out, figures)}/{VERDICT}"


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
