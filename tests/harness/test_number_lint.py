"""README.md and docs/*.md: no measured number outside a generated block, and every module in the layout.

A measured number (a run time, a disk size, a speed, a ratio, a share) goes stale the day it is
written, so the docs may hold one only inside a block the report regenerates from the records
(``<!-- NAME:start -->`` … ``<!-- NAME:end -->``). Fenced code blocks and inline code are commands and
identifiers, not claims, and are skipped too. What remains is scanned for numbers that look measured;
the allow-list names the spec constants that may appear in prose.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GENERATED = re.compile(r"<!--\s*([\w-]+):start\s*-->.*?<!--\s*\1:end\s*-->", re.DOTALL)
FENCED = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)\s]*\)")  # a path or URL may hold digits (results/2026-11/)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

NUMBER = r"(?<![\w.])\d[\d,]*(?:\.\d+)?"
MEASURED = [
    (
        "a time",
        re.compile(
            NUMBER + r"\s*(?:–\s*\d[\d,.]*\s*)?(?:s|sec|secs|seconds?|ms|µs|us|min|mins|minutes?|h|hours?)\b"
        ),
    ),
    ("a size", re.compile(NUMBER + r"\s*(?:B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\b")),
    ("a speed", re.compile(NUMBER + r"\s*(?:examples/s(?:ec)?|ex/s|GFLOP/s|TFLOP/s|steps/s|it/s)")),
    ("a ratio", re.compile(NUMBER + r"\s?×(?!\s*\w)|" + NUMBER + r"×")),
    ("a share", re.compile(r"[+−-]?" + NUMBER + r"\s*%")),
    ("a p-value", re.compile(r"\bp\s*[=<>≈]\s*0?\.\d+")),
    ("a large count", re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\d.])")),
]

# Spec constants: the models' definition, the judge's defaults, a mathematical coverage. Each phrase
# is removed before the scan, so the same number elsewhere (a measurement) is still caught.
ALLOWED = (
    "61,706",  # LeNet-5's parameter count (bench/specs.py)
    "203,530",  # the MLP's parameter count
    "60,000",  # Fashion-MNIST's training images
    "10,000",  # and its test images
    "δ = 3%",  # the judge's minimum effect (bench/judge.py MIN_EFFECT)
    "P = 10%",  # the judge's tie margin (TIE_MARGIN)
    "96.9%",  # coverage of [min, max] of six runs: 1 − 2/2⁶
    "95%",  # the coverage an interval must reach
    "> 100%",  # a share of peak above all of it is invalid
    "≥ 1 − α",
    "now + 10 min",  # the clock skew a record's finished_at may have (bench/schema.py, docs/record.md)
)

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def prose(text: str) -> str:
    """The text a reader takes as claims: generated blocks, code, link targets and comments removed."""
    for pattern in (GENERATED, FENCED, COMMENT, INLINE_CODE, LINK_TARGET):
        text = pattern.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep the line numbers
    for phrase in ALLOWED:
        text = text.replace(phrase, " ")
    return text


def measured_numbers(text: str) -> list[str]:
    """``line N: <what> '<match>'`` for every number in ``text``'s prose that looks measured."""
    found = []
    for number, line in enumerate(prose(text).splitlines(), start=1):
        for what, pattern in MEASURED:
            found += [f"line {number}: {what} {m.group(0).strip()!r}" for m in pattern.finditer(line)]
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_measured_number_outside_a_generated_block(path):
    problems = measured_numbers(path.read_text(encoding="utf-8"))
    assert problems == [], (
        f"{path.relative_to(ROOT)} has numbers that look measured outside a generated block; move them "
        "into a block the report writes, or delete them (or, for a spec constant, add it to ALLOWED): "
        + "; ".join(problems)
    )


def test_the_docs_are_there():
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "docs/running.md", "docs/method.md", "docs/gpu.md"} <= names
    assert {"docs/faults.md", "docs/report.md", "docs/layout.md"} <= names


@pytest.mark.parametrize(
    "claim",
    [
        "about 31 minutes",
        "it takes 13 min here",
        "torch's is a 5.5 GB CUDA build",
        "LeNet trains at about 2,700 examples/s",
        "the wrapper costs 1.30× here",
        "drifts by +11% between sittings",
        "a spread of 10.3% blocked",
        "faster (p = 0.031)",
        "a step of 1.3 ms",
        "Will the first call fit in 420 s",
    ],
)
def test_an_inserted_measurement_fails_the_lint(claim):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert measured_numbers(readme) == []
    lines = readme.splitlines()
    lines.insert(3, f"On this machine {claim}.")
    problems = measured_numbers("\n".join(lines))
    assert problems and all(p.startswith("line 4: ") for p in problems), (claim, problems)


def test_generated_blocks_code_and_spec_constants_are_not_claims():
    text = "\n".join(
        [
            "LeNet-5 has 61,706 parameters, the MLP 203,530; the judge's δ = 3% and P = 10%.",
            "<!-- costs:start -->",
            "the newest sitting took **31 min** for 432 processes; 15.2 GB of environments",
            "<!-- costs:end -->",
            "```bash",
            "nox -s bench   # about 31 minutes",
            "```",
            "Run `timeout 420s nox -s bench` or see [the set](results/2026-11/REPORT.md).",
        ]
    )
    assert measured_numbers(text) == []
    # the same number outside a block is caught, and a block must be closed by its own name
    assert measured_numbers(text.replace("<!-- costs:end -->", "<!-- other:end -->"))
    assert measured_numbers(text + "\nIt took 31 min.") == ["line 9: a time '31 min'"]


def test_every_bench_and_scripts_module_is_in_the_layout():
    layout = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    modules = [p.relative_to(ROOT / "bench").as_posix() for p in sorted((ROOT / "bench").rglob("*.py"))]
    missing = [m for m in modules if f"`{m.removeprefix('report/')}`" not in layout]
    scripts = [p.name for p in sorted((ROOT / "scripts").iterdir()) if p.is_file()]
    missing += [f"scripts/{s}" for s in scripts if f"`{s}`" not in layout]
    assert missing == [], f"docs/layout.md lacks a line for: {', '.join(missing)}"
