"""The process harness itself (harness/): what tests, chaos and bench rely on when they start processes."""

import signal
import sys
from pathlib import Path

import pytest

from harness import ProcessFailed, ProcessGroup, Spare, celery_worker, start_process, worker_ready
from harness.procfs import session_members


def _running(session_id: int) -> list[int]:
    """The session's processes that still run (a killed child whose new parent has not reaped it yet
    stays in /proc as a zombie)."""
    running = []
    for pid in session_members(session_id):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.append(pid)
    return running


# A parent that starts two children which ignore nothing: the shape of a worker and its pool.
PARENT_WITH_CHILDREN = [sys.executable, "-c", "import subprocess, time; print('up', flush=True); "
                        "[subprocess.Popen(['sleep', '60']) for _ in range(2)]; time.sleep(60)"]  # fmt: skip


def test_a_group_stops_its_processes_and_everything_they_started():
    with ProcessGroup() as group:
        first = group.start(PARENT_WITH_CHILDREN, ready="up", wait=False)
        second = group.start(PARENT_WITH_CHILDREN, ready="up", wait=False)
        group.wait_ready()
        sessions = [first.pid, second.pid]
        assert all(len(_running(pid)) == 3 for pid in sessions)
    assert not first.alive() and not second.alive()
    assert [_running(pid) for pid in sessions] == [[], []]


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout():
    stubborn = start_process(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('up', flush=True); time.sleep(60)"],
        ready="up",
    )  # fmt: skip
    assert stubborn.stop(timeout=0.5) == -signal.SIGKILL


def test_a_process_that_exits_before_it_is_ready_fails_with_its_output():
    with pytest.raises(ProcessFailed, match="no database here"):
        start_process([sys.executable, "-c", "print('no database here')"], ready="listening", timeout=10)


def test_a_spare_hands_out_a_fresh_ready_process_and_starts_the_next():
    spare = Spare(lambda: start_process(PARENT_WITH_CHILDREN, ready="up", wait=False))
    first = spare.take()
    second = spare.take()
    try:
        assert first.pid != second.pid and first.alive() and second.alive()
        assert spare._next is not None and spare._next.alive()
    finally:
        first.stop()
        second.stop()
        upcoming = spare._next
        spare.close()
    assert not upcoming.alive()


def test_one_function_writes_the_worker_command_line_and_its_ready_line():
    args = celery_worker(name="send-1", queues=["send"], concurrency=2, include=["bench.tasks"], nice=10)
    assert args[:3] == ["nice", "-n", "10"]
    assert args[3:8] == [sys.executable, "-m", "celery", "-A", "bevaka"]
    assert args[8:] == [
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "2",
        "--queues",
        "send",
        "--include",
        "bench.tasks",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        "send-1@%h",
    ]
    assert "--without-heartbeat" in celery_worker(name="x", heartbeat=False)
    assert __import__("re").search(worker_ready("send-1"), "[INFO] send-1@vm ready.")
