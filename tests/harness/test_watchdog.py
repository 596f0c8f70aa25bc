"""Nothing stalls: a run that hangs is killed with its process group and recorded, the matrix goes on.

The watchdog's rule is tested on a simulated clock; the processes are real (fake frameworks that
block in train_epoch, SIGSTOP themselves, or crash leaving a helper that holds stdout open), fresh and
forked. Each finishes in seconds: the hang comes in epoch 2, whose allowance is a tenth of
``--run-timeout`` (the start and first epoch keep the whole, generous, run timeout, so a slow machine
cannot fail them), and every wait is bounded and on an event (a marker file, a process's end).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_faults import _alive, _summary, _wait_dead
from test_runner import PLUGINS, ROOT, env

from bench import process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

FAKES = ",".join(
    f"{name}=fake_frameworks:{cls}"
    for name, cls in [
        ("hang", "HangFramework"),
        ("stopped", "StoppedFramework"),
        ("orphan", "OrphanFramework"),
    ]
)
RUN_TIMEOUT = "80"  # start and first epoch: 80 s; every later epoch: max(8 s, 5 x the first)
KILLED_IN_EPOCH_2 = r"no progress for \d+(\.\d)? s in epoch 2; killed with its process group \(log: (.*)\)"


def load(results: Path) -> list[dict]:
    """The records as written (a fake trained on 2,048 examples fails the report's share-of-peak check)."""
    return [json.loads(path.read_text()) for path in sorted((results / "runs").glob("*.json"))]


def run(*args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    """``bench run ...`` with the fault frameworks; a run that stalls fails the test at ``timeout``."""
    return subprocess.run([sys.executable, "-m", "bench", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout,
                          env=env(FRAMEBENCH_EXTRA_FRAMEWORKS=f"{PLUGINS},{FAKES}", **extra))  # fmt: skip


# ------------------------------------------------------------------------------------------ the rule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_start_and_first_epoch_get_the_run_timeout_later_epochs_a_multiple_of_the_first():
    clock = Clock()
    dog = process.Watchdog(600, epochs=3, clock=clock)
    clock.now += 599.9
    assert not dog.expired()
    clock.now += 0.1
    assert dog.expired() and dog.reason() == "no progress for 600 s before its first epoch ended"
    dog.progress({"event": "epoch", "epoch": 1, "epochs": 3, "train_seconds": 20.0, "eval_seconds": 4.0})
    assert dog.allowance == 120.0 and not dog.expired()  # 5 x (20 + 4) s
    clock.now += 119.9
    assert not dog.expired()
    clock.now += 0.1
    assert dog.reason() == "no progress for 120 s in epoch 2"
    dog.progress({"event": "epoch", "epoch": 2, "epochs": 3, "train_seconds": 999.0})  # only the first counts
    dog.progress({"event": "epoch", "epoch": 3, "epochs": 3, "train_seconds": 1.0})
    assert dog.allowance == 120.0
    assert dog.reason() == "no progress for 120 s after its last epoch (3), measuring and recording"
    quick = process.Watchdog(600, epochs=2, clock=clock)
    quick.progress({"event": "epoch", "epoch": 1, "epochs": 2, "train_seconds": 0.5, "eval_seconds": None})
    assert quick.allowance == 60.0  # at least a tenth of the run timeout
    assert process.epoch_allowance(40, 0.2) == 4.0 and process.epoch_allowance(40, 2.0) == 10.0


def test_a_warm_up_by_steps_is_scaled_to_a_whole_epoch():
    """A timing run warms up with a fraction of an epoch; the epoch after it gets the allowance of a
    whole one. (The committed sitting's MLX LeNet timing run, 43 warm-up steps in 11 s, was killed
    after 60 s of a 61 s epoch before this.)"""
    clock = Clock()
    dog = process.Watchdog(600, epochs=2, clock=clock)
    dog.progress({"event": "epoch", "epoch": 1, "epochs": 2, "train_seconds": 11.0, "eval_seconds": None,
                  "train_examples": 10_000, "epoch_examples": 60_000})  # fmt: skip
    assert dog.allowance == 5 * 11.0 * 6  # five whole epochs at the warm-up's pace
    clock.now += 61.0
    assert not dog.expired()


# ------------------------------------------------------------------------------------------ processes


@pytest.mark.parametrize("pidfd", [True, False])
def test_a_child_whose_helper_holds_stdout_ends_when_it_dies_and_the_helper_with_it(
    tmp_path, monkeypatch, pidfd
):
    """FreshRun alone: the child prints, starts a helper that keeps stdout open, and exits 3. Its lines
    end when it dies (not when stdout closes, an hour later), and the helper is killed with its group;
    also where there is no pidfd (the child's end is then polled)."""
    if not pidfd:
        monkeypatch.setattr(process, "open_pidfd", lambda pid: None)
    script = (
        "import subprocess, sys; print('hello', flush=True); "
        "h = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)']); "
        "print(h.pid, flush=True); sys.exit(3)"
    )
    with open(tmp_path / "log", "a") as log:
        child = process.FreshRun([sys.executable, "-c", script], log)
        try:
            got = [line for line in child.lines() if line is not None]
            assert child.wait() == 3
        finally:
            child.close()
    assert got[0] == "hello\n"
    helper = int(got[1])
    assert _wait_dead(helper, timeout=30), "the helper outlived its run"


def _hung_record(records: list[dict], framework: str) -> dict:
    (record,) = [r for r in records if r["config"]["framework"] == framework]
    assert record["status"] == "failed"
    return record


@pytest.mark.usefixtures("real_data_dir")
@pytest.mark.parametrize("start", ["fresh", "fork"])
def test_a_hang_in_train_epoch_is_killed_recorded_and_the_matrix_goes_on(tmp_path, start):
    results, marker = tmp_path / "r", tmp_path / "m"
    args = ("--frameworks", "hang,slow", "--models", "mlp", "--devices", "cpu", "--epochs", "2", "--seeds",
            "0", "--results", str(results), "--run-timeout", RUN_TIMEOUT, "--start", start)  # fmt: skip
    args += ("--quiet",)
    extra = {"FRAMEBENCH_TEST_MARKER": str(marker), "FRAMEBENCH_TEST_HANG_EPOCH": "2"}
    result = run(*args, **extra)
    assert result.returncode == 1, result.stderr
    assert _summary(result.stderr) == {"ok": 1, "failed": 1}
    got = load(results)
    hung = _hung_record(got, "hang")
    log = Path(hung["log_path"])
    match = re.fullmatch(KILLED_IN_EPOCH_2, hung["reason"])
    assert match and match.group(2) == str(log), hung["reason"]
    assert float(hung["reason"].split()[3]) >= 8.0  # max(a tenth of --run-timeout, 5 x its first epoch)
    assert log.exists() and log.name == f"{hung['run_id']}.log"
    assert [r["status"] for r in got if r["config"]["framework"] == "slow"] == ["ok"]  # the next run ran
    assert _wait_dead(int((tmp_path / "m.hung").read_text()), timeout=30)

    # --resume runs it again, under the same watchdog: recorded failed once more, never a stall
    (tmp_path / "m.hung").unlink()
    again = run("--frameworks", "hang", *args[2:], "--resume", **extra)
    assert again.returncode == 1 and _summary(again.stderr) == {"failed": 1}, again.stderr
    assert [r["status"] for r in load(results) if r["config"]["framework"] == "hang"] == ["failed"] * 2


@pytest.mark.usefixtures("real_data_dir")
@pytest.mark.parametrize("start", ["fresh", "fork"])
def test_a_sigstopped_child_is_killed_and_recorded(tmp_path, start):
    results, marker = tmp_path / "r", tmp_path / "m"
    result = run("--frameworks", "stopped,slow", "--models", "mlp", "--devices", "cpu", "--epochs", "2",
                 "--seeds", "0", "--results", str(results), "--run-timeout", RUN_TIMEOUT, "--start", start,
                 "--quiet", FRAMEBENCH_TEST_MARKER=str(marker), FRAMEBENCH_TEST_HANG_EPOCH="2")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert _summary(result.stderr) == {"ok": 1, "failed": 1}  # the next run started and was recorded
    stopped = _hung_record(load(results), "stopped")
    assert re.fullmatch(KILLED_IN_EPOCH_2, stopped["reason"]), stopped["reason"]
    assert _wait_dead(int((tmp_path / "m.stopped").read_text()), timeout=30)


@pytest.mark.usefixtures("real_data_dir")
@pytest.mark.parametrize("start", ["fresh", "fork"])
def test_a_crash_whose_helper_keeps_stdout_open_is_recorded_at_once_and_the_helper_killed(tmp_path, start):
    """The helper sleeps an hour holding the run's stdout: the crash is recorded when the child dies
    (the runner ends well inside the test's bound), and the helper dies with its run."""
    results, marker = tmp_path / "r", tmp_path / "m"
    try:
        result = run("--frameworks", "orphan", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                     "--seeds", "0", "--results", str(results), "--start", start, "--quiet", timeout=120,
                     FRAMEBENCH_TEST_MARKER=str(marker))  # fmt: skip
        helper = int((tmp_path / "m.helper").read_text())
        assert result.returncode == 1, result.stderr
        (record,) = load(results)
        assert record["status"] == "failed" and "process died with SIGABRT" in record["reason"]
        assert _wait_dead(helper, timeout=30), "the helper outlived its run"
    finally:
        if (tmp_path / "m.helper").exists() and _alive(pid := int((tmp_path / "m.helper").read_text())):
            os.kill(pid, signal.SIGKILL)


def test_run_timeout_must_be_positive(tmp_path):
    result = run("--frameworks", "slow", "--run-timeout", "0", "--results", str(tmp_path))
    assert result.returncode == 2
    assert "--run-timeout: '0' is not a positive number of seconds" in result.stderr
