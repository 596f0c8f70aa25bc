"""One conformance suite for every framework: the same function as the NumPy oracle.

Runs inside a framework's own environment (``nox -s tests``), with FRAMEBENCH_FRAMEWORK naming it.
Nothing here knows which framework it is testing.
"""

from __future__ import annotations

import numpy as np
import pytest
from framework_fixtures import build

from bench import reference
from bench.specs import MODELS

RTOL = 1e-4  # float32 framework vs float64 oracle, relative to the largest magnitude
SPECS = sorted(MODELS.values(), key=lambda s: s.name)


def rel_error(actual, expected) -> float:
    """max |a - e| / max |e|: the error relative to the tensor's scale."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))


def batch(n=32, seed=7):
    """A fixed batch of images in [0, 1] (a unit-test input, never recorded as data)."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return images, labels


@pytest.fixture(params=SPECS, ids=lambda s: s.name)
def spec(request):
    return request.param


def test_parameter_count_matches_spec(framework, spec, device):
    model = build(framework, spec, device)
    weights = model.get_weights()
    assert set(weights) == set(spec.weight_shapes())
    assert {k: v.shape for k, v in weights.items()} == spec.weight_shapes()
    assert sum(v.size for v in weights.values()) == spec.num_params()


def test_weights_round_trip(framework, spec, device):
    model = build(framework, spec, device)
    weights = spec.initial_weights(seed=3)
    model.set_weights(weights)
    back = model.get_weights()
    for name, value in weights.items():
        assert back[name].dtype == np.float32
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_logits_and_loss_match_oracle(framework, spec, device, mode):
    """In every mode of framework.MODES (``mode`` is parametrized from it by conftest.py)."""
    model = build(framework, spec, device, mode)
    weights = spec.initial_weights(seed=1)
    model.set_weights(weights)
    images, labels = batch()
    data = model.put(images, labels)
    expected_logits, _ = reference.forward(spec, weights, images)
    assert rel_error(model.logits(data), expected_logits) <= RTOL
    expected_loss, _ = reference.softmax_cross_entropy(expected_logits, labels)
    stats = model.evaluate(data)
    assert stats.loss == pytest.approx(expected_loss, rel=RTOL)
    assert stats.accuracy == pytest.approx(np.mean(expected_logits.argmax(1) == labels))


def test_one_sgd_step_matches_oracle(framework, spec, device, mode):
    model = build(framework, spec, device, mode)
    weights = spec.initial_weights(seed=2)
    model.set_weights(weights)
    images, labels = batch()
    order = np.arange(len(labels))
    stats = model.train_epoch(model.put(images, labels), order, batch_size=len(labels), lr=spec.lr)
    expected_loss, expected = reference.sgd_step(spec, weights, images, labels, spec.lr)
    assert stats.loss == pytest.approx(expected_loss, rel=RTOL)
    after = model.get_weights()
    for name in weights:
        # Compare the *update* (after - before), not the weights: a wrong gradient hides inside
        # weights that barely move, never inside the update itself.
        update = after[name].astype(np.float64) - weights[name]
        expected_update = expected[name] - weights[name]
        assert rel_error(update, expected_update) <= 1e-3, name  # see note below
    # Note: the update is a difference of two nearby float32 numbers (cancellation loses ~3 of
    # float32's 7 digits), so it is held to 1e-3; logits and loss above are held to 1e-4.


def test_batches_follow_the_given_order(framework, spec, device, mode):
    """Two steps in the harness's order equal the oracle's two steps in that order (every mode: a
    mode that compiles the epoch, e.g. a scan over batches, has its own batching code)."""
    model = build(framework, spec, device, mode)
    weights = spec.initial_weights(seed=4)
    model.set_weights(weights)
    images, labels = batch(n=24, seed=11)
    order = np.random.default_rng(5).permutation(24)
    model.train_epoch(model.put(images, labels), order, batch_size=16, lr=spec.lr)  # 16 + 8
    expected = weights
    for start in (0, 16):
        idx = order[start : start + 16]
        _, expected = reference.sgd_step(spec, expected, images[idx], labels[idx], spec.lr)
    after = model.get_weights()
    for name in weights:
        update = after[name].astype(np.float64) - weights[name]
        assert rel_error(update, expected[name] - weights[name]) <= 1e-3, name


def test_a_few_steps_reduce_the_loss(framework, spec, device):
    model = build(framework, spec, device)
    model.set_weights(spec.initial_weights(seed=0))
    images, labels = batch(n=64)
    data = model.put(images, labels)
    before = model.evaluate(data).loss
    for _ in range(10):
        model.train_epoch(data, np.arange(64), batch_size=64, lr=spec.lr)
    assert model.evaluate(data).loss < before


def test_identical_cpu_runs_give_identical_results(framework, spec):
    images, labels = batch(n=96)
    results = []
    for _ in range(2):
        model = build(framework, spec, "cpu")
        model.set_weights(spec.initial_weights(seed=9))
        order = np.random.default_rng(1).permutation(96)
        stats = model.train_epoch(model.put(images, labels), order, batch_size=32, lr=spec.lr)
        results.append((stats, model.get_weights()))
    (stats_a, weights_a), (stats_b, weights_b) = results
    assert stats_a == stats_b
    for name in weights_a:
        np.testing.assert_array_equal(weights_a[name], weights_b[name], err_msg=name)


def test_unknown_mode_is_rejected_early(framework, spec):
    from bench.contract import Unsupported

    with pytest.raises(Unsupported, match="mode"):
        framework.build(spec, "cpu", "no-such-mode")


def test_versions_and_settings_are_declared(framework):
    versions = framework.versions()
    assert framework.NAME in versions or any(framework.NAME in k for k in versions)
    settings = framework.settings("cpu", framework.MODES[0])
    assert settings["dtype"] == "float32"
    threads = settings["intra_op_threads"]
    # An int is the intra-op thread count in effect; a framework that cannot pin it says so with a
    # string (e.g. "not pinnable") and explains what was set in threads_note (never a made-up int).
    if isinstance(threads, str):
        assert settings.get("threads_note"), "a non-numeric intra_op_threads needs a threads_note"
    else:
        assert threads >= 1


def test_tf32_on_cpu_is_unsupported(framework, spec):
    """TF32 is a GPU tensor-core setting: asking for it on the CPU fails early, never runs as fp32."""
    from bench.contract import Unsupported

    with pytest.raises(Unsupported, match="tf32"):
        framework.build(spec, "cpu", framework.MODES[0], precision="tf32")
