"""The reference loops ``nox -s baseline`` measures ours against (``impls/<name>/baseline.py``): every
mode that runs on a CPU has a skilled loop, and the skilled loop computes the oracle's SGD step.

Runs in the framework's own environment with the conformance suite; nothing here knows which
framework it is testing. A skilled loop must accept ``trained=``, a dict into which it writes, after
each epoch and off the clock, the canonical ``weights`` and the epoch's ``order`` (the permutation it
drew), so that what it trains can be checked without timing anything; a textbook loop writes the
``weights`` there too.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_conformance import batch, rel_error

from bench import baseline, reference
from bench.contract import Unsupported
from bench.loops import LoopArgs
from bench.specs import MODELS

SPECS = sorted(MODELS.values(), key=lambda s: s.name)


@pytest.fixture(scope="module")
def loops(framework):
    return baseline.reference_module(framework.NAME)


def runs_on_cpu(framework, mode) -> bool:
    try:
        framework.build(MODELS["mlp"], "cpu", mode)
    except Unsupported:
        return False
    return True


def test_every_cpu_mode_has_a_skilled_loop(framework, loops, mode):
    if not runs_on_cpu(framework, mode):
        pytest.skip(f"{framework.NAME} {mode} does not run on a CPU: the gate skips it too")
    assert callable(getattr(loops, "plain_epochs", None)), f"{loops.__name__} has no plain_epochs"
    assert callable(getattr(loops, "skilled_epochs", None)), f"{loops.__name__} has no skilled_epochs"
    assert isinstance(getattr(loops, "SKILLED", None), dict), f"{loops.__name__} has no SKILLED table"
    assert mode in loops.SKILLED and loops.SKILLED[mode].strip(), f"SKILLED has no line for {mode!r}"


def test_the_skilled_table_names_only_the_frameworks_modes(framework, loops):
    assert set(loops.SKILLED) <= set(framework.MODES), f"{loops.__name__}.SKILLED names a mode not in MODES"


def test_the_skilled_loop_refuses_an_unknown_mode(framework, loops):
    images, labels = batch()
    spec = MODELS["mlp"]
    named = re.escape(
        f"{framework.NAME} has no skilled loop for mode 'nope'; choose one of: {', '.join(loops.SKILLED)}"
    )
    with pytest.raises(ValueError, match=f"^{named}$"):
        next(
            loops.skilled_epochs(
                LoopArgs(spec, spec.initial_weights(0), images, labels, 32, spec.lr, mode="nope")
            )
        )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_skilled_loop_takes_the_oracles_sgd_step(framework, loops, spec, mode):
    """One epoch of one full batch is one SGD step, whatever the permutation: the skilled loop's
    update must be the oracle's (as the conformance suite holds our own step to it)."""
    if not runs_on_cpu(framework, mode):
        pytest.skip(f"{framework.NAME} {mode} does not run on a CPU")
    images, labels = batch()
    weights = spec.initial_weights(seed=2)
    trained: dict[str, np.ndarray] = {}
    epochs = loops.skilled_epochs(
        LoopArgs(spec, weights, images, labels, len(labels), spec.lr, 0, "cpu", mode, trained=trained)
    )
    seconds = next(epochs)
    assert math.isfinite(seconds) and seconds > 0
    _, expected = reference.sgd_step(spec, weights, images, labels, spec.lr)
    assert set(trained["weights"]) == set(weights), "trained= must receive every canonical weight"
    assert sorted(np.asarray(trained["order"]).tolist()) == list(range(len(labels)))
    for name in weights:
        update = np.asarray(trained["weights"][name], np.float64) - weights[name]
        assert rel_error(update, expected[name] - weights[name]) <= 1e-3, name


def test_the_skilled_loop_trains_every_batch_of_each_epoch(framework, loops, mode):
    """Several batches with a smaller last one, two epochs: the weights keep moving and the oracle's
    loss on the data falls."""
    if not runs_on_cpu(framework, mode):
        pytest.skip(f"{framework.NAME} {mode} does not run on a CPU")
    spec = MODELS["mlp"]
    images, labels = batch(n=300, seed=3)
    weights = spec.initial_weights(seed=1)
    trained: dict[str, np.ndarray] = {}
    epochs = loops.skilled_epochs(
        LoopArgs(spec, weights, images, labels, 128, spec.lr, 0, "cpu", mode, trained=trained)
    )
    first = next(epochs)
    after_one = {k: np.array(v) for k, v in trained["weights"].items()}
    second = next(epochs)
    assert all(math.isfinite(s) and s > 0 for s in (first, second))
    after_two = trained["weights"]
    moved = [k for k in weights if not np.allclose(after_one[k], after_two[k])]
    assert moved, "the second epoch trained nothing"

    def loss(w):
        return reference.softmax_cross_entropy(reference.forward(spec, w, images)[0], labels)[0]

    assert loss(after_two) < loss(weights)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_skilled_epoch_ends_where_ours_does_in_its_order(framework, loops, spec, mode):
    """The skilled loop is our arithmetic without the harness's bookkeeping: one epoch in the
    permutation it drew (batches of 256, 256, 256 and a smaller last one of 232) ends in the weights
    our ``train_epoch`` ends in over that order, to 1e-5 of each tensor's scale, and every weight
    moved; ours over another order ends far from it (so the agreement says something)."""
    if not runs_on_cpu(framework, mode):
        pytest.skip(f"{framework.NAME} {mode} does not run on a CPU")
    images, labels = batch(n=1000, seed=1)
    weights = spec.initial_weights(seed=2)
    trained: dict[str, np.ndarray] = {}
    next(
        loops.skilled_epochs(
            LoopArgs(spec, weights, images, labels, 256, spec.lr, 0, "cpu", mode, trained=trained)
        )
    )
    order = np.asarray(trained["order"])

    def ours(order: np.ndarray) -> dict[str, np.ndarray]:
        model = framework.build(spec, "cpu", mode)
        model.set_weights(weights)
        model.train_epoch(model.put(images, labels), order, 256, spec.lr)
        return model.get_weights()

    same = ours(order)
    for name in weights:
        assert not np.array_equal(same[name], weights[name]), f"{name} did not move"
        assert rel_error(trained["weights"][name], same[name]) <= 1e-5, name
    other = ours(order[::-1].copy())
    assert max(rel_error(trained["weights"][name], other[name]) for name in weights) > 1e-3


def test_the_skilled_loop_times_whole_epochs_and_draws_a_new_order_each(framework, loops, mode):
    """Two epochs (4 x 256 examples): positive finite seconds, a new permutation of every example each
    epoch, and every weight moved in each epoch."""
    if not runs_on_cpu(framework, mode):
        pytest.skip(f"{framework.NAME} {mode} does not run on a CPU")
    spec = MODELS["mlp"]
    images, labels = batch(n=1024, seed=0)
    weights = spec.initial_weights(0)
    trained: dict = {}
    epochs = loops.skilled_epochs(
        LoopArgs(spec, weights, images, labels, 256, spec.lr, 0, "cpu", mode, trained)
    )
    first = next(epochs)
    after_first, first_order = trained["weights"], np.asarray(trained["order"])
    second = next(epochs)
    assert all(math.isfinite(s) and s > 0 for s in (first, second))
    for order in (first_order, np.asarray(trained["order"])):
        np.testing.assert_array_equal(np.sort(order), np.arange(1024))
    assert not np.array_equal(first_order, np.asarray(trained["order"]))
    for name, start in weights.items():
        assert not np.array_equal(after_first[name], start), name
        assert not np.array_equal(trained["weights"][name], after_first[name]), name


def test_the_textbook_loop_times_whole_epochs_and_trains(loops):
    """The textbook loop: positive finite seconds per epoch; every weight moves in each epoch (read,
    off the clock, from ``trained``)."""
    spec = MODELS["mlp"]
    images, labels = batch(n=1024, seed=0)
    weights = spec.initial_weights(0)
    trained: dict = {}
    epochs = loops.plain_epochs(LoopArgs(spec, weights, images, labels, 256, spec.lr, trained=trained))
    first = next(epochs)
    after_first = trained["weights"]
    second = next(epochs)
    assert all(math.isfinite(s) and s > 0 for s in (first, second))
    assert set(after_first) == set(weights), "trained= must receive every canonical weight"
    for name, start in weights.items():
        assert not np.array_equal(after_first[name], start), name
        assert not np.array_equal(trained["weights"][name], after_first[name]), name
