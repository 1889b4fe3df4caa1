"""What /proc says about the processes the harness started: their trees, sessions, CPU time and memory.

Every process the harness starts leads its own session (``start_new_session``), so a session id is the
pid of the process we started, and its members are everything it started in turn (a worker's pool).
"""

from __future__ import annotations

import contextlib
import glob
import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    return text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (parents before their children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in glob.glob(f"/proc/{current}/task/*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in Path(task).read_text().split()]
    return found


def sessions_members(session_ids: set[int]) -> dict[int, list[int]]:
    """The live processes of each of these sessions, in one pass over /proc: a pass costs 2-4 ms of this
    process's CPU, and the benchmark's monitor needs five sessions' several times a second."""
    members: dict[int, list[int]] = {session_id: [] for session_id in session_ids}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[3]) in members:
                members[int(fields[3])].append(int(entry))
    return members


def session_members(session_id: int) -> list[int]:
    return sessions_members({session_id})[session_id]


def running_session_members(session_id: int) -> list[int]:
    """The session's processes that have not exited (a zombie waiting for its new parent has)."""
    return [pid for pid in session_members(session_id) if (fields := _stat(pid)) is not None and fields[0] != "Z"]


def process_cpu_seconds(pid: int, *, with_children: bool = True) -> float:
    """User + system CPU of ``pid`` (plus its reaped children), in seconds; 0 when it is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
