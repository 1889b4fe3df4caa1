"""PostgreSQL and Redis of one's own, so that a chaos or benchmark run never touches the machine's.

- ``PrivatePostgres``: a throwaway cluster (initdb + pg_ctl from /usr/lib/postgresql/*/bin, its own port,
  data and socket folder; as the ``postgres`` system user when we are root, since initdb refuses root);
- ``ScratchDatabase``: a database of one's own on an existing server, created and dropped again;
- ``PrivateRedis``: a redis-server without persistence on a free port (a restart loses every message,
  as production's broker would without its AOF).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .processes import RunningProcess, free_port, start_process


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (scripts/ensure-chaos.sh)")
    return Path(candidates[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the postgres system user when we are root (initdb and postgres refuse to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in ``root``/postgres: trust auth, loopback only, fsync off (nothing
    here must survive), with one database ``bevaka`` (``url``). ``root`` must be reachable by the
    postgres user."""

    def __init__(self, root: Path) -> None:
        self.bin = _postgres_bin()
        self.folder = root / "postgres"
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.folder.mkdir()
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/bevaka"

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            _as_postgres([str(self.bin / args[0]), *args[1:]]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{self._tail()}")

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-2000:]
        return ""

    def init(self) -> PrivatePostgres:
        """Create the cluster, start it and create the database."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", str(self.folder), "-p", str(self.port), "-U", "postgres", "bevaka")
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop the server at once (its folder goes with the caller's ``root``)."""
        if self.running():
            try:
                self.stop("immediate")
            except Exception:
                with contextlib.suppress(Exception):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)


class ScratchDatabase:
    """A database ``name`` of one's own on the PostgreSQL server ``server`` (postgres://user@host:port)."""

    def __init__(self, server: str, name: str) -> None:
        self.server = server
        self.name = name
        self.created = False

    @property
    def url(self) -> str:
        parts = urlsplit(self.server)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.name, "", ""))

    def _admin_connection(self):
        import psycopg

        parts = urlsplit(self.server)
        return psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")), autocommit=True)

    def create(self) -> None:
        with self._admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> bool:
        """Drop it if we created it; whether we did. FORCE ends the sessions still connected (ours)."""
        if not self.created:
            return False
        with self._admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False
        return True


class PrivateRedis:
    """A throwaway redis-server on loopback, its files in ``folder``, its output in ``log_path``."""

    def __init__(self, folder: Path, *, log_path: Path | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path or folder / "redis.log"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: RunningProcess | None = None

    def start(self) -> PrivateRedis:
        """Start it (again, on the same port) and wait until it answers PING."""
        import redis

        args = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.folder), "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = start_process(args, name="redis", log_path=self.log_path, cwd=self.folder)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline or not self.process.alive():
                    self.process.stop()
                    raise RuntimeError(f"private redis-server did not start:\n{self.process.tail()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        return self.process.cpu_seconds() if self.process is not None else 0.0
