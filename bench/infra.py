"""What a benchmark run owns and must give back: its own database on the shared PostgreSQL server, a
private redis-server, the project's processes (started with the harness, their output in log files), and
the /proc readings of their CPU time and memory.

Everything started here is registered with a ``Stack`` and stopped by ``Stack.close()``, which the runner
calls in a ``finally`` (also on Ctrl-C and SIGTERM). Every wait is a bounded poll.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import PrivateRedis, ProcessGroup, RunningProcess, ScratchDatabase
from harness.procfs import process_cpu_seconds, rss_mb, sessions_members


def say(message: str) -> None:
    """Progress goes to stderr; stdout stays free (the result is the JSON file)."""
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


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


@dataclass
class Stack:
    """The processes, private Redis and database of one run, and how to give them all back."""

    log_dir: Path
    database_server: str  # postgres://user@host:port (no database)
    database_name: str = field(default_factory=lambda: f"bevaka_bench_{os.getpid()}")
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bevaka-bench-")))
    redis: PrivateRedis | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        self.database = ScratchDatabase(self.database_server, self.database_name)
        self.processes = ProcessGroup(log_dir=self.log_dir)

    @property
    def procs(self) -> list[RunningProcess]:
        return self.processes.processes

    @property
    def database_url(self) -> str:
        return self.database.url

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    def create_database(self) -> None:
        self.database.create()
        say(f"database {self.database_name} created")

    def drop_database(self) -> None:
        if self.database.drop():
            say(f"database {self.database_name} dropped")

    def start_redis(self) -> None:
        self.redis = PrivateRedis(self.temp_dir / "redis", log_path=self.log_dir / "redis.log").start()
        say(f"private redis-server on port {self.redis.port}")

    def start(self, name: str, args: list[str], *, env: dict[str, str]) -> RunningProcess:
        """Start ``args`` now; its output goes to ``<log_dir>/<name>.log`` (a restarted one appends)."""
        return self.processes.start(args, name=name, env=env)

    def stop(self, proc: RunningProcess) -> None:
        self.processes.stop(proc, timeout=15)

    def close(self) -> None:
        """Stop every process (newest first), drop the database, remove the temp folder. Safe to repeat."""
        if self._closed:
            return
        self._closed = True
        self.processes.close(timeout=15)
        if self.redis is not None:
            try:
                self.redis.stop()
            except Exception as error:
                say(f"could not stop redis: {error}")
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
