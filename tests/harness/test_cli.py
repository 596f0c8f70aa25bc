"""Bad input: one clear line naming the fix, and a non-zero exit. No framework needed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli, config

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLUGINS = "numpy=fake_frameworks:NumpyFramework"


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", "FRAMEBENCH_EXTRA_FRAMEWORKS": PLUGINS}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "tf"], "unknown framework 'tf'; choose one of: mxnet, numpy, tensorflow, torch"),
        (
            ["--framework", "numpy", "--models", "alexnet"],
            "unknown model 'alexnet'; choose one of: lenet, mlp",
        ),
        (["--framework", "numpy", "--devices", "tpu"], "unknown device 'tpu'; choose one of: cpu, gpu"),
        (["--framework", "numpy", "--modes", "turbo"], "unknown mode 'turbo' for numpy; choose one of"),
        (["--framework", "numpy", "--epochs", "0"], "--epochs must be a positive integer, got '0'"),
        (["--framework", "numpy", "--epochs", "-3"], "--epochs must be a positive integer, got '-3'"),
        (["--framework", "numpy", "--epochs", "ten"], "--epochs must be a positive integer, got 'ten'"),
        (["--framework", "numpy", "--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--framework", "numpy", "--lr", "-0.1"], "--lr must be a positive number, got '-0.1'"),
        (["--framework", "numpy", "--lr", "nan"], "--lr must be a positive number, got 'nan'"),
        (["--framework", "numpy", "--lr", "fast"], "--lr must be a positive number, got 'fast'"),
        (["--framework", "numpy", "--seeds", "a,b"], "--seeds needs integers like 0,1,2 or 0-4, got 'a'"),
        (["--framework", "numpy", "--seeds", "-1"], "--seeds must be non-negative, got '-1'"),
        (["--framework", "numpy", "--seeds", ""], "--seeds needs a comma-separated list"),
        (["--framework", "numpy", "--threads", "0"], "--threads must be a positive integer, got '0'"),
        (["--framework", "numpy", "--repeats", "x"], "--repeats must be a positive integer"),
    ],
)
def test_bad_run_options_fail_in_one_line(args, message):
    result = run_cli("run", *args, "--results", "/tmp/framebench-never-written")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]


def test_framework_not_installed_names_the_fix(tmp_path):
    if subprocess.run([sys.executable, "-c", "import mxnet"], capture_output=True).returncode == 0:
        pytest.skip("mxnet is installed here")
    result = run_cli("run", "--framework", "mxnet", "--results", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "mxnet is not installed in this Python" in line and "nox -s bench" in line
    assert not (tmp_path / "runs").exists()  # failed early: no per-run failures recorded


def test_missing_data_dir_names_the_package(tmp_path):
    result = run_cli("run", "--framework", "numpy", "--data-dir", str(tmp_path), "--results", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "apt-get install dataset-fashion-mnist" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_results_dir(tmp_path):
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    result = run_cli("run", "--framework", "numpy", "--results", str(tmp_path / "r"))
    assert result.returncode == 2 and "is not writable" in result.stderr and "--results" in result.stderr


def test_results_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("run", "--framework", "numpy", "--results", str(blocker))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "is not writable" in line and "pass --results DIR" in line


def test_unknown_flag_is_argparse_one_liner():
    result = run_cli(
        "run", "--framework", "numpy", "--epoch", "3", "--results", "/tmp/framebench-never-written"
    )
    assert result.returncode == 2 and "unrecognized arguments: --epoch 3" in result.stderr


def test_matrix_expansion_and_defaults():
    args = cli.parser().parse_args(["run", "--framework", "torch", "--seeds", "0-2", "--repeats", "2"])
    args.framework = "torch"
    seeds = config.parse_ints(args.seeds, "seeds")
    matrix = config.Matrix("torch", ("lenet", "mlp"), ("cpu", "gpu"), ("eager",), tuple(seeds), None, None,
                           None, 2, repeats=2)  # fmt: skip
    runs = matrix.runs()
    assert len(runs) == 2 * 2 * 3 * 2
    lenet = runs[0]
    assert (lenet.model, lenet.epochs, lenet.batch_size, lenet.lr) == ("lenet", 10, 256, 0.9)
    assert runs[-1].model == "mlp" and runs[-1].lr == 0.1 and runs[-1].repeat == 1
    assert len({r.key("d") for r in runs}) == len(runs)
    assert runs[0].key("d") != runs[0].key("other-data")


def test_run_config_validates_itself():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        config.RunConfig("torch", "mlp", "cpu", "eager", 0, 0, 256, 0.1, 2)
    with pytest.raises(ValueError, match="unknown framework 'jaxx'"):
        config.RunConfig("jaxx", "mlp", "cpu", "eager", 0, 1, 256, 0.1, 2)
