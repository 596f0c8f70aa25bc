"""bench launch: shards as submitit jobs (Slurm when available, else the local executor).

The end-to-end test runs a real sharded matrix through Slurm when ``sinfo`` answers, or starts the
single-node Slurm of .ci/slurm.sh when running as root (and stops what it started at teardown), and
always through submitit's local executor too. It uses the harness's test-only ``slow`` framework (the
NumPy oracle of ``numpy`` trained on 2,048 examples, no sleep) so that a run takes seconds. Every wait
is on job completion (job.result()), never on a sleep.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import config as cfg
from bench import launch, launch_plan, launch_watch

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLUGINS = ",".join(
    f"{name}=fake_frameworks:{cls}"
    for name, cls in [("numpy", "NumpyFramework"), ("slow", "SlowFramework"), ("crashy", "CrashFramework"),
                      ("hang", "HangFramework")]
)  # fmt: skip
# Three contests (a shard keeps a contest whole): one run each.
RUN_ARGS = ["--", "--frameworks", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
            "--seeds", "0", "--batch-sizes", "128,256,512", "--accuracy-seeds", "all", "--quiet"]  # fmt: skip


# ------------------------------------------------------------------------------------------ pure units


def stub_runs(devices: list[str]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            framework="torch",
            model=model,
            device=device,
            epochs=10,
            purpose="full",
            timing_epochs=3,
            batch_size=batch_size,
            seed=seed,
        )
        for model in ("lenet", "mlp")
        for device in devices
        for batch_size in (128, 256)  # contests: model x device x batch size
        for seed in range(3)
    ]


def test_gpu_only_for_shards_with_gpu_runs_and_exclusive_nodes_on_slurm(tmp_path):
    # One long CPU run fills shard 1 (LPT); the short GPU runs (two contests) all land on shard 2.
    long_cpu = SimpleNamespace(**{**vars(stub_runs(["cpu"])[0]), "epochs": 100})
    runs = [long_cpu, *[r for r in stub_runs(["gpu"]) if r.model == "lenet"]]
    shards = launch.build_shards(runs, 2, tmp_path, "python", ["--frameworks", "torch"])
    assert [s.gpu for s in shards] == [False, True], [[r.device for r in s.runs] for s in shards]
    cpu_params = launch.job_parameters(shards[0], "slurm", "debug", 30)
    gpu_params = launch.job_parameters(shards[1], "slurm", None, 30)
    assert "gpus_per_node" not in cpu_params
    assert gpu_params["gpus_per_node"] == 1
    assert cpu_params["slurm_exclusive"] is True and gpu_params["slurm_exclusive"] is True
    assert cpu_params["slurm_partition"] == "debug" and "slurm_partition" not in gpu_params
    local = launch.job_parameters(shards[1], "local", "debug", 30)
    assert local["gpus_per_node"] == 1 and not any(k.startswith("slurm_") for k in local)


def test_parameters_are_submitits_own_names(tmp_path, monkeypatch):
    """The names we build are accepted by submitit and become the intended sbatch lines."""
    submitit = pytest.importorskip("submitit")
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun needed
    shards = launch.build_shards(stub_runs(["gpu"]), 2, tmp_path, "python", [])
    executor = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    executor.update_parameters(**launch.job_parameters(shards[0], "slurm", "gpuq", 45))
    text = executor._executor._make_submission_file_text("true", "uid")
    for line in ("#SBATCH --exclusive", "#SBATCH --gpus-per-node=1", "#SBATCH --partition=gpuq",
                 "#SBATCH --time=45", "#SBATCH --job-name=framebench-shard-1-of-2"):  # fmt: skip
        assert line in text.splitlines(), text
    cpu = launch.build_shards(stub_runs(["cpu"]), 2, tmp_path, "python", [])[0]
    executor = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    executor.update_parameters(**launch.job_parameters(cpu, "slurm", None, 45))
    assert "gpus" not in executor._executor._make_submission_file_text("true", "uid")


def test_shard_commands_and_folders(tmp_path):
    runs = stub_runs(["cpu"])
    shards = launch.build_shards(runs, 3, tmp_path, "python", ["--frameworks", "torch", "--resume"])
    assert [s.results for s in shards] == [tmp_path / f"shard-{i}-of-3" for i in (1, 2, 3)]
    assert shards[1].command == [sys.executable, "-m", "bench", "run", "--frameworks", "torch", "--resume",
                                 "--shard", "2/3", "--results", str(tmp_path / "shard-2-of-3")]  # fmt: skip
    nox = launch.build_shards(runs, 3, tmp_path, "nox", ["--seeds", "0"], only=[3])
    assert len(nox) == 1 and nox[0].index == 3
    assert nox[0].command[:1] == ["nox"]
    assert nox[0].command[nox[0].command.index("-s") + 1 : nox[0].command.index("--") + 1] == ["bench", "--"]
    assert nox[0].command[-4:] == ["--shard", "3/3", "--results", str(tmp_path / "shard-3-of-3")]
    assert "--envdir" in nox[0].command  # one nox envdir per shard: no two jobs install into one venv
    assert sorted(r.seed for s in shards for r in s.runs) == sorted(r.seed for r in runs)


def test_one_folder_puts_every_shard_into_the_root(tmp_path):
    runs = stub_runs(["cpu"])
    shards = launch.build_shards(runs, 2, tmp_path, "python", ["--seeds", "0"], one_folder=True)
    assert [s.results for s in shards] == [tmp_path, tmp_path]
    assert shards[0].command[-4:] == ["--shard", "1/2", "--results", str(tmp_path)]
    assert launch.report_command(tmp_path, 2, one_folder=True)[-2:] == ["--results", str(tmp_path)]
    rerun = launch.rerun_command(shards[1], ["--seeds", "0"], tmp_path, "python", "slurm", one_folder=True)
    assert "--one-folder -- --seeds 0 --resume" in rerun


def test_usage_errors():
    with pytest.raises(cfg.UsageError, match=r"only 8 contests .*; use --shards 8 or fewer"):
        launch.build_shards(stub_runs(["cpu", "gpu"]), 9, Path("x"), "python", [])
    with pytest.raises(cfg.UsageError, match="shards are numbered 1 to 3"):
        launch.parse_only("4", 3)
    assert launch.parse_only("1,3", 3) == [1, 3] and launch.parse_only(None, 2) == [1, 2]
    with pytest.raises(cfg.UsageError, match="--shard is set by launch per shard"):
        launch.launch(["--", "--shard", "1/2"], shards=2, plan=lambda a: stub_runs(["cpu"]),
                      executor="local")  # fmt: skip
    with pytest.raises(cfg.UsageError, match="--results is set by launch"):
        launch.launch(["--results=x"], shards=2, plan=lambda a: stub_runs(["cpu"]), executor="local")


def test_executor_choice_says_why(monkeypatch, tmp_path):
    assert launch.detect_executor("local") == ("local", "as asked (--executor local)")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo
    assert launch.detect_executor("auto") == ("local", "no sinfo on PATH")
    with pytest.raises(cfg.UsageError, match="no sinfo on PATH; start Slurm"):
        launch.detect_executor("slurm")
    fake = tmp_path / "sinfo"
    fake.write_text("#!/bin/sh\necho 'sinfo: error: Unable to contact slurm controller' >&2\nexit 1\n")
    fake.chmod(0o755)
    kind, why = launch.detect_executor("auto")
    assert kind == "local" and why == "sinfo failed: sinfo: error: Unable to contact slurm controller"
    fake.write_text("#!/bin/sh\necho 'debug* idle 1'\n")
    assert launch.detect_executor("auto") == ("slurm", "sinfo answers (debug* idle 1)")


def test_jobs_get_the_repository_and_the_submitting_commit(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = launch.job_environment()
    assert env["PYTHONPATH"] == f"{ROOT}{os.pathsep}/elsewhere"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    assert len(env["FRAMEBENCH_COMMIT"]) == 40 and env["FRAMEBENCH_DIRTY"] in ("0", "1")
    assert (
        head.strip()
        and env["FRAMEBENCH_COMMIT"]
        in subprocess.run(
            ["git", "rev-list", "-n", "50", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout
    )


def test_parser_passes_everything_after_dashes_to_bench_run():
    import argparse

    top = argparse.ArgumentParser()
    launch.configure_parser(top)
    args = top.parse_args(
        ["--shards", "3", "--via", "python", "--", "--frameworks", "numpy", "--shards", "9"]
    )
    assert args.shards == "3" and args.via == "python" and args.executor == "auto"
    assert launch.strip_dashes(args.run_args) == ["--frameworks", "numpy", "--shards", "9"]


# ------------------------------------------------------------------------------------------ end to end


def _sinfo_ok() -> bool:
    if not shutil.which("sinfo"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return proc.returncode == 0 and bool(proc.stdout.strip())


@pytest.fixture(scope="session")
def slurm():
    """None when Slurm works (the one running, or .ci/slurm.sh's single node started as root and stopped
    afterwards), else why not."""
    if _sinfo_ok():
        yield None
        return
    if os.geteuid() != 0 or not shutil.which("slurmctld"):
        yield "no Slurm here (sinfo fails) and not root with slurm-wlm installed to start one"
        return
    state_dir = Path(os.environ.get("FRAMEBENCH_SLURM_DIR", "/run/framebench-slurm"))
    before = set((state_dir / "started").read_text().split()) if (state_dir / "started").exists() else set()
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "slurm.sh")], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        yield f"could not start Slurm with .ci/slurm.sh: {proc.stderr.strip()}"
        return
    yield None
    if not before:  # only stop what this fixture started
        subprocess.run(["bash", str(ROOT / ".ci" / "slurm.sh"), "stop"], capture_output=True, timeout=60)


@pytest.fixture
def job_env(monkeypatch):
    """What a shard's job must see: the test-only frameworks (jobs inherit the submitting environment)."""
    monkeypatch.setenv("FRAMEBENCH_EXTRA_FRAMEWORKS", PLUGINS)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("FRAMEBENCH_TEST_SLEEP", "0")
    monkeypatch.delenv("FRAMEBENCH_TEST_MARKER", raising=False)


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("runs/*.json"))]


def _identity(config) -> tuple:
    d = config if isinstance(config, dict) else config.to_dict()
    return tuple(sorted((k, v) for k, v in d.items() if k != "data_dir"))


@pytest.mark.usefixtures("real_data_dir", "job_env")
@pytest.mark.parametrize("executor", ["slurm", "local"])
def test_two_shards_hold_the_whole_matrix_once(executor, request, tmp_path):
    no_slurm = request.getfixturevalue("slurm")
    if executor == "slurm" and no_slurm:
        pytest.skip(f"{no_slurm}; the local-executor variant runs the same code")
    if executor == "local" and not no_slurm:
        pytest.skip("Slurm ran this (the slurm variant); the dead-job test covers the local executor")
    out = io.StringIO()
    outcomes = launch.launch(RUN_ARGS, shards=2, plan=launch.plan_from_cli, executor=executor,
                             results_root=tmp_path, via="python", timeout_min=5, out=out)  # fmt: skip
    text = out.getvalue()
    assert [o.state for o in outcomes] == ["ok", "ok"], text
    assert launch.exit_code(outcomes) == 0
    assert text.startswith(f"launch: executor {executor} ("), text
    matrix = launch.plan_from_cli(launch.strip_dashes(RUN_ARGS))
    assert len(matrix) == 3
    per_shard = [_records(tmp_path / f"shard-{i}-of-2") for i in (1, 2)]
    assert all(per_shard), "every shard recorded runs"
    found = [_identity(r["config"]) for records in per_shard for r in records]
    assert sorted(found) == sorted(_identity(c) for c in matrix), "each run exactly once across shards"
    assert all(r["status"] == "ok" for records in per_shard for r in records)
    # Each record names a commit (other commits may land while the test runs, so not HEAD's exactly).
    commits = {r["environment"]["framebench_commit"] for records in per_shard for r in records}
    assert all(isinstance(c, str) and len(c) == 40 for c in commits), commits
    for o in outcomes:
        assert f"shard {o.shard.name}: job {o.job_id}: ok (exit code 0); results {o.shard.results}" in text
    assert "python -m bench report --results " + " ".join(str(o.shard.results) for o in outcomes) in text
    assert (tmp_path / "submitit").is_dir()
    try:
        from bench import report
    except ImportError:
        return
    merged = report.render([o.shard.results for o in outcomes], tmp_path / "REPORT.md", tmp_path / "figures")
    assert Path(merged).read_text().count("slow") >= 1


@pytest.mark.usefixtures("real_data_dir", "job_env")
def test_a_dead_job_is_one_line_and_the_other_shards_keep_their_results(tmp_path):
    """Shard 2's job is killed (its worker gets SIGKILL), shard 3's command exits 3, shard 1 is real."""

    def command_for(shard: launch.Shard) -> list[str]:
        if shard.index == 2:
            return [sys.executable, "-c", "import os, signal; os.kill(os.getppid(), signal.SIGKILL)"]
        if shard.index == 3:
            return [sys.executable, "-c", "raise SystemExit(3)"]
        return shard.command

    out = io.StringIO()
    outcomes = launch.launch(RUN_ARGS, shards=3, plan=launch.plan_from_cli, executor="local", via="python",
                             results_root=tmp_path, out=out, command_for=command_for)  # fmt: skip
    text = out.getvalue()
    assert [o.state for o in outcomes] == ["ok", "died", "exit 3"], text
    assert launch.exit_code(outcomes) == 1
    died = [line for line in text.splitlines() if line.startswith("error: shard 2/3")]
    assert len(died) == 1, text
    log = outcomes[1].log
    assert f"log {log};" in died[0] and str(log).startswith(str(tmp_path / "submitit"))
    assert "ended without a result" in died[0]
    assert died[0].endswith("--only 2 --executor local --via python --results-root "
                            f"{tmp_path} -- {' '.join(RUN_ARGS[1:])} --resume")  # fmt: skip
    assert any(line.startswith("error: shard 3/3 (job") and "exited 3" in line for line in text.splitlines())
    assert len(_records(tmp_path / "shard-1-of-3")) == 1  # the healthy shard's results are kept

    # The fix the line names: rerun just shard 2 with --resume; then the matrix is complete.
    args = SimpleNamespace(shards="3", only="2", executor="local", partition=None, timeout_min="5",
                           via="python", results_root=str(tmp_path),
                           run_args=[*RUN_ARGS, "--resume"])  # fmt: skip
    assert launch.main(args, plan=launch.plan_from_cli) == 0
    assert len(_records(tmp_path / "shard-2-of-3")) == 1


def test_wait_names_what_became_of_a_job(tmp_path):
    shard = launch.build_shards(stub_runs(["cpu"]), 1, tmp_path, "python", [])[0]

    class FakeJob:
        job_id, state, paths = "7", "CANCELLED", SimpleNamespace(stderr=tmp_path / "7_0_log.err")

        def __init__(self, result):
            self._result = result

        def result(self):
            if isinstance(self._result, Exception):
                raise self._result
            return self._result

    out = io.StringIO()
    assert launch._wait(shard, FakeJob(0), out).state == "ok"
    assert launch._wait(shard, FakeJob(1), out).state == "failed runs"
    killed = launch._wait(shard, FakeJob(-15), out)
    assert killed.state == "killed by SIGTERM" and "scancel, time limit" in killed.error
    died = launch._wait(shard, FakeJob(RuntimeError("boom")), out)
    assert died.state == "died" and died.exit_code is None and "state CANCELLED" in died.error
    assert died.log == tmp_path / "7_0_log.err"
    launch._summarize([killed], ["--seeds", "0"], 1, tmp_path, "nox", "slurm", out)
    errors = [line for line in out.getvalue().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "killed by SIGTERM" in errors[0] and errors[0].endswith("--seeds 0 --resume")


def test_plan_without_the_framework_installed_here(monkeypatch, tmp_path):
    """--via nox: the launcher's interpreter need not have the frameworks when --modes is default."""
    from bench import runner

    def missing(framework, python=sys.executable):
        raise cfg.UsageError(f"{framework} does not load in {python}")

    monkeypatch.setattr(runner, "describe_framework", missing)
    monkeypatch.setattr(launch_plan, "ROOT", tmp_path)  # no nox-built environments either
    out = io.StringIO()
    runs = launch.plan_from_cli(
        ["--frameworks", "torch,tensorflow", "--models", "mlp", "--seeds", "0,1"], out=out
    )
    assert [r.label for r in runs[:2]] == ["torch/mlp/cpu/default/seed0", "tensorflow/mlp/cpu/default/seed0"]
    assert (
        len(runs) == 8
        and "torch, tensorflow not installed here: planned with one mode each" in out.getvalue()
    )
    with pytest.raises(
        cfg.UsageError, match=r"launch needs torch's modes for --modes all, but torch does not"
    ):
        launch.plan_from_cli(["--frameworks", "torch", "--modes", "all"], out=out)


def test_a_refused_submission_is_one_line_and_the_other_shards_still_run(monkeypatch, tmp_path):
    """sbatch refusing a shard (here: its GPU) leaves the other shards running; the line names the fix."""
    submitit = pytest.importorskip("submitit")

    class Picky(submitit.AutoExecutor):
        def update_parameters(self, **kwargs):
            self.gpu = kwargs.get("gpus_per_node", 0)
            super().update_parameters(**kwargs)

        def submit(self, fn, *args):
            if self.gpu:
                refused = "Batch job submission failed: Requested node configuration is not available"
                raise submitit.core.utils.FailedJobError(f"sbatch: error: {refused}")
            return super().submit(fn, *args)

    monkeypatch.setattr(submitit, "AutoExecutor", Picky)
    long_cpu = SimpleNamespace(**{**vars(stub_runs(["cpu"])[0]), "epochs": 100})
    runs = [long_cpu, *stub_runs(["gpu"])[:2]]
    out = io.StringIO()
    outcomes = launch.launch(["--seeds", "0"], shards=2, plan=lambda a: runs, executor="local", via="python",
                             results_root=tmp_path, out=out, command_for=lambda s: ["true"])  # fmt: skip
    assert [(o.shard.index, o.state) for o in outcomes] == [(1, "ok"), (2, "not submitted")], out.getvalue()
    errors = [line for line in out.getvalue().splitlines() if line.startswith("error:")]
    assert errors == [
        "error: shard 2/2 was not submitted (sbatch: error: Batch job submission failed: Requested node "
        "configuration is not available); check --partition and that the cluster offers what it asks for "
        f"(1 GPU and an exclusive node), then: python -m bench launch --shards 2 --only 2 --executor local "
        f"--via python --results-root {tmp_path} -- --seeds 0 --resume"
    ]
    assert launch.exit_code(outcomes) == 1


@pytest.mark.usefixtures("real_data_dir", "job_env")
@pytest.mark.parametrize("executor", ["slurm", "local"])
def test_shards_into_one_folder_with_a_crashing_framework_lose_no_record(executor, request, tmp_path):
    """The shared-file-system case: both shards write into one folder; crashes are recorded as their
    own runs' (never mistaken for the other shard's new record), and the exit codes say so."""
    no_slurm = request.getfixturevalue("slurm")
    if executor == "slurm" and no_slurm:
        pytest.skip(f"{no_slurm}; the local-executor variant runs the same code")
    if executor == "local" and not no_slurm:
        pytest.skip("Slurm ran this (the slurm variant)")
    run_args = ["--", "--frameworks", "slow,crashy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                "--seeds", "0-1", "--batch-sizes", "128,256", "--budget", "0", "--quiet"]  # fmt: skip
    out = io.StringIO()
    outcomes = launch.launch(run_args, shards=2, plan=launch.plan_from_cli, executor=executor,
                             results_root=tmp_path, via="python", timeout_min=5, out=out,
                             one_folder=True)  # fmt: skip
    text = out.getvalue()
    got = _records(tmp_path)
    assert sorted(
        (r["config"]["framework"], r["config"]["batch_size"], r["config"]["seed"]) for r in got
    ) == sorted(
        (fw, batch, seed) for fw in ("crashy", "slow") for batch in (128, 256) for seed in range(2)
    ), text
    assert {(r["config"]["framework"], r["status"]) for r in got} == {("slow", "ok"), ("crashy", "failed")}
    for o in outcomes:  # a shard with a crashed run exits 1 ("failed runs"), one without exits 0
        shard_runs = {(r.framework, r.seed) for r in o.shard.runs}
        crashed = any(fw == "crashy" for fw, _ in shard_runs)
        assert (o.state, o.exit_code) == (("failed runs", 1) if crashed else ("ok", 0)), text
    assert launch.exit_code(outcomes) == 1
    assert f"launch: merged report: python -m bench report --results {tmp_path}" in text


# ------------------------------------------------------------------------------------------ hung runs, queue


@pytest.mark.usefixtures("real_data_dir", "job_env")
def test_the_shards_outcome_names_the_run_that_hung(tmp_path, monkeypatch):
    """A run that hangs in epoch 2 is killed by its watchdog; the shard's outcome names it, the other
    run of the shard is recorded ok."""
    monkeypatch.setenv("FRAMEBENCH_TEST_HANG_EPOCH", "2")
    run_args = ["--", "--frameworks", "hang,slow", "--models", "mlp", "--devices", "cpu", "--epochs", "2",
                "--seeds", "0", "--run-timeout", "80", "--quiet"]  # fmt: skip
    out = io.StringIO()
    outcomes = launch.launch(run_args, shards=1, plan=launch.plan_from_cli, executor="local", via="python",
                             results_root=tmp_path, timeout_min=5, out=out)  # fmt: skip
    text = out.getvalue()
    assert [o.state for o in outcomes] == ["failed runs"], text
    (hung,) = outcomes[0].extra["hung"]
    assert re.fullmatch(
        r"run hang-mlp-cpu-float64-s0-\S+ hung: no progress for \S+ s in epoch 2; killed .*", hung
    )
    assert f"shard 1/1: {hung}" in text.splitlines()
    assert outcomes[0].extra["unfinished"] == []
    statuses = {r["config"]["framework"]: r["status"] for r in _records(tmp_path / "shard-1-of-1")}
    assert statuses == {"hang": "failed", "slow": "ok"}


def test_a_dead_shards_outcome_names_the_run_it_was_in(tmp_path):
    """A job killed mid-run (time limit, node failure) leaves that run's log without a record."""
    shard = launch.build_shards(stub_runs(["cpu"])[:2], 1, tmp_path, "python", [])[0]
    before = time.time()
    (shard.results / "runs").mkdir(parents=True)
    (shard.results / "logs").mkdir()
    done, running = (
        "torch-lenet-cpu-default-s0-20261204T000000-aaaaaa",
        "torch-lenet-cpu-default-s1-20261204T000001-bbbbbb",
    )
    (shard.results / "runs" / f"{done}.json").write_text(json.dumps({"status": "ok", "reason": None}))
    (shard.results / "logs" / f"{done}.log").write_text("")
    (shard.results / "logs" / f"{running}.log").write_text("epoch 1\n")
    (shard.results / "logs" / "other-mlp-cpu-default-s0-20261204T000002-cccccc.log").write_text(
        ""
    )  # not ours
    found = launch_watch.shard_findings(shard, before)
    assert found == {
        "hung": [],
        "unfinished": [f"run {running} left no record (log: {shard.results}/logs/{running}.log)"],
    }
    assert launch_watch.shard_findings(shard, time.time() + 60) == {
        "hung": [],
        "unfinished": [],
    }  # older: not this launch


class QueuedJob:
    """A Slurm job as submitit shows it: a state per look, cancel()."""

    def __init__(self, job_id, states, tmp_path):
        self.job_id, self.states, self.cancelled = job_id, list(states), False
        self.paths = SimpleNamespace(stderr=tmp_path / f"{job_id}_0_log.err")

    @property
    def state(self):
        return (
            "CANCELLED"
            if self.cancelled
            else (self.states.pop(0) if len(self.states) > 1 else self.states[0])
        )

    def done(self):
        return False

    def cancel(self, check=True):
        self.cancelled = True


def test_a_queued_job_says_so_every_minute_and_is_cancelled_at_the_queue_timeout(tmp_path):
    shards = launch.build_shards(stub_runs(["cpu"]), 2, tmp_path, "python", [])
    pending = QueuedJob("11", ["PENDING"], tmp_path)
    running = QueuedJob("12", ["PENDING", "PENDING", "RUNNING"], tmp_path)
    now = [0.0]
    out = io.StringIO()
    jobs = [(shards[0], pending), (shards[1], running)]
    cancelled = launch_watch.watch_queue(jobs, 180.0, out, {1: "RERUN"}, clock=lambda: now[0],
                                   sleep=lambda s: now.__setitem__(0, now[0] + s))  # fmt: skip
    assert pending.cancelled and not running.cancelled
    assert list(cancelled) == [1]
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["launch: shard 1/2: job 11 PENDING in the Slurm queue for 1 min",
                         "launch: shard 1/2: job 11 PENDING in the Slurm queue for 2 min"]  # fmt: skip
    assert lines[2:] == ["launch: shard 1/2: job 11 still PENDING after 3 min in the queue "
                         "(--queue-timeout): cancelled; the other shards go on; rerun it: RERUN"]  # fmt: skip
    out = io.StringIO()
    outcome = launch.Outcome(shards[0], "11", "queue timeout", None, None, cancelled[1])
    launch._summarize([outcome], ["--seeds", "0"], 2, tmp_path, "python", "slurm", out)
    (error,) = [line for line in out.getvalue().splitlines() if line.startswith("error:")]
    assert "was cancelled: still PENDING after 3 min in the queue" in error and error.endswith("--resume")
    assert (
        launch.watch_queue([(shards[1], QueuedJob("13", ["RUNNING"], tmp_path))], None, io.StringIO()) == {}
    )


def test_queue_timeout_must_be_positive_minutes():
    with pytest.raises(cfg.UsageError, match="--queue-timeout 'soon': give a positive number of minutes"):
        launch._minutes("soon")
    assert launch._minutes("1.5") == 1.5 and launch._minutes(None) is None
