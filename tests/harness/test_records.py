"""Run records: schema, validation, atomic writes, robust loading."""

from __future__ import annotations

import json
import os
from typing import ClassVar

import pytest

from bench import counting, records

CONFIG = {"framework": "torch", "model": "mlp", "device": "cpu", "mode": "eager", "seed": 0, "epochs": 1,
          "batch_size": 256, "lr": 0.1, "threads": 2, "repeat": 0}  # fmt: skip


def test_outcome_record_round_trips(tmp_path):
    record = records.outcome_record(CONFIG, "skipped", "no CUDA GPU", config_key="abc")
    path = records.write_record(tmp_path, record)
    assert path.parent == tmp_path / "runs" and path.name == f"{record['run_id']}.json"
    loaded, unreadable = records.load_records(tmp_path)
    assert unreadable == []
    (back,) = loaded
    assert back["schema_version"] == records.SCHEMA_VERSION
    assert back["status"] == "skipped" and back["reason"] == "no CUDA GPU"
    assert back["config"]["seed"] == 0 and back["framework"]["name"] == "torch"
    env = back["environment"]
    assert env["python"] and env["cpu_cores"] >= 1 and "framebench_commit" in env


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "schema_version 99"),
        ({"status": "maybe"}, "status 'maybe'"),
        ({"status": "failed", "reason": None}, "without a reason"),
        ({"status": "ok", "metrics": None}, "without metrics"),
    ],
)
def test_invalid_records_are_refused(change, message):
    record = records.outcome_record(CONFIG, "skipped", "x")
    record.update(change)
    with pytest.raises(ValueError, match=message):
        records.write_record("/nonexistent", record)


def test_unreadable_files_are_listed_not_fatal(tmp_path):
    records.write_record(tmp_path, records.outcome_record(CONFIG, "failed", "boom"))
    runs = tmp_path / "runs"
    (runs / "broken.json").write_text("{not json")
    (runs / "old.json").write_text(json.dumps({"schema_version": 0}))
    partial = records.outcome_record(CONFIG, "failed", "x")
    del partial["model"]
    (runs / "partial.json").write_text(json.dumps(partial))
    (runs / ".leftover.tmp").write_text("{")  # a temp file from a killed writer is not a record
    loaded, unreadable = records.load_records(tmp_path)
    assert len(loaded) == 1
    reasons = {os.path.basename(u.path): u.reason for u in unreadable}
    assert set(reasons) == {"broken.json", "old.json", "partial.json"}
    assert reasons["broken.json"].startswith("invalid JSON")
    assert "schema_version 0" in reasons["old.json"]
    assert "missing field(s): model" in reasons["partial.json"]


def test_atomic_write_leaves_old_file_intact_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "r.json"
    records.write_atomic(path, {"a": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(records.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        records.write_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # the temp file was removed


def test_completed_keys_only_counts_ok(tmp_path):
    records.write_record(tmp_path, records.outcome_record(CONFIG, "failed", "x", config_key="k1"))
    assert counting.completed_keys(tmp_path) == set()


def _ok(finished_at: str, key: str = "k1", versions: dict | None = None, commit: str = "c" * 40) -> dict:
    record = records.outcome_record(CONFIG, "skipped", "placeholder", config_key=key)
    record.update(status="ok", reason=None, finished_at=finished_at, metrics={"steady_examples_per_sec": 1.0})
    record["framework"]["versions"] = versions or {"torch": "2.5.1"}
    record["environment"]["framebench_commit"] = commit
    record["data"] = {"sha256": "s" * 64}
    return record


def _failed(finished_at: str, reason: str, key: str | None = "k1") -> dict:
    record = records.outcome_record(CONFIG, "failed", reason, config_key=key)
    record["finished_at"] = finished_at
    record["environment"]["framebench_commit"] = "c" * 40
    return record


def test_one_rule_decides_which_record_counts_for_the_report_and_for_resume(tmp_path):
    """A good run is never hidden by a later failure of the same configuration (an orphaned child of
    a killed parent recorded `failed: BrokenPipeError` after the resumed run): --resume and the
    report's de-duplication read the same rule, so they agree."""
    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    from bench.report import cells

    good = _ok("2026-01-01T10:00:00Z")
    late = _failed("2026-01-01T11:00:00Z", "BrokenPipeError: [Errno 32] Broken pipe")
    for record in (good, late):
        records.write_record(tmp_path, record)
    loaded, _ = records.load_records(tmp_path)
    counted, superseded = counting.choose(loaded)
    assert [r["run_id"] for r in counted] == [good["run_id"]]
    assert [r["run_id"] for r in superseded] == [late["run_id"]]
    assert [r["run_id"] for r in cells.dedupe(loaded)[0]] == [good["run_id"]]
    assert counting.completed_keys(tmp_path) == {"k1"}
    # without an ok record, the newest failure counts (and --resume redoes the configuration)
    only_failures = [_failed("2026-01-01T09:00:00Z", "old"), late]
    assert [r["reason"] for r in counting.choose(only_failures)[0]] == [late["reason"]]


def test_a_new_build_is_a_new_configuration_for_resume(tmp_path):
    records.write_record(tmp_path, _ok("2026-01-01T10:00:00Z"))
    same = {"torch": {"torch": "2.5.1"}}
    assert counting.completed_keys(tmp_path, same, "c" * 40) == {"k1"}
    assert counting.completed_keys(tmp_path, {"torch": {"torch": "2.6.0"}}, "c" * 40) == set()
    assert counting.completed_keys(tmp_path, same, "d" * 40) == set()  # another commit: measured again
    assert counting.completed_keys(tmp_path, same, "d" * 40, pool_commits=True) == {"k1"}
    assert counting.completed_keys(tmp_path, None, None) == {"k1"}  # build unknown: any build


def test_two_builds_of_one_configuration_both_count():
    old = _ok("2026-01-01T10:00:00Z", versions={"torch": "2.5.1"})
    new = _ok("2026-01-02T10:00:00Z", versions={"torch": "2.6.0"})
    counted, superseded = counting.choose([old, new])
    assert len(counted) == 2 and superseded == []
    other_commit = _ok("2026-01-03T10:00:00Z", versions={"torch": "2.6.0"}, commit="d" * 40)
    assert len(counting.choose([new, other_commit])[0]) == 2
    assert counting.choose([new, other_commit], pool_commits=True)[0] == [other_commit]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_records_are_created_honouring_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = records.write_record(tmp_path, records.outcome_record(CONFIG, "failed", "x"))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    ("metrics", "why"),
    [
        ({"steady_examples_per_sec": float("nan")}, "steady_examples_per_sec is nan"),
        ({"steady_examples_per_sec": -1.0}, "steady_examples_per_sec is -1 (must be positive)"),
        ({"final_test_accuracy": -0.1}, "final_test_accuracy is -0.1 (must not be negative)"),
        ({"final_test_accuracy": 1.2}, "final_test_accuracy is 1.2 (an accuracy above 1)"),
        ({"first_epoch_seconds": -3.0}, "first_epoch_seconds is -3 (must not be negative)"),
        ({"share_of_peak": 1.5}, "share_of_peak is 1.5 (over 100% of the device's peak)"),
        ({"final_test_accuracy": float("nan")}, "final_test_accuracy is nan"),
    ],
)
def test_impossible_metrics_make_a_record_invalid_where_it_is_read(tmp_path, metrics, why):
    good = _ok("2026-01-01T10:00:00Z")
    bad = _ok("2026-01-01T11:00:00Z")
    bad["metrics"].update(metrics)
    for record in (good, bad):
        records.write_record(tmp_path, record)
    loaded, unreadable = records.load_records(tmp_path)
    assert [r["run_id"] for r in loaded] == [good["run_id"]]
    (listed,) = unreadable
    assert listed.path.endswith(f"{bad['run_id']}.json") and why in listed.reason
    assert listed.reason.startswith("invalid metrics: ")
    assert records.metric_problems(good) == []


def test_a_tf32_run_may_pass_the_fp32_peak():
    record = _ok("2026-01-01T10:00:00Z")
    record["metrics"]["share_of_peak"] = 1.4
    assert records.metric_problems(record)
    record["config"]["precision"] = "tf32"
    assert records.metric_problems(record) == []


def test_complete_temporary_records_are_listed_partial_ones_are_not(tmp_path):
    record = records.outcome_record(CONFIG, "failed", "boom")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / f".{record['run_id']}.x1.tmp").write_text(json.dumps(record))
    (runs / ".other.x2.tmp").write_text('{"schema_version": 1, "run')  # killed mid-write
    (runs / ".probe123.tmp").write_text("")
    loaded, unreadable = records.load_records(tmp_path)
    assert loaded == []
    (listed,) = unreadable
    assert listed.path.endswith(".x1.tmp") and f"rename it to {record['run_id']}.json" in listed.reason


def test_text_files_are_written_atomically_and_leave_no_temp_file_on_a_full_disk(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    target = tmp_path / "REPORT.md"
    records.write_text_atomic(target, "old\n")
    real = Path.write_text

    def full(self, text, *args, **kwargs):
        real(self, "", *args, **kwargs)  # the file is created, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        records.write_text_atomic(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md"]


README = "# framebench\n\nintro\n\n<!-- verdict:start -->\nold numbers\n<!-- verdict:end -->\n\ntail\n"


def fake_repo(monkeypatch, tmp_path, committed: str, current: str, status: str) -> None:
    (tmp_path / "README.md").write_text(current)
    monkeypatch.setattr(records, "REPO_ROOT", tmp_path)
    answers = {"rev-parse": "a" * 40, "status": status, "show": committed.strip()}
    monkeypatch.setattr(records, "_git", lambda *args: answers[args[0]])


def test_a_readme_changed_only_in_its_generated_verdict_block_is_not_dirty(monkeypatch, tmp_path):
    regenerated = README.replace("old numbers", "new numbers\nand a table")
    fake_repo(monkeypatch, tmp_path, README, regenerated, " M README.md")
    assert records.source_state()["framebench_dirty"] is False


def test_a_readme_changed_outside_the_block_or_any_other_change_is_dirty(monkeypatch, tmp_path):
    fake_repo(monkeypatch, tmp_path, README, README.replace("intro", "edited intro"), " M README.md")
    assert records.source_state()["framebench_dirty"] is True
    fake_repo(monkeypatch, tmp_path, README, README, " M README.md\n M bench/runner.py")
    assert records.source_state()["framebench_dirty"] is True
    fake_repo(monkeypatch, tmp_path, README, README.replace("<!-- verdict:end -->", ""), " M README.md")
    assert records.source_state()["framebench_dirty"] is True  # markers broken: the whole file counts


# --- the child's steps: a timing run warms up by steps and is never evaluated (issue 29, item 6) ---


def test_a_warm_up_by_steps_keeps_the_epochs_batch_shapes_and_call_pattern():
    import numpy as np

    from bench import child

    order = np.arange(60_000)
    warm = child.warmup_order(order, 256)
    epoch_batches, warm_batches = -(-60_000 // 256), -(-len(warm) // 256)
    assert child.WARMUP_STEPS <= warm_batches < child.WARMUP_STEPS + child.WARMUP_PERIOD
    assert (epoch_batches - warm_batches) % 64 == 0  # so also modulo 32 (Keras's steps_per_execution)
    assert len(warm) == (warm_batches - 1) * 256 + 60_000 % 256  # full batches, then the epoch's last
    assert list(warm[-(60_000 % 256) :]) == list(order[-(60_000 % 256) :])
    assert list(warm[:256]) == list(order[:256])
    short = np.arange(256 * 90)
    assert child.warmup_order(short, 256) is short  # not much longer than a warm-up: the whole epoch


class _Clock:
    now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def fake_child(monkeypatch):
    """bench.child in this process with a numpy framework on a fake clock (2 s per pass, whatever its
    length), recording the orders it trains and counting its evaluations."""
    from types import SimpleNamespace

    from fake_frameworks import NumpyFramework, NumpyModel

    import impls
    from bench import child, data
    from bench.contract import EpochStats

    try:
        data.load(None, allow_download=False)
    except data.DataError as exc:
        pytest.skip(f"Fashion-MNIST not installed: {exc}")
    clock = _Clock()

    class Model(NumpyModel):
        orders: ClassVar[list] = []
        evaluations: ClassVar[list] = []

        def train_epoch(self, data, order, batch_size, lr):
            type(self).orders.append(order.copy())
            clock.now += 2.0
            return EpochStats(1.0, 0.5)

        def evaluate(self, data):
            type(self).evaluations.append(clock.now)
            return super().evaluate(data)

    class Framework(NumpyFramework):
        model_class = Model

    monkeypatch.setenv(impls.EXTRA_ENV_VAR, "numpy=fake_frameworks:NumpyFramework")
    monkeypatch.setattr(impls, "load_class", lambda name: Framework)
    monkeypatch.setattr(child, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    monkeypatch.setattr(child, "device_peak", lambda fw, rec: {"gflops": 100.0, "method": "m", "source": "s"})
    return Framework


def _child_run(tmp_path, purpose: str) -> dict:
    from bench import child
    from bench.config import RunConfig

    config = RunConfig(framework="numpy", model="mlp", device="cpu", mode="float64", seed=0, epochs=3,
                       batch_size=256, lr=0.1, threads=1, purpose=purpose, timing_epochs=2)  # fmt: skip
    return child.run_one(config, tmp_path)


def test_a_timing_run_warms_up_by_steps_and_records_its_cost(tmp_path, fake_child):
    record = _child_run(tmp_path, "timing")
    assert record["status"] == "ok", record["reason"]
    assert fake_child.model_class.evaluations == []  # no evaluation at all
    warm, *timed = record["curve"]
    assert warm["warmup_steps"] == 43 and warm["train_examples"] == 42 * 256 + 96
    assert [p["train_examples"] for p in timed] == [60_000, 60_000]
    metrics, cost = record["metrics"], record["process"]
    assert metrics["steady_epochs"] == 2 and metrics["steady_examples_per_sec"] == pytest.approx(30_000)
    assert metrics["first_epoch_seconds"] is None and metrics["final_test_accuracy"] is None
    assert cost["warmup_seconds"] == 2.0 and cost["seconds_after_training"] == 0.0
    assert "seconds_before_training" in cost
    (written,) = records.load_records(tmp_path)[0]
    assert written["curve"][0]["warmup_steps"] == 43


def test_a_whole_epoch_mode_and_a_full_run_keep_a_whole_first_epoch(tmp_path, fake_child):
    orders = fake_child.model_class.orders
    _child_run(tmp_path / "steps", "timing")
    by_steps = list(orders)
    orders.clear()
    fake_child.WHOLE_EPOCH_MODES = ("float64",)
    whole = _child_run(tmp_path / "whole", "timing")
    assert "warmup_steps" not in whole["curve"][0] and whole["curve"][0]["train_examples"] == 60_000
    assert whole["metrics"]["first_epoch_seconds"] == 2.0
    # the warm-up consumes the epoch's shuffle either way: the timed epochs train the same orders
    assert len(by_steps) == len(orders) == 3
    assert list(by_steps[0][:256]) == list(orders[0][:256])
    assert all(list(a) == list(b) for a, b in zip(by_steps[1:], orders[1:], strict=True))
    full = _child_run(tmp_path / "full", "full")
    assert "warmup_steps" not in full["curve"][0]
    assert len(fake_child.model_class.evaluations) == 3  # a full run is evaluated after every epoch
    assert full["metrics"]["final_test_accuracy"] == full["curve"][-1]["test_accuracy"]
