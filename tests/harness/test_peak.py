"""``bench.peak``: the device peak measured by the run, or once per identity via $FRAMEBENCH_PEAK_CACHE."""

from __future__ import annotations

import copy

from bench import peak, records


class CountingFramework:
    """Answers peak_gflops with the next of its values and counts the calls."""

    def __init__(self, *values: float) -> None:
        self.values, self.calls = list(values), 0

    def peak_gflops(self, device: str) -> dict:
        self.calls += 1
        return {"gflops": self.values.pop(0), "method": f"fake matmul on {device}"}


def record(run_id: str = "run-a", versions: dict | None = None) -> dict:
    config = {"framework": "fake", "model": "mlp", "device": "gpu", "mode": "m", "seed": 0, "threads": 16}
    rec = records.base_record(config, run_id=run_id)
    rec["device"]["name"] = "Fake GPU"
    rec["framework"]["versions"] = versions or {"fake": "1.0"}
    return rec


def test_without_the_variable_every_run_measures(monkeypatch):
    monkeypatch.delenv(peak.PEAK_CACHE_ENV, raising=False)
    framework = CountingFramework(10.0, 11.0)
    assert peak.device_peak(framework, record())["gflops"] == 10.0
    second = peak.device_peak(framework, record("run-b"))
    assert (second["gflops"], second["source"], framework.calls) == (11.0, "measured in this run", 2)


def test_with_the_cache_the_first_run_measures_and_later_runs_read_it(monkeypatch, tmp_path):
    monkeypatch.setenv(peak.PEAK_CACHE_ENV, str(tmp_path))
    framework = CountingFramework(10.0, 99.0)
    first = peak.device_peak(framework, record("run-a"))
    assert first == {"gflops": 10.0, "method": "fake matmul on gpu",
                     "source": "measured in this run, cached for later runs"}  # fmt: skip
    second = peak.device_peak(framework, record("run-b"))
    assert framework.calls == 1 and second["gflops"] == 10.0 and second["method"] == "fake matmul on gpu"
    assert second["source"].startswith("cached: measured by run run-a at ")


def test_another_framework_build_measures_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv(peak.PEAK_CACHE_ENV, str(tmp_path))
    framework = CountingFramework(10.0, 12.0)
    peak.device_peak(framework, record())
    other = peak.device_peak(framework, record("run-b", versions={"fake": "2.0"}))
    assert (other["gflops"], framework.calls) == (12.0, 2)


def test_a_cache_file_of_another_identity_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setenv(peak.PEAK_CACHE_ENV, str(tmp_path))
    rec = record()
    path = peak.cache_path(tmp_path, peak.identity(rec))
    foreign = copy.deepcopy(peak.identity(rec))
    foreign["threads"] = 1
    records.write_atomic(path, {"identity": foreign, "gflops": 1.0, "method": "x", "run_id": "r",
                                "measured_at": "t"})  # fmt: skip
    framework = CountingFramework(10.0)
    assert peak.device_peak(framework, rec)["gflops"] == 10.0 and framework.calls == 1


def test_an_unwritable_cache_costs_a_measurement_nothing_else(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(peak.PEAK_CACHE_ENV, str(blocker / "peaks"))
    result = peak.device_peak(CountingFramework(10.0), record())
    assert result["gflops"] == 10.0
    assert result["source"] == "measured in this run (the cache could not be written)"
