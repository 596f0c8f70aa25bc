"""The verdict's forest plot and the one framework palette, from hand-made blocks (no measurement)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="the figures need the [report] extra")

from matplotlib.colors import to_hex

from bench.judge import TIE_MARGIN
from bench.report.figures import FRAMEWORK_COLOURS, framework_colour
from bench.report.figures_extra import _label_text, _ticks, draw_forest, forest_figure
from impls import FRAMEWORKS


def row(framework, mode, ratio, low=None, high=None, label="slower", n=6):
    return {
        "framework": framework,
        "mode": mode,
        "ratio": ratio,
        "low": low,
        "high": high,
        "label": label,
        "n": n,
    }


BLOCKS = [
    {
        "title": "cpu · Fixture CPU · sitting s1 · lenet",
        "rows": [
            row("fixture-a", "fast", 1.0, label="fastest"),
            row("torch", "eager", 0.8, 0.7, 0.9),
            row("jax", "jit", 0.97, 0.93, 1.04, label="tie"),
            row("mxnet", "hybrid", 0.5, 0.3, 1.2, label="open", n=3),
        ],
    },
    {"title": "cpu · Fixture CPU · sitting s1 · mlp", "rows": [row("jax", "scan", 1.0, label="")]},
    {"title": "an empty block is left out", "rows": []},
]


def test_every_registered_framework_has_its_own_colour():
    names = [*FRAMEWORKS, "mlx"]
    assert all(name in FRAMEWORK_COLOURS for name in names)
    assert len({FRAMEWORK_COLOURS[n] for n in names}) == len(set(names))  # no two alike
    # an unknown framework gets a colour fixed by its name, outside the palette
    assert framework_colour("newcomer") == framework_colour("newcomer")
    assert framework_colour("newcomer") not in FRAMEWORK_COLOURS.values()


def test_the_forest_puts_the_fastest_on_top_with_its_label_beside_each_row():
    fig = forest_figure(BLOCKS)
    first, second = fig.axes[:2]
    assert len([ax for ax in fig.axes if ax.get_title(loc="left")]) == 2  # the empty block has no panel
    labels = [t.get_text() for t in first.get_yticklabels()]
    assert labels == ["fixture-a (fast)", "torch (eager)", "jax (jit)", "mxnet (hybrid)"]
    bottom, top = first.get_ylim()
    assert top < bottom  # y runs downwards: row 0 (the fastest) is drawn on top
    notes = [t.get_text() for t in first.texts]
    assert notes == [
        "fastest  1.00×, n=6",
        "settled slower  0.80× [0.70–0.90], n=6",
        "tie  0.97× [0.93–1.04], n=6",
        "open  0.50× [0.30–1.20], n=3",
    ]
    assert [t.get_text() for t in second.texts] == ["fastest  1.00×, n=6"]
    # the line at 1.0 and the tie band
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in first.lines)
    (band,) = first.patches
    box = band.get_bbox()  # in data coordinates: x from 1 / (1 + P) to 1 + P
    assert box.x0 == pytest.approx(1 / (1 + TIE_MARGIN)) and box.x1 == pytest.approx(1 + TIE_MARGIN)
    # each row's marker in its framework's colour; an open row's marker is hollow
    markers = [line for line in first.lines if line.get_marker() == "o"]
    assert [to_hex(m.get_color()) for m in markers] == [
        framework_colour(n) for n in ("fixture-a", "torch", "jax", "mxnet")
    ]
    assert to_hex(markers[3].get_markerfacecolor()) == "#ffffff"
    assert to_hex(markers[1].get_markerfacecolor()) == framework_colour("torch")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:4] == ["fixture-a", "torch", "jax", "mxnet"] and "open" in legend


def test_draw_forest_writes_a_png_and_nothing_without_rows(tmp_path):
    path = draw_forest(BLOCKS, tmp_path / "figures" / "verdict.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert draw_forest([{"title": "x", "rows": []}], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_label_text_and_ticks():
    assert _label_text(row("torch", "eager", None)) == "not measured"
    assert _label_text(row("torch", "eager", 1.2, 1.1, 1.3, label="faster")).startswith(
        "settled faster  1.20×"
    )
    ticks = _ticks(0.1, 1.2)
    assert 1.0 in ticks and ticks == sorted(ticks) and all(0.1 <= t <= 1.2 for t in ticks)
