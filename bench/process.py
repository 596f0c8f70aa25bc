"""One run's process, watched: started fresh or forked, read without blocking, killed whole when it hangs.

A run is a process of its own (``bench.child``), started as a new interpreter (``FreshRun``) or forked
from a server that imported the framework once (``bench.forkserver.ForkedRun``). Both are seen through
one interface, ``RunProcess``: its stdout ``lines`` (a ``None`` now and then while it is silent, so the
reader can look at its clock), ``kill`` (its whole process group), ``interrupt`` (Ctrl-C passed on,
killed after ``INTERRUPT_WAIT_S``; its exit code), ``wait`` (its exit code) and ``close``.

Every run is its own process group (a fresh child starts a new session; a forked child calls
``setsid`` first), and the group is killed with SIGKILL when the run's process ends or is killed, before
its exit status is collected (so the group id cannot have been reused): a helper process a run
started (a data-loader worker, a compile server) never outlives the run, and a helper that keeps the
run's stdout open cannot delay its record. The run has ended when its process dies (a pidfd, or
``waitid`` polled), not when its stdout closes.

The watchdog (``Watchdog``). A run makes progress when it prints a ``@@framebench`` line (after each
epoch, and once at the end). A run that makes none for its allowance is killed with its process
group and recorded ``failed``: "no progress for N s before its first epoch ended" / "in epoch k" /
"after its last epoch", with its log's path; the matrix goes on with the next run. The allowance:

- from its start to its first epoch's line: ``--run-timeout`` seconds (default
  ``DEFAULT_RUN_TIMEOUT_S`` = 600 s: interpreter, imports, device start, data, build, compilation and
  the first epoch; the slowest first epoch recorded so far took well under a tenth of that);
- then, for each later epoch (and for what follows the last: the peak measurement and the record),
  ``max(run_timeout / 10, EPOCH_FACTOR * first epoch)`` where the first epoch is its own training plus
  evaluation seconds as it reported them (600 s: at least 60 s, or 5 times the run's own first epoch,
  which includes its compilation, so later epochs are rarely even as long).

A failed record is not an ok one, so ``--resume`` runs a hung configuration again, under the same
watchdog: it can cost one allowance more, never a stalled matrix.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench import records
from bench.child import PROGRESS_PREFIX
from bench.config import RunConfig

CHILD_ENTRY = "bench.child"  # the module each run's child process executes
INTERRUPT_WAIT_S = 30.0  # how long an interrupted run may take to stop before it is killed
DEFAULT_RUN_TIMEOUT_S = 600.0  # a run's allowance for its start and first epoch (--run-timeout)
EPOCH_FACTOR = 5.0  # a later epoch's allowance: this many times the run's own first epoch...
EPOCH_FLOOR_SHARE = 0.1  # ...and at least this share of the run timeout (60 s of 600 s)
TICK_S = 0.25  # how often a silent run's reader looks at its clock and at the process


class RunInterrupted(Exception):
    """The user stopped the matrix (Ctrl-C or SIGTERM)."""


@dataclass
class Outcome:
    """What became of one configuration."""

    config: RunConfig
    status: str  # ok | failed | skipped | resumed
    reason: str | None = None
    metrics: dict[str, Any] | None = None


class RunProcess(Protocol):
    """A run's process as the runner sees it, whether started fresh or forked."""

    def lines(self, tick: float = TICK_S) -> Iterator[str | None]:
        """Its stdout, line by line, until its process has ended; ``None`` after ``tick`` seconds of
        silence. Callable again after an exception: it goes on where it stopped."""
        ...

    def kill(self) -> None:
        """SIGKILL to its whole process group (``lines`` then ends)."""
        ...

    def interrupt(self) -> int:
        """Pass Ctrl-C on, wait for it to stop (killed after INTERRUPT_WAIT_S); its exit code."""
        ...

    def wait(self) -> int:
        """Wait for its process to end (reading what is left of its lines); its exit code (negative:
        the signal that killed it)."""
        ...

    def close(self) -> None:
        """Release what the run holds (its pipes; its group killed if still there)."""
        ...


class RunStarter(Protocol):
    """What starts runs in processes of their own (bench.forkserver.ForkServer)."""

    def start(self, argv: list[str]) -> RunProcess:
        """A run of ``python -m bench.child`` with ``argv``."""
        ...


def stop(run: RunProcess, sigint: Callable[[], None], wait_s: float = INTERRUPT_WAIT_S) -> int:
    """``interrupt`` for both kinds of run: ``sigint()``, then its lines drained until it ends, killed
    once ``wait_s`` has passed; its exit code."""
    sigint()
    deadline = time.monotonic() + wait_s
    killed = False
    for _ in run.lines():
        if not killed and time.monotonic() >= deadline:
            run.kill()
            killed = True
    return run.wait()


def kill_group(pid: int, signum: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid`` (``pid`` included), or ``pid`` alone when it has not
    made its group yet; nothing if they are gone. Call it only while ``pid`` is not yet reaped."""
    try:
        os.killpg(pid, signum)
        return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def exited(pid: int) -> bool:
    """Whether child ``pid`` has ended, without collecting its exit status (so its group id and pid
    stay reserved until it is waited for). AttributeError where there is no ``os.waitid`` (macOS
    before Python 3.13)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already collected
        return True


def open_pidfd(pid: int) -> int | None:
    """A descriptor readable once ``pid`` ends (Linux 5.3+), or None (then ``exited`` is polled)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class LineReader:
    """Lines from a pipe's descriptor, read without ever blocking: ``fill`` reads what is there."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False
        os.set_blocking(fd, False)

    def fill(self) -> None:
        """Read what the pipe holds now (to its end of file, or until it would block)."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.buffer += chunk

    def take(self) -> str | None:
        """The next whole line read so far (with its newline), or None."""
        end = self.buffer.find(b"\n")
        if end < 0:
            return None
        line, self.buffer = self.buffer[: end + 1], self.buffer[end + 1 :]
        return line.decode("utf-8", errors="replace")

    def rest(self) -> str | None:
        """What is left after the last newline (a last line without one), emptied."""
        rest, self.buffer = self.buffer, b""
        return rest.decode("utf-8", errors="replace") if rest else None

    def readline(self, timeout: float) -> str | None:
        """A whole line; ``""`` at the end of file; None when none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.take()
            if line is not None:
                return line
            if self.eof:
                return self.rest() or ""
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if select.select([self.fd], [], [], left)[0]:
                self.fill()


class FreshRun:
    """A run's child started as a new interpreter (``--start fresh``) in a session of its own. stdin
    is a pipe the child watches: its end of file (this process died) stops the child."""

    def __init__(self, command: list[str], log: Any) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                        start_new_session=True)  # fmt: skip
        assert self.process.stdout is not None
        self.pid = self.process.pid
        self.reader = LineReader(self.process.stdout.fileno())
        self.pidfd = open_pidfd(self.pid)
        self.ended = False

    def lines(self, tick: float = TICK_S) -> Iterator[str | None]:
        while True:
            line = self.reader.take()
            if line is not None:
                yield line
                continue
            if self.ended:
                rest = self.reader.rest()
                if rest:
                    yield rest
                return
            fds = ([] if self.reader.eof else [self.reader.fd]) + ([self.pidfd] if self.pidfd else [])
            ready = select.select(fds, [], [], tick if self.pidfd is not None else min(tick, 0.1))[0]
            if self.reader.fd in ready:
                self.reader.fill()
            if (self.pidfd is not None and self.pidfd in ready) or (self.pidfd is None and self._exited()):
                self._ended()
            elif not ready or ready == [self.pidfd]:
                yield None

    def _exited(self) -> bool:
        try:
            return exited(self.pid)
        except AttributeError:  # no waitid: its status is collected here (then its group is killed)
            return self.process.poll() is not None

    def _ended(self) -> None:
        """Its process died: keep what it wrote, then kill what it left behind in its group."""
        self.reader.fill()  # up to what is there now: a helper holding the pipe must not block us
        kill_group(self.pid)
        self.ended = True

    def kill(self) -> None:
        if self.process.returncode is None:
            kill_group(self.pid)

    def interrupt(self) -> int:
        def sigint() -> None:
            if self.process.returncode is None:
                kill_group(self.pid, signal.SIGINT)  # the whole group, as Ctrl-C in a terminal would

        return stop(self, sigint)

    def wait(self) -> int:
        for _ in self.lines():
            pass
        return self.process.wait()

    def close(self) -> None:
        if self.process.returncode is None:
            kill_group(self.pid)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def epoch_allowance(run_timeout: float, first_epoch_s: float) -> float:
    """A later epoch's allowance: ``EPOCH_FACTOR`` times the first epoch, at least a tenth of the run
    timeout."""
    return max(run_timeout * EPOCH_FLOOR_SHARE, EPOCH_FACTOR * first_epoch_s)


class Watchdog:
    """How long a run may go without progress, and what to say when it did (module docstring)."""

    def __init__(
        self,
        run_timeout: float = DEFAULT_RUN_TIMEOUT_S,
        epochs: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_timeout, self.epochs, self.clock = float(run_timeout), epochs, clock
        self.allowance = self.run_timeout
        self.epochs_done = 0
        self.last = clock()

    def progress(self, event: dict[str, Any]) -> None:
        """A progress line arrived: the clock starts again (with the per-epoch allowance after the
        first epoch)."""
        self.last = self.clock()
        if event.get("event") != "epoch":
            return
        self.epochs_done += 1
        if self.epochs_done == 1:
            try:
                first = float(event.get("train_seconds") or 0) + float(event.get("eval_seconds") or 0)
                # a warm-up by steps trained a fraction of an epoch: scale it to a whole one
                trained, whole = (
                    float(event.get("train_examples") or 0),
                    float(event.get("epoch_examples") or 0),
                )
                if 0 < trained < whole:
                    first *= whole / trained
            except (TypeError, ValueError):
                first = 0.0
            self.allowance = epoch_allowance(self.run_timeout, first)
        if isinstance(event.get("epochs"), int):
            self.epochs = event["epochs"]

    def expired(self) -> bool:
        return self.clock() - self.last >= self.allowance

    def reason(self) -> str:
        """'no progress for N s ...' naming where the run was."""
        waited = f"no progress for {_seconds(self.allowance)} s"
        if self.epochs_done == 0:
            return f"{waited} before its first epoch ended"
        if self.epochs is not None and self.epochs_done >= self.epochs:
            return f"{waited} after its last epoch ({self.epochs_done}), measuring and recording"
        return f"{waited} in epoch {self.epochs_done + 1}"


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"process died with {name}{hint}"
    return f"process exited with code {code} without writing a record"


def _last_error_line(log_path: Path) -> str | None:
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    for line in reversed(lines[-50:]):
        if "Error" in line or "error" in line or "Fatal" in line or "Abort" in line:
            return line[:300]
    return None


def _run_child(
    config: RunConfig,
    results: Path,
    on_event: Callable[[dict[str, Any]], None],
    python: str = sys.executable,
    schedule: dict[str, Any] | None = None,
    config_key: str | None = None,
    versions: dict[str, Any] | None = None,
    server: RunStarter | None = None,
    run_timeout: float | None = None,
) -> Outcome:
    """Run one configuration in its own process, watched (module docstring); its outcome. The child
    writes its record; when it dies or hangs without one, this writes a ``failed`` record in its name."""
    run_id = records.new_run_id(config.to_dict())  # the child's identity: its record's and its log's name
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{run_id}.log"
    identity = {"run_id": run_id, "config_key": config_key, "versions": versions or {}, "watch_stdin": True}
    payload = json.dumps({**config.to_dict(), "_schedule": schedule, "_identity": identity})
    argv = [payload, str(results), str(log_path)]
    done: dict[str, Any] | None = None
    hung: str | None = None
    log_path.write_text("")  # both ends append: the child (its stderr) and this process (its stray stdout)
    with open(log_path, "a") as log:
        fresh = [python, "-m", CHILD_ENTRY, *argv]
        child: RunProcess = server.start(argv) if server is not None else FreshRun(fresh, log)
        watchdog = Watchdog(run_timeout or DEFAULT_RUN_TIMEOUT_S, config.train_epochs)
        try:
            for line in child.lines():
                if line is None:
                    if hung is None and watchdog.expired():
                        hung = watchdog.reason()
                        child.kill()
                elif line.startswith(PROGRESS_PREFIX):
                    event = json.loads(line[len(PROGRESS_PREFIX) :])
                    watchdog.progress(event)
                    if event["event"] == "done":
                        done = event
                    on_event(event)
                else:
                    log.write(line)
                    log.flush()
            code = child.wait()
        except BaseException:
            child.interrupt()  # Ctrl-C / SIGTERM to us: passed on to the run's group
            raise
        finally:
            child.close()
    if code == 130 and hung is None:
        raise RunInterrupted()
    if done is not None:  # its record is written (a hang at its exit changes nothing)
        return Outcome(config, done["status"], done["reason"], done["metrics"])
    own = records.runs_dir(results) / f"{run_id}.json"
    try:  # died after writing its record (e.g. at interpreter exit): its own record stands
        record = json.loads(own.read_text())
        return Outcome(config, record["status"], record["reason"], record["metrics"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if hung is not None:
        reason = f"{hung}; killed with its process group"
    else:
        reason = _describe_exit(code)
        detail = _last_error_line(log_path)
        if detail:
            reason += f": {detail}"
    reason += f" (log: {log_path})"
    record = records.outcome_record(
        config.to_dict(), "failed", reason, config_key=config_key, log_path=str(log_path), run_id=run_id
    )
    record["framework"]["versions"] = dict(versions or {})
    record["schedule"] = schedule
    records.write_record(results, record)
    return Outcome(config, "failed", reason)
