"""``scripts/gpu-session.sh``: it refuses to start, in one line naming the fix, when what it needs is
missing (it is run where nothing can be fixed between calls, so it must fail before measuring
anything); it prints its plan, refuses a step whose estimate does not fit in one line, and archives
what is finished after every step. Those tests replace each step's command by a stub
(``GPU_SESSION_STUB``) and fix the estimates in the environment: no GPU, no framework, no clock race.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-session.sh"  # where the session script lives (one place to change)
GPU = "nvidia-stand-in-gpu"  # the slug of the name the stand-in nvidia-smi answers
CORE = ["env", "conformance", "gpu"]
REST = ["profile", "tf32", "cpu", "absent", "native", "keras"]


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    smi = fake_bin / "nvidia-smi"  # a machine without a GPU: nvidia-smi answers nothing
    smi.write_text("#!/bin/sh\nexit 9\n")
    smi.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    base = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
            "FRAMEBENCH_COMMIT": "0" * 40, "DATA": str(data)}  # fmt: skip
    merged = {k: v for k, v in {**base, **env}.items() if v}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=merged, timeout=60)


def test_without_the_commit_it_names_the_variable(tmp_path):
    result = run_script(tmp_path, FRAMEBENCH_COMMIT="")
    assert result.returncode != 0
    assert "set FRAMEBENCH_COMMIT=<git rev-parse HEAD>" in result.stderr.strip().splitlines()[-1]


def test_without_the_data_it_says_how_to_carry_it(tmp_path):
    result = run_script(tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: no Fashion-MNIST in ") and 'carry: [".data"]' in line


def test_without_a_gpu_it_refuses_before_measuring(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    result = run_script(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: nvidia-smi sees no GPU; run this on the lent GPU machine"
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# budget, refusal and the archive after every step, with stubbed steps


def run_stubbed(tmp_path: Path, stub: str, estimates: dict[str, int] | None = None, **env: str):
    """Run the script on a stand-in GPU with every step replaced by ``stub`` (given the step's name
    as $1), each estimate 1 s unless named; results, caches and $OUT under tmp_path."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(parents=True, exist_ok=True)
    smi = fake_bin / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA Stand-in GPU'\n")
    smi.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    base = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
            "FRAMEBENCH_COMMIT": "0" * 40, "DATA": str(data), "GPU_SESSION_STUB": stub,
            "GPU_SESSION_RESULTS": str(tmp_path / "results"), "GPU_SESSION_CACHE": str(tmp_path / "cache"),
            "TRACE": str(tmp_path / "trace")}  # fmt: skip
    for name in [*CORE, *REST, "report"]:
        base[f"GPU_SESSION_EST_{name.replace('-', '_')}"] = str((estimates or {}).get(name, 1))
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env={**base, **env},
                          timeout=60, start_new_session=True)  # fmt: skip


TRACE = 'echo "$1" >> "$TRACE"'


def traced(tmp_path: Path) -> list[str]:
    trace = tmp_path / "trace"
    return trace.read_text().split() if trace.exists() else []


def state(tmp_path: Path) -> Path:
    return tmp_path / "results" / "gpu-session" / GPU


def archived(tmp_path: Path) -> set[str]:
    with tarfile.open(tmp_path / "out" / "gpu-session.tgz") as archive:
        return set(archive.getnames())


def test_it_prints_the_plan_then_runs_every_step_in_priority_order(tmp_path):
    result = run_stubbed(tmp_path, TRACE)
    assert result.returncode == 0, result.stderr
    assert traced(tmp_path) == [*CORE, *REST, "report"]
    lines = result.stdout.splitlines()
    plan = [line for line in lines if "plan:" in line]
    assert [line.split("plan:")[1].split()[0] for line in plan] == [*CORE, *REST, "report"]
    first_start = next(i for i, line in enumerate(lines) if line.endswith(" left)"))
    assert lines.index(plan[-1]) < first_start  # the whole budget is printed before anything runs
    assert "budget 420s for this call" in lines[0]
    assert all((state(tmp_path) / f"done-{name}").exists() for name in CORE + REST)
    assert f"results/gpu-session/{GPU}/done-native" in archived(tmp_path)
    assert (tmp_path / "out" / "session.log").read_text().count("finished in") == len(CORE + REST) + 1


def test_a_step_that_does_not_fit_is_refused_in_one_line_and_later_steps_still_run(tmp_path):
    result = run_stubbed(tmp_path, TRACE, {"conformance": 500}, GPU_SESSION_SECONDS="100")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stdout.splitlines() if "conformance:" in line]
    (refusal,) = said
    assert "conformance: refused: needs ~500s (estimate)" in refusal and "left in this call" in refusal
    assert "conformance" not in traced(tmp_path) and "gpu" in traced(tmp_path)
    assert not (state(tmp_path) / "done-conformance").exists()  # the next call tries it again


def test_a_matrix_that_does_not_fit_starts_while_enough_is_left_and_is_refused_below_that(tmp_path):
    starts = run_stubbed(tmp_path / "a", TRACE, {"gpu": 500}, GPU_SESSION_SECONDS="100",
                         GPU_SESSION_RESUMABLE_MIN="50")  # fmt: skip
    assert starts.returncode == 0, starts.stderr
    (started,) = [line for line in starts.stdout.splitlines() if "gpu: start" in line]
    assert "the deadline keeps its finished runs" in started and "gpu" in traced(tmp_path / "a")
    refused = run_stubbed(tmp_path / "b", TRACE, {"gpu": 500}, GPU_SESSION_SECONDS="100",
                          GPU_SESSION_RESUMABLE_MIN="200")  # fmt: skip
    assert "gpu: refused: needs ~500s (estimate)" in refused.stdout and "gpu" not in traced(tmp_path / "b")


def test_a_tiny_budget_refuses_every_step_and_still_archives(tmp_path):
    result = run_stubbed(tmp_path, TRACE, {name: 30 for name in [*CORE, *REST, "report"]},
                         GPU_SESSION_SECONDS="3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert traced(tmp_path) == []
    for name in [*CORE, *REST, "report"]:
        assert sum(f"{name}: refused: needs ~30s" in line for line in result.stdout.splitlines()) == 1
    assert (tmp_path / "out" / "gpu-session.tgz").exists() and (tmp_path / "out" / "session.log").exists()


def test_a_call_killed_in_a_step_has_already_archived_every_finished_step(tmp_path):
    # each step writes a record; gpu kills the whole call as the device's limit does (SIGKILL)
    stub = ('if [ "$1" = gpu ]; then kill -KILL "$GPU_SESSION_PID"; kill -KILL 0; fi; '
            'mkdir -p "$RESULTS/runs" && echo {} > "$RESULTS/runs/$1.json"')  # fmt: skip
    result = run_stubbed(tmp_path, stub)
    assert result.returncode == -9
    names = archived(tmp_path)
    assert {f"results/runs/{name}.json" for name in ["env", "conformance"]} <= names
    assert "results/runs/gpu.json" not in names
    log = (tmp_path / "out" / "session.log").read_text()
    assert "conformance: finished" in log and "gpu: start" not in log  # the archive precedes it


def test_a_second_call_does_the_rest_in_240s_estimating_tf32_from_the_measured_matrices(tmp_path):
    folder = state(tmp_path)
    folder.mkdir(parents=True)
    for name in CORE:  # what the first call left, carried back in the tree
        (folder / f"done-{name}").write_text("0\n")
    (folder / "costs.tsv").write_text("gpu\t300\t0\n")
    estimates = {name: 1 for name in REST}
    result = run_stubbed(tmp_path, TRACE, estimates, GPU_SESSION_EST_tf32="",
                         GPU_SESSION_RESUMABLE_MIN="1000")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "budget 240s for this call" in result.stdout.splitlines()[0]
    assert traced(tmp_path) == ["profile", "cpu", "absent", "native", "keras", "report"]
    assert "tf32: refused: needs ~300s (estimate)" in result.stdout  # the gpu step's measured cost
