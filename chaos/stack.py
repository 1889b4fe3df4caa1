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

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import harness
from harness import BASE_DIR, PrivatePostgres, PrivateRedis, ProcessGroup, RunningProcess, free_port

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


class Stack:
    """Everything a scenario breaks, on loopback. Use as a context manager."""

    def __init__(self, *, workers: int = 2, concurrency: int = 2, quiet: bool = False) -> None:
        self.worker_count = workers
        self.concurrency = concurrency
        self.quiet = quiet
        self.root: Path | None = None
        self.postgres: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None
        self.processes = ProcessGroup()
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
        # A SIGTERM (CI's time-out, a parent's stop) unwinds like Ctrl-C, so the stack removes everything.
        self._previous_signals = harness.processes.raise_interrupted()
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
        self.redis = PrivateRedis(self.root / "redis").start()
        self.say(f"chaos: private PostgreSQL on :{self.postgres.port}, Redis on :{self.redis.port}")
        web_port = free_port()
        smtp_port = free_port()
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
            "EMAIL_PORT": str(smtp_port),
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
        # The fakes start while the database is migrated; the web and the workers need both.
        twilio = self.processes.fake_twilio(
            env=self.env, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, callback_delay_ms=30, wait=False
        )
        migrate = subprocess.run(
            harness.manage("migrate", "--noinput"),
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
        smtp = self.processes.smtp_sink(env=self.env, port=smtp_port, quiet=True)
        self.processes.wait_ready()
        self.env["TWILIO_API_BASE_URL"] = twilio.url
        os.environ["TWILIO_API_BASE_URL"] = twilio.url
        os.environ["EMAIL_PORT"] = str(smtp_port)
        self.providers = FakeProviders(twilio.url, smtp.url)
        self.web = self.processes.start(
            harness.commands.gunicorn(port=web_port, workers=2, threads=8, timeout=60),
            name="web",
            env=self.env,
            wait_url=f"http://127.0.0.1:{web_port}/api/v1/openapi.json",
            timeout=60,
            wait=False,
        )
        self.workers = [None] * self.worker_count
        for index in range(self.worker_count):
            self.start_worker(index, wait=False)
        self.start_beat(wait=False)
        self.processes.wait_ready()
        self.say(f"chaos: stack up in {time.monotonic() - started:.1f}s ({self.worker_count} workers and beat)")

    def start_worker(self, index: int, *, wait: bool = True) -> RunningProcess:
        self._workers_started += 1
        worker = self.processes.worker(
            name=f"chaos{index}-{self._workers_started}",
            env=self.env,
            concurrency=self.concurrency,
            timeout=90,
            wait=wait,
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

    def start_beat(self, *, wait: bool = True) -> None:
        self.beat = self.processes.beat(env=self.env, wait=wait)

    # -- faults ---------------------------------------------------------------------------------------------
    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker's parent and pool children at once, as an OOM killer or a lost machine would."""
        worker = self.workers[index]
        if worker is None:
            return
        worker.kill()
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
        self.processes.close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up yet
            pass
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            try:
                self.postgres.remove()
            except Exception as error:
                self.say(f"chaos: could not stop the private PostgreSQL: {error}")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        if hasattr(self, "_previous_signals"):
            for number, handler in self._previous_signals.items():
                signal.signal(number, handler)
