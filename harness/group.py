"""A group of project processes started for one purpose and stopped together: a test's, a test module's
pipeline, a chaos or benchmark run.

    with ProcessGroup(env=env) as group:
        twilio = group.fake_twilio(wait=False)
        worker = group.worker(name="sms", queues=["sms"], wait=False)
        group.wait_ready()          # side by side: the slowest start, not the sum of them
        ...                         # everything stops here, newest first, also on an exception
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from . import commands
from .processes import RunningProcess, start_process, stop_all


class ProcessGroup:
    """Processes started with ``env`` (default: this process's environment), their output in pipes or,
    with ``log_dir``, in ``<log_dir>/<name>.log`` (a restarted one appends)."""

    def __init__(self, *, env: Mapping[str, str] | None = None, log_dir: Path | None = None) -> None:
        self.env = dict(env) if env is not None else None
        self.log_dir = log_dir
        self.processes: list[RunningProcess] = []
        self._pending: list[RunningProcess] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- starting -------------------------------------------------------------------------------------------
    def start(
        self, args: Sequence[str], *, name: str = "", env: Mapping[str, str] | None = None, wait: bool = True, **options
    ) -> RunningProcess:
        """``start_process`` in this group (``options``: its readiness and timeout)."""
        log_path = self.log_dir / f"{name}.log" if self.log_dir is not None and name else None
        env = env if env is not None else self.env
        process = start_process(args, env=env, name=name, log_path=log_path, wait=False, **options)
        self.processes.append(process)
        if wait:
            return process.wait_ready()
        self._pending.append(process)
        return process

    def wait_ready(self) -> None:
        """Wait for every process started with ``wait=False``; on a failure, stop them all and raise."""
        pending, self._pending = self._pending, []
        try:
            for process in pending:
                process.wait_ready()
        except BaseException:
            stop_all(pending)
            raise

    def worker(
        self, *, name: str, env: Mapping[str, str] | None = None, timeout: float = 60, wait: bool = True, **command
    ) -> RunningProcess:
        """A Celery worker (``commands.celery_worker``), ready when it says so (its log level must be INFO)."""
        args = commands.celery_worker(name=name, **command)
        return self.start(args, name=name, env=env, ready=commands.worker_ready(name), timeout=timeout, wait=wait)

    def beat(self, *, env: Mapping[str, str] | None = None, timeout: float = 60, wait: bool = True) -> RunningProcess:
        """Celery beat, ready once it starts its schedule."""
        return self.start(
            commands.celery_beat(), name="beat", env=env, ready=commands.BEAT_READY, timeout=timeout, wait=wait
        )

    def fake_twilio(self, *, env: Mapping[str, str] | None = None, wait: bool = True, **command) -> RunningProcess:
        """The fake Twilio server on a free port; ``.url`` is where it listens."""
        args = commands.fake_twilio(**command)
        return self.start(args, name="fake_twilio", env=env, ready=commands.FAKE_TWILIO_READY, wait=wait)

    def smtp_sink(self, *, env: Mapping[str, str] | None = None, port: int, **command) -> RunningProcess:
        """The SMTP sink on ``port`` with its control API on a free port (``.url``)."""
        args = commands.smtp_sink(port=port, control_port=0, **command)
        process = self.start(args, name="smtp_sink", env=env, ready=commands.SMTP_SINK_CONTROL_READY)
        process.wait_for_output(commands.SMTP_SINK_READY)
        return process

    def mock_bankid(self, *, env: Mapping[str, str] | None = None, time_factor: float = 1.0) -> RunningProcess:
        """The mock BankID server on a free port; ``.url`` is where it listens."""
        args = commands.mock_bankid(time_factor=time_factor)
        return self.start(args, name="mock_bankid", env=env, ready=commands.MOCK_BANKID_READY)

    # -- stopping -------------------------------------------------------------------------------------------
    def stop(self, process: RunningProcess, timeout: float = 10) -> None:
        """Stop one of them (and everything it started) and forget it."""
        process.stop(timeout)
        if process in self.processes:
            self.processes.remove(process)

    def close(self, timeout: float = 10) -> None:
        """Stop them all: SIGTERM to each at once, newest first; SIGKILL what is left after ``timeout``."""
        processes, self.processes, self._pending = self.processes, [], []
        stop_all(processes, timeout)
