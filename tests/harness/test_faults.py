"""Faults beyond a single runner: shared results folders, dead parents, colliding logs, full disks.

Each test backs a line of the fault table in docs/faults.md. None depends on timing: processes meet through
marker files the fake frameworks write (tests/harness/fake_frameworks.py), and waits are bounded
waits for an event, never sleeps that race.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import ROOT, _start, _wait_for, bench, env, load

from bench import cli, records

pytestmark = pytest.mark.usefixtures("real_data_dir")


def _summary(stderr: str) -> dict[str, int]:
    """``slow,crashy: 3 ok, 3 failed; records in ...`` -> {"ok": 3, "failed": 3}."""
    line = [line for line in stderr.splitlines() if "; records in " in line][-1]
    counts = line.split(": ", 1)[1].split(";")[0]
    return {part.split()[1]: int(part.split()[0]) for part in counts.split(", ") if part != "no runs"}


def test_a_crash_never_takes_another_runners_record_for_its_own(tmp_path):
    """Defect 1, made deterministic: the crashing child's interpreter is a wrapper that first drops a
    record of another runner into runs/ (as a second shard does), then crashes. The parent must know
    its child's record by the identity it gave it, not by "a new file appeared"."""
    foreign_dir = tmp_path / "other-runner"
    config = {"framework": "numpy", "model": "mlp", "device": "cpu", "mode": "float64", "seed": 7,
              "epochs": 1, "batch_size": 256, "lr": 0.1, "threads": 1, "repeat": 0}  # fmt: skip
    foreign = records.outcome_record(config, "skipped", "another runner's record")
    foreign_path = records.write_record(foreign_dir, foreign)
    wrapper = tmp_path / "python-wrapper"
    # argv: -m bench.child PAYLOAD RESULTS LOG -> $4 is the results folder
    wrapper.write_text(f'#!/bin/sh\ncp "{foreign_path}" "$4/runs/"\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    results = tmp_path / "r"
    result = bench("run", "--frameworks", "crashy", "--python", f"crashy={wrapper}", "--models", "mlp",
                   "--devices", "cpu", "--epochs", "1", "--seeds", "0", "--results", str(results),
                   "--quiet")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert _summary(result.stderr) == {"failed": 1}
    got = {r["run_id"]: r for r in load(results)}
    assert got[foreign["run_id"]]["status"] == "skipped"  # the other runner's record, untouched
    (own,) = [r for r in got.values() if r["run_id"] != foreign["run_id"]]
    assert own["status"] == "failed" and "process died with SIGABRT" in own["reason"]
    assert own["config"]["framework"] == "crashy" and own["config_key"]


def test_two_shards_into_one_folder_lose_no_record(tmp_path):
    """`--shard 1/2` and `--shard 2/2` in parallel into one folder: every record present, each
    shard's summary and exit code right, no two runs share a log."""
    results = tmp_path / "shared"
    common = ["run", "--frameworks", "slow,crashy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
              "--seeds", "0-2", "--batch-sizes", "128,256", "--budget", "0", "--results", str(results),
              "--quiet"]  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench", *common, "--shard", f"{i}/2"],
            env=env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outcomes = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=600)
        outcomes.append((proc.returncode, stderr))
    got = load(results)
    assert sorted((r["config"]["framework"], r["config"]["seed"]) for r in got) == sorted(
        (fw, seed) for fw in ("crashy", "slow") for seed in range(3) for _batch in (128, 256)
    )  # two contests (batch sizes), one per shard; --budget 0: every seed of the crashing cell
    assert {r["status"] for r in got if r["config"]["framework"] == "slow"} == {"ok"}
    assert {r["status"] for r in got if r["config"]["framework"] == "crashy"} == {"failed"}
    totals = {"ok": 0, "failed": 0}
    for code, stderr in outcomes:
        counts = _summary(stderr)
        assert code == (1 if counts.get("failed") else 0), stderr
        for status, n in counts.items():
            totals[status] += n
    assert totals == {"ok": 6, "failed": 6}
    logs = [r["log_path"] for r in got]
    assert len(set(logs)) == 12 and all(Path(log).exists() for log in logs)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has stopped; only its exit status waits to be read


def _wait_dead(pid: int, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_child_dies_with_its_killed_parent_and_resume_agrees_with_the_report(tmp_path):
    """Defect 2: SIGKILL of `bench run` alone (not its process group) takes its child down with it:
    no run goes on under a --resume, and no late record of the orphan hides the resumed one."""
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, FRAMEBENCH_TEST_SLEEP="600")
    _wait_for(marker)
    child = int(marker.read_text())
    assert child != proc.pid and _alive(child)
    proc.kill()  # the parent only
    proc.wait()
    try:
        assert _wait_dead(child), "the child outlived its parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
    assert list((results / "runs").glob("*.json")) == []  # the orphan recorded nothing
    resumed = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                    "--seeds", "0", "--results", str(results), "--resume", "--quiet")  # fmt: skip
    assert resumed.returncode == 0 and _summary(resumed.stderr) == {"ok": 1}
    again = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                  "--seeds", "0", "--results", str(results), "--resume", "--quiet")  # fmt: skip
    assert again.returncode == 0 and _summary(again.stderr) == {"resumed": 1}


def test_child_stops_when_the_pipe_from_its_parent_closes(tmp_path):
    """The second guard, for a parent the kernel signal cannot see (a wrapper that did not exec):
    the child's stdin is its parent's pipe, and its end of file stops the child at once."""
    config = {"framework": "slow", "model": "mlp", "device": "cpu", "mode": "float64", "seed": 0, "epochs": 1,
              "batch_size": 256, "lr": 0.1, "threads": 1}  # fmt: skip
    marker = tmp_path / "started"
    payload = json.dumps({**config, "_identity": {"run_id": "x-1", "watch_stdin": True}})
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.child", payload, str(tmp_path / "r"), str(tmp_path / "log")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env=env(FRAMEBENCH_TEST_MARKER=str(marker), FRAMEBENCH_TEST_SLEEP="600"),
    )  # fmt: skip
    try:
        _wait_for(marker)
        child.stdin.close()  # what the kernel does to a dead parent's pipe
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert not (tmp_path / "r" / "runs" / "x-1.json").exists()


def test_each_run_has_its_own_log_and_its_record_points_at_it(tmp_path):
    """Defect 6: with --batch-sizes 64,256 both crashes keep their own log."""
    result = bench("run", "--framework", "crashy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                   "--seeds", "0", "--batch-sizes", "64,256", "--results", str(tmp_path),
                   "--quiet")  # fmt: skip
    assert result.returncode == 1
    failed = load(tmp_path)
    assert sorted(r["config"]["batch_size"] for r in failed) == [64, 256]
    logs = {r["log_path"] for r in failed}
    assert len(logs) == 2
    for record in failed:
        log = Path(record["log_path"])
        assert log.exists() and log.name == f"{record['run_id']}.log"
        assert f"(log: {log})" in record["reason"]


def test_a_full_disk_is_one_line_with_the_resume_hint(tmp_path, monkeypatch, capsys):
    """Defect 8: ENOSPC while recording (here: the skipped record of a device numpy lacks)."""
    monkeypatch.setenv("FRAMEBENCH_EXTRA_FRAMEWORKS", env()["FRAMEBENCH_EXTRA_FRAMEWORKS"])
    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])

    def full(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(records, "write_atomic", full)
    code = cli.main(["run", "--framework", "numpy", "--models", "mlp", "--devices", "gpu", "--epochs", "1",
                     "--seeds", "0", "--results", str(tmp_path), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("error: no space left on the device writing ") and "--resume" in err[0]


def test_resume_mentions_a_complete_record_left_as_a_temporary_file(tmp_path):
    result = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                   "--seeds", "0", "--results", str(tmp_path), "--quiet")  # fmt: skip
    assert result.returncode == 0
    (path,) = (tmp_path / "runs").glob("*.json")
    leftover = path.with_name(f".{path.stem}.abc123.tmp")
    os.replace(path, leftover)  # as if the writer died between fsync and rename
    resumed = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                    "--seeds", "0", "--results", str(tmp_path), "--resume", "--quiet")  # fmt: skip
    assert resumed.returncode == 0
    assert f"note: {leftover}: a complete record left as a temporary file" in resumed.stderr
    assert f"rename it to {path.stem}.json" in resumed.stderr
