"""Each framework (or framework version) runs on the Pythons its pins declare: bench.pythons picks one
interpreter from the PATH per entry (the same for all wherever one fits them all), only when a nox
session needs one, and an entry that none fits is recorded as skipped with the fix while the others run.

The slow test is the proof on a machine like Ubuntu 24.04: only Python 3.12 on the PATH, `nox -s
bench` for JAX and MXNet. Its nox and environments are kept in .nox/only-python-3.12/ between runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import impls
from bench import pythons
from bench.text import md

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".nox" / "only-python-3.12"


def test_the_frameworks_of_bench_are_the_requested_entries_only():
    assert pythons.requested_entries(["--models", "mlp", "--frameworks", "jax,mxnet"]) == ["jax", "mxnet"]
    assert pythons.requested_entries(["--frameworks=torch@2.13.0,torch@2.14.1,jax"]) == [
        "torch@2.13.0", "torch@2.14.1", "jax"]  # fmt: skip
    every = sorted(impls.FRAMEWORKS)
    assert pythons.requested_entries(["--frameworks", "all"]) == pythons.requested_entries([]) == every
    assert pythons.requested_entries(["--frameworks", "jax,nosuch"]) == ["jax"]  # bench run refuses it


def test_a_nox_command_line_names_versions_in_posargs_or_in_session_names():
    argv = ["nox", "-s", "bench", "--", "--frameworks", "torch@2.13.0,jax@0.9.2,jax"]
    assert pythons.session_entries(argv) == ["torch@2.13.0", "jax@0.9.2"]
    argv = ["nox", "-s", "tests(suite='jax@0.9.2')", "env(framework='torch@2.12.0')"]
    assert pythons.session_entries(argv) == ["jax@0.9.2", "torch@2.12.0"]
    assert pythons.session_entries(["nox", "-l"]) == []


def test_known_entries_are_every_framework_and_every_pinned_version():
    known = pythons.known_entries()
    assert known[: len(impls.FRAMEWORKS)] == sorted(impls.FRAMEWORKS)
    assert "torch@2.13.0" in known


def test_each_entry_has_its_own_environment_and_the_default_version_shares_the_defaults():
    assert pythons.venv_name("env-framework", "torch@2.13.0") == "env-framework-torch-2-13-0"
    assert pythons.venv_name("env-framework", "keras-jax") == "env-framework-keras-jax"  # as nox names it
    assert pythons.venv_name("env-framework", "torch@2.14.1") == "env-framework-torch"  # the same pins


def test_nox_list_probes_no_interpreter(tmp_path):
    """`nox -l` imports the noxfile: no python3.X on the PATH may run (each would leave a mark)."""
    pytest.importorskip("nox", reason="nox is installed by `nox -s tests`")
    marks = tmp_path / "marks"
    marks.mkdir()
    for name in ("python3.11", "python3.12", "python3"):
        fake = tmp_path / name
        fake.write_text(f'#!/bin/sh\ntouch {marks / name}\nexec {sys.executable} "$@"\n')
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ.get('PATH', '')}"}
    nox = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"]
    out = subprocess.run([*nox, "--", "--frameworks", "torch@2.13.0"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "env(framework='torch@2.13.0')" in out.stdout and "tests(suite='harness')" in out.stdout
    assert list(marks.iterdir()) == []


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


def test_one_python_for_every_framework_when_one_fits_them_all():
    chosen, missing = pythons.plan_pythons(FOUND_311_312, sorted(impls.FRAMEWORKS))
    assert missing == {}
    assert {path for _, path in chosen.values()} == {"/usr/bin/python3.11"}  # 3.12 would lose mxnet
    assert pythons.harness_python(FOUND_311_312, chosen) == "/usr/bin/python3.11"


def test_without_python_311_mxnet_and_torch_2_13_are_skipped_with_the_fix_and_the_others_share_one():
    found = {"3.12": FOUND_311_312["3.12"], "3.13": ("3.13.0", "/opt/py313/bin/python3.13")}
    chosen, missing = pythons.plan_pythons(found, [*sorted(impls.FRAMEWORKS), "torch@2.13.0"])
    assert set(chosen) == set(impls.FRAMEWORKS) - {"mxnet"}
    assert {version for version, _ in chosen.values()} == {"3.12.1"}  # the same one, the older of equals
    reason = missing["mxnet"]
    assert "mxnet==1.9.1 numpy<1.24" in reason and "need Python ==3.11.*" in reason
    assert "found: 3.12.1, 3.13.0" in reason and "apt-get install python3.11, or pyenv install 3.11" in reason
    assert "torch@2.13.0's pins (torch==2.13.0) need Python ==3.11.*" in missing["torch@2.13.0"]
    assert "impls/torch/versions/2.13.0.txt" in missing["torch@2.13.0"]


def test_frameworks_that_fit_no_common_python_get_the_one_that_fits_most(monkeypatch):
    specs = {"torch": ">=3.11,<3.14", "tensorflow": ">=3.12", "jax": ">=3.12", "mxnet": "==3.11.*"}
    monkeypatch.setattr(impls, "python_requirement", specs.__getitem__)
    chosen, missing = pythons.plan_pythons(FOUND_311_312, sorted(specs))
    assert missing == {}
    assert {fw: version for fw, (version, _) in chosen.items()} == {
        "jax": "3.12.1", "tensorflow": "3.12.1", "torch": "3.12.1", "mxnet": "3.11.2"}  # fmt: skip
    assert pythons.harness_python(FOUND_311_312, chosen) == "/opt/py312/bin/python3.12"


def test_without_any_framework_python_the_harness_takes_the_newest_it_supports():
    found = {"3.10": ("3.10.1", "/p/3.10"), **FOUND_311_312}
    assert pythons.harness_python(found, {}) == "/opt/py312/bin/python3.12"
    assert pythons.harness_python({"3.10": ("3.10.1", "/p/3.10")}, {}) is None


def test_only_pythons_that_run_are_found(tmp_path, monkeypatch):
    """A pyenv shim of a version that is not active is on the PATH but does not run: not found."""
    shim = tmp_path / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    real = tmp_path / "python3.12"
    real.symlink_to(sys.executable)  # this interpreter, under the name of another version
    monkeypatch.setenv("PATH", str(tmp_path))
    found = pythons.pythons_on_path()
    mine = ".".join(map(str, sys.version_info[:2]))
    assert set(found) == {mine} and found[mine][0] == ".".join(map(str, sys.version_info[:3]))


PIP_INDEX = """torch (2.15.0)
Available versions: 2.15.0, 2.14.1, 2.13.0+cpu, 2.13.0, 2.12.1
  INSTALLED: 2.14.1
  LATEST:    2.15.0
"""


def test_a_version_the_index_lacks_is_one_line_naming_what_it_has():
    available = pythons.parse_index_versions(PIP_INDEX)
    assert available == ["2.15.0", "2.14.1", "2.13.0+cpu", "2.13.0", "2.12.1"]
    assert pythons.has_version(["2.13.0+cpu"], "2.13.0")  # the local CPU build is that release
    assert not pythons.has_version(available, "2.11.0")
    assert pythons.unavailable_reason("torch@2.13.0", "3.11.7", available) is None
    assert pythons.unavailable_reason("torch@2.13.0", "3.11.7", None) is None  # pip's own error tells
    reason = pythons.unavailable_reason("torch@2.11.0", "3.11.7", available)
    assert reason == (
        "torch@2.11.0: the package index has no torch 2.11.0 for Python 3.11.7 (available: 2.15.0, "
        "2.14.1, 2.13.0+cpu, 2.13.0, 2.12.1); ask for one of those, e.g. --frameworks torch@2.15.0"
    )


PIP_FAILED = """Looking in links: /opt/wheels
ERROR: Cannot install torch==2.15.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested torch==2.15.0
    The user requested (constraint) torch<=2.14.1

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/
"""


def test_pins_that_do_not_install_are_one_line_from_pips_error():
    line = pythons.install_error("torch@2.15.0", PIP_FAILED)
    assert line == (
        "torch@2.15.0: its pins (torch==2.15.0 torchvision) do not install: The user requested "
        "(constraint) torch<=2.14.1"
    )
    missing = (
        "ERROR: Could not find a version that satisfies the requirement jax==0.99 (from versions: 0.10.2)"
    )
    line = pythons.install_error("jax@0.99", f"noise\n{missing}\nERROR: No matching distribution")
    assert line.endswith("do not install: Could not find a version that satisfies the requirement jax==0.99 "
                         "(from versions: 0.10.2)")  # fmt: skip


def test_an_environments_disk_is_counted_once_per_file_and_noted_for_the_report(tmp_path):
    venv = tmp_path / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "lib" / "big.bin").write_bytes(b"x" * 100_000)
    (venv / "lib" / "again.bin").hardlink_to(venv / "lib" / "big.bin")  # one file, two names
    size = pythons.disk_bytes(venv)
    assert 100_000 <= size < 2 * 100_000
    assert pythons.human_bytes(size).endswith("KiB") and pythons.human_bytes(5 * 2**30) == "5.00 GiB"
    results = tmp_path / "results"
    pythons.note_environment(results, "torch@2.13.0", "3.11.7", size)
    pythons.note_environment(results, "jax", "3.11.7", 7)
    table = json.loads((results / "environments.json").read_text())
    assert set(table) == {"torch@2.13.0", "jax"}
    assert table["torch@2.13.0"]["disk_bytes"] == size and table["jax"]["python"] == "3.11.7"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", table["jax"]["built_at"])


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
