"""The real stack on loopback, with its own PostgreSQL and Redis, for breaking on purpose.

``Stack`` starts, in a temporary folder it removes afterwards (also on an error or Ctrl-C):
- a private PostgreSQL cluster (initdb + pg_ctl from /usr/lib/postgresql/*/bin, its own port, data and
  socket folder; as the ``postgres`` system user when we are root, since initdb refuses root),
- a private Redis (``redis-server --save "" --appendonly no``: no persistence, as in production's broker),
- the fake Twilio server and the SMTP sink (``manage.py fake_twilio`` / ``smtp_sink`` with their control
  APIs), the web app (gunicorn, as in the Dockerfile) for ingestion and Twilio's status callbacks,
- ≥ 2 Celery worker processes and beat, with short relay clocks (``CHAOS_SETTINGS``).

The machine's shared PostgreSQL and Redis are never touched: every process gets this stack's URLs.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.harness import BASE_DIR, CELERY, MANAGE, RunningProcess, free_port, start_process

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "chaos-fake-twilio-token"  # noqa: S105 - a fake server's token

# Clocks short enough that recovery is bounded by the relay (seconds), not by Redis' visibility timeout.
CHAOS_SETTINGS = {
    "NOTIFICATIONS_RELAY_INTERVAL": "1",
    "NOTIFICATIONS_RELAY_LEASE_SECONDS": "10",
    "NOTIFICATIONS_SENDING_TIMEOUT": "8",
    "NOTIFICATIONS_AMBIGUOUS_WAIT_SECONDS": "4",
    "NOTIFICATIONS_MAX_AMBIGUOUS_RESENDS": "1",
    "NOTIFICATIONS_RETRY_BASE_SECONDS": "0.5",
    "NOTIFICATIONS_RETRY_MAX_SECONDS": "4",
    "NOTIFICATIONS_MAX_ATTEMPTS": "40",
    "NOTIFICATIONS_BATCH_SIZE": "50",
    "EVENTS_FANOUT_RELAY_INTERVAL": "1",
    "EVENTS_FANOUT_LEASE_SECONDS": "5",
    "SMS_RATE_PER_SECOND": "400",
    "EMAIL_RATE_PER_SECOND": "400",
    "NOTIFICATIONS_RATE_LIMIT_MAX_WAIT": "5",
    "TWILIO_TIMEOUT": "2",
    "EMAIL_TIMEOUT": "5",
}


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (scripts/ensure-chaos.sh)")
    return Path(candidates[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the postgres system user when we are root (initdb and postgres refuse to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: trust auth, loopback only, fsync off (nothing here must survive)."""

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
        if self.running():
            try:
                self.stop("immediate")
            except Exception:
                with contextlib.suppress(Exception):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)


class PrivateRedis:
    """A throwaway redis-server without persistence: a restart loses every queued message."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "redis"
        self.folder.mkdir()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=(self.folder / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        import redis

        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


def _json_request(url: str, payload=None, *, method: str | None = None, timeout: float = 10):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method=method or ("POST" if data is not None else "GET"),
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class FakeProviders:
    """The fake Twilio server and the SMTP sink, as this harness counts what they received."""

    def __init__(self, twilio_url: str, smtp_control_url: str) -> None:
        self.twilio_url = twilio_url
        self.smtp_control_url = smtp_control_url

    def reset(self) -> None:
        _json_request(self.twilio_url + "/_fake/reset", {})
        _json_request(self.twilio_url + "/_fake/config", {"rate_limit": 0, "latency_ms": 0, "callback_delay_ms": 30})
        _json_request(self.smtp_control_url + "/_fake/reset", {})

    def twilio_fault(self, mode: str, **options) -> None:
        _json_request(self.twilio_url + "/_fake/faults", {"mode": mode, **options})

    def twilio_config(self, **options) -> None:
        _json_request(self.twilio_url + "/_fake/config", options)

    def twilio_stats(self) -> dict:
        return _json_request(self.twilio_url + "/_fake/stats")

    def smtp_fault(self, code: int, **options) -> None:
        _json_request(self.smtp_control_url + "/_fake/faults", {"code": code, **options})

    def smtp_clear(self) -> None:
        _json_request(self.smtp_control_url + "/_fake/clear_faults", {})

    def received(self) -> dict[int, int]:
        """Provider-side sends per delivery id: SMS by the id in the callback URL, e-mail by its header."""
        counts: dict[int, int] = {}
        for message in _json_request(self.twilio_url + "/_fake/messages", timeout=60):
            callback = message.get("status_callback") or ""
            if callback:
                delivery_id = int(callback.rstrip("/").rsplit("/", 1)[1])
                counts[delivery_id] = counts.get(delivery_id, 0) + 1
        for message in _json_request(self.smtp_control_url + "/_fake/received", timeout=60):
            if message["delivery"]:
                delivery_id = int(message["delivery"])
                counts[delivery_id] = counts.get(delivery_id, 0) + 1
        return counts


def _interrupt(*_args) -> None:
    """A SIGTERM (CI's timeout, a parent's stop) unwinds like Ctrl-C, so the stack removes everything."""
    raise KeyboardInterrupt


class Stack:
    """Everything a scenario breaks, on loopback. Use as a context manager."""

    def __init__(self, *, workers: int = 2, concurrency: int = 2, quiet: bool = False) -> None:
        self.worker_count = workers
        self.concurrency = concurrency
        self.quiet = quiet
        self.root: Path | None = None
        self.postgres: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None
        self.processes: list[RunningProcess] = []
        self.workers: list[RunningProcess | None] = []
        self.beat: RunningProcess | None = None
        self.web: RunningProcess | None = None
        self.providers: FakeProviders | None = None
        self.env: dict[str, str] = {}
        self._workers_started = 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        self._previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bevaka-chaos-"))
        self.root.chmod(0o755)  # the postgres user must reach its folder inside
        started = time.monotonic()
        self.postgres = PrivatePostgres(self.root).init()
        self.redis = PrivateRedis(self.root).start()
        self.say(f"chaos: private PostgreSQL on :{self.postgres.port}, Redis on :{self.redis.port}")
        web_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))},
            **CHAOS_SETTINGS,
            "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": "chaos-" + os.urandom(24).hex(),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM": "Banken",
            "TWILIO_MESSAGING_SERVICE_SID": "",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
            "EVENTS_API_URL": f"http://127.0.0.1:{web_port}",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "BEVAKA_VAR_DIR": str(self.root / "var"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(self.root / "celerybeat-schedule"),
            "PYTHONUNBUFFERED": "1",
        }
        (self.root / "var").mkdir()
        # This process talks to the private database and Redis too (Django is set up after this).
        os.environ.update(
            {k: self.env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
        )
        for key, value in self.env.items():
            if key in CHAOS_SETTINGS or key.startswith(("TWILIO_", "EMAIL_", "PUBLIC_", "EVENTS_", "DEBUG", "ALLOWED")):
                os.environ[key] = value
        migrate = subprocess.run(
            [*MANAGE, "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError("migrate failed:\n" + migrate.stdout[-3000:])
        twilio = self._start(
            [
                *MANAGE,
                "fake_twilio",
                "--port",
                "0",
                "--account-sid",
                ACCOUNT_SID,
                "--auth-token",
                AUTH_TOKEN,
                "--callback-delay-ms",
                "30",
            ],
            ready=r"fake_twilio listening on (?P<url>http://127\.0\.0\.1:\d+)",
        )
        smtp_port = free_port()
        smtp = self._start(
            [*MANAGE, "smtp_sink", "--port", str(smtp_port), "--control-port", "0", "--quiet"],
            ready=r"smtp_sink control on (?P<url>http://127\.0\.0\.1:\d+)",
        )
        smtp.wait_for_output(r"smtp_sink listening")
        self.env["TWILIO_API_BASE_URL"] = twilio.url
        self.env["EMAIL_PORT"] = str(smtp_port)
        os.environ["TWILIO_API_BASE_URL"] = twilio.url
        os.environ["EMAIL_PORT"] = str(smtp_port)
        self.providers = FakeProviders(twilio.url, smtp.url)
        self.web = self._start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bevaka.wsgi:application",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
            wait_url=f"http://127.0.0.1:{web_port}/api/v1/openapi.json",
            timeout=60,
        )
        self.workers = [None] * self.worker_count
        for index in range(self.worker_count):
            self.start_worker(index)
        self.start_beat()
        self.say(f"chaos: stack up in {time.monotonic() - started:.1f}s ({self.worker_count} workers and beat)")

    def _start(self, args, **options) -> RunningProcess:
        process = start_process(args, env=self.env, **options)
        self.processes.append(process)
        return process

    def start_worker(self, index: int) -> RunningProcess:
        self._workers_started += 1
        name = f"chaos{index}-{self._workers_started}"
        worker = self._start(
            [
                *CELERY,
                "-A",
                "bevaka",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
            ],
            ready=rf"{name}@\S+ ready",
            timeout=90,
        )
        self.workers[index] = worker
        return worker

    def restart_workers(self, **settings: str) -> None:
        """Stop every worker (warm) and start them again with these settings on top (``{}`` restores)."""
        for index in range(len(self.workers)):
            self.terminate_worker(index)
        self.env = {**self.env, **settings}
        for index in range(len(self.workers)):
            self.start_worker(index)

    def start_beat(self) -> None:
        self.beat = self._start([*CELERY, "-A", "bevaka", "beat", "--loglevel", "INFO"], ready=r"beat: Starting")

    # -- faults ---------------------------------------------------------------------------------------------
    @staticmethod
    def _tree(pid: int) -> list[int]:
        """``pid`` and its descendants."""
        found, todo = [], [pid]
        while todo:
            current = todo.pop()
            found.append(current)
            for task in glob.glob(f"/proc/{current}/task/*/children"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in Path(task).read_text().split()]
        return found

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker's parent and pool children at once, as an OOM killer or a lost machine would."""
        worker = self.workers[index]
        if worker is None:
            return
        for pid in self._tree(worker.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.process.wait(20)
        self.workers[index] = None

    def terminate_worker(self, index: int, timeout: float = 120) -> None:
        """SIGTERM: Celery's warm shutdown, as a deploy does; waits for it to finish its tasks."""
        worker = self.workers[index]
        if worker is None:
            return
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_worker(index)
        self.workers[index] = None

    def redis_restart(self) -> None:
        assert self.redis is not None
        self.redis.restart()

    # -- teardown -------------------------------------------------------------------------------------------
    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                if process.alive():
                    for pid in self._tree(process.process.pid)[1:]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                process.stop(timeout=10)
        self.processes.clear()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.remove()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        if hasattr(self, "_previous_sigterm"):
            signal.signal(signal.SIGTERM, self._previous_sigterm)
