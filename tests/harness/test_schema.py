"""The record's schema: one declaration, its generated field list, the migration of version 1 and the
machine fingerprint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import records, schema, validation

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"framework": "torch", "model": "mlp", "device": "cpu", "mode": "eager", "seed": 0, "epochs": 1,
          "batch_size": 256, "lr": 0.1, "threads": 2, "repeat": 0}  # fmt: skip


def test_docs_record_md_is_generated_from_the_schema():
    """Stale when a field changed in bench/schema.py: run `python -m bench.schema --markdown`."""
    stale = "docs/record.md is stale: run `python -m bench.schema --markdown`"
    assert (ROOT / "docs" / "record.md").read_text() == schema.markdown(), stale


def test_every_field_says_what_it_means_and_who_writes_it():
    for section in schema.SECTIONS:
        assert section.__doc__, section
        for spec in dataclasses.fields(section):
            assert spec.metadata["meaning"] and spec.metadata["writer"], (section.__name__, spec.name)
            assert spec.name in schema.markdown()


def test_a_written_record_uses_only_declared_fields():
    record = records.outcome_record(CONFIG, "failed", "boom", config_key="k")
    declared = {spec.name for spec in dataclasses.fields(schema.Record)}
    assert set(record) <= declared
    for name in ("framework", "model", "device", "config", "environment"):
        section = schema.hints(schema.Record)[name]
        section = next(a for a in (section, *getattr(section, "__args__", ())) if dataclasses.is_dataclass(a))
        assert set(record[name]) <= {spec.name for spec in dataclasses.fields(section)}, name
    assert record["schema_version"] == schema.SCHEMA_VERSION == 2
    assert validation.validate(record) == []


def test_typed_sections():
    record = records.outcome_record(CONFIG, "failed", "boom")
    record["schedule"] = {"round": 2, "sitting": {"id": "s1", "started_at": "2026-12-01T00:00:00Z"}}
    typed = validation.typed(schema.Record, record)
    assert typed.config.lr == 0.1 and typed.framework.name == "torch"
    assert typed.schedule.sitting.id == "s1" and typed.schedule.round == 2
    assert isinstance(typed.environment, schema.Environment)


def test_a_sitting_is_validated():
    record = records.outcome_record(CONFIG, "failed", "boom")
    record["schedule"] = {"sitting": {"started_at": "yesterday"}, "round": -1}
    problems = validation.validate(record)
    assert "missing field schedule.sitting.id" in problems
    assert "schedule.sitting.started_at a string 'yesterday' is not an ISO-8601 UTC time" in problems
    assert "schedule.round is -1 (must be at least 0)" in problems


def version_1(tmp_path) -> Path:
    record = records.outcome_record(CONFIG, "failed", "boom")
    record["schema_version"] = 1
    del record["environment"]["cpu_flags_sha"]
    path = records.runs_dir(tmp_path) / "old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    return path


def test_version_1_is_migrated_on_load_with_the_fingerprint_unknown(tmp_path):
    path = version_1(tmp_path)
    (loaded,), unreadable = records.load_records(tmp_path)
    assert unreadable == []
    assert loaded["schema_version"] == 2 and loaded["_migrated_from"] == 1
    assert loaded["environment"]["cpu_flags_sha"] is None
    assert records.fingerprint(loaded).endswith("flags ?")
    assert json.loads(path.read_text())["schema_version"] == 1  # the file is not rewritten


@pytest.mark.parametrize("folder", ["results", "results/2026-11"])
def test_the_committed_records_load_under_this_schema(folder):
    if not records.runs_dir(ROOT / folder).is_dir():
        pytest.skip(f"no committed records in {folder}")
    loaded, unreadable = records.load_records(ROOT / folder)
    assert loaded and unreadable == []
    assert {r.get("_migrated_from") for r in loaded} <= {1, None}


INTEL = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw
processor\t: 1
"""
AMD = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 sse4a svm
"""


def environment_on(monkeypatch, tmp_path, cpuinfo: str) -> dict:
    path = tmp_path / f"cpuinfo{hash(cpuinfo)}"
    path.write_text(cpuinfo)
    monkeypatch.setattr(records, "CPUINFO", path)
    monkeypatch.setattr(records.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(records.socket, "gethostname", lambda: "same-container-name")
    monkeypatch.setattr(records, "source_state", lambda: {})
    monkeypatch.setattr(records, "_gpu_info", lambda: [])
    return records.environment()


def test_the_fingerprint_tells_an_intel_host_from_an_amd_host_of_one_core_count(monkeypatch, tmp_path):
    intel = environment_on(monkeypatch, tmp_path, INTEL)
    amd = environment_on(monkeypatch, tmp_path, AMD)
    assert intel["cpu_model"] == "Intel(R) Xeon(R) Processor" and amd["cpu_model"] == "AMD EPYC"
    assert intel["cpu_flags_sha"] != amd["cpu_flags_sha"] and len(intel["cpu_flags_sha"]) == 12
    assert intel["host_id"] != amd["host_id"]
    # one model name, other flags (a VM that exposes fewer): still two hosts
    fewer = environment_on(monkeypatch, tmp_path, INTEL.replace(" avx512f avx512bw", ""))
    assert fewer["host_id"] != intel["host_id"]
    # the flags' order does not matter
    shuffled = environment_on(monkeypatch, tmp_path, INTEL.replace("fpu sse", "sse fpu"))
    assert shuffled["cpu_flags_sha"] == intel["cpu_flags_sha"]
