"""nox sessions for framebench: one virtualenv per framework (their pins conflict).

    nox -s bench                      # every framework x lenet,mlp x cpu,gpu x seeds 0-5, then the report
    nox -s bench -- --models mlp --epochs 1 --seeds 0 --frameworks torch,jax
    nox -s tests                      # harness tests + every framework's conformance suite
    nox -l                            # list sessions

Frameworks come from the registry in impls/__init__.py: a new framework there is a new parameter of
every session below, with no edit here.

Each framework's environment is built with a Python from the PATH that its pins declare they run on
(``# requires-python:`` in impls/<name>/requirements.txt): the one interpreter that fits the most
frameworks (all of them wherever one does, so that they are compared on the same Python), the rest on
the one that fits most of those left. A framework that no Python here fits is recorded as skipped,
with what to install, and every other framework runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import impls  # noqa: E402 - the registry imports no framework
from bench import records  # noqa: E402 - standard library only

FRAMEWORKS = sorted(impls.FRAMEWORKS)

nox.needs_version = ">=2024.10"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"


def pythons_on_path() -> dict[str, tuple[str, str]]:
    """``X.Y`` -> (version, executable) of each ``python3.Y`` and ``python3`` on the PATH that really runs
    (a pyenv shim of a version that is not active does not), the first one found for each ``X.Y``."""
    names = [*(f"python3.{minor}" for minor in range(8, 21)), "python3"]
    exes = [exe for exe in map(shutil.which, names) if exe]
    with ThreadPoolExecutor(max_workers=len(exes) or 1) as pool:  # shims are slow; ask them all at once
        answers = list(pool.map(_ask_version, exes))
    found: dict[str, tuple[str, str]] = {}
    for answer in filter(None, answers):
        found.setdefault(".".join(answer[0].split(".")[:2]), answer)
    return found


def _ask_version(exe: str) -> tuple[str, str] | None:
    ask = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)"
    try:
        out = subprocess.run([exe, "-c", ask], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.splitlines()
    return (lines[0], lines[1]) if out.returncode == 0 and len(lines) == 2 else None


def plan_pythons(
    found: dict[str, tuple[str, str]], frameworks: list[str]
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """framework -> (version, executable) of the Python to build its environment with, and framework ->
    why none fits (with the fix). Greedy: the interpreter that fits most of the frameworks left (the
    oldest of equals), until every framework has one or none fits the rest."""
    fits = {
        fw: {
            xy
            for xy, (version, _) in found.items()
            if Version(version) in SpecifierSet(impls.python_requirement(fw))
        }
        for fw in frameworks
    }
    by_age = sorted(found, key=Version)
    chosen: dict[str, tuple[str, str]] = {}
    left = [fw for fw in frameworks if fits[fw]]
    while left:
        best = max(by_age, key=lambda xy: sum(xy in fits[fw] for fw in left))
        chosen.update((fw, found[best]) for fw in left if best in fits[fw])
        left = [fw for fw in left if fw not in chosen]
    missing = {fw: _no_python_reason(fw, found) for fw in frameworks if not fits[fw]}
    return chosen, missing


def _no_python_reason(framework: str, found: dict[str, tuple[str, str]]) -> str:
    spec = impls.python_requirement(framework)
    pin_file = impls.requirements_file(framework)
    wanted = [
        f"3.{minor}" for minor in range(8, 21) if Version(f"3.{minor}") in SpecifierSet(spec + ",>=3.8")
    ]
    want = wanted[-1] if wanted else "a version that fits"
    have = ", ".join(version for version, _ in sorted(found.values(), key=lambda v: Version(v[0]))) or "none"
    return (
        f"{framework}'s pins ({' '.join(impls.pins(pin_file))}) need Python {spec} "
        f"({pin_file.relative_to(ROOT)}), and no Python on the PATH fits (found: {have}); install Python "
        f"{want} so that python{want} is on the PATH (apt-get install python{want}, or pyenv install "
        f"{want}), then rerun"
    )


FOUND = pythons_on_path()
CHOSEN, NO_PYTHON = plan_pythons(FOUND, FRAMEWORKS)
# The harness's own sessions (bench, report, lint, the harness tests) use the frameworks' main Python.
_MAIN = max(CHOSEN.values(), key=list(CHOSEN.values()).count, default=None)
_ANY = [v for v in FOUND.values() if Version(v[0]) >= Version("3.11")]  # pyproject's requires-python
HARNESS_PYTHON = (_MAIN or max(_ANY, key=lambda v: Version(v[0]), default=(None, sys.executable)))[1]
# `nox -l` prints this docstring: say which Python each framework gets here, and who gets none.
_LINES = [f"Python {CHOSEN[fw][0]} ({CHOSEN[fw][1]})" if fw in CHOSEN else f"skipped: {NO_PYTHON[fw]}"
          for fw in FRAMEWORKS]  # fmt: skip
__doc__ = f"{__doc__}\nOn this PATH:\n" + "".join(
    f"    {fw:<11} {line}\n" for fw, line in zip(FRAMEWORKS, _LINES, strict=True)
)


def _framework_params(label: str) -> list:
    """One parameter per framework: its Python (False where none fits: the session skips), its name."""
    return [
        nox.param(CHOSEN[fw][1] if fw in CHOSEN else False, fw, id=f"{label}='{fw}'") for fw in FRAMEWORKS
    ]


def _skip_without_python(session: nox.Session, framework: str) -> None:
    if framework in NO_PYTHON:
        session.skip(NO_PYTHON[framework])


def _has_nvidia_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def framework_requirements(framework: str) -> Path:
    """The pin file: the GPU variant on a machine with an NVIDIA GPU, when the framework has one."""
    pins = impls.requirements_file(framework)
    gpu_pins = pins.with_name("requirements-gpu.txt")
    return gpu_pins if gpu_pins.exists() and _has_nvidia_gpu() else pins


def install_framework(session: nox.Session, framework: str, *extras: str) -> None:
    """Install the framework's pins and the harness into the session's virtualenv, in one resolve."""
    target = f".[{','.join(extras)}]" if extras else "."
    session.install("-r", str(framework_requirements(framework)), "-e", target)


def _envs(session: nox.Session) -> Path:
    """Where env(framework=...) notes each framework's Python: in the session's --envdir, so that
    concurrent launches with their own --envdir (bench launch --via nox) never share it."""
    return session.cache_dir.parent.resolve() / "framebench-envs"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def _record_environment_failure(session: nox.Session, framework: str, reason: str) -> None:
    """Write a failed record for every run of the requested matrix, so the report shows why."""
    from bench import matrix

    options = ["--frameworks", framework, *_without_frameworks(session.posargs)]
    args = matrix.run_parser().parse_args([*options, "--unavailable", f"{framework}={reason}"])
    for run in matrix.build_matrix(args).runs():
        records.write_record(args.results, records.outcome_record(run.to_dict(), "failed", reason))


@nox.session
@nox.parametrize(["python", "framework"], _framework_params("framework"))
def env(session: nox.Session, framework: str) -> None:
    """Build one framework's virtualenv (its pins + the harness) and note its Python for `bench`."""
    marker = _envs(session) / f"{framework}.json"
    marker.unlink(missing_ok=True)
    if framework in NO_PYTHON:  # bench records its runs as skipped, with this reason
        _write_json(marker, {"skipped": NO_PYTHON[framework]})
        session.skip(NO_PYTHON[framework])
    try:
        install_framework(session, framework)
    except Exception as exc:  # noqa: BLE001 - any install failure: recorded, the other frameworks run
        reason = (
            f"the {framework} environment could not be built (pip install -r "
            f"{impls.requirements_file(framework).relative_to(ROOT)} failed: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); see the nox log"
        )
        _write_json(marker, {"error": reason})
        session.warn(f"{framework}: {reason}")
        return
    python = session.run("python", "-c", "import sys; print(sys.executable)", silent=True).strip()
    _write_json(marker, {"python": python, "version": CHOSEN[framework][0]})


def _bench_args(posargs: list[str]) -> argparse.Namespace:
    """The few options the session itself needs (the rest go to `bench run` untouched)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--frameworks", "--framework", dest="frameworks")
    parser.add_argument("--results", default="results")
    return parser.parse_known_args(posargs)[0]


def _requested_frameworks() -> list[str]:
    """The frameworks of `nox -s bench -- --frameworks ...`, read from the command line when the
    noxfile loads (nox gives sessions their posargs only later), so that bench builds only their
    environments; every framework without --frameworks or with `all`."""
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    wanted = _bench_args(argv).frameworks
    if not wanted or wanted == "all":
        return FRAMEWORKS
    return [name for name in FRAMEWORKS if name in wanted.split(",")]


@nox.session(python=HARNESS_PYTHON, requires=[f"env(framework='{name}')" for name in _requested_frameworks()])
def bench(session: nox.Session) -> None:
    """Train the matrix with every framework, runs interleaved across frameworks in a rotating order
    (each run in its framework's own virtualenv and its own process), then render the report."""
    session.install("-e", ".")
    session.notify("report", posargs=_results_args(session.posargs))
    args = _bench_args(session.posargs)
    pythons, skipped = {}, {}
    for framework in _requested_frameworks():
        state = json.loads((_envs(session) / f"{framework}.json").read_text())
        if "error" in state:
            _record_environment_failure(session, framework, state["error"])
        elif "skipped" in state:
            skipped[framework] = state["skipped"]
            session.warn(f"{framework}: recorded as skipped: {state['skipped']}")
        else:
            pythons[framework] = state["python"]
            session.log(f"{framework}: Python {state.get('version', '?')} ({state['python']})")
    if not pythons and not skipped:
        session.error("no framework environment could be built; see the env sessions above")
    rest = _without_frameworks(session.posargs)
    started = records.utc_now()
    session.run("python", "-m", "bench", "run", "--frameworks", ",".join([*pythons, *skipped]),
                *[f"--python={name}={path}" for name, path in pythons.items()],
                *[f"--unavailable={name}={reason}" for name, reason in skipped.items()], *rest,
                success_codes=[0, 1])  # fmt: skip
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


@nox.session(python=HARNESS_PYTHON)
def report(session: nox.Session) -> None:
    """Render results/REPORT.md, results/figures/ and the offline results/report.html from the records."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "bench", "report", *session.posargs)
    if not any(arg.startswith("--format") for arg in session.posargs):
        session.run("python", "-m", "bench", "report", "--format", "html", *_html_args(session.posargs))


@nox.session
@nox.parametrize(
    ["python", "suite"],
    [nox.param(HARNESS_PYTHON, "harness", id="suite='harness'"), *_framework_params("suite")],
)
def tests(session: nox.Session, suite: str) -> None:
    """Harness tests (no framework), or one framework's conformance suite in its own virtualenv."""
    if suite == "harness":
        session.install("-e", ".[test,report,launch]", "nox>=2024.10")  # nox: to test this noxfile
        session.run("pytest", "tests/harness", *session.posargs)
        return
    _skip_without_python(session, suite)
    install_framework(session, suite, "test")
    folder = impls.requirements_file(suite).parent.relative_to(ROOT)
    session.run("pytest", "tests/conformance", str(folder), *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": suite})  # fmt: skip


@nox.session
@nox.parametrize(["python", "framework"], _framework_params("framework"))
def microbench(session: nox.Session, framework: str) -> None:
    """pytest-benchmark: one train step and one inference batch per model and device (into the report)."""
    _skip_without_python(session, framework)
    session.notify("report")
    install_framework(session, framework, "test")
    out = ROOT / "results" / "microbench"
    out.mkdir(parents=True, exist_ok=True)
    # 10 warm-up calls before timing: oneDNN/cuDNN primitive caches and allocators settle.
    session.run("pytest", "tests/microbench", "-q", "-p", "no:cacheprovider",
                "--benchmark-warmup=on", "--benchmark-warmup-iterations=10",
                f"--benchmark-json={out / f'{framework}.json'}", *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": framework})  # fmt: skip


@nox.session
@nox.parametrize(["python", "framework"], _framework_params("framework"))
def baseline(session: nox.Session, framework: str) -> None:
    """Harness training path vs a plain idiomatic loop of the same framework, side by side."""
    _skip_without_python(session, framework)
    install_framework(session, framework)
    session.run("python", "-m", "bench", "baseline", "--framework", framework, *session.posargs)


@nox.session(python=HARNESS_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
