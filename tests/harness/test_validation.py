"""Records from elsewhere are validated before they are believed: wrong types, hostile files (deep
nesting, a FIFO, /dev/zero, a huge file), a date in the future and conflicting duplicates are each
listed with the file and why, every other record is kept, and no reader tracebacks on them."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import threading

import pytest

from bench import counting, records, schema, validation

CONFIG = {"framework": "torch", "model": "mlp", "device": "cpu", "mode": "eager", "seed": 0, "epochs": 2,
          "batch_size": 256, "lr": 0.1, "threads": 2, "repeat": 0, "purpose": "full"}  # fmt: skip
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def ok_record(finished_at: str = "2026-06-01T10:00:00Z", key: str = "k1") -> dict:
    record = records.outcome_record(CONFIG, "skipped", "placeholder", config_key=key)
    curve = [{"epoch": e, "train_examples": 60_000, "train_loss": 1.0, "train_accuracy": 0.5,
              "test_loss": 1.0, "test_accuracy": 0.7, "train_seconds": 2.0, "eval_seconds": 0.5,
              "eval_warm": e > 1, "examples_per_sec": 30_000.0} for e in (1, 2)]  # fmt: skip
    record.update(status="ok", reason=None, finished_at=finished_at, curve=curve,
                  metrics={"steady_examples_per_sec": 30_000.0, "final_test_accuracy": 0.7})  # fmt: skip
    record["framework"]["versions"] = {"torch": "2.5.1"}
    record["environment"]["framebench_commit"] = "c" * 40
    record["data"] = {"sha256": "s" * 64, "train_examples": 60_000, "test_examples": 10_000}
    return record


def put(results, name: str, payload) -> str:
    """Write a file into runs/ as it might arrive from another machine (no validation on the way)."""
    path = records.runs_dir(results) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


def setter(path: str, value):
    def change(record: dict) -> None:
        *parents, last = path.split(".")
        target = record
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value

    return change


# Wrong-typed variants of a good record (issue 30, item 4), each with a word its reason must carry.
VARIANTS = {
    "environment: []": (setter("environment", []), "'environment'"),
    'data: "x"': (setter("data", "x"), "'data'"),
    'config.lr: "0.1"': (setter("config.lr", "0.1"), "'config.lr'"),
    "config.threads: [1]": (setter("config.threads", [1]), "'config.threads'"),
    'curve: "abc"': (setter("curve", "abc"), "'curve'"),
    "config.seed: null": (setter("config.seed", None), "'config.seed'"),
    "metrics: []": (setter("metrics", []), "'metrics'"),
    "status: 3": (setter("status", 3), "'status'"),
    "finished_at: 5": (setter("finished_at", 5), "'finished_at'"),
    'framework: "torch"': (setter("framework", "torch"), "'framework'"),
    "model: []": (setter("model", []), "'model'"),
    'device: "cpu"': (setter("device", "cpu"), "'device'"),
    "config: []": (setter("config", []), "'config'"),
    'framework.versions: "x"': (setter("framework.versions", "x"), "'framework.versions'"),
    "framework.mode: null": (setter("framework.mode", None), "'framework.mode'"),
    "device.kind: 1": (setter("device.kind", 1), "'device.kind'"),
    'config.epochs: "2"': (setter("config.epochs", "2"), "'config.epochs'"),
    "config.batch_size: 0": (setter("config.batch_size", 0), "config.batch_size is 0"),
    "curve: [1]": (setter("curve", [1]), "'curve[0]'"),
    'curve[0].train_seconds: "1"': (setter("curve.0.train_seconds", "1"), "'curve[0].train_seconds'"),
    'metrics.steady_examples_per_sec: "fast"': (
        setter("metrics.steady_examples_per_sec", "fast"),
        "'metrics.steady_examples_per_sec'",
    ),
    "metrics.time_to_target: []": (setter("metrics.time_to_target", []), "'metrics.time_to_target'"),
    "run_id: 5": (setter("run_id", 5), "'run_id'"),
    'schedule: "x"': (setter("schedule", "x"), "'schedule'"),
    "environment.gpus: {}": (setter("environment.gpus", {}), "'environment.gpus'"),
    "config.lr: NaN": (setter("config.lr", float("nan")), "config.lr is nan"),
    "a 20,000-epoch curve under 2 epochs": (
        lambda r: r.update(curve=[{"epoch": i + 1, "train_seconds": 1.0} for i in range(20_000)]),
        "more than the config's 2 epochs",
    ),
}


@pytest.fixture
def hostile(tmp_path):
    """A results folder with one good record and every wrong-typed variant, each in its own file."""
    good = ok_record(key="good")
    put(tmp_path, "good.json", good)
    files = {}
    for i, (name, (change, _)) in enumerate(VARIANTS.items()):
        record = ok_record(key=f"bad{i}")
        change(record)
        files[name] = put(tmp_path, f"variant{i:02}.json", record)
    return tmp_path, good, files


def test_every_wrong_typed_variant_is_listed_with_its_reason_and_the_good_record_kept(hostile):
    results, good, files = hostile
    loaded, unreadable = records.load_records(results, now=NOW)
    assert [r["run_id"] for r in loaded] == [good["run_id"]]
    reasons = {u.path: u.reason for u in unreadable}
    for name, (_, word) in VARIANTS.items():
        assert files[name] in reasons, f"{name} was believed"
        assert word in reasons[files[name]] and "\n" not in reasons[files[name]], (name, reasons[files[name]])


def test_no_reader_tracebacks_on_the_variants(hostile):
    results, _, _ = hostile
    assert counting.completed_keys(results) == {"good"}
    raw = []
    for name, (change, _) in VARIANTS.items():
        record = ok_record(key=name)
        change(record)
        raw.append(record)
    counted, superseded = counting.choose([*raw, ok_record(key="good")])  # even unvalidated ones
    assert len(counted) + len(superseded) == len(raw) + 1
    assert counting.choose(["not a record", 3])[0] == []


def test_the_report_lists_the_variants_and_keeps_the_good_record(hostile):
    pytest.importorskip("pandas", reason="the report needs the [report] extra")
    from bench import report

    results, _, files = hostile
    out = report.render([results], results / "REPORT.md", results / "figures", draw=False)
    text = out.read_text()
    for path in files.values():
        assert os.path.basename(path) in text


def test_deep_nesting_is_refused_before_parsing(tmp_path):
    put(tmp_path, "good.json", ok_record())
    put(tmp_path, "deep.json", "[" * 200_000 + "]" * 200_000)
    nested = ok_record(key="k2")
    inner: dict = {}
    nested["framework"]["settings"] = inner
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]
    put(tmp_path, "nested.json", nested)
    strings = ok_record(key="k3")
    strings["config"]["seed"] = 1
    strings["framework"]["settings"] = {"note": "[[[[" * 100}  # brackets inside strings do not nest
    put(tmp_path, "strings.json", strings)
    loaded, unreadable = records.load_records(tmp_path, now=NOW)
    assert sorted(os.path.basename(r["_path"]) for r in loaded) == ["good.json", "strings.json"]
    reasons = {os.path.basename(u.path): u.reason for u in unreadable}
    assert reasons["deep.json"] == "invalid JSON: nested 200000 deep, more than a record's 32"
    assert reasons["nested.json"].startswith("invalid JSON: nested 4")
    assert counting.completed_keys(tmp_path) == {"k1", "k3"}


def _load_with_guard(results) -> tuple[list, list]:
    """load_records in a thread: a hang fails the test instead of stalling the suite."""
    found: list = []
    thread = threading.Thread(
        target=lambda: found.append(records.load_records(results, now=NOW)), daemon=True
    )
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "load_records blocked on a file"
    return found[0]


def test_a_fifo_a_device_link_and_a_huge_file_are_refused_without_reading_them(tmp_path):
    put(tmp_path, "good.json", ok_record())
    runs = records.runs_dir(tmp_path)
    os.mkfifo(runs / "fifo.json")
    os.symlink("/dev/zero", runs / "zero.json")
    (runs / "folder.json").mkdir()
    with open(runs / "huge.json", "wb") as handle:
        handle.truncate(records.MAX_RECORD_BYTES + 1)
    os.mkfifo(runs / ".fifo.x1.tmp")  # a temporary-file name must not hang the leftover scan either
    loaded, unreadable = _load_with_guard(tmp_path)
    assert [os.path.basename(r["_path"]) for r in loaded] == ["good.json"]
    reasons = {os.path.basename(u.path): u.reason for u in unreadable}
    assert set(reasons) == {"fifo.json", "zero.json", "folder.json", "huge.json"}
    for name in ("fifo.json", "zero.json", "folder.json"):
        assert reasons[name].startswith("not a regular file")
    assert "more than a record's limit" in reasons["huge.json"]


def test_a_record_dated_in_the_future_is_invalid_and_never_supersedes_a_real_rerun(tmp_path):
    forged = ok_record("2099-01-01T00:00:00Z")
    forged["framework"]["versions"] = {"torch": "2.0.0"}  # an older build promoted by its date
    real = ok_record("2026-06-01T11:00:00Z")
    put(tmp_path, "forged.json", forged)
    put(tmp_path, "real.json", real)
    loaded, unreadable = records.load_records(tmp_path, now=NOW)
    assert [r["run_id"] for r in loaded] == [real["run_id"]]
    (listed,) = unreadable
    assert (
        listed.path.endswith("forged.json")
        and "finished_at 2099-01-01T00:00:00Z is in the future" in listed.reason
    )
    assert counting.choose(loaded)[0] == loaded
    assert counting.completed_keys(tmp_path) == {"k1"}


def test_the_clock_skew_allowance(tmp_path):
    soon = NOW + dt.timedelta(seconds=schema.CLOCK_SKEW_SECONDS - 60)
    late = NOW + dt.timedelta(seconds=schema.CLOCK_SKEW_SECONDS + 60)
    assert validation.validate(ok_record(f"{soon:%Y-%m-%dT%H:%M:%SZ}"), NOW) == []
    assert "in the future" in validation.validate(ok_record(f"{late:%Y-%m-%dT%H:%M:%SZ}"), NOW)[0]


def test_choose_orders_by_parsed_times_not_strings():
    """ "2026-06-01T09:00:00+00:00" sorts after "2026-06-01T10:00:00Z" as text; as a time it is older."""
    older = ok_record("2026-06-01T09:00:00+00:00")
    newer = ok_record("2026-06-01T10:00:00Z")
    assert validation.validate(older, NOW) == []
    counted, superseded = counting.choose([older, newer])
    assert counted == [newer] and superseded == [older]


def test_duplicate_run_ids_with_different_content_are_named(tmp_path):
    record = ok_record()
    put(tmp_path / "a", "r.json", record)
    put(tmp_path / "b", "r.json", record)  # the same record in two folders: harmless
    changed = copy.deepcopy(record)
    changed["metrics"]["steady_examples_per_sec"] = 90_000.0
    put(tmp_path / "c", "r.json", changed)
    loaded, unreadable = records.load_records(tmp_path / "a", tmp_path / "b", now=NOW)
    assert len(loaded) == 2 and unreadable == []
    loaded, unreadable = records.load_records(tmp_path / "a", tmp_path / "c", now=NOW)
    assert loaded == []
    assert len(unreadable) == 2
    for listed in unreadable:
        assert f"duplicate run_id {record['run_id']} with different content" in listed.reason
    assert str(tmp_path / "c" / "runs" / "r.json") in unreadable[0].reason


def test_the_writer_refuses_a_wrong_typed_record(tmp_path):
    record = ok_record()
    record["config"]["lr"] = "0.1"
    with pytest.raises(ValueError, match=r"'config\.lr' is not a number"):
        records.write_record(tmp_path, record)
    assert not records.runs_dir(tmp_path).exists()
