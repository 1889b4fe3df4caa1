"""The one process harness: tests, ``make chaos`` and ``make bench`` start and stop processes with it.

- ``commands``: every command line, written once (``celery_worker`` builds the worker's for all of them);
- ``processes``: ``start_process`` / ``run_command``, ``RunningProcess`` (readiness, output, CPU, stop with
  its children), ``Spare`` (the next one started while this one is used), ``free_port``; what is still
  running at exit is stopped, and ``interruptible()`` makes SIGTERM and SIGHUP unwind like Ctrl-C;
- ``group``: ``ProcessGroup``, processes started for one purpose (side by side) and stopped together;
- ``servers``: ``PrivatePostgres``, ``ScratchDatabase``, ``PrivateRedis``;
- ``procfs``: what /proc says about them (process trees, sessions, CPU seconds, RSS).
"""

from .commands import BASE_DIR, MANAGE, celery_beat, celery_worker, manage, worker_ready
from .group import ProcessGroup
from .processes import (
    COMMAND_OUTPUTS,
    SCANNED,
    STARTED,
    Interrupted,
    ProcessFailed,
    RunningProcess,
    Spare,
    free_port,
    interruptible,
    port_open,
    run_command,
    start_process,
    stop_all,
    wait_until,
)
from .servers import PrivatePostgres, PrivateRedis, ScratchDatabase

__all__ = [
    "BASE_DIR",
    "COMMAND_OUTPUTS",
    "MANAGE",
    "SCANNED",
    "STARTED",
    "Interrupted",
    "PrivatePostgres",
    "PrivateRedis",
    "ProcessFailed",
    "ProcessGroup",
    "RunningProcess",
    "ScratchDatabase",
    "Spare",
    "celery_beat",
    "celery_worker",
    "free_port",
    "interruptible",
    "manage",
    "port_open",
    "run_command",
    "start_process",
    "stop_all",
    "wait_until",
    "worker_ready",
]
