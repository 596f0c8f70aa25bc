"""bench.report: hand-made records in, REPORT.md (and figures) out; plus a golden file.

Regenerate the golden file after an intended change with:
    FRAMEBENCH_UPDATE_GOLDEN=1 python -m pytest tests/harness/test_report.py -k golden
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import impls
from bench import counting, records, report
from bench import curve as curve_metrics
from bench.config import RunConfig
from bench.specs import get_spec

GOLDEN = Path(__file__).parent / "golden" / "REPORT.md"
UPDATE_GOLDEN = os.environ.get("FRAMEBENCH_UPDATE_GOLDEN") == "1"
SHA = "d1fd84a877f3b78fa9a171b3de73f93e7b6f69ed94bada3feae9d96821401f5c"  # Fashion-MNIST content
OTHER_SHA = "0123456789abcdef" * 4
TRAIN_EXAMPLES, TEST_EXAMPLES = 60_000, 10_000

FIXED_ENVIRONMENT = {
    "python": "3.11.7",
    "os": "Linux 6.1.0",
    "cpu_model": "Example CPU 9000",
    "cpu_cores": 8,
    "host_id": "0123456789ab",
    "gpus": [],
    "framebench_commit": "a" * 40,
    "framebench_dirty": False,
}
DEFAULT_MODES = {"torch": "eager", "tensorflow": "function", "mxnet": "hybrid"}
VERSIONS = {
    "torch": {"torch": "2.5.1", "numpy": "2.1.3", "cuda": "None", "cudnn": "n/a"},
    "tensorflow": {"tensorflow": "2.18.0", "keras": "3.7.0", "numpy": "2.0.2", "cuda": "n/a", "cudnn": "n/a"},
    "mxnet": {"mxnet": "1.9.1", "numpy": "1.23.5"},
}


@pytest.fixture(autouse=True)
def fixed_environment(monkeypatch):
    """base_record() would ask git and nvidia-smi; every record here gets the same fixed machine."""
    monkeypatch.setattr(records, "environment", lambda: dict(FIXED_ENVIRONMENT))


def ramp(final: float, epochs: int, start: float = 0.3) -> list[float]:
    """Test accuracy rising linearly from ``start`` after epoch 1 to ``final`` after the last."""
    if epochs == 1:
        return [final]
    return [round(start + (final - start) * i / (epochs - 1), 4) for i in range(epochs)]


def make_record(
    framework: str = "torch",
    model: str = "lenet",
    device: str = "cpu",
    seed: int = 0,
    *,
    mode: str | None = None,
    status: str = "ok",
    reason: str | None = None,
    final: float | None = None,
    accuracies: list[float] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    threads: int = 8,
    repeat: int = 0,
    seconds: float = 6.0,
    first_seconds: float = 12.0,
    peak_gflops: float = 200.0,
    finished_at: str = "2026-01-02T03:04:05Z",
    sha: str | None = SHA,
    run_id: str | None = None,
    purpose: str = "full",
    input: str = "device",
    precision: str = "fp32",
    loader_workers: int = 0,
    machine: str | None = None,
    schedule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete record as bench.runner would write it, with metrics computed by the runner's code.

    A ``timing`` record trains the config's ``timing_epochs`` (3) epochs; ``machine`` overrides the
    machine-device label (default: the fixed CPU, or "Example GPU 80GB" for an ok gpu run).
    """
    spec = get_spec(model)
    mode = mode or DEFAULT_MODES.get(framework, "eager")
    epochs = epochs or (len(accuracies) if accuracies and purpose == "full" else spec.epochs)
    config = RunConfig(
        framework=framework,
        model=model,
        device=device,
        mode=mode,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size or spec.batch_size,
        lr=lr or spec.lr,
        threads=threads,
        repeat=repeat,
        purpose=purpose,
        input=input,
        precision=precision,
        loader_workers=loader_workers,
    )
    stamp = re.sub(r"\D", "", finished_at)
    record = records.base_record(
        config.to_dict(), run_id=run_id or f"{config.label.replace('/', '-')}-{stamp}"
    )
    record["environment"] = dict(FIXED_ENVIRONMENT)
    if machine is not None:
        record["device"]["machine"] = machine
    elif device == "gpu" and status == "ok":
        record["device"]["machine"] = "Example GPU 80GB"
    record["schedule"] = schedule
    record.update(status=status, reason=reason, started_at=finished_at, finished_at=finished_at)
    record["config_key"] = config.key(sha, record["device"]["machine"]) if sha else None
    record["model"].update(
        params=spec.num_params(),
        train_flops_per_example=spec.train_flops(),
        forward_flops_per_example=spec.forward_flops(),
    )
    if sha:
        record["data"] = {
            "name": "fashion-mnist",
            "sha256": sha,
            "source": "/usr/share/datasets/fashion-mnist",
            "train_examples": TRAIN_EXAMPLES,
            "test_examples": TEST_EXAMPLES,
        }
    record["framework"]["versions"] = dict(VERSIONS.get(framework, {framework: "0.1"}))
    if status != "ok":
        record["reason"] = reason or f"{framework} sees no {device} in this environment"
        return record
    record["device"]["name"] = "cpu" if device == "cpu" else "Example GPU 80GB"
    record["framework"]["settings"] = {
        "intra_op_threads": threads,
        "inter_op_threads": 1,
        "dtype": "float32",
        "tf32": False,
        "mode": mode,
    }
    trained = config.train_epochs
    accuracies = accuracies or ramp(final if final is not None else 0.8, trained)
    assert len(accuracies) == trained
    curve = []
    for epoch, accuracy in enumerate(accuracies, start=1):
        train_seconds = first_seconds if epoch == 1 else seconds
        curve.append(
            {
                "epoch": epoch,
                "train_loss": round(2.0 - accuracy, 4),
                "train_accuracy": accuracy,
                "test_loss": round(2.1 - accuracy, 4),
                "test_accuracy": accuracy,
                "train_seconds": train_seconds,
                "eval_seconds": 0.5,
                "examples_per_sec": TRAIN_EXAMPLES / train_seconds,
            }
        )
    metrics = curve_metrics.summarize(curve, TRAIN_EXAMPLES, TEST_EXAMPLES)
    metrics["time_to_target"] = curve_metrics.time_to_target(curve, spec.target_accuracy)
    metrics["peak_rss_bytes"] = 600 * 2**20
    metrics["peak_device_memory_bytes"] = None if device == "cpu" else 300 * 2**20
    metrics["device_peak_gflops"] = peak_gflops
    metrics["device_peak_method"] = f"{framework} matmul fp32 2048x2048, best of 5"
    if metrics["steady_examples_per_sec"]:
        metrics["achieved_gflops"] = spec.train_flops() * metrics["steady_examples_per_sec"] / 1e9
        metrics["share_of_peak"] = metrics["achieved_gflops"] / peak_gflops
    else:
        metrics["achieved_gflops"] = metrics["share_of_peak"] = None
    record["metrics"] = metrics
    record["curve"] = curve
    return record


def write(results: Path, *recs: dict[str, Any]) -> None:
    """Write records through the real writer (which validates them)."""
    for record in recs:
        records.write_record(results, record)


def render(results: Path, draw: bool = False) -> str:
    """Render into ``results`` and return the markdown."""
    out = report.render([results], results / "REPORT.md", results / "figures", draw=draw)
    return out.read_text()


def section(text: str, heading: str) -> str:
    """The text from ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    match = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: match.start()] if match else rest


def parse_table(text: str) -> list[dict[str, str]]:
    """The first markdown pipe table in ``text`` as dicts."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert lines, f"no table in:\n{text}"
    split = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]] for line in lines]
    header, body = split[0], split[2:]
    return [dict(zip(header, row, strict=True)) for row in body]


CPU = "cpu · Example CPU 9000 · 8 cores"  # the machine-device of every record here unless told


def heading_of(text: str, prefix: str) -> str:
    """The first heading line that starts with ``prefix`` (e.g. ``### cpu``)."""
    match = re.search(rf"^{re.escape(prefix)}.*$", text, flags=re.MULTILINE)
    assert match, f"no heading {prefix!r} in:\n{text}"
    return match.group(0)


ACC, TP, N = "test accuracy [interval]", "examples/s [interval]", "n (throughput / accuracy)"


def _full_cell(header: str, cell: str) -> str:
    """A cell whose coverage the column's heading states once, written out in full again."""
    found = re.match(r"(.*) \[(.*)\]$", header)
    bounds = re.match(r"(\S+) \[(.*)\]$", cell.removeprefix("⚠ "))
    if not found or not bounds or found.group(2) == "interval":
        return cell
    flag = "⚠ " if cell.startswith("⚠ ") else ""
    label = found.group(2)
    if label.startswith("range of"):
        return f"{flag}{bounds.group(1)} ({label}: {bounds.group(2)})"
    return f"{flag}{bounds.group(1)} [{bounds.group(2)}] {label}"


def summary_rows(text: str, where: str = CPU) -> dict[tuple[str, str], dict[str, str]]:
    """Summary-table rows of one machine-device keyed by (framework (mode), model), one table per model.

    Columns are renamed to ACC, TP and N, and cells whose coverage the heading states are written in full.
    """
    block = section(section(text, "## Summary"), f"### {where}")
    out = {}
    for match in re.finditer(r"^#### (\S+).*$", block, flags=re.MULTILINE):
        model = match.group(1)
        for row in parse_table(block[match.end() :].split("\n#### ")[0]):
            renamed = {"model": model}
            for header, cell in row.items():
                key = {"test accuracy": ACC, "examples/s": TP, "n": N}.get(
                    header.split(" [")[0].split(" (")[0]
                )
                renamed[key or header] = _full_cell(header, cell) if key in (ACC, TP) else cell
            out[(row["framework (mode)"], model)] = renamed
    return out


def three_seeds(
    framework: str, model: str = "lenet", seconds: tuple[float, ...] = (6.0, 6.1, 5.9), **kw: Any
):
    """One record per seed 0-2 with the given steady epoch seconds."""
    finals = kw.pop("finals", (0.80, 0.81, 0.79))
    return [
        make_record(framework, model, seed=seed, seconds=s, final=f, **kw)
        for seed, (s, f) in enumerate(zip(seconds, finals, strict=True))
    ]


def accuracy_rows(text: str, where: str = CPU) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of the per-epoch accuracy tables of one machine-device keyed by (framework (mode), model)."""
    out = {}
    accuracy = section(text, "## Accuracy")
    for match in re.finditer(rf"^### Test accuracy per epoch: (\S+) on {re.escape(where)}$", accuracy, re.M):
        for row in parse_table(section(accuracy, match.group(0))):
            for label in row["framework (mode)"].split(", "):  # identical rows are merged into one
                out[(label, match.group(1))] = row
    return out


# ----------------------------------------------------------------------------------------------


def test_summary_numbers_and_times_vs_fastest(tmp_path):
    write(
        tmp_path,
        *three_seeds("torch"),
        *three_seeds("mxnet", seconds=(12.0, 12.2, 11.8), peak_gflops=300.0),
    )
    text = render(tmp_path)
    rows = summary_rows(text)
    torch, mxnet = rows[("torch (eager)", "lenet")], rows[("mxnet (hybrid)", "lenet")]
    assert torch[N] == "3 / 3"
    # three runs cannot give a 95% interval of the median: the range is shown, labelled as one
    assert torch[ACC] == "0.800 (range of 3: 0.790–0.810)"
    assert torch[TP] == "10,000 (range of 3: 9,836–10,169)"
    assert torch["× vs fastest"] == "1.00× (fastest)"
    assert mxnet[TP] == "5,000 (range of 3: 4,918–5,085)"
    # 3 vs 3 runs: no interval reaches 95% (only the range), so the judge leaves it open
    assert mxnet["× vs fastest"] == "0.50× open (range 0.48–0.52)"
    # the secondary columns live in the detail sections, not in the summary
    assert not {"first epoch (s)", "GFLOP/s", "peak RSS (MiB)", "accuracy gate", "setup"} & set(torch)
    throughput = {
        r["framework (mode)"]: r for r in parse_table(section(section(text, "## Throughput"), f"### {CPU}"))
    }
    assert throughput["torch (eager)"]["first epoch (s) [interval]"] == "12.00 (range of 3: 12.00–12.00)"
    assert throughput["torch (eager)"]["peak RSS (MiB)"] == "600"
    # achieved GFLOP/s = train FLOPs/example × examples/s; the share divides by the device's best
    # measured peak (mxnet's 300), and also by each framework's own (torch's 200)
    gflops = get_spec("lenet").train_flops() * 10_000 / 1e9
    peak_rows = {r["framework (mode)"]: r for r in parse_table(section(text, "## Share of device peak"))}
    assert peak_rows["torch (eager)"]["achieved GFLOP/s [interval]"].startswith(f"{gflops:.2f} ")
    assert peak_rows["torch (eager)"]["% of own peak (median)"] == f"{100 * gflops / 200:.1f}"
    assert peak_rows["torch (eager)"]["% of device peak"] == f"{100 * gflops / 300:.1f}"
    assert accuracy_rows(text)[("torch (eager)", "lenet")]["accuracy gate"] == "ok (0.70–0.86)"
    # the setup is stated once, in the table's heading
    assert "#### lenet — 10 ep · bs 256 · lr 0.9 · 8 thr · fp32\n" in text
    # mxnet sorts before torch: rows are sorted by model, then framework
    table_text = section(section(text, "## Summary"), f"### {CPU}")
    assert table_text.index("mxnet (hybrid)") < table_text.index("torch (eager)")


def six_runs(
    framework: str,
    model: str = "lenet",
    seconds: tuple[float, ...] = (6.0, 6.1, 5.9, 6.05, 5.95, 6.2),
    **kw: Any,
):
    """Seeds 0-2 train the full schedule, seeds 3-5 are timing-only repeats (the runner's default)."""
    finals = kw.pop("finals", (0.80, 0.81, 0.79))
    full = [
        make_record(framework, model, seed=i, seconds=seconds[i], final=finals[i], **kw) for i in range(3)
    ]
    timing = [
        make_record(framework, model, seed=i, seconds=seconds[i], final=0.3, purpose="timing", **kw)
        for i in range(3, 6)
    ]
    return full + timing


def test_the_summary_verdicts_come_from_the_judge(tmp_path):
    write(
        tmp_path,
        *six_runs("torch"),
        *six_runs("tensorflow", seconds=(6.02, 6.12, 5.92, 6.07, 5.97, 6.22)),  # interleaved with torch's
        *six_runs("mxnet", seconds=(12.0, 12.2, 11.8, 12.1, 11.9, 12.4)),  # every run slower
    )
    text = render(tmp_path)
    rows = summary_rows(text)
    assert rows[("torch (eager)", "lenet")]["× vs fastest"] == "1.00× (fastest)"
    assert rows[("tensorflow (function)", "lenet")]["× vs fastest"].startswith("1.00× tie within ±10% [0.9")
    # 6 vs 6 completely separated: exact two-sided p = 2 / C(12, 6) = 0.0022
    assert rows[("mxnet (hybrid)", "lenet")]["× vs fastest"].startswith("0.50× slower [0.4")
    assert rows[("mxnet (hybrid)", "lenet")]["× vs fastest"].endswith(", 95.9% CI] (p=0.002)")
    # six runs: [min, max] is the order-statistic interval with 1 - 2/2^6 = 96.9% coverage
    assert rows[("torch (eager)", "lenet")][TP] == "9,959 [9,677–10,169] 96.9% CI"
    notes = section(text, "## Summary")
    assert "Mann–Whitney U" in notes and "α = 0.05" in notes and "96.9%" in notes and "±3%" in notes


def test_timing_and_full_runs_share_a_cell(tmp_path):
    """Throughput uses all six runs; accuracy and time to target only the three full runs."""
    write(tmp_path, *six_runs("torch"))
    text = render(tmp_path)
    row = summary_rows(text)[("torch (eager)", "lenet")]
    assert row[N] == "6 / 3"
    assert row[ACC] == "0.800 (range of 3: 0.790–0.810)"  # the timing runs' 0.3 is not in it
    assert row["time to target (s)"] == "65.10"
    assert row[TP].endswith("96.9% CI")
    (ttt,) = parse_table(section(section(text, "## Time to accuracy"), f"### {CPU}"))
    assert ttt["reached"] == "3/3"


def test_same_config_on_two_machines_is_two_cells(tmp_path):
    a = make_record(
        "torch", machine="AMD EPYC 9B14 · 2 cores", final=0.80, finished_at="2026-01-01T00:00:00Z"
    )
    b = make_record(
        "torch", machine="Intel Xeon 8480 · 8 cores", final=0.81, finished_at="2026-01-02T00:00:00Z"
    )
    write(tmp_path, a, b)
    text = render(tmp_path)
    assert "superseded" not in text
    first = summary_rows(text, "cpu · AMD EPYC 9B14 · 2 cores")[("torch (eager)", "lenet")]
    second = summary_rows(text, "cpu · Intel Xeon 8480 · 8 cores")[("torch (eager)", "lenet")]
    assert first[ACC] == "0.800" and second[ACC] == "0.810"
    # each machine-device is its own comparison
    assert first["× vs fastest"] == second["× vs fastest"] == "1.00× (only one)"


def test_same_config_on_one_machine_is_superseded(tmp_path):
    label = "AMD EPYC 9B14 · 2 cores"
    old = make_record("torch", machine=label, final=0.72, finished_at="2026-01-01T00:00:00Z")
    new = make_record("torch", machine=label, final=0.81, finished_at="2026-01-02T00:00:00Z")
    write(tmp_path, old, new)
    text = render(tmp_path)
    assert "1 older record(s) superseded" in text
    assert summary_rows(text, f"cpu · {label}")[("torch (eager)", "lenet")][ACC] == "0.810"


def test_a_single_cell_is_not_called_fastest_of_many(tmp_path):
    write(tmp_path, make_record("torch"))
    assert summary_rows(render(tmp_path))[("torch (eager)", "lenet")]["× vs fastest"] == "1.00× (only one)"


def test_time_to_target_not_reached_and_partly_reached(tmp_path):
    # MLP target 0.82: finals of 0.815 never reach it; one of three seeds reaching it is counted.
    never = three_seeds("mxnet", "mlp", finals=(0.815, 0.81, 0.805))
    partly = three_seeds("torch", "mlp", finals=(0.83, 0.81, 0.815))
    write(tmp_path, *never, *partly)
    text = render(tmp_path)
    rows = summary_rows(text)
    assert rows[("mxnet (hybrid)", "mlp")]["time to target (s)"] == "not reached (0/3)"
    # seed 0 reaches 0.82 at epoch 10: 12 s first epoch + 9 × 6 s
    assert rows[("torch (eager)", "mlp")]["time to target (s)"] == "66.00 (1/3 reached)"
    ttt = {
        r["framework (mode)"]: r
        for r in parse_table(section(section(text, "## Time to accuracy"), f"### {CPU}"))
    }
    assert ttt["mxnet (hybrid)"]["reached"] == "0/3"
    assert ttt["mxnet (hybrid)"]["train seconds [interval]"] == "not reached"
    assert ttt["torch (eager)"]["epoch (median)"] == "10"
    assert "mlp 0.82" in section(text, "## Time to accuracy")


def test_accuracy_gate_flags_a_fast_wrong_cell(tmp_path):
    wrong = three_seeds("tensorflow", seconds=(3.0, 3.1, 2.9), finals=(0.55, 0.56, 0.54))
    write(tmp_path, *three_seeds("torch"), *wrong)
    text = render(tmp_path)
    rows = summary_rows(text)
    tf_row = rows[("tensorflow (function)", "lenet")]
    assert accuracy_rows(text)[("tensorflow (function)", "lenet")]["accuracy gate"] == "⚠ OUTSIDE 0.70–0.86"
    assert tf_row[ACC].startswith("⚠ 0.550")
    assert "not ranked" in tf_row["× vs fastest"]
    # the wrong cell is not the yardstick: torch stays "fastest" although it is slower
    assert rows[("torch (eager)", "lenet")]["× vs fastest"] == "1.00× (fastest)"
    alerts = text[: text.index("## Summary")]
    assert "⚠ Accuracy gate:" in alerts and f"tensorflow (function) lenet on {CPU}" in alerts
    # the bands and where they come from are documented
    accuracy = section(text, "## Accuracy")
    assert get_spec("lenet").band_source in accuracy and get_spec("mlp").band_source in accuracy


def test_accuracy_gate_only_at_the_spec_defaults(tmp_path):
    write(
        tmp_path, make_record("torch", epochs=3, final=0.5), make_record("torch", "mlp", lr=0.05, final=0.5)
    )
    text = render(tmp_path)
    rows, gates = summary_rows(text), accuracy_rows(text)
    assert gates[("torch (eager)", "lenet")]["accuracy gate"] == "no band for this setup"
    assert gates[("torch (eager)", "mlp")]["accuracy gate"] == "no band for this setup"
    assert not rows[("torch (eager)", "lenet")][ACC].startswith("⚠")


def test_failed_and_skipped_runs_with_reasons(tmp_path):
    write(
        tmp_path,
        make_record("torch"),
        make_record("torch", device="gpu", seed=0, status="skipped", reason="no CUDA GPU visible to torch"),
        make_record("torch", device="gpu", seed=1, status="skipped", reason="no CUDA GPU visible to torch"),
        make_record(
            "mxnet", "mlp", seed=2, status="failed", reason="process died with SIGKILL | out of memory?"
        ),
    )
    text = render(tmp_path)
    rows = parse_table(section(text, "## Skipped and failed runs"))
    assert rows == [
        {
            "framework": "mxnet",
            "model": "mlp",
            "device": "cpu",
            "mode": "hybrid",
            "seed": "2",
            "status": "failed",
            "reason": "process died with SIGKILL \\| out of memory?",
        },
        {
            "framework": "torch",
            "model": "lenet",
            "device": "gpu",
            "mode": "eager",
            "seed": "0, 1",
            "status": "skipped",
            "reason": "no CUDA GPU visible to torch",
        },
    ]
    assert "No successful runs on gpu (2 skipped" in section(text, "## Summary")
    assert "### gpu · no GPU" in text  # the skipped runs' machine-device: no GPU was visible
    assert "(2 ok" not in text and "1 ok, 2 skipped, 1 failed" in text


def test_only_skipped_and_failed_records_still_render(tmp_path):
    write(
        tmp_path,
        make_record("torch", device="gpu", status="skipped", reason="no GPU"),
        make_record("mxnet", status="failed", reason="ImportError: libmxnet.so", sha=None),
    )
    text = render(tmp_path, draw=True)
    assert "No successful runs: every record is skipped or failed" in text
    assert "ImportError: libmxnet.so" in text and "no GPU" in text
    assert not (tmp_path / "figures").exists() or not list((tmp_path / "figures").glob("*.png"))
    assert "## Reproduce" in text


def test_unreadable_files_are_listed(tmp_path):
    write(tmp_path, make_record("torch"))
    runs = records.runs_dir(tmp_path)
    (runs / "broken.json").write_text('{"schema_version": 1, "status": ')
    (runs / "future.json").write_text(json.dumps({"schema_version": 99}))
    text = render(tmp_path)
    rows = parse_table(section(text, "## Unreadable record files"))
    assert [Path(r["file"]).name for r in rows] == ["broken.json", "future.json"]
    assert rows[0]["reason"].startswith("invalid JSON")
    assert "schema_version 99" in rows[1]["reason"]
    assert "2 file(s) could not be read" in text


def test_zero_records(tmp_path):
    empty = tmp_path / "results"
    out = report.render([empty], tmp_path / "REPORT.md", tmp_path / "figures")
    text = out.read_text()
    assert f"No run records found in `{empty}`; run `nox -s bench`" in text
    assert "EXTERNAL" in text


def test_zero_records_but_unreadable_files(tmp_path):
    records.runs_dir(tmp_path).mkdir(parents=True)
    (records.runs_dir(tmp_path) / "junk.json").write_text("not json")
    text = render(tmp_path)
    assert "No run records found" in text and "junk.json" in section(text, "## Unreadable record files")


def test_minimal_and_malformed_records_do_not_crash(tmp_path):
    minimal = {
        "schema_version": 1,
        "run_id": "minimal",
        "status": "ok",
        "framework": {"name": "torch", "mode": "eager"},
        "model": {"name": "lenet"},
        "device": {"kind": "cpu"},
        "config": {"seed": 0},
        "metrics": {},
    }
    write(tmp_path, minimal)  # the writer refuses a malformed record: it comes from elsewhere
    malformed = dict(minimal, run_id="malformed", config="seed=0")
    records.write_atomic(records.runs_dir(tmp_path) / "malformed.json", malformed)
    text = render(tmp_path, draw=True)
    where = heading_of(section(text, "## Summary"), "### cpu")[4:]
    assert where == "cpu · ? · ? cores"  # no environment: an unknown machine, still its own table
    row = summary_rows(text, where)[("torch (eager)", "lenet")]
    assert row[TP] == "n/a (1 epoch)" and row["time to target (s)"] == "n/a"
    assert "'config' is not an object" in section(text, "## Unreadable record files")


def test_several_results_directories_are_merged(tmp_path):
    write(tmp_path / "shard0", *three_seeds("torch"))
    write(tmp_path / "shard1", *three_seeds("mxnet", seconds=(12.0, 12.2, 11.8)))
    out = report.render(
        [tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "REPORT.md", tmp_path / "fig", draw=False
    )
    text = out.read_text()
    assert summary_rows(text)[("mxnet (hybrid)", "lenet")]["× vs fastest"] == "0.50× open (range 0.48–0.52)"
    assert f"`{tmp_path / 'shard0'}`, `{tmp_path / 'shard1'}`" in text
    assert "](fig/accuracy_lenet_cpu-example-cpu-9000-8-cores.png)" in text


def test_newest_record_wins(tmp_path):
    old = make_record("torch", final=0.72, finished_at="2026-01-01T00:00:00Z")
    new = make_record("torch", final=0.81, finished_at="2026-01-03T00:00:00Z")
    assert old["config_key"] == new["config_key"] and old["run_id"] != new["run_id"]
    write(tmp_path, old, new)
    text = render(tmp_path)
    row = summary_rows(text)[("torch (eager)", "lenet")]
    assert row[N] == "1 / 1"
    assert row[ACC] == "0.810"
    assert "1 older record(s) superseded" in text
    assert "newest finished_at 2026-01-03T00:00:00Z" in text


def test_a_failed_record_without_key_is_superseded_by_a_newer_ok_run(tmp_path):
    failed = make_record(
        "torch", status="failed", reason="killed", sha=None, finished_at="2026-01-01T00:00:00Z"
    )
    write(tmp_path, failed, make_record("torch", finished_at="2026-01-02T00:00:00Z"))
    text = render(tmp_path)
    assert "killed" not in text and "1 older record(s) superseded" in text


def test_records_on_other_data_are_reported_apart(tmp_path):
    write(tmp_path, *three_seeds("torch"), make_record("mxnet", sha=OTHER_SHA, seconds=1.0))
    text = render(tmp_path)
    rows = summary_rows(text)
    assert ("mxnet (hybrid)", "lenet") not in rows
    assert rows[("torch (eager)", "lenet")]["× vs fastest"] == "1.00× (only one)"
    assert "⚠ Different data:" in text
    other = section(text, "## ⚠ Runs on different data (not comparable with the tables above)")
    assert "`0123456789ab…`" in other and "mxnet (hybrid)" in other


def test_microbenchmarks_are_merged(tmp_path):
    write(tmp_path, make_record("torch"))
    bench_dir = tmp_path / "microbench"
    bench_dir.mkdir()
    payload = {
        "benchmarks": [
            {
                "name": "test_train_step[lenet-cpu]",
                "params": {"model": "lenet", "device": "cpu"},
                "extra_info": {"framework": "torch", "mode": "eager", "kind": "train_step"},
                "stats": {"median": 0.0123, "iqr": 0.0004, "ops": 81.3, "rounds": 20},
            },
            {"name": "test_inference", "stats": {"median": 2.5e-5, "iqr": 1e-6, "ops": 40000.0}},
            {"name": "test_no_stats"},
        ]
    }
    (bench_dir / "tensorflow.json").write_text(json.dumps(payload))
    (bench_dir / "bad.json").write_text("[1, 2]")
    text = render(tmp_path)
    rows = parse_table(section(text, "## Micro-benchmarks"))
    assert rows == [
        {
            "benchmark": "test_inference",
            "machine": "not recorded",
            "framework": "tensorflow",
            "mode": "—",
            "model": "—",
            "device": "—",
            "median": "25 µs",
            "IQR": "1 µs",
            "ops/s": "40,000.0",
            "rounds": "—",
        },
        {
            "benchmark": "test_no_stats",
            "machine": "not recorded",
            "framework": "tensorflow",
            "mode": "—",
            "model": "—",
            "device": "—",
            "median": "—",
            "IQR": "—",
            "ops/s": "—",
            "rounds": "—",
        },
        {
            "benchmark": "test_train_step[lenet-cpu]",
            "machine": "not recorded",
            "framework": "torch",
            "mode": "eager",
            "model": "lenet",
            "device": "cpu",
            "median": "12.3 ms",
            "IQR": "400 µs",
            "ops/s": "81.3",
            "rounds": "20",
        },
    ]
    assert "bad.json" in section(text, "## Unreadable record files")


def test_baseline_comparison_is_merged(tmp_path):
    write(tmp_path, make_record("torch"))
    row = {
        "framework": "torch",
        "mode": "eager",
        "model": "mlp",
        "device": "cpu",
        "threads": 2,
        "harness_examples_per_sec": 30500.0,
        "plain_examples_per_sec": 29000.0,
        "ratio": 30500 / 29000,
        "paired_ratio": 1.04,
        "harness_samples": [1.0, 2.0, 3.0, 4.0],
        "plain_samples": [0.9, 1.8, 2.7, 3.6],
        "measured_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip - an older row: textbook only
    slower = {
        **row,
        "model": "lenet",
        "status": "ok",
        "harness_samples": [float(v) for v in range(1, 9)],
        "plain_samples": [v * 1.1 for v in range(1, 9)],
        "skilled_samples": [v * 1.25 for v in range(1, 9)],
        "skilled_examples_per_sec": 5.6,
        "skilled_loop": "resident tensors, index_select batches",
        "first_measurement": {"harness_samples": [1.0] * 8, "skilled_samples": [1.5] * 8},
    }  # fmt: skip - every pair: ours slower than both, and it trailed the first time too
    graph = {"framework": "torch", "mode": "graph", "model": "mlp", "device": "cpu", "status": "skipped",
             "reason": "graph mode needs CUDA"}  # fmt: skip
    records.write_atomic(
        tmp_path / "baseline" / "torch.json", {"schema_version": 1, "rows": [row, slower, graph]}
    )
    (tmp_path / "baseline" / "broken.json").write_text('{"rows": 3}')
    text = render(tmp_path)
    title = "## Our training loop vs the textbook and the skilled loop"
    slow, line, skipped = parse_table(section(text, title))  # lenet first, then mlp's modes
    assert line["ours examples/s"] == "30,500" and line["textbook examples/s"] == "29,000"
    assert line["ours ÷ textbook"] == "1.11× (open, too few pairs)" and line["epochs per side"] == "4"
    assert line["ours ÷ skilled"] == "—" and line["gate"] == "— (textbook only)"
    assert slow["model"] == "lenet" and slow["ours ÷ textbook"] == "0.91× (slower, Wilcoxon p=0.008)"
    assert slow["ours ÷ skilled"] == "0.80× (slower, Wilcoxon p=0.008)"
    assert slow["gate"] == "**trails** (measured twice; first: 0.67× (slower, Wilcoxon p=0.008))"
    assert (
        skipped["framework (mode)"] == "torch (graph)" and skipped["gate"] == "skipped: graph mode needs CUDA"
    )
    assert "exact two-sided Wilcoxon" in section(text, title)
    assert "**torch (eager)**: resident tensors, index_select batches" in section(text, title)
    assert "broken.json" in section(text, "## Unreadable record files")


def test_reproduce_command_is_derived_from_the_records(tmp_path):
    write(
        tmp_path,
        *(
            make_record("torch", model, seed=seed, epochs=2)
            for model in ("lenet", "mlp")
            for seed in (0, 1, 2)
        ),
        make_record("torch", device="gpu", epochs=2, status="skipped", reason="no GPU"),
    )
    text = section(render(tmp_path), "## Reproduce")
    assert "nox -s bench -- --models" not in text  # only torch was recorded: that framework, exact modes
    expected = "--models lenet,mlp --devices cpu,gpu --seeds 0-2 --accuracy-seeds all --epochs 2 --threads 8"
    expected += " --modes eager"
    assert f"nox -s bench -- --frameworks torch {expected}\n" in text
    assert f"`{'a' * 40}`" in text


def test_environment_and_external_references(tmp_path):
    write(tmp_path, make_record("torch"), make_record("mxnet"))
    text = render(tmp_path)
    frameworks = parse_table(section(text, "### Framework environments"))
    assert [r["framework"] for r in frameworks] == ["mxnet", "torch"]
    assert frameworks[1]["versions"].startswith("torch 2.5.1")
    assert frameworks[1]["threads intra/inter"] == "8/1" and frameworks[1]["Python"] == "3.11.7"
    machines = parse_table(section(text, "### Machines"))
    assert machines[0]["CPU"] == "Example CPU 9000" and machines[0]["framebench commit"] == "a" * 12
    external = section(text, "## Published reference points (EXTERNAL — not measured here)")
    assert "d2l.ai" in external and "Zalando" in external and "0.70–0.83" in external
    assert "d2l.ai" not in section(text, "## Summary")


def golden_records() -> list[dict[str, Any]]:
    """A small fixed matrix exercising every part of the report."""
    recs = []
    # LeNet: six runs per cell (3 full + 3 timing) in a rotating order across the frameworks
    lenet = {
        "torch": (6.0, 6.1, 5.9, 6.05, 5.95, 6.2),
        "tensorflow": (6.02, 6.12, 5.92, 6.07, 5.97, 6.22),
        "mxnet": (12.0, 12.2, 11.8, 12.1, 11.9, 12.4),
    }
    for f_index, (framework, seconds) in enumerate(lenet.items()):
        for run in six_runs(framework, seconds=seconds, finished_at=f"2026-01-02T1{f_index}:00:00Z"):
            index = 3 * run["config"]["seed"] + f_index
            run["schedule"] = {"order": "rotating", "index": index, "total": 18}
            run["started_at"] = f"2026-01-02T09:{index:02d}:00Z"
            recs.append(run)
    # the same LeNet setup with the framework's own input pipeline
    recs += six_runs("torch", seconds=(7.5, 7.6, 7.4, 7.55, 7.45, 7.7), input="native",
                     finished_at="2026-01-02T10:10:00Z")  # fmt: skip
    # MLP batch-size scaling for torch (examples/s ~10k, 19k, 40k at the default 256, 50k)
    for minute, (batch, seconds) in enumerate(((64, 6.0), (128, 60_000 / 19_000), (512, 1.2))):
        recs += three_seeds("torch", "mlp", seconds=(seconds,) * 3, batch_size=batch,
                            finished_at=f"2026-01-02T10:4{minute}:00Z")  # fmt: skip
    recs += three_seeds(
        "torch",
        "mlp",
        seconds=(1.5, 1.55, 1.45),
        finals=(0.85, 0.86, 0.84),
        finished_at="2026-01-02T10:30:00Z",
    )
    recs += three_seeds(
        "tensorflow",
        "mlp",
        seconds=(0.5, 0.52, 0.48),
        finals=(0.41, 0.42, 0.40),
        finished_at="2026-01-02T11:30:00Z",
    )
    recs += three_seeds(
        "mxnet",
        "mlp",
        seconds=(3.0, 3.1, 2.9),
        finals=(0.815, 0.81, 0.825),
        finished_at="2026-01-02T12:30:00Z",
    )
    recs.append(make_record("torch", final=0.70, finished_at="2026-01-01T09:00:00Z"))  # superseded
    for model in ("lenet", "mlp"):
        for framework in ("torch", "tensorflow"):
            recs.append(
                make_record(
                    framework,
                    model,
                    device="gpu",
                    status="skipped",
                    reason=f"no GPU visible to {framework}",
                    finished_at="2026-01-02T13:00:00Z",
                )
            )
    recs.append(
        make_record(
            "mxnet",
            "lenet",
            device="gpu",
            status="failed",
            sha=None,
            reason="process died with SIGSEGV (log: results/logs/mxnet-lenet-gpu-hybrid-seed0.log)",
            finished_at="2026-01-02T13:30:00Z",
        )
    )
    return recs


def test_golden_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = Path("results")
    write(results, *golden_records())
    (records.runs_dir(results) / "torn.json").write_text('{"schema_version": 1, "run_id": "x"')
    (results / "microbench").mkdir()
    info = {"framework": "torch", "mode": "eager", "batch": 256}
    (results / "microbench" / "torch.json").write_text(
        json.dumps(
            {
                "benchmarks": [
                    {
                        "name": "test_train_step[lenet-cpu]",
                        "params": {"model": "lenet", "device": "cpu"},
                        "extra_info": info,
                        "stats": {"median": 0.0123, "iqr": 0.0004, "ops": 81.3, "rounds": 20},
                    },
                    {
                        "name": "test_inference_batch[mlp-cpu]",
                        "params": {"model": "mlp", "device": "cpu"},
                        "extra_info": info,
                        "stats": {"median": 0.00021, "iqr": 0.00001, "ops": 4761.9, "rounds": 200},
                    },
                ]
            }
        )
    )
    out = report.render([results], results / "REPORT.md", results / "figures")
    text = out.read_text()

    figures = sorted(p.name for p in (results / "figures").glob("*.png"))
    where = "cpu-example-cpu-9000-8-cores"
    assert figures == [
        f"accuracy_lenet_{where}.png",
        f"accuracy_mlp_{where}.png",
        "input_pipeline.png",
        f"scaling_batch_torch-eager_mlp_{where}_10-ep-8-thr-fp32.png",
        f"throughput_{where}.png",
        f"time_to_target_{where}.png",
        "verdict.png",
    ]
    for name in figures:
        assert (results / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{name})" in text  # linked relative to REPORT.md
    # deterministic: a second rendering is identical
    assert (
        report.render([results], results / "REPORT.md", results / "figures", draw=False).read_text() == text
    )

    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
        pytest.skip(f"golden file rewritten: {GOLDEN}")
    assert GOLDEN.exists(), f"no golden file; create it with FRAMEBENCH_UPDATE_GOLDEN=1 ({GOLDEN})"
    assert text == GOLDEN.read_text(), (
        "REPORT.md differs from the golden file; if the change is intended, regenerate it with "
        "FRAMEBENCH_UPDATE_GOLDEN=1 python -m pytest tests/harness/test_report.py -k golden"
    )


def test_summary_shows_device_input_and_the_input_pipeline_section_compares(tmp_path):
    write(
        tmp_path,
        *six_runs("torch"),
        *six_runs("torch", seconds=(12.0, 12.2, 11.8, 12.1, 11.9, 12.4), input="native"),
    )
    text = render(tmp_path)
    rows = parse_table(section(section(text, "## Summary"), f"### {CPU}"))
    assert len(rows) == 1  # device input only, its setup in the heading
    assert "#### lenet — 10 ep · bs 256 · lr 0.9 · 8 thr · fp32\n" in text
    (line,) = parse_table(section(text, "## Input pipeline"))
    assert line["device input examples/s [interval]"] == "9,959 [9,677–10,169] 96.9% CI"
    assert line["native ÷ device"].startswith("0.50× [") and "95.9% CI]" in line["native ÷ device"]
    assert line["test"] == "slower (p=0.002)"
    assert "![device vs native input](figures/input_pipeline.png)" in text
    # asked for all inputs, the summary shows both setups (never mixed in one cell)
    out = report.render([tmp_path], tmp_path / "ALL.md", tmp_path / "figures", draw=False, summary_input=None)
    rows = parse_table(section(section(out.read_text(), "## Summary"), f"### {CPU}"))
    assert [r["setup"] for r in rows][1].endswith("native input") and len(rows) == 2


def test_native_runs_with_loader_workers_pair_with_the_device_input_cell(tmp_path):
    """The device path has no loader: native runs with 0 and with 2 workers both compare to it."""
    write(
        tmp_path,
        *six_runs("torch"),
        *six_runs("torch", seconds=(12.0, 12.2, 11.8, 12.1, 11.9, 12.4), input="native"),
        *six_runs(
            "torch",
            seconds=(24.0, 24.4, 23.6, 24.2, 23.8, 24.8),
            input="native",
            loader_workers=2,
            finished_at="2026-01-02T03:05:05Z",
        ),
    )
    lines = parse_table(section(render(tmp_path), "## Input pipeline"))
    assert [line["device input examples/s [interval]"] for line in lines] == [
        "9,959 [9,677–10,169] 96.9% CI"
    ] * 2
    assert [line["native ÷ device"][:5] for line in lines] == ["0.50×", "0.25×"]
    assert lines[1]["setup"].endswith("2 loader workers")


def test_sections_appear_only_with_records_for_them(tmp_path):
    write(tmp_path, *three_seeds("torch"))
    text = render(tmp_path)
    for heading in ("## Input pipeline", "## Scaling", "## Run order"):
        assert heading not in text
    assert "## Accuracy" in text  # the detail sections do appear with records


def test_scaling_finds_where_a_framework_stops_being_overhead_bound(tmp_path):
    # examples/s 10k, 19k, 40k, 50k at batch 64, 128, 256, 512: gains 1.9, 2.1, 1.25 per doubling
    for minute, (batch, seconds) in enumerate(((64, 6.0), (128, 60_000 / 19_000), (256, 1.5), (512, 1.2))):
        write(tmp_path, *three_seeds("torch", "mlp", seconds=(seconds,) * 3, batch_size=batch,
                                     finished_at=f"2026-01-02T10:4{minute}:00Z"))  # fmt: skip
    for threads, seconds in ((1, 3.0), (2, 1.6), (4, 1.0)):
        write(tmp_path, *three_seeds("torch", "mlp", seconds=(seconds,) * 3, threads=threads,
                                     finished_at=f"2026-01-03T10:0{threads}:00Z"))  # fmt: skip
    text = section(render(tmp_path), "## Scaling")
    assert "gains less than 1.5×" in text
    batch = section(text, heading_of(text, "### Batch size: torch (eager) mlp"))
    assert "stops being overhead-bound at batch 256" in batch
    assert [r["gain per doubling"] for r in parse_table(batch)] == ["—", "1.90×", "2.11×", "1.25×"]
    threads = section(text, heading_of(text, "### Threads: torch (eager) mlp"))
    assert [r["speed-up vs fewest threads"] for r in parse_table(threads)] == [
        "1.00×",
        "1.88×",
        "3.00×",
        "2.00×",
    ]


def test_run_order_shows_how_interleaved_the_frameworks_were(tmp_path):
    recs = []
    for index in range(6):
        framework = ("torch", "mxnet")[index % 2]
        record = make_record(
            framework, seed=index // 2, schedule={"order": "rotating", "index": index, "total": 6}
        )
        record["started_at"] = f"2026-01-02T09:0{index}:00Z"
        recs.append(record)
    write(tmp_path, *recs)
    text = section(render(tmp_path), "## Run order")
    assert "6 of 6 records" in text and "rotating (6 runs)" in text
    assert (
        "changed 5 times between 5 consecutive pairs" in text
        and "longest stretch of one framework was 1" in text
    )
    assert "Sequence (mx = mxnet, to = torch): to mx to mx to mx" in text


def test_plug_in_frameworks_count_in_the_reproduce_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBENCH_EXTRA_FRAMEWORKS", "plug=plug_module:PlugFramework")
    write(tmp_path, *(make_record(name, mode=DEFAULT_MODES.get(name, "eager")) for name in impls.registry()))
    text = section(render(tmp_path), "## Reproduce")
    assert "nox -s bench -- --models lenet" in text and "--frameworks" not in text  # the whole matrix
    monkeypatch.delenv("FRAMEBENCH_EXTRA_FRAMEWORKS")
    text = section(render(tmp_path), "## Reproduce")
    assert "nox -s bench -- --models" not in text and "nox -s bench -- --frameworks plug " in text


def test_export_csv_and_json(tmp_path):
    import csv

    from bench.report import export

    write(tmp_path, *six_runs("torch"), *six_runs("mxnet", seconds=(12.0, 12.2, 11.8, 12.1, 11.9, 12.4)),
          *six_runs("torch", input="native"))  # fmt: skip
    path = export.write_tables([tmp_path], None, "csv")
    assert path == tmp_path / "summary.csv"
    rows = list(csv.DictReader(path.open()))
    assert [(r["framework"], r["input"]) for r in rows] == [("mxnet", "device"), ("torch", "device")]
    mxnet, torch = rows
    assert mxnet["machine"] == "Example CPU 9000 · 8 cores" and mxnet["device"] == "cpu"
    assert mxnet["batch_size"] == "256" and mxnet["precision"] == "fp32" and mxnet["threads"] == "8"
    assert (mxnet["n_runs"], mxnet["n_full_runs"]) == ("6", "3")
    assert float(mxnet["ratio_vs_fastest"]) == pytest.approx(0.5, rel=0.01)
    assert mxnet["verdict"] == "slower" and float(mxnet["p_value"]) == pytest.approx(2 / 924)
    assert float(mxnet["examples_per_sec_coverage"]) == pytest.approx(0.96875)
    assert mxnet["examples_per_sec_interval"] == "order-statistic CI"
    assert mxnet["accuracy_interval"] == "range" and mxnet["accuracy_coverage"] == ""
    assert torch["verdict"] == "fastest" and torch["p_value"] == ""

    path = export.write_tables([tmp_path], tmp_path / "out" / "cells.json", "json", summary_input=None)
    payload = json.loads(path.read_text())
    assert payload["summary_input"] is None and len(payload["cells"]) == 3
    native = next(c for c in payload["cells"] if c["input"] == "native")
    assert (
        native["examples_per_sec_low"] <= native["examples_per_sec_median"] <= native["examples_per_sec_high"]
    )
    assert native["accuracy_median"] == pytest.approx(0.8)
    assert export.write_tables([tmp_path], tmp_path / "s.md", "md").read_text().startswith("| device ")
    with pytest.raises(ValueError, match="unknown format"):
        export.write_tables([tmp_path], None, "xlsx")


def test_reproduce_names_the_accuracy_seeds(tmp_path):
    write(tmp_path / "a", *(make_record("torch", seed=s) for s in range(4)))
    assert "--seeds 0-3 --accuracy-seeds all " in section(render(tmp_path / "a"), "## Reproduce")
    two_full = [make_record("torch", seed=s, purpose="full" if s < 2 else "timing") for s in range(6)]
    write(tmp_path / "b", *two_full)
    assert "--seeds 0-5 --accuracy-seeds 2 " in section(render(tmp_path / "b"), "## Reproduce")
    one_full = [make_record("torch", seed=s, purpose="full" if s < 1 else "timing") for s in range(6)]
    write(tmp_path / "c", *one_full)  # the default: seed 0 trains the full schedule, 1-5 are timing runs
    assert "--accuracy-seeds" not in section(render(tmp_path / "c"), "## Reproduce")


# ----------------------------------------------------------------------------------------------
# a cell is one software build; impossible numbers are invalid records; paths survive spaces


def build(recs: list[dict[str, Any]], torch: str | None = None, commit: str | None = None):
    """The same records of another build (framework version and/or framebench commit)."""
    for record in recs:
        if torch:
            record["framework"]["versions"] = {**record["framework"]["versions"], "torch": torch}
        if commit:
            record["environment"]["framebench_commit"] = commit
    return recs


def test_two_builds_on_one_machine_are_two_cells_the_newest_is_shown(tmp_path):
    """Defect 5: runs of torch 2.13 and 2.14 on one machine never pool into one median."""
    old = build(three_seeds("torch", seconds=(12.0, 12.2, 11.8), finished_at="2026-01-01T00:00:00Z"),
                torch="2.13.0+cpu", commit="b" * 40)  # fmt: skip
    new = build(six_runs("torch", finished_at="2026-01-05T00:00:00Z"), torch="2.14.1+cu130")
    write(tmp_path, *old, *new)
    text = render(tmp_path)
    row = summary_rows(text)[("torch (eager)", "lenet")]
    assert row[N] == "6 / 3"  # the newest build only, never "9 / 6"
    assert "superseded" not in text  # another build is another cell, not a supersession
    older = parse_table(section(text, "## Older builds (not shown)"))
    assert older == [{"machine-device": CPU, "framework": "torch", "versions": (
        "torch 2.13.0+cpu, cuda None, cudnn n/a, numpy 2.1.3"), "framebench commit": "b" * 12, "records": "3",
        "newest finished_at": "2026-01-01T00:00:00Z"}]  # fmt: skip
    found = report.collect([tmp_path])
    (shown,) = found.rows
    assert shown.build_text == f"commit {'a' * 12}, torch 2.14.1+cu130, cuda None, cudnn n/a, numpy 2.1.3"
    assert dict(shown.versions)["torch"] == "2.14.1+cu130" and shown.commits == ["a" * 40]


def test_the_same_build_at_two_commits_pools_only_when_asked(tmp_path):
    write(tmp_path, *build(three_seeds("torch", finished_at="2026-01-01T00:00:00Z"), commit="b" * 40),
          *build([make_record("torch", seed=seed, finished_at="2026-01-05T00:00:00Z") for seed in (3, 4, 5)],
                 commit="c" * 40))  # fmt: skip
    assert summary_rows(render(tmp_path))[("torch (eager)", "lenet")][N] == "3 / 3"
    out = report.render([tmp_path], tmp_path / "R.md", tmp_path / "figures", draw=False, pool_commits=True)
    pooled = out.read_text()
    assert summary_rows(pooled)[("torch (eager)", "lenet")][N] == "6 / 6"
    assert "## Older builds" not in pooled
    (row,) = report.collect([tmp_path], pool_commits=True).rows
    assert row.commits == ["b" * 40, "c" * 40]


def test_a_failure_after_a_good_run_does_not_hide_it(tmp_path):
    """Defect 2's report half: the orphan's late `failed: BrokenPipeError` record of a configuration
    that has an ok record is superseded; the report shows the ok run, as --resume counts it."""
    good = make_record("torch", finished_at="2026-01-01T10:00:00Z")
    late = make_record("torch", status="failed", reason="BrokenPipeError: [Errno 32] Broken pipe", sha=None,
                       finished_at="2026-01-01T11:00:00Z")  # fmt: skip
    write(tmp_path, good, late)
    text = render(tmp_path)
    assert summary_rows(text)[("torch (eager)", "lenet")][N] == "1 / 1"
    assert "No successful runs" not in text and "BrokenPipeError" not in text
    assert counting.completed_keys(tmp_path) == {good["config_key"]}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"final_test_accuracy": float("nan")}, "final_test_accuracy is nan"),
        ({"steady_examples_per_sec": -10_000.0}, "steady_examples_per_sec is -10000 (must be positive)"),
        ({"share_of_peak": 1.25}, "share_of_peak is 1.25 (over 100% of the device's peak)"),
        ({"first_epoch_seconds": -12.0}, "first_epoch_seconds is -12 (must not be negative)"),
    ],
)
def test_impossible_numbers_are_listed_as_invalid_never_averaged(tmp_path, change, why):
    """Defect 7: the record is listed with its file and why; it is neither averaged nor counted."""
    bad = make_record("torch", seed=3)
    bad["metrics"].update(change)
    write(tmp_path, *three_seeds("torch"), bad)
    text = render(tmp_path)
    row = summary_rows(text)[("torch (eager)", "lenet")]
    assert row[N] == "3 / 3" and row[TP] == "10,000 (range of 3: 9,836–10,169)"
    (listed,) = parse_table(section(text, "## Unreadable record files"))
    assert Path(listed["file"]).name == f"{bad['run_id']}.json" and why in listed["reason"]


def test_paths_with_spaces_survive_the_reproduce_command_and_the_image_links(tmp_path):
    results = tmp_path / "my results"
    write(results, *three_seeds("torch"))
    out = report.render([results], tmp_path / "REPORT.md", results / "figures", draw=False)
    text = out.read_text()
    assert "](my%20results/figures/accuracy_lenet_cpu-example-cpu-9000-8-cores.png)" in text
    assert f"python -m bench report --results '{results}'\n" in section(text, "## Reproduce")


def test_a_leftover_complete_temporary_record_is_mentioned(tmp_path):
    record = make_record("torch")
    write(tmp_path, *three_seeds("mxnet"))
    runs = records.runs_dir(tmp_path)
    (runs / f".{record['run_id']}.k3x9.tmp").write_text(json.dumps(record))
    rows = parse_table(section(render(tmp_path), "## Unreadable record files"))
    assert [Path(r["file"]).name for r in rows] == [f".{record['run_id']}.k3x9.tmp"]
    assert f"rename it to {record['run_id']}.json to count it" in rows[0]["reason"]
