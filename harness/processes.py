"""Start processes, know when they are ready, and stop them and everything they started.

Each process leads its own session and process group, so stopping it reaches its children too (a worker's
pool, gunicorn's workers). Output goes to a pipe that a thread keeps in ``RunningProcess.lines`` (tests
show it when something fails; tests/privacy.py searches it), or with ``log_path`` to a file (the
benchmark: no reader thread spending its process's CPU).

Whatever is still running when this Python process exits is stopped (``atexit``); ``interruptible()``
turns SIGTERM and SIGHUP into ``Interrupted`` (a KeyboardInterrupt), so that a CI time-out or a closed
terminal unwinds the ``finally`` blocks and ``with`` statements that stop everything, as Ctrl-C does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .procfs import process_cpu_seconds, process_tree, running_session_members, session_members

BASE_DIR = Path(__file__).resolve().parent.parent

# Every process started and every command run in this Python process, so that tests/privacy.py can
# search what they printed (SCANNED: how many lines of each it has searched already).
STARTED: list[RunningProcess] = []
SCANNED: dict[int, int] = {}
COMMAND_OUTPUTS: list[tuple[Sequence[str], str]] = []


class ProcessFailed(RuntimeError):
    """A process exited, or did not become ready in time; the message holds what it printed."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C: no ``except Exception`` of a scenario takes it for a failure."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def url_answers(url: str) -> bool:
    """Whether ``url`` gives any HTTP answer (an error status counts: it is serving)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def wait_until(check: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check`` until it is true; TimeoutError naming ``what`` after ``timeout`` seconds. An
    exception from ``check`` counts as not yet (connection refused and the like)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


@dataclass(frozen=True)
class Readiness:
    """How to tell that a started process serves (see ``start_process``)."""

    ready: str | None = None
    wait_url: str | None = None
    wait_port: int | None = None
    timeout: float = 30


@dataclass(eq=False)
class RunningProcess:
    """A started process: its output, its readiness, its CPU time, and how to stop it with its children."""

    args: Sequence[str]
    process: subprocess.Popen
    name: str = ""
    url: str | None = None
    lines: list[str] = field(default_factory=list)
    log_path: Path | None = None
    readiness: Readiness = field(default_factory=Readiness)
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                return self.log_path.read_text(errors="replace")
            return ""
        return "".join(self.lines)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def members(self) -> list[int]:
        """The live processes of its session: itself and what it started."""
        return session_members(self.pid) if self.alive() else []

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.members())

    def terminate(self) -> None:
        """Its stop signal (SIGTERM unless started with another) to it and everything it started (its
        process group)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, self.stop_signal)

    def kill(self) -> None:
        """SIGKILL to the process and its descendants at once, as an OOM killer or a lost machine would."""
        for pid in process_tree(self.pid) if self.alive() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait_or_kill(self, timeout: float = 10) -> int:
        """Wait for it to exit; SIGKILL its group after ``timeout``; then SIGKILL what outlived it."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(5)
        for pid in session_members(self.pid):  # a pool child that outlived its parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # A signalled process takes a moment to exit: "stopped" means gone, not signalled.
        deadline = time.monotonic() + 5
        while running_session_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.process.returncode

    def stop(self, timeout: float = 10) -> int:
        """Stop the process and everything it started (its stop signal to its group, then SIGKILL)."""
        self.terminate()
        return self.wait_or_kill(timeout)

    def _current_lines(self) -> list[str]:
        return self.output.splitlines(keepends=True) if self.log_path is not None else self.lines[:]

    def wait_for_output(self, pattern: str, timeout: float = 30) -> re.Match:
        """Wait until a line of output matches ``pattern``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self._current_lines()
            for line in lines[seen:]:
                if match := regex.search(line):
                    return match
            seen = len(lines)
            if not self.alive():
                time.sleep(0.2)  # let the reader catch the last lines
                for line in self._current_lines()[seen:]:
                    if match := regex.search(line):
                        return match
                raise ProcessFailed(f"{self.args} exited with {self.process.returncode}:\n{self.output}")
            time.sleep(0.05)
        raise ProcessFailed(f"{self.args} printed nothing matching {pattern!r} in {timeout}s:\n{self.output}")

    def wait_ready(self) -> RunningProcess:
        """Wait until it is ready as ``start_process`` was told to tell; stop it and raise ProcessFailed
        if it exits or does not get ready in time."""
        readiness = self.readiness
        try:
            if readiness.ready:
                match = self.wait_for_output(readiness.ready, readiness.timeout)
                if "url" in match.re.groupindex:
                    self.url = match["url"]
            if readiness.wait_url:
                self._poll(lambda: url_answers(readiness.wait_url), readiness.wait_url)
                self.url = self.url or readiness.wait_url
            if readiness.wait_port:
                self._poll(lambda: port_open(readiness.wait_port), f"port {readiness.wait_port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _poll(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.readiness.timeout
        while not check():
            if not self.alive():
                raise ProcessFailed(f"{self.args} exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{what} did not answer in {self.readiness.timeout}s:\n{self.output}")
            time.sleep(0.1)


def _read(process: RunningProcess) -> None:
    assert process.process.stdout is not None
    for line in process.process.stdout:
        process.lines.append(line)


def start_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    name: str = "",
    ready: str | None = None,
    wait_url: str | None = None,
    wait_port: int | None = None,
    timeout: float = 30,
    log_path: Path | None = None,
    cwd: Path = BASE_DIR,
    wait: bool = True,
    stop_signal: int = signal.SIGTERM,
) -> RunningProcess:
    """Start ``args`` in its own session in the project folder (``env``: the whole environment, or this
    process's) and return once it is ready, when given a way to tell: a line of output matching ``ready``
    (a regex; its named group ``url`` becomes ``RunningProcess.url``), ``wait_url`` answering HTTP,
    ``wait_port`` accepting connections. Stopped again if it does not get ready (ProcessFailed).
    ``wait=False`` returns at once: call ``wait_ready()`` later, to start several processes side by side.
    ``stop_signal``: what ``stop()`` sends first (SIGKILL for a process whose shutdown nothing needs)."""
    log = open(log_path, "a") if log_path is not None else None  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=log if log is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    if log is not None:
        log.close()
    running = RunningProcess(
        args=args,
        process=process,
        name=name or Path(str(args[0])).name,
        log_path=log_path,
        readiness=Readiness(ready, wait_url, wait_port, timeout),
        stop_signal=stop_signal,
    )
    STARTED.append(running)
    if log is None:
        threading.Thread(target=_read, args=(running,), daemon=True).start()
    return running.wait_ready() if wait else running


def run_command(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120):
    """Run a command in the project folder to its end; return the CompletedProcess (output merged, text)."""
    result = subprocess.run(
        list(args),
        cwd=BASE_DIR,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        check=False,
    )
    COMMAND_OUTPUTS.append((args, result.stdout or ""))
    return result


class Spare:
    """A process started ahead of need, for tests that each want a fresh one (a fake whose state is its
    own) without waiting seconds for it to start: ``take()`` returns a ready process, the caller's to
    stop, and starts the next one while the caller uses it. ``start`` returns a process not yet waited
    for (``start_process(..., wait=False)``)."""

    def __init__(self, start: Callable[[], RunningProcess]) -> None:
        self._start = start
        self._next: RunningProcess | None = None

    def take(self) -> RunningProcess:
        process = (self._next or self._start()).wait_ready()
        self._next = self._start()
        return process

    def close(self) -> None:
        if self._next is not None:
            self._next.stop()
            self._next = None


def stop_all(processes: Sequence[RunningProcess], timeout: float = 10) -> None:
    """Its stop signal to every one at once (newest first), then wait for each, bounded; SIGKILL what is
    left."""
    living = [process for process in reversed(processes) if process.alive()]
    for process in living:
        process.terminate()
    for process in living:
        with contextlib.suppress(Exception):
            process.wait_or_kill(timeout)


_OWNER = os.getpid()


@atexit.register
def _stop_leftovers() -> None:
    """Nothing outlives the Python process that started it (a test run that was interrupted, a crash);
    a forked child that inherited this handler leaves its parent's processes alone."""
    if os.getpid() == _OWNER:
        stop_all(STARTED, timeout=5)


def _interrupt(signum, _frame) -> None:
    raise Interrupted(f"signal {signum}")


def raise_interrupted() -> dict:
    """From now on SIGTERM and SIGHUP raise Interrupted, as Ctrl-C raises KeyboardInterrupt; returns the
    handlers they had."""
    return {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Meanwhile SIGTERM and SIGHUP raise Interrupted (``raise_interrupted``)."""
    previous = raise_interrupted()
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
