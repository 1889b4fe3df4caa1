"""`make bench` / `make bench-quick`: start everything the pipeline needs, seed, measure the ceilings and
the five scenarios, write one JSON document to var/bench/latest.json (progress on stderr), clean up.

    python -m bench.run --size full|quick|tiny [--out PATH]

The run owns a database ``bevaka_bench_<pid>`` on the shared PostgreSQL server (created at the start,
dropped at the end), a private redis-server on a free port, N Celery worker processes (prefork, one per
core), beat, gunicorn with 2 workers, the fake Twilio server and the SMTP sink. All of it is stopped in a
``finally``, also on Ctrl-C and SIGTERM. Every wait has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import BASE_DIR, commands, free_port, port_open, wait_until
from harness.processes import raise_interrupted

from .infra import Monitor, Stack, machine, say


@dataclass
class Sizes:
    """What one run does; ``full`` is the issue's, ``quick`` its quick sizes, ``tiny`` the test suite's."""

    name: str
    recipients: int  # burst: R users with SMS and e-mail
    events: int  # many events through the batch API
    event_companies: int  # companies the many events go to (1–3 recipients each)
    drain_seconds: float  # how long the many-events drain is measured at most
    latency_seconds: float  # paced events at half the sustainable rate
    api_seconds: float
    rate_limited_sms: int
    page_users: int
    history_days: int
    history_events_per_day: int
    history_per_event: int
    ceiling_seconds: float
    noop_tasks: int
    copy_rows: int
    page_requests: int
    codes: int  # priority: one-time codes asked for through the view (at most; one each 0.2 s of the burst)


SIZES = {
    "full": Sizes("full", 10_000, 50_000, 300, 120, 30, 60, 5_000, 2_000, 90, 10, 20, 5, 10_000, 100_000, 60, 300),
    "quick": Sizes("quick", 2_000, 5_000, 100, 12, 10, 20, 1_000, 500, 90, 4, 10, 3, 2_000, 20_000, 30, 100),
    "tiny": Sizes("tiny", 60, 100, 6, 5, 2, 2, 50, 30, 3, 2, 3, 1, 100, 1_000, 3, 3),
}


def child_env(stack: Stack, **extra: str) -> dict[str, str]:
    """The environment of every process of the run: our database, our Redis, the fakes."""
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="bevaka.settings",
        DATABASE_URL=stack.database_url,
        REDIS_URL=stack.redis_url,
        DEBUG="false",
        SECRET_KEY=stack.secret_key,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        TWILIO_ACCOUNT_SID="AC" + "0" * 31 + "8",
        TWILIO_AUTH_TOKEN="bench-fake-twilio-token",  # noqa: S106 - the fake's made-up credentials
        TWILIO_FROM="Banken",
        TWILIO_API_BASE_URL=stack.urls.get("twilio", "http://127.0.0.1:9"),
        PUBLIC_BASE_URL=stack.urls.get("webhooks", "http://127.0.0.1:9"),
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(stack.ports.get("smtp", 9)),
        SMS_RATE_PER_SECOND="0",
        EMAIL_RATE_PER_SECOND="0",
        NOTIFICATIONS_RELAY_INTERVAL="2",
        BEVAKA_VAR_DIR=str(stack.temp_dir / "var"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(stack.temp_dir / "celerybeat-schedule"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(BASE_DIR),
    )
    env.update(extra)
    return env


def start_fakes(stack: Stack) -> None:
    """Start the fake Twilio server and the SMTP sink; ``wait_fakes`` waits until they listen."""
    stack.procs_by_name["twilio"] = stack.start(
        "fake_twilio", commands.fake_twilio(port=stack.ports["twilio"]), env=child_env(stack)
    )
    stack.procs_by_name["smtp"] = stack.start(
        "smtp_sink", commands.smtp_sink(port=stack.ports["smtp"], quiet=True), env=child_env(stack)
    )


def wait_fakes(stack: Stack) -> None:
    wait_until(lambda: port_open(stack.ports["twilio"]), timeout=30, what="fake_twilio")
    wait_until(lambda: port_open(stack.ports["smtp"]), timeout=30, what="smtp_sink")
    say(f"fake Twilio on {stack.urls['twilio']}, SMTP sink on port {stack.ports['smtp']}")


# The web's two gunicorns: the ingestion API and pages, and Twilio's status callbacks (PUBLIC_BASE_URL),
# as a proxy would route /webhooks/ in production (docker-compose's `webhooks`). Three callbacks come for
# every SMS; when they shared the API's two workers, the batch API's requests waited behind them in the
# listen backlog (docs/PERFORMANCE.md). The callbacks' gunicorn runs on the webhooks settings, as
# docker-compose's `webhooks` does: the callback's URL and its middleware only (bevaka/settings_webhooks.py).
WEBS = {"web": "bevaka.settings", "webhooks": "bevaka.settings_webhooks"}


def start_web(stack: Stack) -> None:
    """Start both gunicorns; ``wait_web`` waits until they listen."""
    for name, settings_module in WEBS.items():
        stack.procs_by_name[name] = stack.start(
            name,
            commands.gunicorn(port=stack.ports[name], workers=2, timeout=120),
            env=child_env(stack, DJANGO_SETTINGS_MODULE=settings_module),
        )


def wait_web(stack: Stack) -> None:
    for name in WEBS:
        wait_until(lambda name=name: port_open(stack.ports[name]), timeout=60, what=f"gunicorn ({name})")
    say(f"gunicorn (2 workers) on {stack.urls['web']}, and 2 more for status callbacks on {stack.urls['webhooks']}")


WORKERS = {
    # name: the queue it consumes, when the product has no lanes (main before issue 21). Sends wait on the
    # provider with a worker process held; a fan-out that shared those processes waited behind them (in
    # many-events, most of the event → provider latency went before the fan-out had started). Each queue
    # has its own processes, one per core.
    "worker": "send",
    "worker-fanout": "celery",
}


def _lanes() -> dict | None:
    """``notifications.lanes.LANES`` (issue 21: a queue per purpose and channel) when the product has it."""
    import importlib.util

    import notifications

    # The lanes of the product code this run imports (the folder of its ``notifications``), not a module an
    # editable install finds in another checkout (a worktree of main measured with this checkout's .venv).
    spec = importlib.util.find_spec("notifications.lanes")
    if spec is None or Path(spec.origin).parent != Path(notifications.__file__).parent:
        return None
    from notifications.lanes import LANES

    return dict(LANES)


def _suggested_processes(spec) -> int | None:
    """The worker processes a lane's entry in LANES suggests: an int, an attribute or key ``processes``,
    or the last int of a tuple (name → what it carries + processes)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    for key in ("processes", "worker_processes", "concurrency"):
        value = spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)
        if isinstance(value, int):
            return value
    if isinstance(spec, tuple | list):
        numbers = [item for item in spec if isinstance(item, int) and not isinstance(item, bool)]
        if numbers:
            return numbers[-1]
    return None


def worker_groups() -> dict[str, str]:
    """name → the queue its worker group consumes: one group per lane of ``notifications.lanes.LANES``
    when it exists, otherwise ``WORKERS`` (the send queue and the fan-out's). Data, so that the bench runs
    the layout of whichever product code it runs against."""
    lanes = _lanes()
    if lanes is None:
        return dict(WORKERS)
    return {f"worker-{name}": name for name in lanes}


def start_workers(stack: Stack, only: tuple[str, ...] = (), **extra_env: str) -> None:
    """A prefork worker group per queue (``worker_groups``) and beat, or only the workers named; waits
    until a task makes the round trip through each queue started."""
    env = child_env(stack, **extra_env)
    started = {name: queue for name, queue in worker_groups().items() if not only or name in only}
    for name, queue in started.items():
        stack.procs_by_name[name] = stack.start(
            name,
            commands.celery_worker(
                name=f"bench-{name}-{os.getpid()}",
                queues=[queue],
                concurrency=stack.processes_for(queue),
                include=["bench.tasks"],
                loglevel="WARNING",
                nice=stack.worker_nice,
            ),
            env=env,
        )
    if not only:
        stack.procs_by_name["beat"] = stack.start(
            "worker-beat", commands.celery_beat(loglevel="WARNING", nice=stack.worker_nice), env=env
        )
    _wait_for_queues(stack, started.values())
    layout = ", ".join(f"{stack.processes_for(queue)} for {queue}" for queue in started.values())
    say(f"worker processes ({layout}){'' if only else ' and beat'} ready")


def _wait_for_queues(stack: Stack, queues) -> None:
    from bench import tasks

    client = stack.redis_client()
    for queue in queues:
        before = int(client.get("bench:noop") or 0)
        tasks.noop.apply_async(queue=queue)
        wait_until(
            lambda before=before: int(client.get("bench:noop") or 0) > before,
            timeout=90,
            what=f"celery worker on {queue}",
            interval=0.2,
        )


def stop_workers(stack: Stack, only: tuple[str, ...] = ()) -> None:
    names = only or ("beat", *worker_groups(), "peer")
    procs = [stack.procs_by_name.pop(name) for name in names if name in stack.procs_by_name]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        stack.stop(proc)


# The peer of issue 21 (bench/peer.py): one Celery task per alert, on a queue of its own that only its
# worker consumes, with as many prefork processes as all our worker groups together (BENCH_PEER_PROCESSES).
PEER_QUEUE = "bench-peer"


def start_peer_worker(stack: Stack) -> int:
    processes = int(os.environ.get("BENCH_PEER_PROCESSES") or 0) or sum(
        stack.processes_for(queue) for queue in worker_groups().values()
    )
    stack.procs_by_name["peer"] = stack.start(
        "worker-peer",
        commands.celery_worker(
            name=f"bench-peer-{os.getpid()}",
            queues=[PEER_QUEUE],
            concurrency=processes,
            include=["bench.tasks,bench.peer"],  # one --include: a second would replace the first
            loglevel="WARNING",
            nice=stack.worker_nice,
        ),
        env=child_env(stack),
    )
    _wait_for_queues(stack, [PEER_QUEUE])
    say(f"peer worker ({processes} processes) ready")
    return processes


class BenchStack(Stack):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.secret_key = secrets.token_urlsafe(50)
        # Every port is picked before Django's settings are built, so they hold the right addresses.
        self.ports: dict[str, int] = {name: free_port() for name in ("twilio", "smtp", "web", "webhooks")}
        self.urls: dict[str, str] = {
            name: f"http://127.0.0.1:{self.ports[name]}" for name in ("twilio", "web", "webhooks")
        }
        self.procs_by_name: dict = {}
        self.worker_processes = os.cpu_count() or 2
        # BENCH_SEND_PROCESSES: the send worker's processes (default one per core), for trying layouts.
        self.send_processes = int(os.environ.get("BENCH_SEND_PROCESSES") or self.worker_processes)
        # The workers and beat run at a lower priority than the web (and the callbacks' web, and the fakes),
        # as docker-compose.yml's cpu_shares have it: on two shared cores the batch API waited for the drain.
        # BENCH_WORKER_NICE=0 runs them all alike (docs/PERFORMANCE.md has both).
        self.worker_nice = int(os.environ.get("BENCH_WORKER_NICE", "10"))
        self._redis_client = None

    def processes_for(self, queue: str) -> int:
        """The worker processes for a queue: today's layout one per core (BENCH_SEND_PROCESSES for the send
        queue); with lanes what ``LANES`` suggests for the lane (BENCH_LANE_PROCESSES_<LANE> overrides)."""
        override = os.environ.get(f"BENCH_LANE_PROCESSES_{queue.upper()}")
        if override:
            return int(override)
        lanes = _lanes()
        if lanes is not None and queue in lanes:
            return _suggested_processes(lanes[queue]) or self.worker_processes
        return self.send_processes if queue == "send" else self.worker_processes

    def redis_client(self):
        import redis

        if self._redis_client is None:
            self._redis_client = redis.Redis.from_url(self.redis_url)
        return self._redis_client


def run(sizes: Sizes, out: Path, only: frozenset[str] = frozenset()) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / "logs"
    log_dir.mkdir(exist_ok=True)
    for old_log in log_dir.glob("*.log"):
        old_log.unlink()
    stack = BenchStack(
        log_dir=log_dir,
        database_server=database_server(),
    )
    # SIGTERM and SIGHUP raise harness.Interrupted, a KeyboardInterrupt: no scenario's error handling takes
    # it for a failed scenario and goes on with the next one, and the ``finally`` gives everything back.
    previous = raise_interrupted()
    monitor = None
    started = time.monotonic()
    try:
        stack.create_database()
        stack.start_redis()
        os.environ.update(child_env(stack))
        import django

        django.setup()
        from django.core.management import call_command

        # What does not need the database starts while it is migrated, and the rest side by side: the
        # run's set-up takes the slowest start, not the sum of them (no figure is measured meanwhile).
        start_fakes(stack)
        call_command("migrate", "--noinput", verbosity=0)
        say("migrated")
        start_web(stack)
        start_workers(stack)
        wait_fakes(stack)
        wait_web(stack)
        from django.conf import settings

        monitor = Monitor(stack)
        monitor.start()

        from . import scenarios

        result = scenarios.run_all(stack, sizes, monitor, only=only)
        result["machine"] = {**machine_info, "load_average_at_end": list(os.getloadavg())}
        result["settings"] = {
            **asdict(sizes),
            "worker_processes": stack.worker_processes,
            "lanes": _lanes() is not None,
            "worker_queues": {
                name: {"queue": queue, "processes": stack.processes_for(queue)}
                for name, queue in worker_groups().items()
            },
            "web_workers": 2,
            "webhook_workers": 2,
            "worker_nice": stack.worker_nice,
            "send_concurrency_per_task": settings.NOTIFICATIONS_SEND_CONCURRENCY,
            "send_batch_size": settings.NOTIFICATIONS_BATCH_SIZE,
            "log_level": "WARNING",
            "postgres": scenarios.postgres_version(),
            "seconds_total": round(time.monotonic() - started, 1),
        }
        result["peak_rss_mb"] = {k: round(v, 1) for k, v in monitor.peaks.items()}
        ordered = {k: result[k] for k in ("machine", "settings", "ceilings") if k in result}
        ordered.update({k: v for k, v in result.items() if k not in ordered})
        out.write_text(json.dumps(ordered, indent=2, ensure_ascii=False) + "\n")
        say(f"wrote {out} in {time.monotonic() - started:.0f} s")
        return ordered
    finally:
        if monitor is not None:
            monitor.stopped.set()
            monitor.join(5)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up yet
            pass
        stack.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


machine_info: dict = {}


def database_server() -> str:
    """The PostgreSQL server to create our database on: BENCH_DATABASE_SERVER, else DATABASE_URL's server
    (its database name is not used), else the local one."""
    from urllib.parse import urlsplit, urlunsplit

    explicit = os.environ.get("BENCH_DATABASE_SERVER")
    if explicit:
        return explicit
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return "postgres://postgres@127.0.0.1:5432"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "var" / "bench" / "latest.json")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to run (ceilings, burst, priority, head_of_line, peer, many_events, api, "
        "rate_limited_sms, pages); "
        "for working on one of them: the JSON then lacks the others",
    )
    args = parser.parse_args(argv)
    only = frozenset(filter(None, (name.strip() for name in args.only.split(","))))
    machine_info.update(machine())
    say(f"{args.size} run on {machine_info['cores']} cores, load {machine_info['load_average_at_start']}")
    try:
        run(SIZES[args.size], args.out, only)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP as harness.Interrupted
        say(f"interrupted ({stop or 'Ctrl-C'}); everything stopped and removed")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
