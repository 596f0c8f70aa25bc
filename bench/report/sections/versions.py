"""Version over version: did upgrading a framework make training faster, like for like?

For each framework measured at two or more of its versions on one machine-device, in one sitting
(``record["schedule"]["sitting"]``; older records: one sitting per framebench commit and machine), the
same model, mode and training setup: each newer version against the one before it, its speed ratio
(newer ÷ older, > 1: the newer is faster) with its interval and the judge's verdict
(``bench.judge.judge``: faster / slower / tie within ±P / open), by the race's rule: paired by round
where both versions ran in enough common rounds of the sitting, and whether the final test
accuracy agrees seed by seed.

A framework's version is what its record says (``framework.versions[<name>]``: ``torch`` ->
``2.13.0+cpu``), so it holds whichever way the environment was asked for (``torch@2.13.0`` or plain).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.judge import ALPHA, TIE_MARGIN, Judgement, judge, rule_text
from bench.report import cells
from bench.report.markdown import table
from bench.text import md

SPEED = "steady_examples_per_sec"
ACCURACY = "final_test_accuracy"
COLUMNS = ("Machine-device", "Model", "Framework (mode)", "Newer", "Older", "Newer ÷ older speed",
           "Verdict", "Runs (newer / older)", "Accuracy")  # fmt: skip


def version_of(record: dict[str, Any]) -> str | None:
    """The framework's own version in a record (``framework.versions[name]``), or None."""
    versions = (record.get("framework") or {}).get("versions") or {}
    value = versions.get(cells.framework_name(record)) if isinstance(versions, dict) else None
    return str(value) if value not in (None, "") else None


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Release order: the numbers in the version (``2.13.0+cpu`` -> (2, 13, 0)), then the text."""
    return tuple(int(n) for n in re.findall(r"\d+", version.partition("+")[0])), version


def sitting_of(record: dict[str, Any]) -> str:
    """The sitting a record was measured in; a legacy record's is its framebench commit."""
    schedule = record.get("schedule") or {}
    sitting = schedule.get("sitting") if isinstance(schedule, dict) else None
    if isinstance(sitting, dict) and sitting.get("id"):
        return str(sitting["id"])
    return f"legacy:{cells.commit(record) or '?'}"


def _round(record: dict[str, Any]) -> int | None:
    schedule = record.get("schedule") or {}
    value = schedule.get("round") if isinstance(schedule, dict) else None
    return value if isinstance(value, int) else None


def _speed(record: dict[str, Any]) -> float | None:
    value = (record.get("metrics") or {}).get(SPEED)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def group_versions(
    records: Sequence[dict[str, Any]],
) -> dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]]:
    """(machine-device, model, framework, mode, setup, sitting) -> version -> its ok records, for the
    places with two or more versions of one framework."""
    places: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        version = version_of(record)
        if record.get("status") != "ok" or version is None or _speed(record) is None:
            continue
        key = (
            f"{cells.device(record)} · {cells.machine(record)}",
            cells.model(record),
            cells.framework_name(record),
            cells.mode(record),
            cells.setup(record),
            sitting_of(record),
        )
        places[key][version].append(record)
    return {key: dict(by) for key, by in sorted(places.items(), key=lambda kv: repr(kv[0])) if len(by) > 1}


def _judge_settings(records: list[dict[str, Any]]) -> dict[str, float]:
    """The α and tie margin the sitting's race used (its records say), else the judge's defaults."""
    sitting = (records[0].get("schedule") or {}).get("sitting") if records else None
    out = {}
    if isinstance(sitting, dict):
        if isinstance(sitting.get("alpha_per_look"), int | float) and 0 < sitting["alpha_per_look"] < 1:
            out["alpha"] = float(sitting["alpha_per_look"])
        if isinstance(sitting.get("target_precision"), int | float) and sitting["target_precision"] > 0:
            out["tie_margin"] = float(sitting["target_precision"])
    return out


def compare(newer: list[dict[str, Any]], older: list[dict[str, Any]]) -> Judgement:
    """The judge on newer ÷ older speed, at the sitting's α and tie margin, by the race's rule
    (``bench.planner.compare_cells``: paired by round where both ran in enough common rounds for the
    paired test to reach α, else as independent samples), as the verdict judges."""
    from bench import planner

    settings = _judge_settings(newer)
    new_rounds = {_round(r): _speed(r) for r in newer}
    old_rounds = {_round(r): _speed(r) for r in older}
    if None not in new_rounds and None not in old_rounds and len(new_rounds) == len(newer) \
            and len(old_rounds) == len(older):  # fmt: skip
        return planner.compare_cells(new_rounds, old_rounds, settings.get("alpha", ALPHA),
                                     settings.get("tie_margin", TIE_MARGIN))  # fmt: skip
    return judge([_speed(r) for r in newer], [_speed(r) for r in older], **settings)


def accuracy_parity(newer: list[dict[str, Any]], older: list[dict[str, Any]]) -> str:
    """Whether the final test accuracy agrees to 3 decimals at every seed both trained in full."""

    def finals(runs: list[dict[str, Any]]) -> dict[int, float]:
        out = {}
        for r in runs:
            value = (r.get("metrics") or {}).get(ACCURACY)
            if cells.purpose(r) == "full" and isinstance(value, int | float):
                out[int(r["config"].get("seed", -1))] = float(value)
        return out

    new, old = finals(newer), finals(older)
    common = sorted(set(new) & set(old))
    if not common:
        return "no seed trained in full by both"
    gaps = [(abs(new[s] - old[s]), s) for s in common if round(new[s], 3) != round(old[s], 3)]
    seeds = ", ".join(map(str, common))
    if not gaps:
        return f"same to 3 decimals (seed{'s' if len(common) > 1 else ''} {seeds})"
    gap, seed = max(gaps)
    return (
        f"differs at {len(gaps)} of {len(common)} seed(s); largest at seed {seed}: "
        f"{new[seed]:.3f} vs {old[seed]:.3f} (gap {gap:.3f})"
    )


def version_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """One table row per consecutive pair of versions at each place (newest against the one before)."""
    rows = []
    for (where, model, framework, mode, setup, _), by_version in group_versions(records).items():
        ordered = sorted(by_version, key=version_key)
        for older, newer in itertools.pairwise(ordered):
            verdict = compare(by_version[newer], by_version[older])
            ratio = "—" if verdict.ratio is None else f"{verdict.ratio:.2f}× {verdict.interval_text()}"
            rows.append({
                "Machine-device": md(where),
                "Model": md(f"{model} ({cells.setup_text(setup)})"),
                "Framework (mode)": md(f"{framework} ({mode})"),
                "Newer": md(newer),
                "Older": md(older),
                "Newer ÷ older speed": ratio,
                "Verdict": verdict.word() + (f" ({verdict.p_text()})" if verdict.p_text() else ""),
                "Runs (newer / older)": f"{verdict.n_a} / {verdict.n_b}",
                "Accuracy": md(accuracy_parity(by_version[newer], by_version[older])),
            })  # fmt: skip
    return rows


def versions_section(records: Sequence[dict[str, Any]], level: str = "##") -> list[str]:
    """The "Version over version" section; nothing where no framework was measured at two versions
    on one machine in one sitting."""
    rows = version_rows(records)
    if not rows:
        return []
    return [
        f"{level} Version over version\n",
        "Each framework measured at two or more versions on one machine-device in one sitting, the same "
        "model, mode and setup: the newer version's training speed ÷ the older's (> 1: the upgrade is "
        f"faster), with its interval and verdict, paired by round where both versions ran in the same "
        f"rounds (Wilcoxon signed-rank), else Mann–Whitney U, at the sitting's α. Rule: {rule_text()}.\n",
        table(rows, COLUMNS) + "\n",
    ]
