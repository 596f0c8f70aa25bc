"""The runner end to end on real Fashion-MNIST with test-only frameworks (NumPy oracle + injected faults).

Covers: a real run and its record, skipped devices, a Python exception, a native crash (abort) of one
run while the rest of the matrix goes on, SIGKILL mid-epoch leaving no partial record, --resume
completing the matrix, and Ctrl-C stopping cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import records

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLUGINS = ",".join(
    f"{name}=fake_frameworks:{cls}"
    for name, cls in [("numpy", "NumpyFramework"), ("crashy", "CrashFramework"), ("slow", "SlowFramework"),
                      ("raising", "RaisingFramework"), ("threaded", "ThreadedFramework"),
                      ("plain", "PlainFramework")]
)  # fmt: skip

pytestmark = pytest.mark.usefixtures("real_data_dir")


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", "FRAMEBENCH_EXTRA_FRAMEWORKS": PLUGINS,
            **extra}  # fmt: skip


def bench(*args: str, **env_extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env=env(**env_extra), cwd=ROOT, timeout=600)  # fmt: skip


def load(results: Path) -> list[dict]:
    loaded, unreadable = records.load_records(results)
    assert unreadable == []
    return sorted(
        loaded, key=lambda r: (r["config"]["framework"], r["config"]["device"], r["config"]["seed"])
    )


def test_real_run_writes_a_complete_record(tmp_path):
    result = bench("run", "--framework", "numpy", "--models", "mlp", "--epochs", "2", "--seeds", "0",
                   "--results", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    ok, skipped = load(tmp_path)
    assert skipped["status"] == "skipped" and skipped["device"]["kind"] == "gpu"
    assert skipped["reason"] == "the numpy oracle has no gpu"
    assert ok["status"] == "ok"
    m = ok["metrics"]
    assert len(ok["curve"]) == 2 and m["steady_epochs"] == 1
    assert ok["curve"][1]["test_accuracy"] > 0.75  # two real epochs of the MLP on Fashion-MNIST
    assert m["final_test_accuracy"] == ok["curve"][-1]["test_accuracy"]
    assert m["steady_examples_per_sec"] == pytest.approx(60000 / ok["curve"][1]["train_seconds"])
    assert m["time_to_target"]["target"] == 0.82
    assert m["peak_rss_bytes"] > 10_000_000
    assert m["achieved_gflops"] == pytest.approx(818_176 * m["steady_examples_per_sec"] / 1e9)
    assert ok["model"] == {"name": "mlp", "params": 203_530, "train_flops_per_example": 818_176,
                           "forward_flops_per_example": 406_528}  # fmt: skip
    assert ok["data"]["sha256"] and ok["data"]["train_examples"] == 60000
    assert ok["config"]["threads"] >= 1 and ok["framework"]["settings"]["dtype"] == "float32"
    assert ok["environment"]["framebench_commit"]
    assert "numpy/mlp/cpu/float64/seed0  epoch 2/2" in result.stderr  # progress lines in a non-TTY


def test_same_seed_same_result_different_seed_different_order(tmp_path):
    for results in (tmp_path / "a", tmp_path / "b"):
        bench("run", "--framework", "numpy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
              "--seeds", "0,1", "--results", str(results), "--quiet")  # fmt: skip
    a0, a1 = load(tmp_path / "a")
    b0, _ = load(tmp_path / "b")
    assert a0["curve"][0]["train_loss"] == b0["curve"][0]["train_loss"]
    assert a0["curve"][0]["train_loss"] != a1["curve"][0]["train_loss"]


def test_python_error_fails_one_run_with_its_first_line(tmp_path):
    result = bench("run", "--framework", "raising", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                   "--seeds", "0", "--results", str(tmp_path))  # fmt: skip
    assert result.returncode == 1
    (failed,) = load(tmp_path)
    assert failed["status"] == "failed"
    assert failed["reason"] == "RuntimeError: simulated framework error: CUDNN_STATUS_INTERNAL_ERROR"
    assert Path(failed["log_path"]).read_text().count("Traceback") == 1


def test_native_crash_fails_one_run_and_the_matrix_goes_on(tmp_path):
    crash = bench("run", "--framework", "crashy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                  "--seeds", "0,1", "--results", str(tmp_path))  # fmt: skip
    ok = bench("run", "--framework", "numpy", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
               "--seeds", "0", "--results", str(tmp_path))  # fmt: skip
    assert crash.returncode == 1 and ok.returncode == 0
    got = load(tmp_path)
    crashed = [r for r in got if r["config"]["framework"] == "crashy"]
    assert [r["status"] for r in crashed] == ["failed"]  # a failed cell leaves the race at once
    assert "process died with SIGABRT" in crashed[0]["reason"] and "(log: " in crashed[0]["reason"]
    assert [r["status"] for r in got if r["config"]["framework"] == "numpy"] == ["ok"]
    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    report = bench("report", "--results", str(tmp_path), "--out", str(tmp_path / "REPORT.md"),
                   "--figures", str(tmp_path / "figures"))  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "REPORT.md").read_text()
    assert "| numpy (float64)" in text  # the healthy framework is in the summary
    failed_rows = [line for line in text.splitlines() if line.startswith("| crashy") and "| failed" in line]
    assert failed_rows and all("process died with SIGABRT" in line for line in failed_rows)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job


def _start(
    results: Path, marker: Path, ignore_sigint: bool = False, start: str = "fresh", **extra: str
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--framework", "slow", "--models", "mlp", "--devices", "cpu",
         "--epochs", "1", "--seeds", "0,1,2", "--results", str(results), "--quiet", "--start", start],
        env=env(FRAMEBENCH_TEST_MARKER=str(marker), **extra), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_ignore_sigint if ignore_sigint else None,
    )  # fmt: skip


def _wait_for(marker: Path, count: int = 1, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if marker.exists() and (count == 1 or len(list(marker.parent.glob(marker.name + "*"))) >= count):
            return
        time.sleep(0.05)
    raise AssertionError("training never started")


def test_sigkill_mid_epoch_leaves_no_partial_record_and_resume_completes(tmp_path):
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, FRAMEBENCH_TEST_SLEEP="30")
    _wait_for(marker)
    os.killpg(proc.pid, signal.SIGKILL)  # parent and child, mid-epoch, no chance to clean up
    proc.wait()
    runs = results / "runs"
    assert [p for p in runs.iterdir() if not p.name.startswith(".")] == []  # no record, not even partial
    for leftover in runs.iterdir():  # at most the probe / temp files, which readers ignore
        assert leftover.suffix == ".tmp"
    result = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                   "--seeds", "0,1", "--results", str(results), "--quiet")  # fmt: skip
    assert result.returncode == 0
    resumed = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                    "--seeds", "0,1,2", "--results", str(results), "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "1 ok, 2 resumed" in resumed.stderr
    assert sorted(r["config"]["seed"] for r in load(results)) == [0, 1, 2]


@pytest.mark.parametrize("start", ["fresh", "fork"])
@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_stops_cleanly_keeping_finished_runs(tmp_path, inherited, start):
    """Deterministic: run 1 finishes at once, run 2 blocks in training until the SIGINT arrives; also
    when SIGINT was inherited as ignored (a background job of a shell script); and with runs forked
    from a server (--start fork), whose child gets the Ctrl-C."""
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, ignore_sigint=inherited == "ignored", start=start,
                  FRAMEBENCH_TEST_SLEEP="0", FRAMEBENCH_TEST_SLEEP_LATER="600")  # fmt: skip
    _wait_for(marker.with_name("started.2"))  # the second run is training (so the first is recorded)
    assert len(list((results / "runs").glob("*.json"))) == 1
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted:" in stderr and "--resume" in stderr
    assert len(stderr.strip().splitlines()) == 1
    done = load(results)
    assert [(r["status"], r["config"]["seed"]) for r in done] == [("ok", 0)]


def test_sigterm_to_the_parent_alone_stops_the_child_too(tmp_path):
    results, marker = tmp_path / "r", tmp_path / "started"
    proc = _start(results, marker, FRAMEBENCH_TEST_SLEEP="60")
    _wait_for(marker)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: 0 of 3 runs finished" in stderr
    assert load(results) == []
    ps = subprocess.run(["pgrep", "-f", str(results)], capture_output=True, text=True)
    assert ps.stdout.strip() == ""  # no orphaned child still training


def test_record_json_is_what_the_report_reads(tmp_path):
    """The record the child writes is read back by the report: its numbers appear in REPORT.md."""
    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    run = bench("run", "--framework", "numpy", "--models", "mlp", "--devices", "cpu", "--epochs", "2",
                "--seeds", "0", "--results", str(tmp_path), "--quiet")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["config_key"] and record["run_id"] == path.stem
    assert record["device"]["machine"] == records.machine_of("cpu")
    report = bench("report", "--results", str(tmp_path), "--out", str(tmp_path / "REPORT.md"),
                   "--figures", str(tmp_path / "figures"))  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "REPORT.md").read_text()
    accuracy = f"{record['metrics']['final_test_accuracy']:.3f}"
    speed = f"{record['metrics']['steady_examples_per_sec']:,.0f}"
    rows = [line for line in text.splitlines() if line.startswith("| numpy") and accuracy in line]
    assert rows and any(speed in line for line in rows), text
    assert records.machine_of("cpu") in text  # the machine-device heading


def test_native_input_and_timing_runs_are_recorded_as_such(tmp_path):
    result = bench("run", "--framework", "numpy", "--models", "mlp", "--devices", "cpu", "--epochs", "3",
                   "--seeds", "0,1", "--accuracy-seeds", "1", "--timing-epochs", "2", "--input",
                   "device,native", "--results", str(tmp_path), "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = {(r["config"]["input"], r["config"]["purpose"]): r for r in load(tmp_path)}
    assert set(got) == {("device", "full"), ("native", "full"), ("device", "timing"), ("native", "timing")}
    # the native loader delivers the same batches: same seed, same curve
    device, native = got["device", "full"], got["native", "full"]
    assert [p["train_loss"] for p in device["curve"]] == [p["train_loss"] for p in native["curve"]]
    timing = got["device", "timing"]  # a warm-up by steps, then 2 measured epochs, never evaluated
    assert [p["epoch"] for p in timing["curve"]] == [1, 2, 3]
    assert [p["test_accuracy"] is None for p in timing["curve"]] == [True, True, True]
    assert timing["curve"][0]["warmup_steps"] and timing["curve"][0]["train_examples"] < 60_000
    metrics = timing["metrics"]
    assert metrics["time_to_target"] is None and metrics["steady_epochs"] == 2
    speeds = sorted(60_000 / p["train_seconds"] for p in timing["curve"][1:])
    assert metrics["steady_examples_per_sec"] == pytest.approx(sum(speeds) / 2)
    indices = sorted(r["schedule"]["index"] for r in got.values())
    assert indices == [0, 1, 2, 3] and {r["schedule"]["total"] for r in got.values()} == {4}
    # one sitting, two rounds of the two cells (device, native), each round in its own order
    (sitting,) = {json.dumps(r["schedule"]["sitting"], sort_keys=True) for r in got.values()}
    assert json.loads(sitting)["budget_minutes"] == 20.0 and json.loads(sitting)["planned_looks"] == 10
    rounds = sorted(
        (r["schedule"]["round"], r["schedule"]["position"], r["config"]["seed"]) for r in got.values()
    )
    assert [(rnd, pos, seed) for rnd, pos, seed in rounds] == [(1, 0, 0), (1, 1, 0), (2, 0, 1), (2, 1, 1)]
    assert {r["schedule"]["round_size"] for r in got.values()} == {2}


def test_a_framework_without_a_native_pipeline_is_skipped_with_the_reason(tmp_path):
    result = bench("run", "--framework", "slow", "--models", "mlp", "--devices", "cpu", "--epochs", "1",
                   "--seeds", "0", "--input", "native", "--results", str(tmp_path), "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = load(tmp_path)
    assert record["status"] == "skipped"
    assert record["reason"] == "slow has no native input pipeline (Model.native_input)"


def test_runs_of_two_frameworks_use_their_own_interpreters(tmp_path):
    """--python FW=PATH: each run's child is started with its framework's interpreter."""
    wrapper = tmp_path / "python-wrapper"
    log = tmp_path / "calls"
    wrapper.write_text(f'#!/bin/sh\necho "$@" | cut -c1-40 >> {log}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    result = bench("run", "--frameworks", "numpy,slow", "--python", f"slow={wrapper}", "--models", "mlp",
                   "--devices", "cpu", "--epochs", "1", "--seeds", "0", "--results", str(tmp_path / "r"),
                   "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and "--describe slow" in calls[0]  # describe, then the one slow run
    done = load(tmp_path / "r")
    assert sorted(r["config"]["framework"] for r in done) == ["numpy", "slow"]
    assert {r["schedule"]["order"] for r in done} == {"randomized rounds"}


def test_commit_comes_from_the_environment_in_a_tree_without_git(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "_git", lambda *args: None)
    monkeypatch.setenv("FRAMEBENCH_COMMIT", "c" * 40)
    monkeypatch.setenv("FRAMEBENCH_DIRTY", "1")
    state = records.source_state()
    assert state == {"framebench_commit": "c" * 40, "framebench_dirty": True,
                     "framebench_commit_source": "FRAMEBENCH_COMMIT env"}  # fmt: skip
    monkeypatch.delenv("FRAMEBENCH_COMMIT")
    assert records.source_state()["framebench_commit"] is None


def test_a_budget_too_small_runs_the_minimum_says_so_once_and_stops(tmp_path):
    """Two cells of one contest, a budget of 0.6 s: each cell's minimum (3 processes) runs anyway, one
    line says what the minimum needs, and no fourth round starts. The order seed is recorded."""
    args = ["--models", "mlp", "--devices", "cpu", "--epochs", "1", "--seeds", "0-5", "--budget", "0.01"]
    result = bench(
        "run", "--frameworks", "numpy,slow", *args, "--order-seed", "5", "--results", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: the minimum")]
    assert len(notes) == 1 and "(3 processes of each of 2 cells) needs about" in notes[0], result.stderr
    assert "more than the budget of 0.01 min; running the minimum anyway" in notes[0]
    got = load(tmp_path)
    assert sorted((r["config"]["framework"], r["config"]["seed"]) for r in got) == [
        (fw, seed) for fw in ("numpy", "slow") for seed in (0, 1, 2)
    ]
    assert {r["schedule"]["sitting"]["order_seed"] for r in got} == {5}
    assert len({r["schedule"]["sitting"]["id"] for r in got}) == 1
    assert "sitting s-" in result.stderr and "(--order-seed 5)" in result.stderr
    # progress counts against the most that may run (12 processes asked for), not a promise of 12
    assert "[1 of at most 12] " in result.stderr and "[6 of at most 12] " in result.stderr
    assert "[7 of at most 12] " not in result.stderr
