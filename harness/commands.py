"""The command lines of the project's processes, each written once: tests, chaos and bench start these.

Deployment spells its own (Procfile, docker-compose.yml); tests/ops/test_compose.py holds those to the
queues the settings route to.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
CELERY = [sys.executable, "-m", "celery", "-A", "bevaka"]

# What each process prints once it is ready; a named group ``url`` is where it listens.
FAKE_TWILIO_READY = r"fake_twilio listening on (?P<url>http://127\.0\.0\.1:\d+)"
SMTP_SINK_CONTROL_READY = r"smtp_sink control on (?P<url>http://127\.0\.0\.1:\d+)"
SMTP_SINK_READY = r"smtp_sink listening on smtp://\S+"
MOCK_BANKID_READY = r"mock_bankid listening on (?P<url>http://127\.0\.0\.1:\d+)"
BEAT_READY = r"beat: Starting"


def worker_ready(name: str) -> str:
    """The line a worker started with ``celery_worker(name=name)`` prints once it consumes."""
    return rf"{name}@\S+ ready"


def _niced(nice: int) -> list[str]:
    return ["nice", "-n", str(nice)] if nice else []


def manage(*args: str) -> list[str]:
    """``manage.py`` with these arguments, on this Python."""
    return [*MANAGE, *args]


def celery_worker(
    *,
    name: str,
    queues: Sequence[str] = (),
    pool: str = "prefork",
    concurrency: int | None = None,
    loglevel: str = "INFO",
    include: Sequence[str] = (),
    heartbeat: bool = True,
    nice: int = 0,
) -> list[str]:
    """The Celery worker: one node named ``name@<host>`` consuming ``queues`` (default: every queue).

    Without gossip and mingle: a harness's worker is alone on its broker (a private Redis, a Redis
    database of its own, or its own queue), so there is nobody to synchronise with, and mingle's wait
    for replies only delays the start. ``heartbeat=False`` too when nothing must notice it die.
    """
    args = [*_niced(nice), *CELERY, "worker", "--pool", pool]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    if queues:
        args += ["--queues", ",".join(queues)]
    for module in include:
        args += ["--include", module]
    args += ["--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if not heartbeat:
        args.append("--without-heartbeat")
    return [*args, "--hostname", f"{name}@%h"]


def celery_beat(*, loglevel: str = "INFO", nice: int = 0) -> list[str]:
    """Celery beat (its schedule file: ``CELERY_BEAT_SCHEDULE_FILENAME`` in the environment)."""
    return [*_niced(nice), *CELERY, "beat", "--loglevel", loglevel]


def gunicorn(*, port: int, workers: int = 2, threads: int | None = None, timeout: int = 60) -> list[str]:
    """The production web server, as the Dockerfile starts it, on 127.0.0.1:``port``."""
    args = [sys.executable, "-m", "gunicorn", "bevaka.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers)]
    if threads:
        args += ["--worker-class", "gthread", "--threads", str(threads)]
    return [*args, "--timeout", str(timeout), "--graceful-timeout", "5"]


def runserver(*, port: int) -> list[str]:
    """Django's development server, as ``make run`` serves (without the reloader's second process)."""
    return manage("runserver", f"127.0.0.1:{port}", "--noreload")


def fake_twilio(
    *,
    port: int = 0,
    account_sid: str | None = None,
    auth_token: str | None = None,
    callback_delay_ms: float | None = None,
    rate_limit: float | None = None,
) -> list[str]:
    """The fake Twilio server (0: a free port; it prints where, FAKE_TWILIO_READY)."""
    args = manage("fake_twilio", "--port", str(port))
    for option, value in (
        ("--account-sid", account_sid),
        ("--auth-token", auth_token),
        ("--callback-delay-ms", callback_delay_ms),
        ("--rate-limit", rate_limit),
    ):
        if value is not None:
            args += [option, str(value)]
    return args


def smtp_sink(
    *, port: int = 0, control_port: int | None = None, quiet: bool = False, fail: int | None = None
) -> list[str]:
    """The SMTP sink (0: a free port), with its control API on ``control_port`` when given."""
    args = manage("smtp_sink", "--port", str(port))
    if control_port is not None:
        args += ["--control-port", str(control_port)]
    if fail is not None:
        args += ["--fail", str(fail)]
    return [*args, "--quiet"] if quiet else args


def mock_bankid(*, port: int = 0, time_factor: float = 1.0) -> list[str]:
    """The mock BankID server (0: a free port; it prints where, MOCK_BANKID_READY)."""
    return manage("mock_bankid", "--port", str(port), "--time-factor", str(time_factor))


def nginx(*, prefix: Path, config: Path) -> list[str]:
    """Debian's nginx as a private foreground process: its paths under ``prefix`` (pid, logs, temp files),
    the errors of its start in ``prefix``/error.log, never the machine's own /etc/nginx or /var/log."""
    binary = "/usr/sbin/nginx"
    return [binary, "-p", f"{prefix}/", "-c", str(config), "-e", str(prefix / "error.log"), "-g", "daemon off;"]
