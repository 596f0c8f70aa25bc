"""Checking a parsed run record against its schema (``bench.schema``), migrating older versions, typing it.

``validate`` checks types, ranges, choices, the curve against the config and timestamps;
``migrate`` brings records of older versions up to ``SCHEMA_VERSION``; ``typed`` gives a validated
section as its dataclass. Standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import types
import typing
from typing import Any

from bench.schema import CLOCK_SKEW_SECONDS, READABLE_VERSIONS, Record, hints, type_name


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the JSON type ``hint`` names (shallow: list items and objects apart)."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) is dict:
        return isinstance(value, dict)
    if typing.get_origin(hint) is list:
        return isinstance(value, list)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check(value: Any, hint: Any, where: str, problems: list[str]) -> None:
    """Append what is wrong with ``value`` at ``where`` against ``hint`` (types of nested sections too)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    chosen = next((option for option in options if _matches(value, option)), None)
    if chosen is None:
        problems.append(f"'{where}' is not {_article(type_name(hint))} ({_describe(value)})")
    elif dataclasses.is_dataclass(chosen):
        _check_section(value, chosen, where, problems)
    elif typing.get_origin(chosen) is list:
        (item,) = typing.get_args(chosen)
        for i, element in enumerate(value):
            _check(element, item, f"{where}[{i}]", problems)
            if len(problems) > 5:  # enough to say what is wrong; a 20,000-point curve is one problem
                return


def _article(name: str) -> str:
    first = name.split(" or ")[0]
    if first in ("null", "true/false", "any"):
        return name
    return f"{'an' if first[0] in 'aeiou' else 'a'} {name}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {bool: "true/false", str: "a string", int: "an integer", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)  # fmt: skip
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = repr(value)
        return f"{kind} {text[:40]}{'…' if len(text) > 40 else ''}"
    return kind


def _check_section(value: dict[str, Any], cls: type, where: str, problems: list[str]) -> None:
    for spec in dataclasses.fields(cls):
        name, rules = spec.name, spec.metadata
        path = f"{where}.{name}" if where else name
        if name not in value:
            if rules.get("required"):
                problems.append(f"missing field {path}")
            continue
        before = len(problems)
        _check(value[name], hints(cls)[name], path, problems)
        if len(problems) == before:
            _check_rules(value[name], rules, path, problems)


def _check_rules(value: Any, rules: typing.Mapping[str, Any], path: str, problems: list[str]) -> None:
    if value is None:
        return
    if "choices" in rules and value not in rules["choices"]:
        problems.append(f"{path} {repr(value)[:40]} is not one of {', '.join(rules['choices'])}")
    if rules.get("nonempty") and not value:
        problems.append(f"{path} is empty")
    ranged = rules.get("positive") or "minimum" in rules or "maximum" in rules
    if ranged and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            problems.append(f"{path} is {value}")
        elif rules.get("positive") and not value > 0:
            problems.append(f"{path} is {value:g} (must be positive)")
        elif "minimum" in rules and not value >= rules["minimum"]:
            problems.append(f"{path} is {value:g} (must be at least {rules['minimum']:g})")
        elif "maximum" in rules and not value <= rules["maximum"]:
            problems.append(f"{path} is {value:g} (must be at most {rules['maximum']:g})")
    if rules.get("timestamp") and parse_time(value) is None:
        problems.append(f"{path} {_describe(value)} is not an ISO-8601 UTC time")


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (naive ones are read as UTC); None when it is none."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def validate(record: Any, now: dt.datetime | None = None) -> list[str]:
    """What is wrong with a record (empty when it is usable): its version among READABLE_VERSIONS
    (version 1 is a subset of 2, so a record of 1 is checked as it is), the declared types and
    rules, an ok record's metrics and curve, the curve's length against its config, and a
    ``finished_at`` later than ``now`` (default: this machine's clock) plus CLOCK_SKEW_SECONDS."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    version = record.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        shown = version if type(version) is int else _describe(version)
        return [f"schema_version {shown}, this framebench reads {readable}"]
    required = [spec.name for spec in dataclasses.fields(Record) if spec.metadata.get("required")]
    missing = [name for name in required if name not in record]
    if missing:
        return [f"missing field(s): {', '.join(missing)}"]
    problems: list[str] = []
    _check_section(record, Record, "", problems)
    if problems:
        return problems
    status = record["status"]
    if status == "ok" and not isinstance(record.get("metrics"), dict):
        return ["an ok record without metrics"]
    if status != "ok" and not record.get("reason"):
        return [f"a {status} record without a reason"]
    curve, epochs = record.get("curve") or [], record["config"].get("epochs")
    if epochs is not None and len(curve) > epochs:
        problems.append(f"curve has {len(curve)} points, more than the config's {epochs} epochs")
    finished = parse_time(record.get("finished_at"))
    limit = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=CLOCK_SKEW_SECONDS)
    if finished is not None and finished > limit:
        problems.append(f"finished_at {record['finished_at']} is in the future (this machine's clock: "
                        f"{(now or dt.datetime.now(dt.UTC)):%Y-%m-%dT%H:%M:%SZ})")  # fmt: skip
    return problems


def migrate(record: Any) -> Any:
    """A record of an older readable version brought to SCHEMA_VERSION (in place; returned); others as
    they are. 1 -> 2: the CPU fingerprint (``environment.cpu_flags_sha``) is unknown (null); the
    loader notes the version read in ``_migrated_from``."""
    version = record.get("schema_version") if isinstance(record, dict) else None
    if type(version) is int and version == 1:
        env = record.get("environment")
        if isinstance(env, dict):
            env.setdefault("cpu_flags_sha", None)
        record["schema_version"] = 2
        record["_migrated_from"] = 1
    return record


def typed(cls: type, value: Any) -> Any:
    """A validated section as its dataclass (nested sections too; undeclared keys dropped)."""
    if not isinstance(value, dict):
        return value
    kwargs = {}
    for spec in dataclasses.fields(cls):
        if spec.name in value:
            kwargs[spec.name] = _typed_value(hints(cls)[spec.name], value[spec.name])
    return cls(**kwargs)


def _typed_value(hint: Any, value: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return typed(option, value)
        if typing.get_origin(option) is list and isinstance(value, list):
            (item,) = typing.get_args(option)
            return [_typed_value(item, element) for element in value]
    return value
