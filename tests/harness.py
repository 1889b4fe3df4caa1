"""Start project processes (management commands, workers, servers) for tests, and stop them afterwards.

A process is ready when a line of its output matches ``ready`` (a regex; a named group ``url`` becomes
``RunningProcess.url``, as in ``mock_bankid listening on http://127.0.0.1:PORT``) or, with ``wait_url``,
when that URL answers HTTP. Output is kept, so a failing test can show what the process said.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
CELERY = [sys.executable, "-m", "celery"]


# Every process started and every command run, so that tests/privacy.py can search what they printed.
STARTED: list[RunningProcess] = []
SCANNED: dict[int, int] = {}
COMMAND_OUTPUTS: list[tuple[Sequence[str], str]] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessFailed(RuntimeError):
    pass


@dataclass
class RunningProcess:
    args: Sequence[str]
    process: subprocess.Popen
    url: str | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> int:
        """Stop the process and everything it started (SIGTERM to its group, then SIGKILL)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        return self.process.returncode

    def wait_for_output(self, pattern: str, timeout: float = 30) -> re.Match:
        """Wait until a line of output matches ``pattern``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.lines[:]
            for line in lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(lines)
            if not self.alive():
                time.sleep(0.2)  # let the reader catch the last lines
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                raise ProcessFailed(f"{self.args} exited with {self.process.returncode}:\n{self.output}")
            time.sleep(0.05)
        raise ProcessFailed(f"{self.args} printed nothing matching {pattern!r} in {timeout}s:\n{self.output}")


def _read(process: RunningProcess) -> None:
    assert process.process.stdout is not None
    for line in process.process.stdout:
        process.lines.append(line)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False


def start_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready: str | None = None,
    wait_url: str | None = None,
    timeout: float = 30,
) -> RunningProcess:
    """Start ``args`` in its own process group in the project folder and wait until it is ready."""
    process = subprocess.Popen(
        list(args),
        cwd=BASE_DIR,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    running = RunningProcess(args=args, process=process)
    STARTED.append(running)
    threading.Thread(target=_read, args=(running,), daemon=True).start()
    try:
        if ready:
            match = running.wait_for_output(ready, timeout)
            if "url" in match.re.groupindex:
                running.url = match["url"]
        if wait_url:
            deadline = time.monotonic() + timeout
            while not _answers(wait_url):
                if not running.alive():
                    raise ProcessFailed(f"{args} exited with {process.returncode}:\n{running.output}")
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"{wait_url} did not answer in {timeout}s:\n{running.output}")
                time.sleep(0.1)
            running.url = running.url or wait_url
    except BaseException:
        running.stop()
        raise
    return running


def run_command(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120):
    """Run a project command to its end; return the CompletedProcess (output merged, as text)."""
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
