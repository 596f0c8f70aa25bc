"""Which interpreter and which pins build each framework environment: the planning behind noxfile.py,
kept out of it so that listing the sessions probes nothing and every rule here is tested directly.

An environment is one *entry*: a framework (``torch``: its default pins) or a framework at a version
(``torch@2.13.0``: ``impls.version_pins``). Each is built with a Python from the PATH that its pins
declare (``# requires-python:``): the interpreter that fits the most entries (all of them wherever
one does, so that they are compared on the same Python), the rest on the one that fits most of those
left. Interpreters are probed on first need (``found_pythons``), once per process.

Standard library and ``packaging`` only; imports no framework.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

import impls

ROOT = Path(__file__).resolve().parent.parent
MINORS = range(8, 21)  # python3.8 ... python3.20
Found = dict[str, tuple[str, str]]  # "3.11" -> ("3.11.7", "/usr/bin/python3.11")


def pythons_on_path() -> Found:
    """``X.Y`` -> (version, executable) of each ``python3.Y`` and ``python3`` on the PATH that really runs
    (a pyenv shim of a version that is not active does not), the first one found for each ``X.Y``."""
    names = [*(f"python3.{minor}" for minor in MINORS), "python3"]
    exes = [exe for exe in map(shutil.which, names) if exe]
    with ThreadPoolExecutor(max_workers=len(exes) or 1) as pool:  # shims are slow; ask them all at once
        answers = list(pool.map(_ask_version, exes))
    found: Found = {}
    for answer in filter(None, answers):
        found.setdefault(".".join(answer[0].split(".")[:2]), answer)
    return found


@functools.cache
def found_pythons() -> Found:
    """``pythons_on_path()``, asked once per process and only when a session needs an interpreter."""
    return pythons_on_path()


def _ask_version(exe: str) -> tuple[str, str] | None:
    ask = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)"
    try:
        out = subprocess.run([exe, "-c", ask], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.splitlines()
    return (lines[0], lines[1]) if out.returncode == 0 and len(lines) == 2 else None


def plan_pythons(found: Found, entries: list[str]) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """entry -> (version, executable) of the Python to build its environment with, and entry -> why
    none fits (with the fix). Greedy: the interpreter that fits most of the entries left (the oldest of
    equals), until every entry has one or none fits the rest."""
    fits = {
        entry: {
            xy
            for xy, (version, _) in found.items()
            if Version(version) in SpecifierSet(impls.python_requirement(entry))
        }
        for entry in entries
    }
    by_age = sorted(found, key=Version)
    chosen: dict[str, tuple[str, str]] = {}
    left = [entry for entry in entries if fits[entry]]
    while left:
        best = max(by_age, key=lambda xy: sum(xy in fits[entry] for entry in left))
        chosen.update((entry, found[best]) for entry in left if best in fits[entry])
        left = [entry for entry in left if entry not in chosen]
    missing = {entry: no_python_reason(entry, found) for entry in entries if not fits[entry]}
    return chosen, missing


def no_python_reason(entry: str, found: Found) -> str:
    """One line: which Python the entry's pins need, which were found, and what to install."""
    spec = impls.python_requirement(entry)
    pin_file = impls.requirements_file(entry)
    wanted = [f"3.{minor}" for minor in MINORS if Version(f"3.{minor}") in SpecifierSet(spec + ",>=3.8")]
    want = wanted[-1] if wanted else "a version that fits"
    have = ", ".join(version for version, _ in sorted(found.values(), key=lambda v: Version(v[0]))) or "none"
    return (
        f"{entry}'s pins ({' '.join(impls.version_pins(entry))}) need Python {spec} "
        f"({_relative(pin_file)}), and no Python on the PATH fits (found: {have}); install Python "
        f"{want} so that python{want} is on the PATH (apt-get install python{want}, or pyenv install "
        f"{want}), then rerun"
    )


def harness_python(found: Found, chosen: dict[str, tuple[str, str]]) -> str | None:
    """The Python of the harness's own sessions (bench, report, lint, the harness tests): the one
    most framework environments use, else the newest that the harness supports (3.11+)."""
    if chosen:
        values = list(chosen.values())
        return max(values, key=values.count)[1]
    usable = [v for v in found.values() if Version(v[0]) >= Version("3.11")]
    return max(usable, key=lambda v: Version(v[0]))[1] if usable else None


def known_entries() -> list[str]:
    """Every framework, then every version with a pin file of its own (``impls/<folder>/versions``)."""
    names = sorted(impls.FRAMEWORKS)
    return [*names, *(f"{name}@{v}" for name in names for v in impls.pinned_versions(name))]


def _frameworks_option(posargs: list[str]) -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--frameworks", "--framework", dest="frameworks")
    return parser.parse_known_args(posargs)[0].frameworks


def requested_entries(posargs: list[str]) -> list[str]:
    """The entries of ``bench run``'s ``--frameworks`` among ``posargs`` (every framework's default
    without it, or with ``all``); a name that is not registered is left to ``bench run`` to refuse."""
    wanted = _frameworks_option(posargs)
    if not wanted or wanted.strip() == "all":
        return sorted(impls.FRAMEWORKS)
    return list(dict.fromkeys(item.strip() for item in wanted.split(",") if _is_entry(item.strip())))


def session_entries(argv: list[str]) -> list[str]:
    """Entries named on a nox command line (read when the noxfile loads, without probing anything):
    ``--frameworks`` after ``--``, and ``framework='x@v'`` / ``suite='x@v'`` in a session name."""
    posargs = argv[argv.index("--") + 1 :] if "--" in argv else []
    named = re.findall(r"(?:framework|suite)='([^']+)'", " ".join(argv[: len(argv) - len(posargs)]))
    entries = [e for e in [*requested_entries(posargs), *named] if "@" in e and _is_entry(e)]
    return list(dict.fromkeys(entries))


def _is_entry(entry: str) -> bool:
    try:
        impls.check_name(entry)
    except ValueError:
        return False
    return True


def venv_name(prefix: str, entry: str) -> str:
    """The environment's folder name, as nox names a session's (``env-framework-torch-2-13-0``). A
    version that is the default pin (``torch@2.14.1``) shares the default's (``env-framework-torch``):
    the same pins, built once."""
    name, version = impls.split_entry(entry)
    if version is not None and impls.version_pins(entry) == impls.version_pins(name):
        entry = name
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "-", f"{prefix}-{entry}").lower()).strip("-")


def index_versions(python: str, distribution: str) -> list[str] | None:
    """The versions of ``distribution`` that pip's index offers ``python`` (its wheels' tags), newest
    first; None where pip cannot say (no network, an old pip)."""
    out = subprocess.run(
        [python, "-m", "pip", "index", "versions", distribution],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return parse_index_versions(out.stdout) if out.returncode == 0 else None


def parse_index_versions(text: str) -> list[str] | None:
    """The list after ``Available versions:`` in ``pip index versions``'s output."""
    match = re.search(r"^Available versions:\s*(.*)$", text, re.MULTILINE)
    return [v.strip() for v in match.group(1).split(",") if v.strip()] if match else None


def has_version(available: list[str], version: str) -> bool:
    """Whether ``version`` is among ``available`` (``2.13.0`` matches the local build ``2.13.0+cpu``)."""
    spec = SpecifierSet(f"=={version}")
    for item in available:
        try:
            if Version(item) in spec:
                return True
        except InvalidVersion:
            continue
    return False


def unavailable_reason(entry: str, python_version: str, available: list[str] | None) -> str | None:
    """One line where the index lacks ``entry``'s version for this Python, naming what it has; None
    where it has it (or the index could not be asked: pip's own error then tells)."""
    name, version = impls.split_entry(entry)
    if version is None or available is None or has_version(available, version):
        return None
    dist = impls.main_pin(name)[0]
    offer = ", ".join(available[:12]) + (" ..." if len(available) > 12 else "") if available else "none"
    example = f", e.g. --frameworks {name}@{available[0]}" if available else ""
    return (
        f"{entry}: the package index has no {dist} {version} for Python {python_version} "
        f"(available: {offer}); ask for one of those{example}"
    )


def install_error(entry: str, pip_output: str) -> str:
    """One line from a failed ``pip install`` of ``entry``'s pins: what pip could not satisfy and
    which versions it saw, or its last error line."""
    lines = [line.strip() for line in pip_output.splitlines() if line.strip()]
    capped = [line for line in lines if "(constraint)" in line]  # a cap this machine's pip applies
    found = [line for line in lines if "Could not find a version that satisfies" in line]
    errors = [line for line in lines if line.startswith("ERROR:")]
    detail = (capped or found or errors or lines or ["pip gave no output"])[0]
    detail = detail.removeprefix("ERROR: ")
    return f"{entry}: its pins ({' '.join(impls.version_pins(entry))}) do not install: {detail}"


def disk_bytes(folder: Path) -> int:
    """The disk a folder takes (as ``du``: allocated blocks, each hard-linked file once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def human_bytes(count: int) -> str:
    """``1234567890`` -> ``1.15 GiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GiB"


ENVIRONMENTS_FILE = "environments.json"


def note_environment(results: str | os.PathLike, entry: str, python: str, size: int) -> Path:
    """Add ``entry``'s environment to ``<results>/environments.json``: {entry: {python, disk_bytes,
    built_at}}, the other entries kept (read by the report and the README)."""
    from bench import records

    path = Path(results) / ENVIRONMENTS_FILE
    try:
        table: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if not isinstance(table, dict):
        table = {}
    table[entry] = {"python": python, "disk_bytes": size, "built_at": records.utc_now()}
    return records.write_atomic(path, table)


def built_at(stamp: str) -> dt.datetime:
    """An ``environments.json`` time as a datetime (UTC)."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
