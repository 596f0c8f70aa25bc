"""Each framework runs on the Pythons its pins declare: noxfile.py picks one interpreter from the PATH
per framework (the same for all wherever one fits them all), and a framework that none fits is
recorded as skipped with the fix while the others run.

The slow test is the proof on a machine like Ubuntu 24.04: only Python 3.12 on the PATH, `nox -s
bench` for JAX and MXNet. Its nox and environments are kept in .nox/only-python-3.12/ between runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import impls
from bench.text import md

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".nox" / "only-python-3.12"


@pytest.fixture(scope="module")
def noxfile():
    pytest.importorskip("nox", reason="nox is installed by `nox -s tests`")
    spec = importlib.util.spec_from_file_location("framebench_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = ["nox"]  # the noxfile reads `-- --frameworks` from the command line
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = saved
    return module


def _bench_requires(*posargs: str) -> list[str]:
    """What `nox -s bench -- POSARGS` requires, from a fresh process (nox registers sessions once)."""
    code = (
        "import importlib.util, json, sys; sys.argv = ['nox', '-s', 'bench', '--', *sys.argv[1:]]; "
        f"spec = importlib.util.spec_from_file_location('noxfile', {str(ROOT / 'noxfile.py')!r}); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print(json.dumps(module.bench.requires))"
    )
    out = subprocess.run([sys.executable, "-c", code, *posargs], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_bench_builds_only_the_environments_of_the_requested_frameworks(noxfile):
    some = _bench_requires("--models", "mlp", "--frameworks", "jax,mxnet")
    assert some == ["env(framework='jax')", "env(framework='mxnet')"]
    assert (
        _bench_requires("--frameworks=all")
        == _bench_requires()
        == [f"env(framework='{name}')" for name in sorted(impls.FRAMEWORKS)]
    )


def test_every_framework_declares_its_pythons():
    for name in impls.FRAMEWORKS:
        spec = impls.python_requirement(name)
        assert spec and "3." in spec, name
    assert impls.python_requirement("mxnet") == "==3.11.*"


def test_a_pin_file_without_requires_python_names_the_line_to_add(tmp_path, monkeypatch):
    folder = tmp_path / "impls_extra" / "bare"
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text("somefw==1.0\n")
    monkeypatch.setattr(impls, "requirements_file", lambda name, gpu=False: folder / "requirements.txt")
    with pytest.raises(ValueError, match=r"declares no Python: add a line '# requires-python: >=3.11,<3.14'"):
        impls.python_requirement("torch")


FOUND_311_312 = {"3.11": ("3.11.2", "/usr/bin/python3.11"), "3.12": ("3.12.1", "/opt/py312/bin/python3.12")}


def test_one_python_for_every_framework_when_one_fits_them_all(noxfile):
    chosen, missing = noxfile.plan_pythons(FOUND_311_312, sorted(impls.FRAMEWORKS))
    assert missing == {}
    assert {path for _, path in chosen.values()} == {"/usr/bin/python3.11"}  # 3.12 would lose mxnet


def test_without_python_311_mxnet_is_skipped_with_the_fix_and_the_others_share_one(noxfile):
    found = {"3.12": FOUND_311_312["3.12"], "3.13": ("3.13.0", "/opt/py313/bin/python3.13")}
    chosen, missing = noxfile.plan_pythons(found, sorted(impls.FRAMEWORKS))
    assert set(chosen) == set(impls.FRAMEWORKS) - {"mxnet"}
    assert {version for version, _ in chosen.values()} == {"3.12.1"}  # the same one, the older of equals
    reason = missing["mxnet"]
    assert "mxnet==1.9.1 numpy<1.24" in reason and "need Python ==3.11.*" in reason
    assert "found: 3.12.1, 3.13.0" in reason and "apt-get install python3.11, or pyenv install 3.11" in reason


def test_frameworks_that_fit_no_common_python_get_the_one_that_fits_most(noxfile, monkeypatch):
    specs = {"torch": ">=3.11,<3.14", "tensorflow": ">=3.12", "jax": ">=3.12", "mxnet": "==3.11.*"}
    monkeypatch.setattr(noxfile.impls, "python_requirement", specs.__getitem__)
    chosen, missing = noxfile.plan_pythons(FOUND_311_312, sorted(specs))
    assert missing == {}
    assert {fw: version for fw, (version, _) in chosen.items()} == {
        "jax": "3.12.1", "tensorflow": "3.12.1", "torch": "3.12.1", "mxnet": "3.11.2"}  # fmt: skip


def test_only_pythons_that_run_are_found(noxfile, tmp_path, monkeypatch):
    """A pyenv shim of a version that is not active is on the PATH but does not run: not found."""
    shim = tmp_path / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    real = tmp_path / "python3.12"
    real.symlink_to(sys.executable)  # this interpreter, under the name of another version
    monkeypatch.setenv("PATH", str(tmp_path))
    found = noxfile.pythons_on_path()
    mine = ".".join(map(str, sys.version_info[:2]))
    assert set(found) == {mine} and found[mine][0] == ".".join(map(str, sys.version_info[:3]))


def _python_312() -> str | None:
    """A real Python 3.12 executable (pyenv's, or python3.12 on the PATH when it runs)."""
    pyenv = (
        subprocess.run(["pyenv", "root"], capture_output=True, text=True) if shutil.which("pyenv") else None
    )
    candidates = sorted(Path(pyenv.stdout.strip()).glob("versions/3.12*/bin/python3.12")) if pyenv else []
    candidates += [Path(p) for p in [shutil.which("python3.12")] if p]
    for candidate in candidates:
        out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                             capture_output=True, text=True)  # fmt: skip
        if out.stdout.strip() == "True":
            return str(candidate.resolve())
    return None


@pytest.mark.slow
def test_bench_with_only_python_312_on_the_path(real_data_dir, tmp_path):
    """`nox -s bench` where the PATH has Python 3.12 alone: JAX runs on it, MXNet (3.11 only) is
    recorded as skipped with the fix, and the session exits 0."""
    python = _python_312()
    if python is None:
        pytest.skip("needs a Python 3.12 (pyenv install 3.12, or apt-get install python3.12)")
    bin_dir = CACHE / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in {"python3.12": python, "python3": python, "git": shutil.which("git")}.items():
        link = bin_dir / name
        if target and not link.exists():
            link.symlink_to(target)
    nox_venv = CACHE / "nox"
    if not (nox_venv / "bin" / "nox").exists():  # nox itself on Python 3.12 too, installed once
        subprocess.run([python, "-m", "venv", str(nox_venv)], check=True)
        subprocess.run([nox_venv / "bin" / "pip", "install", "-q", "nox>=2024.10"], check=True)
    drop = ("VIRTUAL_ENV", "NOX_CURRENT_SESSION", "PYTHONPATH", "PYENV_VERSION", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("FRAMEBENCH_")}
    env["PATH"] = str(bin_dir)
    results = tmp_path / "results"
    nox = [str(nox_venv / "bin" / "nox"), "--envdir", str(CACHE / "envs"), "-f", str(ROOT / "noxfile.py")]
    command = [*nox, "-s", "bench", "--", "--frameworks", "jax,mxnet", "--models", "mlp", "--devices", "cpu",
               "--epochs", "1", "--seeds", "0", "--data-dir", str(real_data_dir),
               "--results", str(results)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    by_framework = {r["framework"]["name"]: r for r in runs}
    assert len(runs) == 2 and set(by_framework) == {"jax", "mxnet"}
    jax, mxnet = by_framework["jax"], by_framework["mxnet"]
    assert jax["status"] == "ok" and jax["environment"]["python"].startswith("3.12.")
    assert jax["metrics"]["final_test_accuracy"] > 0.5  # one epoch of the real data
    assert mxnet["status"] == "skipped"
    assert "need Python ==3.11.*" in mxnet["reason"] and "install Python 3.11" in mxnet["reason"]
    report = (results / "REPORT.md").read_text()  # the report session ran after bench, on 3.12 too
    assert md(mxnet["reason"]) in report  # record text reaches the report as safe markdown (bench.text)
    (jax_row,) = [line for line in report.splitlines() if "| jax " in line and "jax 0." in line]
    assert f"| {jax['environment']['python']} " in jax_row
