"""``scripts/gpu-session.sh`` refuses to start, in one line naming the fix, when what it needs is missing
(it is run where nothing can be fixed between calls, so it must fail before measuring anything)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-session.sh"


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
