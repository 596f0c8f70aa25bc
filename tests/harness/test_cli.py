"""Bad input: one clear line naming the fix, and a non-zero exit. No framework needed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli, config, records
from bench.matrix import UNLOADED_MODE, build_matrix, run_parser, select_runs

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLUGINS = "numpy=fake_frameworks:NumpyFramework"
CONFIG = {"framework": "torch", "model": "mlp", "device": "gpu", "mode": "eager", "seed": 0, "epochs": 1,
          "batch_size": 256, "lr": 0.1, "threads": 2, "repeat": 0}  # fmt: skip


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", "FRAMEBENCH_EXTRA_FRAMEWORKS": PLUGINS}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "tf"], "unknown framework 'tf'; choose one of: "),
        (
            ["--framework", "numpy", "--models", "alexnet"],
            "unknown model 'alexnet'; choose one of: lenet, mlp",
        ),
        (["--framework", "numpy", "--devices", "tpu"], "unknown device 'tpu'; choose one of: cpu, gpu"),
        (["--framework", "numpy", "--modes", "turbo"], "none of --modes turbo exists in numpy; choose among"),
        (["--framework", "numpy", "--epochs", "0"], "--epochs must be a positive integer, got '0'"),
        (["--framework", "numpy", "--epochs", "-3"], "--epochs must be a positive integer, got '-3'"),
        (["--framework", "numpy", "--epochs", "ten"], "--epochs must be a positive integer, got 'ten'"),
        (["--framework", "numpy", "--batch-size", "0"], "--batch-sizes must be a positive integer"),
        (
            ["--framework", "numpy", "--batch-sizes", "64,x"],
            "--batch-sizes must be a positive integer, got 'x'",
        ),
        (["--framework", "numpy", "--lr", "-0.1"], "--lr must be a positive number, got '-0.1'"),
        (["--framework", "numpy", "--lr", "nan"], "--lr must be a positive number, got 'nan'"),
        (["--framework", "numpy", "--lr", "fast"], "--lr must be a positive number, got 'fast'"),
        (["--framework", "numpy", "--seeds", "a,b"], "--seeds needs integers like 0,1,2 or 0-4, got 'a'"),
        (["--framework", "numpy", "--seeds", "-1"], "--seeds must be non-negative, got '-1'"),
        (["--framework", "numpy", "--seeds", ""], "--seeds needs a comma-separated list"),
        (["--framework", "numpy", "--threads", "0"], "--threads must be a positive integer, got '0'"),
        (["--framework", "numpy", "--threads", "1,0"], "--threads must be a positive integer, got '0'"),
        (["--framework", "numpy", "--repeats", "x"], "--repeats must be a positive integer"),
        (["--framework", "numpy", "--input", "disk"], "unknown input 'disk'; choose one of: device, native"),
        (
            ["--framework", "numpy", "--precision", "bf16"],
            "unknown precision 'bf16'; choose one of: fp32, tf32",
        ),
        (
            ["--framework", "numpy", "--loader-workers", "-1"],
            "--loader-workers must be a non-negative integer",
        ),
        (
            ["--framework", "numpy", "--timing-epochs", "0"],
            "--timing-epochs must be a positive integer, got '0'",
        ),
        (
            ["--framework", "numpy", "--accuracy-seeds", "-1"],
            "--accuracy-seeds must be a non-negative integer",
        ),
        (["--framework", "numpy", "--python", "numpy"], "--python needs FW=PATH, got 'numpy'"),
        (["--framework", "numpy", "--missing", "maybe"], "unknown missing 'maybe'; choose one of: error"),
        (["--framework", "numpy", "--python", "torch=/x"], "--python names 'torch', which is not among"),
        (
            ["--framework", "numpy", "--python", "numpy=/no/such/python"],
            "numpy does not load in /no/such/python",
        ),
    ],
)
def test_bad_run_options_fail_in_one_line(args, message):
    result = run_cli("run", *args, "--results", "/tmp/framebench-never-written")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "numpy" in lines[0] or "tf" not in args  # the framework list names the plug-in too


def test_framework_not_installed_names_the_fix(tmp_path):
    if subprocess.run([sys.executable, "-c", "import mxnet"], capture_output=True).returncode == 0:
        pytest.skip("mxnet is installed here")
    result = run_cli("run", "--framework", "mxnet", "--results", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "mxnet does not load in" in line and "ModuleNotFoundError" in line and "nox -s bench" in line
    assert not (tmp_path / "runs").exists()  # failed early: no per-run failures recorded


def test_missing_framework_with_missing_skip_is_recorded_with_what_to_install(tmp_path):
    """The lent GPU machine cannot install TensorFlow or MXNet: --missing skip records their runs as
    skipped, each saying what is missing and what a user with network access installs."""
    if subprocess.run([sys.executable, "-c", "import mxnet"], capture_output=True).returncode == 0:
        pytest.skip("mxnet is installed here")
    from bench import data, records

    try:
        data.load(allow_download=False)
    except data.DataError as exc:
        pytest.skip(str(exc))
    args = ["--frameworks", "mxnet,numpy", "--missing", "skip", "--models", "mlp", "--seeds", "0"]
    result = run_cli("run", *args, "--epochs", "1", "--devices", "cpu,gpu", "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    runs = [r for r in records.load_records(tmp_path)[0] if r["config"]["framework"] == "mxnet"]
    reasons = {r["config"]["device"]: r["reason"] for r in runs}
    assert {r["status"] for r in runs} == {"skipped"} and {r["config"]["mode"] for r in runs} == {"unloaded"}
    assert reasons["gpu"].startswith("mxnet is not installed in " + sys.executable + " (ModuleNotFoundError")
    assert reasons["gpu"].endswith(
        "with network access: pip install -r impls/mxnet/requirements-gpu.txt (mxnet-cu112==1.9.1 numpy<1.24)"
    )
    assert reasons["cpu"].endswith("pip install -r impls/mxnet/requirements.txt (mxnet==1.9.1 numpy<1.24)")
    numpy_cpu = [r for r in records.load_records(tmp_path)[0] if r["config"]["framework"] == "numpy"]
    assert any(r["status"] == "ok" and r["config"]["device"] == "cpu" for r in numpy_cpu)


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


def _describe(modes):
    return lambda framework, python: {"modes": list(modes[framework])}


def test_budget_defaults_and_options():
    describe = _describe({"torch": ("eager",)})
    matrix = build_matrix(run_parser().parse_args(["--frameworks", "torch"]), describe)
    assert (matrix.budget_minutes, matrix.target_precision, matrix.order_seed) == (20.0, 0.10, None)
    assert matrix.seeds == tuple(range(40))  # a budgeted sitting: the race decides how many of these run
    argv = ["--frameworks", "torch", "--budget", "7.5", "--target-precision", "5", "--order-seed", "42"]
    matrix = build_matrix(run_parser().parse_args(argv), describe)
    assert (matrix.budget_minutes, matrix.target_precision, matrix.order_seed) == (7.5, 0.05, 42)
    fixed = build_matrix(run_parser().parse_args(["--frameworks", "torch", "--budget", "0"]), describe)
    assert fixed.budget_minutes is None and fixed.seeds == (0, 1, 2, 3, 4, 5)
    bad = [("--budget", "-1", "--budget needs minutes"), ("--budget", "soon", "--budget needs minutes"),
           ("--target-precision", "0", "--target-precision needs a percentage"),
           ("--order-seed", "x", "--order-seed must be a non-negative integer")]  # fmt: skip
    for option, value, message in bad:
        with pytest.raises(config.UsageError, match=message):
            build_matrix(run_parser().parse_args(["--frameworks", "torch", option, value]), describe)


def test_matrix_expansion_and_defaults():
    args = run_parser().parse_args(["--frameworks", "torch,tensorflow", "--repeats", "2", "--budget", "0"])
    matrix = build_matrix(args, _describe({"torch": ("eager", "compile"), "tensorflow": ("function",)}))
    assert matrix.modes == {"torch": ("eager",), "tensorflow": ("function",)}  # 'default' = first mode
    assert matrix.seeds == (0, 1, 2, 3, 4, 5) and matrix.accuracy_seeds == 1 and matrix.timing_epochs == 1
    runs = matrix.runs()
    assert len(runs) == 2 * 2 * 2 * 6 * 2  # frameworks x models x devices x seeds x repeats
    first = runs[0]
    assert (first.framework, first.model, first.device, first.seed, first.repeat) == (
        "torch",
        "lenet",
        "cpu",
        0,
        0,
    )
    assert (first.epochs, first.batch_size, first.lr, first.threads) == (
        10,
        256,
        0.9,
        config.default_threads(),
    )
    assert (first.input, first.precision, first.loader_workers) == ("device", "fp32", 0)
    mlp = [r for r in runs if r.model == "mlp"]
    assert {r.lr for r in mlp} == {0.1}
    # seed 0 trains the full schedule; seeds 1-5 are throughput-only repeats: warm-up + 1 measured epoch
    assert {r.seed for r in runs if r.purpose == "full"} == {0}
    assert {(r.seed, r.train_epochs) for r in runs if r.purpose == "timing"} == {(s, 2) for s in range(1, 6)}
    assert len({r.key("d") for r in runs}) == len(runs)
    assert runs[0].key("d") != runs[0].key("other-data")
    assert runs[0].key("d", "cpu A · 2 cores") != runs[0].key("d", "cpu B · 2 cores")  # machines stay apart


def test_frameworks_are_interleaved_in_a_rotating_order():
    args = run_parser().parse_args(["--frameworks", "torch,tensorflow,mxnet", "--models", "mlp",
                                    "--devices", "cpu", "--seeds", "0-3"])  # fmt: skip
    modes = {"torch": ("eager",), "tensorflow": ("function",), "mxnet": ("hybrid",)}
    runs = build_matrix(args, _describe(modes)).runs()
    order = [r.framework for r in runs]
    assert order == ["torch", "tensorflow", "mxnet", "tensorflow", "mxnet", "torch",
                     "mxnet", "torch", "tensorflow", "torch", "tensorflow", "mxnet"]  # fmt: skip
    for framework in modes:  # each framework keeps its own stable order (seed 0, 1, 2, 3)
        assert [r.seed for r in runs if r.framework == framework] == [0, 1, 2, 3]


def test_modes_per_framework_and_axes():
    args = run_parser().parse_args(["--frameworks", "torch,mxnet", "--modes", "compile,imperative",
                                    "--batch-sizes", "64,1024", "--threads", "1,2", "--input",
                                    "device,native", "--seeds", "0", "--devices", "cpu",
                                    "--models", "mlp"])  # fmt: skip
    modes = {"torch": ("eager", "compile"), "mxnet": ("hybrid", "imperative")}
    matrix = build_matrix(args, _describe(modes))
    assert matrix.modes == {"torch": ("compile",), "mxnet": ("imperative",)}
    runs = matrix.runs()
    assert len(runs) == 2 * 2 * 2 * 2  # frameworks x batch sizes x threads x inputs
    assert {(r.batch_size, r.threads, r.input) for r in runs if r.framework == "mxnet"} == {
        (b, t, i) for b in (64, 1024) for t in (1, 2) for i in ("device", "native")
    }
    assert all(r.lr == 0.1 for r in runs)  # the learning rate stays the model's unless --lr is given


def test_shard_selects_a_disjoint_complete_split():
    base = ["--frameworks", "torch,tensorflow", "--models", "lenet,mlp", "--devices", "cpu"]
    describe = _describe({"torch": ("eager",), "tensorflow": ("function",)})
    everything = select_runs(build_matrix(run_parser().parse_args(base), describe), None)
    shards = [select_runs(build_matrix(run_parser().parse_args(base), describe), f"{i}/3")
              for i in (1, 2, 3)]  # fmt: skip
    labels = [r.label for shard in shards for r in shard]
    assert sorted(labels) == sorted(r.label for r in everything) and len(set(labels)) == len(labels)
    for shard in shards:  # the interleaved order is kept inside a shard
        positions = [everything.index(r) for r in shard]
        assert positions == sorted(positions)
    with pytest.raises(config.UsageError):
        select_runs(build_matrix(run_parser().parse_args(base), describe), "4/3")


def test_run_config_validates_itself():
    with pytest.raises(config.UsageError, match="epochs must be a positive integer"):
        config.RunConfig("torch", "mlp", "cpu", "eager", 0, 0, 256, 0.1, 2)
    with pytest.raises(config.UsageError, match="unknown framework 'jaxx'"):
        config.RunConfig("jaxx", "mlp", "cpu", "eager", 0, 1, 256, 0.1, 2)
    with pytest.raises(config.UsageError, match="unknown purpose 'warmup'"):
        config.RunConfig("torch", "mlp", "cpu", "eager", 0, 1, 256, 0.1, 2, purpose="warmup")


def test_an_internal_value_error_is_not_passed_off_as_a_usage_error(monkeypatch):
    """Only UsageError/DataError become one-line exit-2 messages; a bug keeps its traceback."""

    def broken(args):
        raise ValueError("an internal bug")

    monkeypatch.setitem(cli.COMMANDS, "data", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        cli.main(["data"])


def test_blocked_order_runs_one_framework_after_another():
    args = run_parser().parse_args(["--frameworks", "torch,mxnet", "--models", "mlp", "--devices",
                                    "cpu", "--seeds", "0-2", "--order", "blocked"])  # fmt: skip
    runs = build_matrix(args, _describe({"torch": ("eager",), "mxnet": ("hybrid",)})).runs()
    assert [r.framework for r in runs] == ["torch"] * 3 + ["mxnet"] * 3


def test_unavailable_frameworks_are_recorded_skipped_without_being_loaded():
    """--unavailable FW=REASON (what nox passes for a framework no Python here can run): every run of
    FW is skipped with that reason, and FW's interpreter is never asked for its modes."""
    asked = []

    def describe(framework, python):
        asked.append(framework)
        return {"modes": ["jit"]}

    reason = "mxnet==1.9.1 needs Python ==3.11.*; install python3.11"
    args = run_parser().parse_args(["--frameworks", "jax,mxnet", "--models", "mlp", "--devices", "cpu,gpu",
                                    "--seeds", "0", "--unavailable", f"mxnet={reason}"])  # fmt: skip
    matrix = build_matrix(args, describe)
    assert asked == ["jax"]
    assert matrix.modes["mxnet"] == (UNLOADED_MODE,)
    assert matrix.unavailable["mxnet"] == {"cpu": reason, "gpu": reason}
    assert [r.framework for r in matrix.runs()].count("mxnet") == 2
    for bad, message in [("mxnet", "--unavailable needs FW=REASON"), ("torch=x", "not among --frameworks")]:
        args = run_parser().parse_args(["--frameworks", "jax,mxnet", "--unavailable", bad])
        with pytest.raises(config.UsageError, match=message):
            build_matrix(args, describe)


def test_a_reversed_seed_range_is_a_usage_error():
    with pytest.raises(config.UsageError, match="the range '5-1' is empty"):
        config.parse_ints("5-1", "seeds")
    assert config.parse_ints("1-1", "seeds") == [1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--framework", "torch", "--results", ""], "--results needs a folder name"),
        (["run", "--framework", "torch", "--seeds", "5-1"], "the range '5-1' is empty"),
        (["report", "--results", ""], "--results needs a folder name"),
        (["report", "--results", "/nonexistent/results"], "--results /nonexistent/results: no such folder"),
    ],
)
def test_empty_reversed_or_missing_folders_are_one_line_usage_errors(argv, message, capsys, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert list(tmp_path.iterdir()) == []  # nothing written: no ./runs, no empty report


def test_report_of_another_folder_writes_into_that_folder(tmp_path, monkeypatch, capsys):
    """Defect 4: `bench report --results OTHER` leaves the committed results/ alone."""
    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "results"
    (committed / "figures").mkdir(parents=True)
    (committed / "REPORT.md").write_text("committed\n")
    (committed / "figures" / "overview.png").write_bytes(b"png")
    other = tmp_path / "other"
    records.write_record(other, records.outcome_record(CONFIG, "skipped", "no GPU"))
    assert cli.main(["report", "--results", str(other)]) == 0
    assert (committed / "REPORT.md").read_text() == "committed\n"
    assert (committed / "figures" / "overview.png").exists()
    assert (other / "REPORT.md").exists() and f"wrote {other / 'REPORT.md'}" in capsys.readouterr().err


def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch, capsys):
    import errno

    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    records.write_record(tmp_path, records.outcome_record(CONFIG, "skipped", "no GPU"))
    real = Path.write_text

    def full(self, text, *args, **kwargs):
        real(self, "", *args, **kwargs)  # created, then the disk is full: a 0-byte file
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    assert cli.main(["report", "--results", str(tmp_path)]) == 2  # the report set: exit 2 (issue 30)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write the report (No space left on device: ")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert not (tmp_path / "REPORT.md").exists()
