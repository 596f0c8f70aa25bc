"""``bench run --start fork``: every run its own process, forked from a server that imported once.

The same numbers as fresh interpreters, each run's own record and log, a crash that fails one run
only, the death of the runner or of the server's stdin taking the running child with it, and the
refusals (a framework without a preload, a preload that starts a thread) that fall back to fresh
runs, saying so. No test waits on a clock: processes meet through the fake frameworks' markers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_faults import _alive, _wait_dead
from test_runner import ROOT, _start, _wait_for, bench, env, load

pytestmark = [
    pytest.mark.usefixtures("real_data_dir"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork servers read /proc, use pidfds"),
]

RUN = ("--models", "mlp", "--devices", "cpu", "--epochs", "1", "--quiet")


def test_forked_runs_give_the_numbers_of_fresh_ones_each_in_its_own_process(tmp_path):
    for start in ("fresh", "fork"):
        result = bench("run", "--framework", "numpy", "--seeds", "0,1", "--start", start,
                       "--results", str(tmp_path / start), *RUN)  # fmt: skip
        assert result.returncode == 0, result.stderr
    fresh, fork = load(tmp_path / "fresh"), load(tmp_path / "fork")
    assert [r["process"]["start"] for r in fresh] == ["fresh", "fresh"]
    assert [r["process"]["start"] for r in fork] == ["fork", "fork"]
    assert fork[0]["process"]["server_pid"] == fork[1]["process"]["server_pid"]  # one server, two forks
    for a, b in zip(fresh, fork, strict=True):  # the float64 oracle: bit-identical when nothing leaks
        assert a["config"]["seed"] == b["config"]["seed"]
        assert a["metrics"]["final_train_loss"] == b["metrics"]["final_train_loss"]
        assert a["metrics"]["final_test_accuracy"] == b["metrics"]["final_test_accuracy"]
        assert b["run_id"] != a["run_id"] and Path(b["log_path"]).name == f"{b['run_id']}.log"
        assert 0 < b["process"]["seconds_before_training"] < 600
    assert fresh[0]["metrics"]["final_train_loss"] != fresh[1]["metrics"]["final_train_loss"]


def test_a_crash_under_fork_fails_that_run_only_and_the_server_forks_the_next(tmp_path):
    result = bench("run", "--frameworks", "crashy,numpy", "--seeds", "0,1", "--budget", "0", "--start",
                   "fork", "--results", str(tmp_path), *RUN)  # fmt: skip
    assert result.returncode == 1, result.stderr
    got = {(r["config"]["framework"], r["config"]["seed"]): r for r in load(tmp_path)}
    for seed in (0, 1):
        crashed = got[("crashy", seed)]
        assert crashed["status"] == "failed" and "process died with SIGABRT" in crashed["reason"]
        assert got[("numpy", seed)]["status"] == "ok"
    assert got[("numpy", 0)]["process"]["start"] == "fork"


@pytest.mark.parametrize(
    ("framework", "why"),
    [("plain", "plain has no fork-safe preload (Framework.preload)"), ("threaded", "forking it is not safe")],
)
def test_a_framework_that_cannot_fork_runs_fresh_and_says_why_once(tmp_path, framework, why):
    result = bench("run", "--framework", framework, "--seeds", "0,1", "--start", "fork",
                   "--results", str(tmp_path), *RUN)  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and f"{framework}'s runs start fresh" in notes[0] and why in notes[0]
    assert [(r["status"], r["process"]["start"]) for r in load(tmp_path)] == [("ok", "fresh")] * 2


def test_the_running_child_dies_with_its_killed_runner_and_leaves_no_record(tmp_path):
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, start="fork", FRAMEBENCH_TEST_SLEEP="600")
    _wait_for(marker)
    child = int(marker.read_text())
    assert child != proc.pid and _alive(child)
    proc.kill()  # the runner only: its server dies with it, and the child with the server
    proc.wait()
    try:
        assert _wait_dead(child), "the forked child outlived its runner"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
    assert list((results / "runs").glob("*.json")) == []


def test_sigterm_to_the_runner_stops_the_forked_child(tmp_path):
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, start="fork", FRAMEBENCH_TEST_SLEEP="60")
    _wait_for(marker)
    child = int(marker.read_text())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: 0 of 3 runs finished" in stderr
    assert load(results) == []
    assert _wait_dead(child)


def test_the_end_of_the_servers_stdin_kills_its_running_child(tmp_path):
    """The guard for a runner the death signal cannot see (a wrapper that did not exec)."""
    marker = tmp_path / "started"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.forkserver", "slow", "1"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        env=env(FRAMEBENCH_TEST_MARKER=str(marker), FRAMEBENCH_TEST_SLEEP="600"),
    )  # fmt: skip
    try:
        ready = json.loads(server.stdout.readline().split(" ", 1)[1])
        assert ready["ready"] is True and ready["preloaded"] == ["numpy"]
        config = {"framework": "slow", "model": "mlp", "device": "cpu", "mode": "float64", "seed": 0,
                  "epochs": 1, "batch_size": 256, "lr": 0.1, "threads": 1}  # fmt: skip
        payload = json.dumps({**config, "_identity": {"run_id": "x-1", "watch_stdin": True}})
        argv = [payload, str(tmp_path / "r"), str(tmp_path / "x-1.log")]
        server.stdin.write(json.dumps({"argv": argv}) + "\n")
        server.stdin.flush()
        _wait_for(marker)
        child = int(marker.read_text())
        assert child != server.pid and _alive(child)
        server.stdin.close()
        assert server.wait(timeout=60) == 0
        assert _wait_dead(child)
    finally:
        if server.poll() is None:
            server.kill()
    assert not (tmp_path / "r" / "runs" / "x-1.json").exists()


def test_a_process_holding_a_gpu_device_file_is_seen_as_unsafe_to_fork(tmp_path):
    from bench.forkserver import device_files_open

    fake = tmp_path / "nvidiactl"
    fake.write_text("")
    assert device_files_open((str(fake),)) == []
    with open(fake) as held:
        assert held and device_files_open((str(fake),)) == [str(fake)]
    assert device_files_open((str(fake),)) == []


def test_an_unknown_start_is_one_line_naming_the_choices(tmp_path):
    result = bench("run", "--framework", "numpy", "--start", "spawn", "--results", str(tmp_path), *RUN)
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert "--start: invalid choice: 'spawn'" in line and "fresh" in line and "fork" in line
