"""bench.loops: the reference loops' argument object, mode guard and clock (on a simulated clock)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from bench import loops
from bench.loops import LoopArgs
from bench.specs import MLP


def args(**extra) -> LoopArgs:
    return LoopArgs(MLP, MLP.initial_weights(0), np.zeros((5, 1, 28, 28)), np.zeros(5), 2, 0.1, **extra)


def test_the_argument_object_is_frozen_and_knows_its_size():
    a = args()
    assert (a.n, a.seed, a.device, a.mode, a.trained) == (5, 0, "cpu", None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.mode = "eager"
    assert dataclasses.replace(a, mode="eager").mode == "eager"


def test_the_mode_guard_names_every_mode_with_a_skilled_loop_before_the_loop_runs():
    ran = []

    @loops.skilled_loop("numpy", {"eager": "...", "jit": "..."})
    def skilled_epochs(a: LoopArgs):
        """The loop."""
        ran.append(a.mode)
        return iter([1.0])

    with pytest.raises(
        ValueError, match=r"^numpy has no skilled loop for mode 'x'; choose one of: eager, jit$"
    ):
        skilled_epochs(args(mode="x"))
    assert ran == []
    assert next(skilled_epochs(args(mode="jit"))) == 1.0 and ran == ["jit"]
    assert skilled_epochs.__doc__ == "The loop."


def test_the_clock_brackets_only_the_epoch_between_two_syncs(monkeypatch):
    """draw and read happen off the clock; the epoch and the syncs around it on it."""
    now = itertools.count(0.0, 1.0)  # every reading of the clock advances it by 1 s
    events = []

    def clock():
        t = next(now)
        events.append(("clock", t))
        return t

    monkeypatch.setattr(loops.time, "perf_counter", clock)
    trained: dict = {}
    epochs = loops.timed_epochs(
        lambda drawn: events.append(("epoch", drawn)) or drawn * 10,
        sync=lambda: events.append(("sync",)),
        draw=lambda: events.append(("draw",)) or len(events),
        trained=trained,
        read=lambda result: events.append(("read", result)) or {"order": result},
    )
    assert next(epochs) == 1.0
    assert events == [
        ("draw",),
        ("sync",),
        ("clock", 0.0),
        ("epoch", 1),
        ("sync",),
        ("clock", 1.0),
        ("read", 10),
    ]
    assert trained == {"order": 10}
    assert next(epochs) == 1.0  # forever: a second epoch, timed the same way
    assert trained == {"order": 80}


def test_without_trained_nothing_is_read(monkeypatch):
    read = []
    epochs = loops.timed_epochs(lambda _: None, read=lambda r: read.append(r) or {})
    assert next(epochs) >= 0 and read == []


def test_a_deferred_loop_is_built_at_its_first_epoch():
    built = []

    def plain_epochs(a: LoopArgs):
        built.append(a.seed)
        return iter([2.0, 3.0])

    epochs = loops.deferred(plain_epochs, args(seed=7))
    assert built == []
    assert next(epochs) == 2.0 and built == [7]
    assert next(epochs) == 3.0 and built == [7]
