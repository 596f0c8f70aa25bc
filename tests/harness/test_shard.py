"""--shard i/n: parse errors, and a split that is disjoint, complete, deterministic, balanced, in order."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from bench import config as cfg
from bench import planner, shard


def matrix(frameworks=("torch", "mxnet", "tensorflow"), seeds=(0, 1, 2, 3, 4, 5), **kw) -> cfg.Matrix:
    return cfg.Matrix(
        frameworks=frameworks,
        models=kw.pop("models", ("lenet", "mlp")),
        devices=kw.pop("devices", ("cpu", "gpu")),
        modes={name: ("default",) for name in frameworks},
        seeds=seeds,
        epochs=kw.pop("epochs", None),
        batch_sizes=kw.pop("batch_sizes", (None,)),
        lr=None,
        threads=(2,),
        accuracy_seeds=kw.pop("accuracy_seeds", 3),
        **kw,
    )


@pytest.mark.parametrize("text", ["1/1", "2/4", "4/4", " 3 / 7 "])
def test_parse_valid(text):
    index, count = shard.parse_shard(text)
    assert f"{index}/{count}" == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("0/4", "shards count from 1; use 1/4 to 4/4"),
        ("5/4", "only 4 shards; use 1/4 to 4/4"),
        ("x", "needs i/n, e.g. 2/4"),
        ("1/0", "count must be at least 1"),
        ("", "needs i/n"),
        ("-1/4", "needs i/n"),
        ("1/2/3", "needs i/n"),
    ],
)
def test_parse_errors_are_one_line_naming_the_fix(text, fix):
    with pytest.raises(ValueError, match="--shard") as info:
        shard.parse_shard(text)
    assert fix in str(info.value)
    assert "\n" not in str(info.value)


def _check_partition(runs, count, cost):
    parts = [shard.select(runs, i, count, cost) for i in range(1, count + 1)]
    positions = {id(run): i for i, run in enumerate(runs)}
    seen = [positions[id(run)] for part in parts for run in part]
    assert sorted(seen) == list(range(len(runs))), "not disjoint and complete"
    for part in parts:  # the original (interleaved) order inside each shard
        assert [positions[id(r)] for r in part] == sorted(positions[id(r)] for r in part)
    totals = [sum(cost(r) for r in part) for part in parts]
    if runs:
        bound = sum(totals) / count + max(cost(r) for r in runs)
        assert max(totals) <= bound + 1e-9, (totals, bound)
    assert totals == pytest.approx(shard.shard_costs(runs, count, cost))
    return parts


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 16, 50, 200])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"frameworks": ("torch",), "seeds": (0,)},
        {"models": ("mlp",), "devices": ("cpu",), "seeds": (0, 1, 2)},
        {"batch_sizes": (64, 256, 1024), "epochs": 3, "accuracy_seeds": None},
        {"repeats": 3, "order": "blocked"},
    ],
)
def test_real_matrices_split_disjoint_complete_balanced_in_order(count, kw):
    runs = matrix(**kw).runs()
    _check_partition(runs, count, shard.expected_cost)


def test_random_costs_many_combinations():
    rng = random.Random(1234)
    for _ in range(300):
        n = rng.randint(0, 60)
        runs = [
            SimpleNamespace(name=i, c=rng.choice([1.0, 2.0, 2.0, rng.uniform(0.1, 50)])) for i in range(n)
        ]
        _check_partition(runs, rng.randint(1, 12), lambda r: r.c)


def test_deterministic_and_independent_of_object_identity():
    a = matrix().runs()
    b = matrix().runs()  # equal configs, different objects: every shard process computes its own
    for i in (1, 2, 3):
        assert shard.select(a, i, 3, shard.expected_cost) == shard.select(b, i, 3, shard.expected_cost)
        assert shard.select(a, i, 3, shard.expected_cost) == shard.select(a, i, 3, shard.expected_cost)


def test_ties_go_to_the_lowest_shard_and_equal_runs_round_robin():
    runs = list(range(8))
    assert [shard.select(runs, i, 4, lambda r: 1.0) for i in (1, 2, 3, 4)] == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert shard.select(runs[:2], 3, 4, lambda r: 1.0) == []  # more shards than runs: some are empty


def test_lpt_balances_better_than_contiguous_chunks():
    runs = matrix(devices=("cpu",)).runs()  # rotating: lenet runs first, then mlp
    totals = shard.shard_costs(runs, 2, shard.expected_cost)
    assert max(totals) / min(totals) < 1.1
    half = len(runs) // 2
    naive = [sum(map(shard.expected_cost, runs[:half])), sum(map(shard.expected_cost, runs[half:]))]
    assert max(naive) / min(naive) > 2  # what a plain split would have done


def test_expected_cost_model():
    base = dict(framework="torch", model="mlp", device="cpu", epochs=10, purpose="full", timing_epochs=3,
                batch_size=256)  # fmt: skip
    cost = lambda **kw: shard.expected_cost(SimpleNamespace(**{**base, **kw}))  # noqa: E731
    assert cost(model="lenet") > 3 * cost()  # LeNet trains ~9x slower than the MLP on CPU
    assert cost(device="gpu", model="lenet") < cost(model="lenet")
    assert cost(purpose="timing") < cost()  # 3 epochs and one evaluation instead of 10 and 10
    assert cost(epochs=1) < cost(epochs=2) < cost()
    assert cost(batch_size=64) > cost()  # more optimizer steps per epoch
    assert cost(epochs=1) >= shard.STARTUP_SECONDS
    assert cost(model="resnet") == cost(model="lenet")  # unknown models: LeNet-like
    # The dataclass itself works, with its purpose/timing_epochs.
    run = matrix(frameworks=("torch",), seeds=(0, 3), accuracy_seeds=1).runs()
    assert {r.purpose for r in run} == {"full", "timing"}
    assert all(shard.expected_cost(r) > 0 for r in run)


def test_select_rejects_an_index_outside_the_count():
    with pytest.raises(ValueError, match="use 1/3 to 3/3"):
        shard.select([1, 2], 4, 3, float)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 12])
def test_contests_stay_whole_every_framework_of_a_contest_in_one_shard(count):
    """A shard is a sitting: a verdict's cells (every framework and mode of a contest: model, device,
    setup) are never split across shards, and the groups are balanced by LPT like single runs."""
    runs = matrix(batch_sizes=(64, 256, 1024)).runs()
    parts = [shard.select(runs, i, count, shard.expected_cost, group=planner.contest_key)
             for i in range(1, count + 1)]  # fmt: skip
    assert sorted(map(id, (r for part in parts for r in part))) == sorted(map(id, runs))
    owner = {}
    for index, part in enumerate(parts):
        for run in part:
            assert owner.setdefault(planner.contest_key(run), index) == index  # one shard per contest
    for part in parts:
        assert len({r.framework for r in part}) in (0, 3)  # all three frameworks, or an empty shard
        positions = [runs.index(r) for r in part]
        assert positions == sorted(positions)
    totals = shard.shard_costs(runs, count, shard.expected_cost, group=planner.contest_key)
    groups = {}
    for run in runs:
        groups[planner.contest_key(run)] = groups.get(planner.contest_key(run), 0.0) + shard.expected_cost(
            run
        )
    assert max(totals) <= sum(totals) / count + max(groups.values()) + 1e-9  # the LPT bound, over groups
