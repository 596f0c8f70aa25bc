"""The profiling tool's arithmetic (fake profiler events) and one real CPU profile of a mode."""

from __future__ import annotations

import types

import pytest

from impls.torch import profile


def event(key, count, device_us=0.0, cpu_us=0.0):
    return types.SimpleNamespace(key=key, count=count, self_device_time_total=device_us,
                                 self_cpu_time_total=cpu_us)  # fmt: skip


def test_summarize_gives_per_step_figures():
    events = [
        event("cudaLaunchKernel", 400, cpu_us=800.0),
        event("cudaGraphLaunch", 10, cpu_us=50.0),
        event("sm90_xmma_gemm", 200, device_us=1500.0),
        event("index_select_kernel", 200, device_us=500.0),
    ]
    figures = profile.summarize(events, steps=100, wall_seconds=0.004, batch_size=256)
    assert figures["wall_us_per_step"] == pytest.approx(40.0)
    assert figures["examples_per_sec"] == pytest.approx(256 * 100 / 0.004)
    assert figures["device_us_per_step"] == pytest.approx(20.0)
    assert figures["device_busy"] == pytest.approx(0.5)
    assert figures["kernel_launches_per_step"] == pytest.approx(4.0)
    assert figures["graph_launches_per_step"] == pytest.approx(0.1)
    assert profile.top_operators(events, "device", 1) == [("sm90_xmma_gemm", 200, 1500.0)]
    assert [name for name, _, _ in profile.top_operators(events, "cpu", 5)] == [
        "cudaLaunchKernel",
        "cudaGraphLaunch",
    ]  # fmt: skip - zero-time events are left out


def test_device_time_reads_either_attribute_name():
    old_name = types.SimpleNamespace(self_cuda_time_total=7.0)
    assert profile._device_time_us(old_name) == 7.0


def test_a_real_cpu_profile_prints_each_mode(capsys):
    from bench import data

    try:
        data.load(allow_download=False)
    except data.DataError as exc:
        pytest.skip(f"Fashion-MNIST is not installed here: {exc}")
    assert profile.main(["--device", "cpu", "--models", "mlp", "--modes", "eager,graph",
                         "--steps", "3", "--warmup", "1", "--top", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "## mlp on cpu, mode eager\nwall " in out and "ex/s, unprofiled" in out
    assert "## mlp on cpu, mode graph: skipped: graph mode captures CUDA graphs" in out


def test_unknown_mode_is_one_line_and_exit_2(capsys):
    assert profile.main(["--device", "cpu", "--modes", "warp"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown model or mode warp; modes: eager")
