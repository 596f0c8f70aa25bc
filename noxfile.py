"""nox sessions for framebench: one virtualenv per framework (their pins conflict).

    nox -s bench                      # every framework x lenet,mlp x cpu,gpu x seeds 0-5, then the report
    nox -s bench -- --models mlp --epochs 1 --seeds 0 --frameworks torch,jax
    nox -s tests                      # harness tests + every framework's conformance suite
    nox -l                            # list sessions

Frameworks come from the registry in impls/__init__.py: a new framework there is a new parameter of
every session below, with no edit here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import impls  # noqa: E402 - the registry imports no framework
from bench import records  # noqa: E402 - standard library only

PYTHON = "3.11"  # mxnet 1.9.1 runs on 3.11 only; all environments share it for comparability
FRAMEWORKS = sorted(impls.FRAMEWORKS)

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"


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
    """Where env(framework=...) notes each framework's Python: beside the session's virtualenvs, so
    that concurrent launches with their own --envdir (bench launch --via nox) never share it."""
    return Path(session.virtualenv.location).parent / "framebench-envs"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def _record_environment_failure(session: nox.Session, framework: str, reason: str) -> None:
    """Write a failed record for every run of the requested matrix, so the report shows why."""
    from bench import cli, config

    args = cli.parser().parse_args(["run", "--frameworks", framework, *session.posargs])
    matrix = config.Matrix(
        frameworks=(framework,),
        models=tuple(config.parse_list(args.models, "models")),
        devices=tuple(config.parse_list(args.devices, "devices")),
        modes={framework: ("default",)},
        seeds=tuple(config.parse_ints(args.seeds, "seeds")),
        epochs=int(args.epochs) if args.epochs else None,
        batch_sizes=tuple(config.parse_int_list(args.batch_sizes, "batch-sizes"))
        if args.batch_sizes
        else (None,),
        lr=float(args.lr) if args.lr else None,
        threads=tuple(config.parse_int_list(args.threads, "threads"))
        if args.threads
        else (config.default_threads(),),
        inputs=tuple(config.parse_list(args.input, "input")),
        precisions=tuple(config.parse_list(args.precision, "precision")),
    )
    for run in matrix.runs():
        records.write_record(args.results, records.outcome_record(run.to_dict(), "failed", reason))


@nox.session(python=PYTHON)
@nox.parametrize("framework", FRAMEWORKS)
def env(session: nox.Session, framework: str) -> None:
    """Build one framework's virtualenv (its pins + the harness) and note its Python for `bench`."""
    marker = _envs(session) / f"{framework}.json"
    marker.unlink(missing_ok=True)
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
    _write_json(marker, {"python": python})


@nox.session(python=PYTHON, requires=[f"env(framework='{name}')" for name in FRAMEWORKS])
def bench(session: nox.Session) -> None:
    """Train the matrix with every framework, runs interleaved across frameworks in a rotating order
    (each run in its framework's own virtualenv and its own process), then render the report."""
    session.install("-e", ".")
    session.notify("report", posargs=_results_args(session.posargs))
    args = _bench_args(session.posargs)
    wanted = FRAMEWORKS
    if args.frameworks:
        wanted = [
            name for name in FRAMEWORKS if args.frameworks == "all" or name in args.frameworks.split(",")
        ]
    pythons = {}
    for framework in wanted:
        state = json.loads((_envs(session) / f"{framework}.json").read_text())
        if "error" in state:
            _record_environment_failure(session, framework, state["error"])
        else:
            pythons[framework] = state["python"]
    if not pythons:
        session.error("no framework environment could be built; see the env sessions above")
    rest = _without_frameworks(session.posargs)
    started = records.utc_now()
    session.run("python", "-m", "bench", "run", "--frameworks", ",".join(pythons),
                *[f"--python={name}={path}" for name, path in pythons.items()], *rest,
                success_codes=[0, 1])  # fmt: skip
    # exit 1 = some runs failed; they are recorded and shown in the report, so nothing is lost.
    failed = [r for r in records.load_records(args.results)[0]
              if r["status"] == "failed" and str(r.get("finished_at") or "") >= started]  # fmt: skip
    if failed:
        session.warn(f"{len(failed)} run(s) failed; see the report's failed-runs table")


def _bench_args(posargs: list[str]) -> argparse.Namespace:
    """The few options the session itself needs (the rest go to `bench run` untouched)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--frameworks", "--framework", dest="frameworks")
    parser.add_argument("--results", default="results")
    return parser.parse_known_args(posargs)[0]


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


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Render results/REPORT.md, results/figures/ and the offline results/report.html from the records."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "bench", "report", *session.posargs)
    if not any(arg.startswith("--format") for arg in session.posargs):
        session.run("python", "-m", "bench", "report", "--format", "html", *_html_args(session.posargs))


@nox.session(python=PYTHON)
@nox.parametrize("suite", ["harness", *FRAMEWORKS])
def tests(session: nox.Session, suite: str) -> None:
    """Harness tests (no framework), or one framework's conformance suite in its own virtualenv."""
    if suite == "harness":
        session.install("-e", ".[test,report,launch]")
        session.run("pytest", "tests/harness", *session.posargs)
        return
    install_framework(session, suite, "test")
    folder = impls.requirements_file(suite).parent.relative_to(ROOT)
    session.run("pytest", "tests/conformance", str(folder), *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": suite})  # fmt: skip


@nox.session(python=PYTHON)
@nox.parametrize("framework", FRAMEWORKS)
def microbench(session: nox.Session, framework: str) -> None:
    """pytest-benchmark: one train step and one inference batch per model and device (into the report)."""
    session.notify("report")
    install_framework(session, framework, "test")
    out = ROOT / "results" / "microbench"
    out.mkdir(parents=True, exist_ok=True)
    # 10 warm-up calls before timing: oneDNN/cuDNN primitive caches and allocators settle.
    session.run("pytest", "tests/microbench", "-q", "-p", "no:cacheprovider",
                "--benchmark-warmup=on", "--benchmark-warmup-iterations=10",
                f"--benchmark-json={out / f'{framework}.json'}", *session.posargs,
                env={"FRAMEBENCH_FRAMEWORK": framework})  # fmt: skip


@nox.session(python=PYTHON)
@nox.parametrize("framework", FRAMEWORKS)
def baseline(session: nox.Session, framework: str) -> None:
    """Harness training path vs a plain idiomatic loop of the same framework, side by side."""
    install_framework(session, framework)
    session.run("python", "-m", "bench", "baseline", "--framework", framework, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
