"""What a benchmark run owns and must give back: its own database on the shared PostgreSQL server, a
private redis-server, the project's processes, and the /proc readings of their CPU time and memory.

Everything started here is registered with a ``Stack`` and stopped by ``Stack.close()``, which the runner
calls in a ``finally`` (also on Ctrl-C and SIGTERM). Every wait is a bounded poll.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def say(message: str) -> None:
    """Progress goes to stderr; stdout stays free (the result is the JSON file)."""
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check`` until it is true; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not ready yet (connection refused and the like)
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


# --- /proc readings ------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    return text[text.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int, *, with_children: bool = True) -> float:
    """User + system CPU of ``pid`` (plus its reaped children), in seconds; 0 when it is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def sessions_members(session_ids: set[int]) -> dict[int, list[int]]:
    """The live processes of each of these sessions (each process we start leads its own), in one pass
    over /proc: a pass costs 2-4 ms of the bench process's CPU, and the monitor needs five sessions'."""
    members: dict[int, list[int]] = {session_id: [] for session_id in session_ids}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[3]) in members:
                members[int(fields[3])].append(int(entry))
    return members


def session_members(session_id: int) -> list[int]:
    return sessions_members({session_id})[session_id]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine() -> dict:
    """Cores, CPU model, memory and load: what the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "load_average_at_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
    }


# --- Processes -----------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def members(self) -> list[int]:
        return session_members(self.pid) if self.alive() else []

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.members())

    def terminate(self) -> None:
        """SIGTERM to the process and everything it started (its session's group)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def wait_or_kill(self, timeout: float = 15) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(5)
        # Children that outlived their leader (a worker's pool processes) go too.
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 15) -> None:
        self.terminate()
        self.wait_or_kill(timeout)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Stack:
    """The processes, private Redis and database of one run, and how to give them all back."""

    log_dir: Path
    database_server: str  # postgres://user@host:port (no database)
    database_name: str = field(default_factory=lambda: f"bevaka_bench_{os.getpid()}")
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bevaka-bench-")))
    procs: list[Proc] = field(default_factory=list)
    redis: Proc | None = None
    redis_port: int = 0
    database_created: bool = False
    _closed: bool = False

    @property
    def database_url(self) -> str:
        parts = urlsplit(self.database_server)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.database_name, "", ""))

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _admin_connection(self):
        import psycopg

        parts = urlsplit(self.database_server)
        return psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")), autocommit=True)

    def create_database(self) -> None:
        with self._admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{self.database_name}"')
        self.database_created = True
        say(f"database {self.database_name} created")

    def drop_database(self) -> None:
        if not self.database_created:
            return
        with self._admin_connection() as connection:
            # Only our own database: FORCE ends the sessions still connected to it (ours).
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        self.database_created = False
        say(f"database {self.database_name} dropped")

    def start_redis(self) -> None:
        self.redis_port = free_port()
        redis_dir = self.temp_dir / "redis"
        redis_dir.mkdir()
        self.redis = self.start(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(redis_dir),
            ],
            env=os.environ.copy(),
        )
        wait_until(lambda: port_open(self.redis_port), timeout=15, what="private redis-server")
        say(f"private redis-server on port {self.redis_port}")

    def start(self, name: str, args: list[str], *, env: dict[str, str]) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "a")  # noqa: SIM115 - the child owns it; a restarted process appends
        process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        proc = Proc(name=name, process=process, log_path=log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        """Stop every process (newest first), drop the database, remove the temp folder. Safe to repeat."""
        if self._closed:
            return
        self._closed = True
        # All at once: SIGTERM to every process, then wait for each (bounded), SIGKILL what is left.
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait_or_kill()
            except Exception as error:
                say(f"could not stop {proc.name}: {error}")
        self.procs.clear()
        try:
            self.drop_database()
        except Exception as error:
            say(f"could not drop {self.database_name}: {error}")
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class Monitor(threading.Thread):
    """Samples the RSS of the web and worker processes, and the CPU of our PostgreSQL backends (those
    connected to our database; a backend's CPU after its last sample is lost, so sample often)."""

    def __init__(self, stack: Stack, interval: float = 0.25) -> None:
        super().__init__(daemon=True, name="bench-monitor")
        self.stack = stack
        self.interval = interval
        self.stopped = threading.Event()
        self.peaks: dict[str, float] = {"web": 0.0, "worker": 0.0}
        self.scenario_peaks: dict[str, float] = {"web": 0.0, "worker": 0.0}
        self.backend_cpu: dict[tuple, float] = {}
        self.lock = threading.Lock()
        self.sampling = threading.Lock()  # held by a sample, and by paused()

    @contextlib.contextmanager
    def paused(self):
        """No samples meanwhile: for figures timed in the bench process itself (the pages), whose GIL a
        sample would hold for a few milliseconds at a time."""
        with self.sampling:
            yield

    def reset_scenario(self) -> None:
        with self.lock:
            self.scenario_peaks = {"web": 0.0, "worker": 0.0}

    def scenario_peak_rss(self) -> dict[str, float]:
        with self.lock:
            return {k: round(v, 1) for k, v in self.scenario_peaks.items()}

    def postgres_cpu_seconds(self) -> float:
        with self.lock:
            return sum(self.backend_cpu.values())

    def run(self) -> None:
        import psycopg

        connection = None
        while not self.stopped.is_set():
            self.sampling.acquire()
            try:
                if connection is None:
                    connection = psycopg.connect(self.stack.database_url, autocommit=True)
                backends = connection.execute(
                    "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.stack.database_name],
                ).fetchall()
                # Keyed by start time too: a pid can come back as another backend.
                readings = {(pid, start): process_cpu_seconds(pid, with_children=False) for pid, start in backends}
                kinds = {}
                for proc in list(self.stack.procs):
                    web, worker = proc.name in ("web", "webhooks"), proc.name.startswith("worker")
                    if (web or worker) and proc.alive():
                        kinds[proc.pid] = "web" if web else "worker"
                rss = {"web": 0.0, "worker": 0.0}
                for leader, pids in sessions_members(set(kinds)).items():
                    rss[kinds[leader]] = max([rss[kinds[leader]], *(rss_mb(pid) for pid in pids)])
                with self.lock:
                    for key, seconds in readings.items():
                        if seconds:
                            self.backend_cpu[key] = max(self.backend_cpu.get(key, 0.0), seconds)
                    for kind, value in rss.items():
                        self.peaks[kind] = max(self.peaks[kind], value)
                        self.scenario_peaks[kind] = max(self.scenario_peaks[kind], value)
            except Exception:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
                connection = None
            finally:
                self.sampling.release()
            self.stopped.wait(self.interval)
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
