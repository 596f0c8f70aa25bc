"""nox sessions for framebench: one virtualenv per framework (their pins conflict).

    nox -s bench                      # every framework x lenet,mlp x cpu,gpu x seeds 0,1,2, then the report
    nox -s bench -- --models mlp --epochs 1 --seeds 0
    nox -s tests                      # harness tests + every framework's conformance suite
    nox -l                            # list sessions

Frameworks come from the registry in impls/__init__.py: a new framework there is a new parameter of
every session below, with no edit here.
"""

from __future__ import annotations

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


def _record_environment_failure(session: nox.Session, framework: str, error: Exception) -> None:
    """Write a failed record for every run of the requested matrix, so the report shows why."""
    from bench import cli, config

    args = cli.parser().parse_args(["run", "--framework", framework, *session.posargs])
    reason = (
        f"the {framework} environment could not be built "
        f"(pip install -r {impls.requirements_file(framework).relative_to(ROOT)} failed: "
        f"{str(error).splitlines()[0] if str(error) else type(error).__name__}); see the nox log"
    )
    matrix = config.Matrix(
        framework=framework,
        models=tuple(config.parse_list(args.models, "models")),
        devices=tuple(config.parse_list(args.devices, "devices")),
        modes=("default",),
        seeds=tuple(config.parse_ints(args.seeds, "seeds")),
        epochs=int(args.epochs) if args.epochs else None,
        batch_size=int(args.batch_size) if args.batch_size else None,
        lr=float(args.lr) if args.lr else None,
        threads=int(args.threads) if args.threads else config.default_threads(),
    )
    for run in matrix.runs():
        records.write_record(args.results, records.outcome_record(run.to_dict(), "failed", reason))


@nox.session(python=PYTHON)
@nox.parametrize("framework", FRAMEWORKS)
def bench(session: nox.Session, framework: str) -> None:
    """Train every model with one framework in its own virtualenv, then render the report."""
    session.notify("report", posargs=_results_args(session.posargs))
    try:
        install_framework(session, framework)
    except Exception as exc:  # noqa: BLE001 - any install failure: record it, let the others run
        _record_environment_failure(session, framework, exc)
        session.skip(f"{framework}: environment could not be built; recorded as failed runs")
    # exit 1 = some runs failed; they are recorded and shown in the report, so the matrix goes on.
    code = session.run("python", "-m", "bench", "run", "--framework", framework, *session.posargs,
                       success_codes=[0, 1])  # fmt: skip
    if code == 1:
        session.warn(f"{framework}: some runs failed; see the report's failed-runs table")


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


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Render results/REPORT.md and results/figures/ from every run record."""
    session.install("-e", ".[report]")
    session.run("python", "-m", "bench", "report", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("suite", ["harness", *FRAMEWORKS])
def tests(session: nox.Session, suite: str) -> None:
    """Harness tests (no framework), or one framework's conformance suite in its own virtualenv."""
    if suite == "harness":
        session.install("-e", ".[test,report]")
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
