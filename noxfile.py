"""nox sessions for framebench: one virtualenv per framework, or per framework version (their pins
conflict).

    nox -s bench                      # every framework x lenet,mlp x cpu,gpu x seeds 0-5, then the report
    nox -s bench -- --models mlp --epochs 1 --seeds 0 --frameworks torch,jax
    nox -s bench -- --frameworks torch@2.13.0,torch@2.14.1 --models mlp   # two torch releases, side by side
    nox -s tests                      # harness tests + every framework's (and pinned version's) conformance
    nox -l                            # list sessions (probes no interpreter)

This file only declares sessions. Sessions are parametrized by *entry* (``torch``, ``torch@2.13.0``),
which costs nothing to list: the registry's frameworks, the versions with a pin file of their own
(``impls/<folder>/versions/``), and any ``name@version`` named on this command line. The Python of
each environment is chosen when a session first needs one (bench.pythons: probed once per nox run),
so the framework sessions create their virtualenvs themselves (``python=False``: nox cannot take an
interpreter chosen later) under nox's --envdir, named as nox would (``env-framework-torch``), and one
environment per entry serves env, tests, microbench and baseline alike. An entry no Python here fits,
or whose version the index lacks, is recorded as skipped with one line saying why; the others run.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import impls  # noqa: E402 - the registry imports no framework
from bench import pythons, records  # noqa: E402 - standard library and packaging only

nox.needs_version = ">=2024.10"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"

REQUESTED = pythons.session_entries(sys.argv)  # name@version on this command line: parsing, no probing
ENTRIES = list(dict.fromkeys([*pythons.known_entries(), *REQUESTED]))
BENCH_ENTRIES = pythons.requested_entries(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else [])


@functools.cache
def _plan() -> tuple[dict[str, tuple[str, str]], dict[str, str], str | None]:
    """(entry -> (version, executable), entry -> why no Python fits, the harness's Python): asked on
    first need, once per nox run."""
    found = pythons.found_pythons()
    chosen, missing = pythons.plan_pythons(found, ENTRIES)
    return chosen, missing, pythons.harness_python(found, chosen)


def _venv(session: nox.Session, name: str, python: str) -> Path:
    """A virtualenv of ``python`` under nox's --envdir, made once and kept (remade if its Python
    changed); returns its interpreter."""
    folder = session.cache_dir.parent.resolve() / name
    bin_python = folder / "bin" / "python"
    ask = "import sys; print(sys.version_info[:3])"
    same = bin_python.exists() and _output([str(bin_python), "-c", ask]) == _output([python, "-c", ask])
    if not same:
        shutil.rmtree(folder, ignore_errors=True)
        session.run(python, "-m", "venv", str(folder), external=True)
    return bin_python


def _output(command: list[str]) -> str:
    out = subprocess.run(command, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else f"failed: {out.returncode}"


def _harness(session: nox.Session, extras: str = "") -> str:
    """The harness's own virtualenv (bench, report, lint, harness tests), with ``-e .[extras]``."""
    python = _plan()[2] or sys.executable
    venv = _venv(session, "harness", python)
    session.run(
        str(venv), "-m", "pip", "install", "-q", "-e", f".[{extras}]" if extras else ".", external=True
    )
    return str(venv)


def _has_nvidia_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def _pin_args(entry: str, gpu: bool) -> list[str]:
    """pip's arguments for the entry's pins: ``-r`` its pin file, or the derived lines of a version."""
    path = impls.requirements_file(entry, gpu)
    lines = impls.version_pins(entry, gpu)
    return (
        ["-r", str(path)] if lines == impls.pins(path) else [a for line in lines for a in shlex.split(line)]
    )


def _framework(session: nox.Session, entry: str, *extras: str) -> str:
    """Build (or reuse) ``entry``'s environment: its pins and the harness in one resolve; say its
    Python and disk; return its interpreter. _Unavailable (one line) where the index lacks the
    version or the pins do not install; skips the session where no Python here fits."""
    chosen, missing, _ = _plan()
    if entry in missing:
        session.skip(missing[entry])
    version, python = chosen[entry]
    name, wanted = impls.split_entry(entry)
    dist = impls.main_pin(name)[0]
    if wanted is not None:  # ask the index first: a version it lacks is one line naming what it has
        reason = pythons.unavailable_reason(entry, version, pythons.index_versions(python, dist))
        if reason:
            raise _Unavailable(reason)
    venv = _venv(session, pythons.venv_name("env-framework", entry), python)
    target = f".[{','.join(extras)}]" if extras else "."
    command = [str(venv), "-m", "pip", "install", *_pin_args(entry, _has_nvidia_gpu()), "-e", target]
    session.log(" ".join(command))
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        session.log("\n".join((out.stdout + out.stderr).splitlines()[-20:]))
        raise _Unavailable(pythons.install_error(entry, out.stdout + out.stderr))
    installed = _output([str(venv), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"])
    if wanted is not None and not pythons.has_version([installed], wanted):
        raise _Unavailable(f"{entry}: its environment has {dist} {installed}, not {wanted}")
    folder = venv.parent.parent
    size = pythons.disk_bytes(folder)
    session.log(
        f"{entry}: Python {version}, {dist} {installed}, {pythons.human_bytes(size)} on disk ({folder})"
    )
    return str(venv)


class _Unavailable(Exception):
    """An entry's environment that cannot be built here (one line: why, and what is available)."""


def _envs(session: nox.Session) -> Path:
    """Where env(framework=...) notes each entry's Python: in the session's --envdir, so that
    concurrent launches with their own --envdir (bench launch --via nox) never share it."""
    return session.cache_dir.parent.resolve() / "framebench-envs"


def _record_environment_failure(session: nox.Session, python: str, entry: str, reason: str) -> None:
    """Write a failed record for every run of the requested matrix, so the report shows why."""
    options = [
        "--frameworks",
        entry,
        *_without_frameworks(session.posargs),
        "--unavailable",
        f"{entry}={reason}",
    ]
    code = (
        "import sys; from bench import matrix, records; "
        "args = matrix.run_parser().parse_args(sys.argv[2:]); reason = sys.argv[1]; "
        "[records.write_record(args.results, records.outcome_record(r.to_dict(), 'failed', reason)) "
        "for r in matrix.build_matrix(args).runs()]"
    )
    session.run(python, "-c", code, reason, *options, external=True)


@nox.session(python=False)
@nox.parametrize("framework", ENTRIES, ids=[f"framework='{e}'" for e in ENTRIES])
def env(session: nox.Session, framework: str) -> None:
    """Build one framework's (or framework version's) virtualenv and note its Python for `bench`."""
    marker = _envs(session) / f"{framework}.json"
    marker.unlink(missing_ok=True)
    chosen, missing, _ = _plan()
    if framework in missing:  # bench records its runs as skipped, with this reason
        records.write_atomic(marker, {"skipped": missing[framework]})
        session.skip(missing[framework])
    try:
        python = _framework(session, framework)
    except _Unavailable as exc:  # a version the index lacks, or pins that do not install: skipped
        records.write_atomic(marker, {"skipped": str(exc)})
        session.warn(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - any other failure: recorded, the other frameworks run
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = f"the {framework} environment could not be built ({first}); see the nox log"
        records.write_atomic(marker, {"error": reason})
        session.warn(f"{framework}: {reason}")
        return
    records.write_atomic(marker, {"python": python, "version": chosen[framework][0]})
    folder = Path(python).parent.parent  # for the report and README: <results>/environments.json
    pythons.note_environment(_bench_args(session.posargs).results, framework, chosen[framework][0],
                             pythons.disk_bytes(folder))  # fmt: skip


def _bench_args(posargs: list[str]) -> argparse.Namespace:
    """The few options the session itself needs (the rest go to `bench run` untouched)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--frameworks", "--framework", dest="frameworks")
    parser.add_argument("--results", default="results")
    return parser.parse_known_args(posargs)[0]


@nox.session(python=False, requires=[f"env(framework='{entry}')" for entry in BENCH_ENTRIES])
def bench(session: nox.Session) -> None:
    """Train the matrix with every requested framework (and version), runs interleaved in a rotating
    order (each run in its entry's own virtualenv and its own process), then render the report."""
    harness = _harness(session)
    session.notify("report", posargs=_results_args(session.posargs))
    args = _bench_args(session.posargs)
    found, skipped = {}, {}
    for entry in BENCH_ENTRIES:
        state = json.loads((_envs(session) / f"{entry}.json").read_text())
        if "error" in state:
            _record_environment_failure(session, harness, entry, state["error"])
        elif "skipped" in state:
            skipped[entry] = state["skipped"]
            session.warn(f"{entry}: recorded as skipped: {state['skipped']}")
        else:
            found[entry] = state["python"]
            session.log(f"{entry}: Python {state.get('version', '?')} ({state['python']})")
    if not found and not skipped:
        session.error("no framework environment could be built; see the env sessions above")
    started = records.utc_now()
    session.run(harness, "-m", "bench", "run", "--frameworks", ",".join([*found, *skipped]),
                *[f"--python={name}={path}" for name, path in found.items()],
                *[f"--unavailable={name}={reason}" for name, reason in skipped.items()],
                *_without_frameworks(session.posargs), success_codes=[0, 1], external=True)  # fmt: skip
    # exit 1 = some runs failed; they are recorded and shown in the report, so nothing is lost.
    failed = [r for r in records.load_records(args.results)[0]
              if r["status"] == "failed" and str(r.get("finished_at") or "") >= started]  # fmt: skip
    if failed:
        session.warn(f"{len(failed)} run(s) failed; see the report's failed-runs table")


def _without_frameworks(posargs: list[str]) -> list[str]:
    """posargs without --frameworks/--framework (the session passes the built ones itself)."""
    out, skip = [], False
    for arg in posargs:
        if skip:
            skip = False
        elif arg in ("--frameworks", "--framework"):
            skip = True
        elif not arg.startswith(("--frameworks=", "--framework=")):
            out.append(arg)
    return out


def _results_args(posargs: list[str]) -> list[str]:
    """Pass --results on to the report so it reads where bench wrote."""
    for i, arg in enumerate(posargs):
        if arg == "--results" and i + 1 < len(posargs):
            results = posargs[i + 1]
        elif arg.startswith("--results="):
            results = arg.split("=", 1)[1]
        else:
            continue
        return ["--results", results, "--out", f"{results}/REPORT.md", "--figures", f"{results}/figures"]
    return []


def _html_args(posargs: list[str]) -> list[str]:
    """The --results of a report call, and report.html beside its REPORT.md."""
    args, results = [], None
    for i, arg in enumerate(posargs):
        if arg == "--results" or arg.startswith("--results="):
            results = arg.split("=", 1)[1] if "=" in arg else posargs[i + 1]
            args += ["--results", results]
    return args + (["--html-out", f"{results}/report.html"] if results else [])


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Render results/REPORT.md, results/figures/ and the offline results/report.html from the records."""
    harness = _harness(session, "report")
    session.run(harness, "-m", "bench", "report", *session.posargs, external=True)
    if not any(arg.startswith("--format") for arg in session.posargs):
        session.run(harness, "-m", "bench", "report", "--format", "html", *_html_args(session.posargs),
                    external=True)  # fmt: skip


@nox.session(python=False)
@nox.parametrize("suite", ["harness", *ENTRIES], ids=[f"suite='{s}'" for s in ["harness", *ENTRIES]])
def tests(session: nox.Session, suite: str) -> None:
    """Harness tests (no framework), or one framework's (or version's) conformance suite in its own
    virtualenv."""
    if suite == "harness":
        harness = _harness(session, "test,report,launch")
        session.run(harness, "-m", "pip", "install", "-q", "nox>=2024.10", external=True)  # to test nox
        session.run(harness, "-m", "pytest", "tests/harness", *session.posargs, external=True)
        return
    python = _skip_unbuildable(session, suite, "test")
    folder = impls.framework_folder(suite).relative_to(ROOT)
    session.run(python, "-m", "pytest", "tests/conformance", str(folder), *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": impls.split_entry(suite)[0]}, external=True)  # fmt: skip


def _skip_unbuildable(session: nox.Session, entry: str, *extras: str) -> str:
    try:
        return _framework(session, entry, *extras)
    except _Unavailable as exc:
        session.skip(str(exc))
        raise  # not reached: skip raises


@nox.session(python=False)
@nox.parametrize("framework", ENTRIES, ids=[f"framework='{e}'" for e in ENTRIES])
def microbench(session: nox.Session, framework: str) -> None:
    """pytest-benchmark: one train step and one inference batch per model and device (into the report)."""
    python = _skip_unbuildable(session, framework, "test")
    session.notify("report")
    out = ROOT / "results" / "microbench"
    out.mkdir(parents=True, exist_ok=True)
    # 10 warm-up calls before timing: oneDNN/cuDNN primitive caches and allocators settle.
    session.run(python, "-m", "pytest", "tests/microbench", "-q", "-p", "no:cacheprovider",
                "--benchmark-warmup=on", "--benchmark-warmup-iterations=10",
                f"--benchmark-json={out / f'{framework}.json'}", *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": impls.split_entry(framework)[0]}, external=True)  # fmt: skip


@nox.session(python=False)
@nox.parametrize("framework", ENTRIES, ids=[f"framework='{e}'" for e in ENTRIES])
def baseline(session: nox.Session, framework: str) -> None:
    """Harness training path vs a plain idiomatic loop of the same framework, side by side."""
    python = _skip_unbuildable(session, framework)
    session.run(python, "-m", "bench", "baseline", "--framework", impls.split_entry(framework)[0],
                *session.posargs, external=True)  # fmt: skip


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    harness = _harness(session)
    session.run(harness, "-m", "pip", "install", "-q", "ruff", external=True)
    session.run(harness, "-m", "ruff", "check", ".", external=True)
    session.run(harness, "-m", "ruff", "format", "--check", ".", external=True)
