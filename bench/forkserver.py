"""``--start fork``: each run a process of its own, forked from a server that imported once.

A run started fresh (``--start fresh``, the default) pays a new interpreter, the harness's imports,
its framework's import and reading the data before it trains: 1-3 s per run, most of what a short GPU
run costs. With ``--start fork`` the runner keeps one server per (interpreter, framework, threads,
data). It sets the thread environment as a run's child does, imports numpy, the harness and the
framework (the class's optional ``preload(threads)``, which imports what its constructor would and
touches no device), reads and verifies the data once (``bench.data.preload``), and then forks one
child per run. Each child is still a process of its own, and each starts from the same state: it
starts its device (CUDA, XLA's client) itself, builds its own model, trains on the verified data
(inherited, copy on write), writes its own record, and a crash kills only it. Nothing one run does
reaches the next: the server never builds or trains anything, and touches no device.

Forking is only safe from a process with no threads of its own beyond those known to survive a fork
(numpy's OpenBLAS pool, which has fork handlers), and with no GPU driver started: the server counts
its threads after ``import numpy`` and after the preload, looks for open ``/dev/nvidia*`` files, and
refuses (the runner then starts that framework's runs fresh, and says so once) when the preload
started a thread or the driver, or when the framework has no ``preload``.

Protocol (one JSON line each, on the server's stdin and stdout; the children's progress lines share
that stdout: the server writes only while no child runs, so lines never interleave):

    parent -> server   {"argv": [CONFIG_JSON, RESULTS, LOG]}            (bench.child's arguments)
    server -> parent   @@framebench-server {"ready": true, ...} | {"ready": false, "reason": ...}
    child  -> parent   @@framebench-server {"forked": PID}              its first line, then its own
    parent -> server   k                                    (one byte, while a child runs: kill it)
    server -> parent   @@framebench-server {"exit": CODE}               (negative: killed by -CODE)

Each forked child calls ``setsid`` before it says it forked, so it leads a process group of its own;
the server kills that whole group (SIGKILL) when the child dies or when the runner asks (``k``: its
watchdog saw no progress; see bench.process), before it collects the child's exit status: nothing a
run started outlives it, and a helper holding the shared stdout cannot delay the ``exit`` line. The
server dies with the runner (``PR_SET_PDEATHSIG``, and the end of file on its stdin, which it watches
while a child runs: it then kills the child's group and exits); a child dies with the server.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.process import DEFAULT_RUN_TIMEOUT_S, TICK_S, LineReader, exited, kill_group, open_pidfd, stop

SERVER_PREFIX = "@@framebench-server "
STARTS = ("fresh", "fork")
KILL = b"k"  # the runner's request, while a child runs: kill its process group


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no procfs: threads cannot be counted, so a fork cannot be shown safe
        return -1


DEVICE_FILES = ("/dev/nvidia",)  # a process with these open has started the GPU driver (cuInit)


def device_files_open(prefixes: tuple[str, ...] = DEVICE_FILES) -> list[str]:
    """The device files under ``prefixes`` this process holds open: a driver a fork must not copy."""
    found = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(prefixes):
            found.append(target)
    return sorted(found)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(SERVER_PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def _preload(framework: str, threads: int, data_dir: str | None) -> dict[str, Any]:
    """Import what every run of ``framework`` imports first, and read and verify the data once; the
    ready message (or the refusal)."""
    from bench import child

    child._set_thread_env(threads)
    started = time.perf_counter()
    import numpy  # noqa: F401 - its OpenBLAS pool is the one set of threads a fork may meet

    threads_before = _thread_count()
    import impls
    from bench import data, records, specs  # noqa: F401 - what bench.child imports for a run

    cls = impls.load_class(framework)
    preload = getattr(cls, "preload", None)
    if preload is None:
        return {"ready": False, "reason": f"{framework} has no fork-safe preload (Framework.preload)"}
    preloaded = preload(threads)
    threads_after = _thread_count()
    if threads_before < 0 or threads_after != threads_before:
        return {"ready": False, "reason": f"{framework}'s preload left {threads_after} threads, numpy "
                f"alone {threads_before}: forking it is not safe"}  # fmt: skip
    opened = device_files_open()
    if opened:
        return {"ready": False, "reason": f"{framework}'s preload opened {opened[0]} (a GPU driver started "
                "before the fork): forking it is not safe"}  # fmt: skip
    records.environment()  # the machine's facts (nvidia-smi's GPU list, the CPU model), read once
    data.preload(data_dir)  # verified here once: every child trains on these bytes (bench.data.load)
    return {"ready": True, "pid": os.getpid(), "threads": threads_after, "preloaded": preloaded,
            "preload_seconds": round(time.perf_counter() - started, 3)}  # fmt: skip


def _run_forked(argv: list[str]) -> None:
    """The child, just forked: its stderr is the run's log, its stdin nothing; never returns."""
    code = 1
    try:
        os.setsid()  # a process group of its own, which the server kills whole at its end
        _say({"forked": os.getpid()})  # from the child itself: before any line of its own, never amid one
        log = os.open(argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 2)
        os.close(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        payload = json.loads(argv[0])
        identity = payload.setdefault("_identity", {})
        identity["watch_stdin"] = False  # stdin is nothing here; the server is the parent that watches
        identity["process"] = {"start": "fork", "server_pid": os.getppid()}
        from bench import child

        code = child.child_main([json.dumps(payload), *argv[1:]])
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return to the loop
        import traceback

        traceback.print_exc()
    finally:
        try:  # what the run registered to do at exit (e.g. torch's compile workers shut down), then
            # out without the interpreter's teardown of every module: the record is already written
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _wait(pid: int) -> int | None:
    """Wait for the child; watch stdin meanwhile (``k``: kill the child's group). Its group is killed
    when it has ended, before its status is collected. None: stdin ended (the runner is gone)."""
    pidfd = open_pidfd(pid)  # None (old kernel): exited() is polled
    try:
        while True:
            fds = [0] if pidfd is None else [0, pidfd]
            ready, _, _ = select.select(fds, [], [], None if pidfd is not None else TICK_S)
            if (pidfd is not None and pidfd in ready) or (pidfd is None and exited(pid)):
                kill_group(pid)  # what it left behind (it is a zombie: its group id is still its own)
                return _exit_code(os.waitpid(pid, 0)[1])
            if 0 in ready:
                byte = os.read(0, 1)
                kill_group(pid)
                if byte != KILL:  # the runner closed our stdin or died; another byte is a protocol error
                    os.waitpid(pid, 0)
                    return None
    finally:
        if pidfd is not None:
            os.close(pidfd)


def serve(framework: str, threads: int, data_dir: str | None = None) -> int:
    """``python -m bench.forkserver FRAMEWORK THREADS [DATA_DIR]``: preload, then fork one child per
    request."""
    from bench import child

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the running child's; we wait for it
    child.die_with_parent(watch_stdin=False)  # the stdin watch is _wait's, between and during runs
    try:
        ready = _preload(framework, threads, data_dir)
    except Exception as exc:  # noqa: BLE001 - the framework does not import: the runner says so
        first = (str(exc).strip().splitlines() or [""])[0]
        ready = {"ready": False, "reason": f"{framework} does not import ({type(exc).__name__}: {first})"}
    _say(ready)
    if not ready["ready"]:
        return 0
    # unbuffered: readline takes a byte at a time, so nothing past the request is consumed (_wait reads fd 0)
    stdin = os.fdopen(0, "rb", buffering=0, closefd=False)
    while True:
        line = stdin.readline()
        if not line.endswith(b"\n"):  # end of file (a partial last line is no request)
            return 0
        argv = json.loads(line.lstrip(KILL))["argv"]  # a kill that came as its run ended is moot
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _run_forked(argv)
        code = _wait(pid)
        if code is None:
            return 0
        _say({"exit": code})


# ---------------------------------------------------------------------------------------------- parent


class ForkServer:
    """The runner's end of one server: start it, run bench.child's argv in a fork, close it. A server
    that does not say it is ready within ``timeout`` seconds (a preload that hangs) is killed."""

    def __init__(
        self,
        python: str,
        framework: str,
        threads: int,
        log_path: Path,
        data_dir: str | None = None,
        timeout: float = DEFAULT_RUN_TIMEOUT_S,
    ) -> None:
        self.framework = framework
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as log:
            data = [data_dir] if data_dir else []
            command = [python, "-m", "bench.forkserver", framework, str(threads), *data]
            pipe = subprocess.PIPE
            self.process = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=log)
        assert self.process.stdout is not None
        self.reader = LineReader(self.process.stdout.fileno())
        self.ready = self._message(timeout) or {"ready": False, "reason": self._died("while it preloaded")}
        if not self.ready.get("ready"):
            self.close()

    @property
    def reason(self) -> str | None:
        """Why this server cannot fork runs (None when it can)."""
        return None if self.ready.get("ready") else str(self.ready.get("reason"))

    def _died(self, when: str) -> str:
        code = self.process.poll()
        return f"the fork server of {self.framework} died {when} (exit {code}; log: {self.log_path})"

    def _message(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.reader.readline(max(0.0, deadline - time.monotonic()))
            if line is None:  # silent past its allowance
                self.process.kill()
                return {"ready": False, "reason": f"the fork server of {self.framework} was not ready within "
                        f"{timeout:.0f} s (log: {self.log_path})"}  # fmt: skip
            if line == "":
                return None
            if line.startswith(SERVER_PREFIX):
                return json.loads(line[len(SERVER_PREFIX) :])

    def alive(self) -> bool:
        return self.reason is None and self.process.poll() is None

    def send(self, data: bytes) -> None:
        """Write to the server's stdin; a server that is gone is found out by its reader."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def start(self, argv: list[str]) -> ForkedRun:
        """Fork one run with bench.child's ``argv``; its lines and exit code through the result."""
        self.send((json.dumps({"argv": argv}) + "\n").encode())
        return ForkedRun(self)

    def close(self) -> None:
        """End the server: its stdin closed, then waited for (killed if it lingers)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class ForkedRun:
    """One forked child (a ``bench.process.RunProcess``): its stdout lines through the server's, up to
    the server's word that it ended; killed (its whole group) by the server on request."""

    def __init__(self, server: ForkServer) -> None:
        self.server = server
        self.pid: int | None = None
        self.code: int | None = None

    def lines(self, tick: float = TICK_S) -> Iterator[str | None]:
        """The child's stdout lines, up to the server's word that it ended (or the server's death)."""
        while self.code is None:
            line = self.server.reader.readline(tick)
            if line is None:
                if self.server.process.poll() is not None:  # died; a helper may hold its stdout open
                    self.server.reader.fill()
                    while (line := self.server.reader.take()) is not None:
                        if not line.startswith(SERVER_PREFIX):
                            yield line
                    self.code = 1
                    return
                yield None
                continue
            if line == "":
                self.server.process.wait()
                self.code = 1  # the server died under its child: the run has no exit code of its own
                return
            if line.startswith(SERVER_PREFIX):
                message = json.loads(line[len(SERVER_PREFIX) :])
                if "forked" in message:
                    self.pid = int(message["forked"])
                elif "exit" in message:
                    self.code = int(message["exit"])
                continue
            yield line

    def kill(self) -> None:
        """Ask the server to kill the child's group (the server is its parent: no pid can be reused)."""
        if self.code is None:
            self.server.send(KILL)

    def interrupt(self) -> int:
        """Pass Ctrl-C / SIGTERM on to the child's group and wait for it (killed after
        INTERRUPT_WAIT_S); its exit code."""

        def sigint() -> None:
            if self.code is None and self.pid is not None:
                kill_group(self.pid, signal.SIGINT)

        return stop(self, sigint)

    def close(self) -> None:
        """Nothing to release: the server's pipes outlive the run."""

    def wait(self) -> int:
        for _ in self.lines():
            pass
        return self.code if self.code is not None else 1


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m bench.forkserver FRAMEWORK THREADS [DATA_DIR] (bench.runner starts it)",
              file=sys.stderr)  # fmt: skip
        return 2
    return serve(argv[0], int(argv[1]), argv[2] if len(argv) == 3 else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
