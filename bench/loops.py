"""What every reference loop of ``nox -s baseline`` shares: its arguments, its mode guard, its clock.

Each ``impls/<name>/baseline.py`` writes only its framework's loops (see impls/ADDING_A_FRAMEWORK.md):

``plain_epochs(args: LoopArgs) -> Iterator[float]``    the framework's textbook loop
``skilled_epochs(args: LoopArgs) -> Iterator[float]``  the loop a skilled user writes for ``args.mode``,
                                                      decorated with ``@skilled_loop(NAME, SKILLED)``
``SKILLED: dict[str, str]``                           what the skilled loop does in each mode

Both build their model and data from ``args``, then return :func:`timed_epochs` over one closure
that trains one epoch: the clock, the waits for the device around it and the test hook ``trained``
are written here once. Nothing here imports a framework.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bench.specs import ModelSpec


@dataclass(frozen=True)
class LoopArgs:
    """One reference loop's arguments: the same for the textbook and the skilled loop of a row.

    ``weights`` are the canonical start (``spec.initial_weights``), ``images`` the canonical float32
    N x 1 x 28 x 28 and ``labels`` int64 N; ``seed`` seeds the loop's own shuffling (each loop draws
    its epoch's order the way its users do, on the clock or off it as they would); ``mode`` is the
    skilled loop's mode (the textbook loop has none). ``trained``, when given (tests), receives after
    each epoch, off the clock, the canonical ``"weights"`` and (skilled loops) the epoch's ``"order"``.
    """

    spec: ModelSpec
    weights: Mapping[str, Any]
    images: Any
    labels: Any
    batch_size: int
    lr: float
    seed: int = 0
    device: str = "cpu"
    mode: str | None = None
    trained: dict[str, Any] | None = None

    @property
    def n(self) -> int:
        """The number of examples an epoch trains on."""
        return len(self.labels)


def check_skilled_mode(framework: str, mode: str | None, skilled: Mapping[str, str]) -> str:
    """Return ``mode`` if ``skilled`` has a loop for it, else fail naming the modes that have one."""
    if mode not in skilled:
        raise ValueError(
            f"{framework} has no skilled loop for mode {mode!r}; choose one of: {', '.join(skilled)}"
        )
    return mode


def skilled_loop(
    framework: str, skilled: Mapping[str, str]
) -> Callable[[Callable[[LoopArgs], Iterator[float]]], Callable[[LoopArgs], Iterator[float]]]:
    """Decorate a ``skilled_epochs(args)``: an ``args.mode`` without a line in ``skilled`` fails when it
    is called, before anything is built (:func:`check_skilled_mode`)."""

    def decorate(loop: Callable[[LoopArgs], Iterator[float]]) -> Callable[[LoopArgs], Iterator[float]]:
        @functools.wraps(loop)
        def guarded(args: LoopArgs) -> Iterator[float]:
            check_skilled_mode(framework, args.mode, skilled)
            return loop(args)

        return guarded

    return decorate


def _nothing() -> None:
    return None


def timed_epochs(
    epoch: Callable[[Any], Any],
    *,
    sync: Callable[[], Any] = _nothing,
    draw: Callable[[], Any] = _nothing,
    trained: dict[str, Any] | None = None,
    read: Callable[[Any], Mapping[str, Any]] | None = None,
) -> Iterator[float]:
    """Yield the wall seconds of each epoch, forever: ``draw()`` off the clock (an order the loop's
    users draw before they train, else nothing), ``sync()`` (wait for the device), start the clock,
    ``epoch(drawn)``, ``sync()``, stop it; then, with ``trained`` and ``read``, off the clock,
    ``trained.update(read(what epoch returned))``. A device scope the epoch opens is closed before
    the yield (a scope held across it would apply to the caller)."""
    while True:
        drawn = draw()
        sync()
        start = time.perf_counter()
        result = epoch(drawn)
        sync()
        seconds = time.perf_counter() - start
        if trained is not None and read is not None:
            trained.update(read(result))
        yield seconds


def deferred(loop: Callable[[LoopArgs], Iterator[float]], args: LoopArgs) -> Iterator[float]:
    """``loop(args)``, built at the first epoch asked of it (``bench baseline`` sets each side up at its
    first epoch, the harness's own path included, in the order the rounds ask for them)."""
    yield from loop(args)
