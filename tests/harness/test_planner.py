"""bench.planner on its own: rounds, their seeded order, the minimum, the budget, who stays in the race.

No processes and no timing: a simulated clock advanced by the test, fake runs (namespaces with a
RunConfig's fields).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bench import judge, planner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def runs(frameworks=("a", "b"), models=("lenet",), seeds=10, batch_sizes=(256,)):
    return [
        SimpleNamespace(
            framework=fw,
            mode="m",
            model=model,
            device="cpu",
            batch_size=batch,
            seed=seed,
            purpose="full" if seed == 0 else "timing",
        )
        for model in models
        for batch in batch_sizes
        for fw in frameworks
        for seed in range(seeds)
    ]


def sitting(budget=20.0, seed=7, tie=0.10):
    return planner.new_sitting(datetime(2026, 12, 5, 0, 12, tzinfo=UTC), budget, tie, order_seed=seed,
                               rng=random.Random(1))  # fmt: skip


def open_speed(rng):
    """Speeds of two alike cells, noisy beyond any tie margin: no look can settle their contest."""
    return lambda slot: 100.0 * rng.choice([0.5, 2.0])


def drive(plan, clock, speed=lambda slot: 100.0, cost=lambda slot: 10.0, status=lambda slot: "ok"):
    """Run the planner to the end; return the rounds (lists of slots that ran) and the reports."""
    rounds, reports = [], []
    while slots := plan.next_round():
        ran = []
        for slot in slots:
            if not plan.begin(slot):
                continue
            clock.now += cost(slot)
            plan.finish(slot, status(slot), speed(slot))
            ran.append(slot)
        rounds.append(ran)
        reports.append(plan.end_round())
    return rounds, reports


def test_a_sitting_has_an_id_a_start_a_seed_and_its_error_rule():
    s = sitting(budget=12.5)
    assert re.fullmatch(r"s-20261205T0012Z-[0-9a-f]{4}", s.id)
    assert s.started_at == "2026-12-05T00:12:00Z" and s.order_seed == 7
    assert s.to_dict() == {"id": s.id, "started_at": s.started_at, "order_seed": 7, "budget_minutes": 12.5,
                           "target_precision": 0.10, "alpha_per_look": judge.ALPHA / planner.PLANNED_LOOKS,
                           "planned_looks": planner.PLANNED_LOOKS}  # fmt: skip
    drawn = {planner.new_sitting(datetime.now(UTC), 1.0, 0.1).order_seed for _ in range(5)}
    assert len(drawn) > 1  # drawn at random unless given
    fixed = planner.new_sitting(datetime.now(UTC), 0, 0.1)  # 0: the fixed design, no race, one look
    assert (fixed.budget_minutes, fixed.planned_looks, fixed.alpha_per_look) == (None, 1, judge.ALPHA)
    assert len(planner.LOOK_ROUNDS) == planner.PLANNED_LOOKS - 1  # the last look is the report's


def test_each_round_runs_every_open_cell_once_in_a_seeded_random_order():
    matrix = runs(frameworks=("a", "b", "c", "d", "e"), models=("lenet", "mlp"), seeds=4)
    orders = []
    for seed in (7, 7, 8):
        clock = Clock()
        plan = planner.Planner(matrix, sitting(budget=None, seed=seed), clock)
        rounds, _ = drive(plan, clock)
        orders.append([[slot.cell.key for slot in r] for r in rounds])
        assert len(rounds) == 4
        for number, r in enumerate(rounds, start=1):
            assert sorted(slot.cell.key for slot in r) == sorted(plan.cells)  # each cell once
            assert [(s.round, s.position, s.round_size) for s in r] == [(number, i, 10) for i in range(10)]
            assert {s.run.seed for s in r} == {number - 1}  # each cell's runs in order: seed 0 first
    assert orders[0] == orders[1]  # the order seed reproduces the order
    assert orders[0] != orders[2]
    assert len({tuple(r) for r in orders[0]}) == 4  # a fresh order every round


def test_the_schedule_of_a_record():
    clock = Clock()
    plan = planner.Planner(runs(), sitting(), clock)
    slot = plan.next_round()[1]
    schedule = plan.schedule(slot, 5, 20, "randomized rounds")
    expected = {"order": "randomized rounds", "index": 5, "total": 20, "sitting": plan.sitting.to_dict()}
    assert schedule == {**expected, "round": 1, "position": 1, "round_size": 2}


def test_the_minimum_always_runs_and_a_budget_too_small_says_so_once():
    clock = Clock()
    model = lambda run: 3.0 if run.purpose == "full" else 1.0  # noqa: E731  # modelled: a timing run is 1/3
    plan = planner.Planner(runs(frameworks=("a", "b", "c")), sitting(budget=1.0), clock, cost_model=model)
    rounds, reports = drive(plan, clock, cost=lambda slot: 30.0 if slot.run.purpose == "full" else 10.0)
    assert [len(r) for r in rounds] == [
        3,
        3,
        3,
        0,
    ]  # 3 processes of each cell; round 4 finds the budget spent
    assert all(cell.taken == 3 for cell in plan.cells.values())
    warnings = [r.warning for r in reports if r.warning]
    # after round 1: 90 s spent, each cell still needs two timing runs, 10 s each as modelled from its 30 s
    assert warnings == ["note: the minimum (3 processes of each of 3 cells) needs about 2.5 min, more than "
                        "the budget of 1 min; running the minimum anyway"]  # fmt: skip
    assert plan.stopped


def test_no_warning_when_the_minimum_fits():
    clock = Clock()
    plan = planner.Planner(runs(), sitting(budget=20.0), clock)
    _, reports = drive(plan, clock)
    assert not any(r.warning for r in reports)


def test_the_budget_stops_before_a_process_that_would_not_fit():
    clock = Clock()
    plan = planner.Planner(runs(seeds=40), sitting(budget=5.0), clock)
    rounds, reports = drive(plan, clock, speed=open_speed(random.Random(2)))
    assert plan.stopped
    assert plan.elapsed() <= 5 * 60  # expected costs are exact here: within the budget
    assert plan.elapsed() + 10.0 > 5 * 60  # and nothing more would have fit
    assert reports[-1].left_s == pytest.approx(300 - plan.elapsed())
    assert sum(len(r) for r in rounds) == 30


def test_the_budget_uses_each_cells_own_cost():
    clock = Clock()
    plan = planner.Planner(runs(seeds=40), sitting(budget=5.0), clock)
    # b's process costs 40 s, a's 5 s: with 32.5 s left a may still start, b may not
    drive(plan, clock, cost=lambda slot: 40.0 if slot.run.framework == "b" else 5.0,
          speed=open_speed(random.Random(2)))  # fmt: skip
    a, b = plan.cells.values()
    assert a.taken > b.taken
    assert plan.elapsed() <= 300


def test_a_clearly_slower_cell_leaves_at_the_first_look_and_the_leader_with_it():
    clock = Clock()
    rng = random.Random(3)
    plan = planner.Planner(runs(frameworks=("fast", "slow"), seeds=40), sitting(budget=60.0), clock)
    truth = {"fast": 200.0, "slow": 100.0}
    rounds, reports = drive(
        plan, clock, speed=lambda slot: truth[slot.run.framework] * rng.uniform(0.95, 1.05)
    )
    first = planner.LOOK_ROUNDS[0]
    assert len(rounds) == first  # the contest is decided at the first look: the sitting ends early
    fast, slow = plan.cells.values()
    assert slow.state == "settled" and slow.judgement.label == "slower"
    assert slow.judgement.alpha == plan.sitting.alpha_per_look
    assert fast.state == "decided" and fast.judgement is None
    assert [r.looked for r in reports] == [r.round == first for r in reports]
    assert reports[-1].open_contests == 0


def test_a_tie_within_the_target_precision_leaves_the_race():
    clock = Clock()
    rng = random.Random(4)
    plan = planner.Planner(runs(frameworks=("x", "y"), seeds=40), sitting(budget=60.0, tie=0.10), clock)
    drive(plan, clock, speed=lambda slot: 100.0 * rng.uniform(0.99, 1.01))
    states = sorted(
        (cell.state, cell.judgement.label if cell.judgement else None) for cell in plan.cells.values()
    )
    assert states == [("decided", None), ("settled", "tie")]


def test_an_open_contest_keeps_running_and_nothing_leaves_after_the_planned_looks():
    clock = Clock()
    rng = random.Random(5)
    plan = planner.Planner(runs(frameworks=("p", "q"), seeds=100), sitting(budget=1000.0), clock)
    rounds, reports = drive(plan, clock, speed=open_speed(rng))
    assert len(rounds) == 100  # every run, since the budget lasts: cells keep running after the looks
    assert [r.round for r in reports if r.looked] == list(planner.LOOK_ROUNDS)
    assert plan.looks == planner.PLANNED_LOOKS - 1
    assert all(cell.state == "done" for cell in plan.cells.values())


def test_time_goes_to_the_open_contest():
    clock = Clock()
    rng = random.Random(6)
    matrix = runs(frameworks=("fast", "slow"), models=("lenet", "mlp"), seeds=40)
    plan = planner.Planner(matrix, sitting(budget=20.0), clock)

    def speed(slot):
        if slot.run.model == "lenet":  # decided at once: 2x apart
            return {"fast": 200.0, "slow": 100.0}[slot.run.framework] * rng.uniform(0.95, 1.05)
        return open_speed(rng)(slot)  # mlp: stays open

    drive(plan, clock, speed=speed)
    taken = {(cell.key[0], cell.key[2]): cell.taken for cell in plan.cells.values()}
    assert taken[("fast", "lenet")] == taken[("slow", "lenet")] == planner.LOOK_ROUNDS[0]
    assert taken[("fast", "mlp")] == taken[("slow", "mlp")] > 2 * planner.LOOK_ROUNDS[0]
    assert plan.elapsed() <= 20 * 60


def test_failed_and_skipped_cells_leave_at_once_and_a_cell_alone_after_its_minimum():
    clock = Clock()
    plan = planner.Planner(runs(frameworks=("ok", "crash", "absent"), seeds=10), sitting(), clock)
    status = {"ok": "ok", "crash": "failed", "absent": "skipped"}
    rounds, _ = drive(plan, clock, status=lambda slot: status[slot.run.framework])
    ok, crash, absent = plan.cells.values()
    assert (crash.state, crash.taken) == ("failed", 1) and (absent.state, absent.taken) == ("skipped", 1)
    assert (ok.state, ok.taken) == ("decided", 3)  # no rival left: nothing to decide after the minimum
    assert [len(r) for r in rounds] == [3, 1, 1]


def test_the_fixed_design_runs_every_run_and_tries_every_seed_of_a_failing_cell():
    clock = Clock()
    plan = planner.Planner(runs(frameworks=("ok", "crash", "absent"), seeds=4), sitting(budget=None), clock)
    status = {"ok": "ok", "crash": "failed", "absent": "skipped"}
    rounds, reports = drive(plan, clock, status=lambda slot: status[slot.run.framework], cost=lambda s: 1e6)
    assert [len(r) for r in rounds] == [3, 2, 2, 2]  # no budget: a skipped cell once, a failing one each seed
    assert not any(r.looked for r in reports) and not plan.stopped


def test_resumed_processes_count_without_a_sample_or_a_cost():
    clock = Clock()
    plan = planner.Planner(runs(seeds=3), sitting(), clock)
    slots = plan.next_round()
    for slot in slots:
        plan.finish(slot, "resumed")
    assert all(cell.taken == 1 and not cell.speeds and not cell.costs for cell in plan.cells.values())


def test_blocked_is_one_round_in_the_given_order():
    clock = Clock()
    matrix = runs(seeds=3)
    plan = planner.Planner(matrix, sitting(), clock, blocked=True)
    rounds, reports = drive(plan, clock)
    assert len(rounds) == 1 and [slot.run for slot in rounds[0]] == matrix
    assert not reports[0].looked


def test_paired_by_round_once_enough_rounds_are_common():
    assert (
        planner.paired_minimum(0.1) == 5
        and planner.paired_minimum(0.05) == 6
        and planner.paired_minimum(0.005) == 9
    )
    a = {r: 100.0 + r for r in range(1, 10)}
    b = {r: 100.0 + r for r in range(1, 9)} | {11: 90.0}
    assert planner.compare_cells(a, b, 0.05, 0.1).test.startswith("Wilcoxon")  # 8 common rounds ≥ 6
    assert planner.compare_cells(a, b, 0.005, 0.1).test == "Mann–Whitney U"  # 8 < 9
    assert planner.compare_cells(a, {1: 1.0, 2: 2.0}, 0.05, 0.1).test == "Mann–Whitney U"


def test_contests_and_cells():
    a = SimpleNamespace(framework="torch", mode="eager", model="mlp", device="cpu", batch_size=64, threads=2)
    b = SimpleNamespace(**{**vars(a), "framework": "jax", "mode": "jit"})
    c = SimpleNamespace(**{**vars(a), "batch_size": 256})
    assert planner.contest_key(a) == planner.contest_key(b) != planner.contest_key(c)
    assert planner.cell_key(a) != planner.cell_key(b)
