"""Run records: schema, validation, atomic writes, robust loading."""

from __future__ import annotations

import json
import os

import pytest

from bench import records

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
    assert records.completed_keys(tmp_path) == set()
