"""The ceilings and the five scenarios of issue 8, run in the bench process against the running stack.

Each function returns its part of the JSON document. Times are wall clock on this machine; the
"provider accepted" moment of a delivery is its ``sent_at`` (set when the twilio client or the SMTP
server answered, or by the first status callback if that came first).
"""

from __future__ import annotations

import contextlib
import json
import select
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import wait_until

from .infra import say

FINAL_OR_SENT = ("sent", "delivered", "failed", "cancelled")
LATENCY_SHARE = 0.8  # many events' latency is measured at this share of the sustainable rate


def postgres_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 1)


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


# --- The world ---------------------------------------------------------------------------------------


@dataclass
class World:
    source_name: str
    secret: str
    burst: object
    burst_tenth: object
    event_companies: list = field(default_factory=list)
    api_company: object = None
    rate_limited: object = None
    pages: object = None
    pages_tenth: object = None
    sms_only: object = None  # head_of_line's SMS-only burst: R users with SMS only
    codes: object = None  # priority's users, who ask for one-time codes through the view


def seed_world(sizes) -> World:
    from . import seed

    started = time.monotonic()
    system, secret = seed.source()
    burst = seed.company("Burstbolaget AB")
    seed.recipients(burst, sizes.recipients)
    burst_tenth = seed.company("Tiondelsbolaget AB")
    seed.recipients(burst_tenth, max(1, sizes.recipients // 10))
    say(f"seeded the burst companies ({sizes.recipients} + {sizes.recipients // 10} recipients)")
    sms_only = seed.company("Smsbolaget AB")
    seed.recipients(sms_only, sizes.recipients, channels=("sms",))
    codes = seed.company("Kodbolaget AB")
    seed.recipients(codes, sizes.codes, channels=(), watching=False)
    say(f"seeded the SMS-only company ({sizes.recipients}) and {sizes.codes} users who will ask for codes")
    event_companies = []
    for n in range(sizes.event_companies):
        seeded = seed.company(f"Händelsebolag {n} AB")
        count = 1 + n % 3
        seed.recipients(seeded, count, channels=("sms",) if n % 2 == 0 else ("email",))
        event_companies.append((seeded.org_number, count))
    say(f"seeded {sizes.event_companies} companies with 1–3 recipients")
    api_company = seed.company("API-bolaget AB")
    rate_limited = seed.company("Sms-bolaget AB")
    seed.recipients(rate_limited, sizes.rate_limited_sms, channels=("sms",))
    pages = seed.company("Sidbolaget AB")
    seed.recipients(pages, sizes.page_users, channels=("sms",))
    seed.grant_some(pages, 40)
    history_rows = seed.history(
        pages,
        system,
        days=sizes.history_days,
        events_per_day=sizes.history_events_per_day,
        per_event=sizes.history_per_event,
    )
    pages_tenth = seed.company("Lillebolaget AB")
    seed.recipients(pages_tenth, max(1, sizes.page_users // 10), channels=("sms",))
    seed.grant_some(pages_tenth, 4)
    seed.history(
        pages_tenth,
        system,
        days=max(1, sizes.history_days // 10),
        events_per_day=sizes.history_events_per_day,
        per_event=max(1, sizes.history_per_event // 10),
    )
    seed.analyze()
    say(f"seeded pages companies ({sizes.page_users} users, {history_rows} history deliveries)")
    say(f"seeding took {time.monotonic() - started:.0f} s")
    return World(
        source_name=system.name,
        secret=secret,
        burst=burst,
        burst_tenth=burst_tenth,
        event_companies=event_companies,
        api_company=api_company,
        rate_limited=rate_limited,
        pages=pages,
        pages_tenth=pages_tenth,
        sms_only=sms_only,
        codes=codes,
    )


# --- HTTP to the API ----------------------------------------------------------------------------------


def post_events(stack, world: World, events: list[dict], *, batch: bool) -> int:
    from events.services import sign

    body = json.dumps({"events": events} if batch else events[0]).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(
        stack.urls["web"] + ("/api/v1/events/batch" if batch else "/api/v1/events"),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Bevaka-Source": world.source_name,
            "X-Bevaka-Timestamp": str(timestamp),
            "X-Bevaka-Signature": sign(secret=world.secret, timestamp=timestamp, body=body),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # no answer in time: counted as not accepted


@contextlib.contextmanager
def _clients(threads: int):
    """A pool of client threads whose queued requests are dropped when the run is interrupted (a plain
    ``with ThreadPoolExecutor`` would send every remaining batch first)."""
    pool = ThreadPoolExecutor(threads)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def event(source_id: str, org_number: str, case_type: str = "rejected_payment") -> dict:
    return {"id": source_id, "type": case_type, "company": org_number, "occurred_at": "2026-03-02T09:15:00+01:00"}


# --- Ceilings ----------------------------------------------------------------------------------------


def _load(stack, mode: str, *, processes: int, threads: int, seconds: float, env: dict | None = None) -> dict:
    """Run ``processes`` copies of bench.load MODE at once; their summed counts and rate."""
    from .run import child_env

    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.load", mode, "--threads", str(threads), "--seconds", str(seconds)],
            env=env or child_env(stack),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    try:
        # Start them together once all are set up (Django's start-up takes seconds on a busy machine).
        deadline = time.monotonic() + 120
        for child in children:
            ready = False
            while not ready:
                remaining = deadline - time.monotonic()
                readable, _, _ = select.select([child.stdout], [], [], max(0.0, remaining))
                line = child.stdout.readline() if readable else ""
                ready = line.strip() == "ready"
                if not ready and (not line or remaining <= 0):
                    raise RuntimeError(f"bench.load {mode} did not get ready (exit {child.poll()})")
        start_at = f"{time.time() + 0.3}\n"
        for child in children:
            child.stdin.write(start_at)
            child.stdin.flush()
        for child in children:
            stdout, stderr = child.communicate(timeout=seconds + 120)
            if child.returncode != 0:
                raise RuntimeError(f"bench.load {mode} failed: {stderr[-2000:]}")
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(5)
    ok = sum(r["ok"] for r in results)
    errors = sum(r["errors"] for r in results)
    kinds: dict[str, int] = {}
    for r in results:
        for kind, count in r["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    latencies = [x for r in results for x in r["latencies_ms"]]
    return {"ok": ok, "errors": errors, "error_kinds": kinds, "per_s": _rate(ok, seconds), "latencies_ms": latencies}


def _wait_for_callbacks(stack, timeout: float) -> None:
    """Until the fake Twilio has posted every status callback (bounded): a scenario's callbacks left over
    would load the web in the next one."""
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: _fake_twilio(stack, "/_fake/stats")["callbacks_pending"] == 0,
            timeout=timeout,
            what="status callbacks",
            interval=0.5,
        )


def _fake_twilio(stack, path: str, payload: dict | None = None) -> dict:
    request = urllib.request.Request(
        stack.urls["twilio"] + path,
        data=None if payload is None else json.dumps(payload).encode(),
        method="GET" if payload is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def celery_noop(stack, count: int) -> float:
    from . import tasks

    client = stack.redis_client()
    client.set("bench:noop", 0)
    started = time.perf_counter()
    for _ in range(count):
        tasks.noop.delay()
    wait_until(lambda: int(client.get("bench:noop") or 0) >= count, timeout=300, what="no-op tasks", interval=0.02)
    return _rate(count, time.perf_counter() - started)


def pg_copy(rows: int) -> float:
    """COPY of rows as wide as an alert delivery into a table shaped like notifications_delivery (its
    indexes included), committed."""
    import datetime

    import psycopg
    from django.conf import settings

    from .load import EMAIL_BODY, EMAIL_HTML, SMS_BODY

    db = settings.DATABASES["default"]
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    now = datetime.datetime.now(datetime.UTC)
    columns = (
        "event_id, user_id, company_id, channel, destination, purpose, subject, body, html_body, unsubscribe_url, "
        "status, attempts, ambiguous_resends, provider_id, provider_status, error_code, last_error, "
        "next_attempt_at, relayed_at, created_at, updated_at, filed_at"
    )
    data = [
        (
            None,
            None,
            None,
            "sms" if n % 2 else "email",
            f"+4670{n:07d}" if n % 2 else f"mottagare{n}@bench.example",
            "alert",
            "Avvisad betalning",
            SMS_BODY if n % 2 else EMAIL_BODY,
            "" if n % 2 else EMAIL_HTML,
            "",
            "queued",
            0,
            0,
            "",
            "",
            "",
            "",
            now,
            now,
            now,
            now,
            now,
        )
        for n in range(rows)
    ]
    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_copy")
        connection.execute("CREATE TABLE bench_copy (LIKE notifications_delivery INCLUDING ALL)")
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        connection.commit()
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE bench_copy")
        connection.commit()
    return _rate(rows, elapsed)


def ceilings(stack, sizes) -> dict:
    from django.conf import settings

    from .run import child_env

    n = stack.worker_processes
    seconds = sizes.ceiling_seconds
    result = {"celery_noop_tasks_per_s": celery_noop(stack, sizes.noop_tasks)}
    say(f"ceiling: celery no-op {result['celery_noop_tasks_per_s']} tasks/s")
    result["pg_copy_rows_per_s"] = pg_copy(sizes.copy_rows)
    say(f"ceiling: PostgreSQL COPY {result['pg_copy_rows_per_s']} rows/s")
    raw = _load(stack, "twilio_raw", processes=n, threads=16, seconds=seconds)
    result["fake_twilio_requests_per_s"] = raw["per_s"]
    # The provider path: the channel's own code, as many processes as the workers, as many threads as a
    # send task uses. Status callbacks go to a closed port: no web process in this figure.
    no_web = child_env(stack, PUBLIC_BASE_URL="http://127.0.0.1:9")
    threads = settings.NOTIFICATIONS_SEND_CONCURRENCY
    sms = _load(stack, "sms_channel", processes=n, threads=threads, seconds=seconds, env=no_web)
    result["provider_path_sms_per_s"] = sms["per_s"]
    _fake_twilio(stack, "/_fake/reset", {})
    say(f"ceiling: fake Twilio {raw['per_s']} requests/s, provider path {sms['per_s']} SMS/s")
    smtp = _load(stack, "smtp_raw", processes=n, threads=8, seconds=seconds)
    result["smtp_sink_messages_per_s"] = smtp["per_s"]
    email = _load(stack, "email_channel", processes=n, threads=threads, seconds=seconds)
    result["provider_path_email_per_s"] = email["per_s"]
    say(f"ceiling: SMTP sink {smtp['per_s']} messages/s, provider path {email['per_s']} e-mails/s")
    result["errors"] = {
        name: r["errors"] for name, r in (("twilio_raw", raw), ("sms", sms), ("smtp_raw", smtp), ("email", email))
    }
    # Issue 21's yardsticks: a delivery half SMS, half e-mail through the provider clients alone, as the
    # mean of the two ceilings (deliveries/s), and what that costs in CPU on all cores (ms per delivery).
    blended = (sms["per_s"] + email["per_s"]) / 2
    result["blended_provider_path_per_s"] = round(blended, 1)
    result["provider_path_ms_per_delivery"] = round(n * 1000 / blended, 3) if blended else None
    return result


# --- CPU accounting ----------------------------------------------------------------------------------


def cpu_snapshot(stack, monitor) -> dict[str, float]:
    from .run import worker_groups

    procs = stack.procs_by_name
    workers = (*worker_groups(), "beat", "peer")  # whichever run now: a scenario compares like with like
    return {
        "web": procs["web"].cpu_seconds(),
        "webhooks": procs["webhooks"].cpu_seconds(),
        "worker": sum(procs[name].cpu_seconds() for name in workers if name in procs),
        "postgres": monitor.postgres_cpu_seconds(),
        "redis": stack.redis.cpu_seconds(),
        "fakes": procs["twilio"].cpu_seconds() + procs["smtp"].cpu_seconds(),
    }


class QueryCounter:
    """Counts the statements this thread's connection runs (an execute wrapper, so DEBUG plays no part)."""

    def __init__(self) -> None:
        self.count = 0
        self._context = None

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        from django.db import connection

        self._context = connection.execute_wrapper(self)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def __len__(self) -> int:
        return self.count


def pg_transactions() -> int:
    """Transactions committed or rolled back in our database so far (PostgreSQL's own statistics): with
    autocommit, about one per statement outside a transaction. A figure that load on the machine does not
    change, unlike the times."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def _delivery_counts(**filters) -> dict[str, int]:
    from django.db.models import Count

    from notifications.models import Delivery

    return dict(Delivery.objects.filter(**filters).values_list("status").annotate(n=Count("id")).order_by())


@contextlib.contextmanager
def profiled(stack, scenario: str):
    """With BENCH_PROFILE=1, py-spy samples the workers and the web during the scenario and writes
    collapsed stacks to var/bench/profiles/<scenario>-<process>.txt (see docs/PERFORMANCE.md)."""
    import os
    import shutil
    import signal

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.environ.get("BENCH_PROFILE") or not Path(spy).exists() or scenario not in ("burst", "many_events"):
        yield
        return
    folder = stack.log_dir.parent / "profiles"
    folder.mkdir(exist_ok=True)
    spies = []
    from .run import worker_groups

    for name in (*worker_groups(), "web", "webhooks", "twilio"):
        proc = stack.procs_by_name[name]
        output = folder / f"{scenario}-{name}.txt"
        spies.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--subprocesses",
                    "--format",
                    "raw",
                    "--rate",
                    "50",
                    "--output",
                    str(output),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        yield
    finally:
        for child in spies:
            child.send_signal(signal.SIGINT)
        for child in spies:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


# --- 1. Burst fan-out --------------------------------------------------------------------------------


def _record_quietly(world: World, source_id: str, org_number: str):
    """Record an event in this process without publishing its fan-out (the bench runs it itself)."""
    from unittest import mock

    from events import services
    from events.models import SourceSystem

    with mock.patch.object(services, "_publish_fan_out", lambda ids: None):
        [row] = services.record_events(
            source=SourceSystem.objects.get(name=world.source_name),
            events=services.clean_events([event(source_id, org_number)], batch=True),
        )
    return row.event


def measure_fanout(world: World, seeded, label: str) -> tuple[int, int, float]:
    """One fan-out in this process: (queries, rows, seconds). Its deliveries are cancelled afterwards,
    so nothing is sent."""
    from unittest import mock

    from events import fanout
    from notifications.models import Delivery

    row = _record_quietly(world, f"fanout-{label}-{time.time_ns()}", seeded.org_number)
    with mock.patch.object(fanout, "publish_sends", lambda ids: None), QueryCounter() as queries:
        started = time.perf_counter()
        ids = fanout.fan_out(event_id=row.pk)
        elapsed = time.perf_counter() - started
    Delivery.objects.filter(event=row).update(status="cancelled", next_attempt_at=None, last_error="bench: not sent")
    return len(queries), len(ids), elapsed


def burst(stack, sizes, world: World, monitor) -> dict:
    from django.db.models import Max, Min

    from events.models import Event
    from notifications.models import Delivery

    monitor.reset_scenario()
    tenth_queries, _rows, _seconds = measure_fanout(world, world.burst_tenth, "tenth")
    # Three fan-outs of R, the median is the figure: the first in a fresh process pays for warming
    # PostgreSQL's caches and ours (a worker's fan-out runs warm).
    runs = [measure_fanout(world, world.burst, f"full-{n}") for n in range(3)]
    queries, rows, seconds = sorted(runs, key=lambda run: run[2])[1]
    say(
        f"burst: fan-out stored {rows} deliveries in {seconds:.2f} s (median of "
        + ", ".join(f"{run[2]:.2f}" for run in runs)
        + f") with {queries} queries ({tenth_queries} at R/10)"
    )
    expected = 2 * sizes.recipients
    source_id = f"burst-{time.time_ns()}"
    _fake_twilio(stack, "/_fake/reset", {})  # its callback counts are the burst's
    before = cpu_snapshot(stack, monitor)
    transactions_before = pg_transactions()
    started = time.time()
    status = post_events(stack, world, [event(source_id, world.burst.org_number)], batch=False)
    if status != 202:
        raise RuntimeError(f"burst event answered {status}")
    row = Event.objects.get(external_id=source_id)

    def all_accepted() -> bool:
        counts = _delivery_counts(event=row)
        done = sum(counts.get(s, 0) for s in FINAL_OR_SENT)
        return done >= expected

    timeout = max(120.0, expected / 50)
    try:
        wait_until(all_accepted, timeout=timeout, what="burst deliveries", interval=0.5)
        drained = True
    except TimeoutError:
        drained = False
    accepted_at = time.time()
    # Callbacks still come in after the last send; wait until the fake has posted all of them (bounded):
    # they belong to the burst's cost, and left over they would load the web in the next scenario.
    _wait_for_callbacks(stack, timeout=600)
    callbacks_done_at = time.time()
    after = cpu_snapshot(stack, monitor)
    callbacks = _fake_twilio(stack, "/_fake/stats")
    time.sleep(1)  # PostgreSQL flushes its statistics about once a second
    transactions = pg_transactions() - transactions_before
    counts = _delivery_counts(event=row)
    row.refresh_from_db()
    spans = {}
    for channel in ("sms", "email"):
        agg = Delivery.objects.filter(event=row, channel=channel, sent_at__isnull=False).aggregate(
            first=Min("sent_at"), last=Max("sent_at")
        )
        n = Delivery.objects.filter(event=row, channel=channel, sent_at__isnull=False).count()
        last = agg["last"].timestamp() if agg["last"] else accepted_at
        spans[channel] = {"accepted": n, "seconds": round(last - started, 2), "per_s": _rate(n, last - started)}
    last_sent = Delivery.objects.filter(event=row).aggregate(last=Max("sent_at"))["last"]
    total_seconds = (last_sent.timestamp() if last_sent else accepted_at) - started
    accepted = sum(counts.get(s, 0) for s in ("sent", "delivered"))
    cpu = {k: round((after[k] - before[k]) * 1000 / max(1, accepted), 3) for k in after}
    result = {
        "recipients": sizes.recipients,
        "deliveries": rows,
        "store_seconds": round(seconds, 3),
        "store_seconds_of_each_run": [round(run[2], 3) for run in runs],
        "store_rows_per_s": _rate(rows, seconds),
        "fanout_queries": queries,
        "fanout_queries_at_tenth_size": tenth_queries,
        "fanout_seconds_in_worker": round((row.fanned_out_at.timestamp() - started), 3) if row.fanned_out_at else None,
        "seconds_to_last_provider_accept": round(total_seconds, 2),
        "end_to_end_deliveries_per_s": _rate(accepted, total_seconds),
        "by_channel": spans,
        "statuses": counts,
        "drained": drained,
        "status_callbacks_by_answer": callbacks["callbacks"],
        "seconds_to_last_status_callback": round(callbacks_done_at - started, 2),
        "cpu_ms_per_delivery": cpu,
        "cpu_ms_per_delivery_total": round(sum(cpu.values()), 3),
        "postgres_transactions_per_delivery": round(transactions / max(1, accepted), 2),
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    if not drained:
        _purge_backlog(stack)
    say(f"burst: {accepted} deliveries accepted in {total_seconds:.1f} s = {result['end_to_end_deliveries_per_s']}/s")
    return result


# --- 2. Many events ----------------------------------------------------------------------------------


def _purge_backlog(stack, event_ids_filter=None) -> None:
    """End a run that did not drain: drop queued tasks from our private Redis and cancel what is left,
    so the next scenario starts on an idle pipeline."""
    from django.db.models import Q
    from django.utils import timezone

    from events.models import Event
    from notifications.models import Delivery

    say("purging the backlog (not drained within its time)")
    client = stack.redis_client()
    from .run import worker_groups

    client.delete(*set(worker_groups().values()))  # the queues' lists; kombu's bindings stay
    Event.objects.filter(event_ids_filter or Q(), fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    Delivery.objects.filter(status="queued").update(status="cancelled", next_attempt_at=None, last_error="bench")
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not Delivery.objects.filter(status="sending").exists(), timeout=60, what="in-flight sends")


def many_events(stack, sizes, world: World, monitor) -> dict:
    from django.db.models import Q

    from events.models import Event
    from notifications.models import Delivery

    monitor.reset_scenario()
    run = f"many-{time.time_ns()}"
    companies = world.event_companies
    items = [event(f"{run}-{n}", companies[n % len(companies)][0]) for n in range(sizes.events)]
    expected_deliveries = sum(companies[n % len(companies)][1] for n in range(sizes.events))
    batches = [items[i : i + 1000] for i in range(0, len(items), 1000)]
    cpu_before, transactions_before = cpu_snapshot(stack, monitor), pg_transactions()
    started = time.time()
    with _clients(4) as pool:
        statuses = list(pool.map(lambda b: post_events(stack, world, b, batch=True), batches))
    accept_seconds = time.time() - started
    cpu_accepted = cpu_snapshot(stack, monitor)
    accepted = sum(len(b) for b, s in zip(batches, statuses, strict=True) if s == 202)
    say(f"many events: {accepted} accepted in {accept_seconds:.1f} s ({_rate(accepted, accept_seconds)}/s)")
    ours = Q(external_id__startswith=run + "-")
    mine = Q(event__external_id__startswith=run + "-")

    def done() -> int:
        return Delivery.objects.filter(mine, status__in=FINAL_OR_SENT).count()

    window_start, done_at_start = time.time(), done()
    deadline = window_start + sizes.drain_seconds
    drained = False
    while time.time() < deadline:
        unfanned = Event.objects.filter(ours, fanned_out_at__isnull=True).exists()
        if not unfanned and not Delivery.objects.filter(mine, status__in=("queued", "sending")).exists():
            drained = True
            break
        time.sleep(0.5)
    window_end, done_at_end = time.time(), done()
    cpu_after, transactions = cpu_snapshot(stack, monitor), pg_transactions() - transactions_before
    cpu_per_event = {k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(1, accepted), 3) for k in cpu_after}
    fanned = Event.objects.filter(ours, fanned_out_at__isnull=False).count()
    created = Delivery.objects.filter(mine).count()
    per_event = created / fanned if fanned else 1.0
    deliveries_per_s = _rate(done_at_end - done_at_start, window_end - window_start)
    if drained:
        # It emptied within the window: the rate over the whole run is the better measure.
        last = Delivery.objects.filter(mine).order_by("-sent_at").values_list("sent_at", flat=True).first()
        total = (last.timestamp() if last else window_end) - started
        deliveries_per_s = _rate(done_at_end, total)
    sustainable = round(deliveries_per_s / per_event, 1) if per_event else 0.0
    say(f"many events: drained={drained}, {deliveries_per_s} deliveries/s = {sustainable} events/s sustainable")
    if not drained:
        _purge_backlog(stack, ours)
    # The drain's status callbacks (three per SMS, thousands) must not load the pipeline whose latency is
    # measured next: at half the sustainable rate means on a pipeline doing nothing else.
    _wait_for_callbacks(stack, timeout=300)

    # Latency at LATENCY_SHARE of the sustainable rate (issue 21: 0.8; issues 8–20 measured at 0.5): small
    # batches every 0.2 s for latency_seconds.
    rate = max(1.0, sustainable * LATENCY_SHARE)
    latency_run = f"lat-{time.time_ns()}"
    sent_events = 0
    carry = 0.0
    futures = []
    pace_started = time.time()
    with _clients(4) as pool:
        tick = 0
        while time.time() < pace_started + sizes.latency_seconds:
            carry += rate * 0.2
            count, carry = int(carry), carry - int(carry)
            if count:
                batch = [
                    event(f"{latency_run}-{sent_events + i}", companies[(sent_events + i) % len(companies)][0])
                    for i in range(count)
                ]
                sent_events += count
                futures.append(pool.submit(post_events, stack, world, batch, batch=True))
            tick += 1
            time.sleep(max(0.0, pace_started + tick * 0.2 - time.time()))
        latency_statuses = [f.result() for f in futures]
    lat_mine = Q(event__external_id__startswith=latency_run + "-")
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: (
                not Event.objects.filter(external_id__startswith=latency_run + "-", fanned_out_at__isnull=True).exists()
                and not Delivery.objects.filter(lat_mine, status__in=("queued", "sending")).exists()
            ),
            timeout=60,
            what="latency events",
            interval=0.5,
        )
    stamps = list(
        Delivery.objects.filter(lat_mine, sent_at__isnull=False).values_list(
            "event__received_at", "event__fanned_out_at", "claimed_at", "sent_at"
        )
    )
    latencies = [(sent - received).total_seconds() * 1000 for received, _, _, sent in stamps]
    # Where the time goes: accepted → fanned out → claimed by a send task → provider accepted.
    steps = {
        "fan_out": [(fanned - received).total_seconds() * 1000 for received, fanned, _, _ in stamps],
        "to_claim": [(claimed - fanned).total_seconds() * 1000 for _, fanned, claimed, _ in stamps],
        "send": [(sent - claimed).total_seconds() * 1000 for _, _, claimed, sent in stamps],
    }
    result = {
        "events": sizes.events,
        "accepted": accepted,
        "deliveries_expected": expected_deliveries,
        "accept_seconds": round(accept_seconds, 2),
        "events_per_s": _rate(accepted, accept_seconds),
        "drained_within_window": drained,
        "sustainable_events_per_s": sustainable,
        "deliveries_per_s": deliveries_per_s,
        "cpu_ms_per_event": cpu_per_event,
        # The accept phase alone: cpu_ms_per_event runs to the end of the drain, so its web figure is mostly
        # the providers' status callbacks, not the API (the web serves both).
        "accept_cpu_ms_per_event": {
            k: round((cpu_accepted[k] - cpu_before[k]) * 1000 / max(1, accepted), 3) for k in cpu_accepted
        },
        "postgres_transactions_per_event": round(transactions / max(1, accepted), 2),
        "latency_ms": {
            "p50": _percentile(latencies, 0.50),
            "p95": _percentile(latencies, 0.95),
            "p99": _percentile(latencies, 0.99),
            "max": round(max(latencies), 1) if latencies else 0.0,
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        "latency_steps_ms": {
            step: {"p50": _percentile(values, 0.50), "p99": _percentile(values, 0.99)} for step, values in steps.items()
        },
        "latency_at_events_per_s": round(sent_events / sizes.latency_seconds, 1),
        "latency_share_of_sustainable": LATENCY_SHARE,
        "latency_deliveries": len(latencies),
        "latency_http_errors": sum(1 for s in latency_statuses if s != 202),
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    say(f"many events: latency p50/p95/p99 {result['latency_ms']} at {result['latency_at_events_per_s']} events/s")
    say(f"many events: latency by step {result['latency_steps_ms']}")
    _wait_for_callbacks(stack, timeout=300)
    return result


# --- 3. Single-event API under load -------------------------------------------------------------------


def api(stack, sizes, world: World, monitor) -> dict:
    from events.models import Event

    from .run import child_env

    monitor.reset_scenario()
    env = child_env(
        stack,
        BENCH_API_URL=stack.urls["web"],
        BENCH_SOURCE_SECRET=world.secret,
        BENCH_SOURCE_NAME=world.source_name,
        BENCH_API_COMPANY=world.api_company.org_number,
    )
    cpu_before = cpu_snapshot(stack, monitor)
    load = _load(stack, "api_single", processes=2, threads=8, seconds=sizes.api_seconds, env=env)
    cpu_after = cpu_snapshot(stack, monitor)
    # A fan-out task for every accepted event: how long the fan-out worker (at a lower priority than the
    # web) needs after the load to catch up, so that the next scenario starts on an idle pipeline.
    load_ended, company = time.time(), world.api_company.company
    try:
        wait_until(
            lambda: not Event.objects.filter(company=company, fanned_out_at__isnull=True).exists(),
            timeout=120,
            what="the API events' fan-out",
            interval=0.5,
        )
        caught_up = round(time.time() - load_ended, 1)
    except TimeoutError:
        caught_up = None  # not within 120 s (the JSON says null)
    requests = max(1, load["ok"] + load["errors"])
    result = {
        "clients": 16,
        "seconds": sizes.api_seconds,
        "requests": load["ok"] + load["errors"],
        "requests_per_s": load["per_s"],
        "p50_ms": _percentile(load["latencies_ms"], 0.50),
        "p99_ms": _percentile(load["latencies_ms"], 0.99),
        "errors": load["errors"],
        "error_kinds": load["error_kinds"],
        # CPU per request of each part (the clients' own is not counted): the web's is the API's cost.
        "cpu_ms_per_request": {k: round((cpu_after[k] - cpu_before[k]) * 1000 / requests, 3) for k in cpu_after},
        "fan_out_caught_up_after_s": caught_up,
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    say(
        f"api: {result['requests_per_s']} requests/s, p99 {result['p99_ms']} ms, {result['errors']} errors; "
        f"the fan-out caught up {caught_up} s after the load"
    )
    return result


# --- 4. Rate-limited SMS -----------------------------------------------------------------------------


def rate_limited_sms(stack, sizes, world: World, monitor) -> dict:
    from django.db.models import Max, Min

    from events.models import Event
    from notifications.models import Delivery

    from .run import start_workers, stop_workers, worker_groups

    limit = 100
    # Only the sending workers take the rate limit (the token bucket is taken around each provider request):
    # the send queue's, or every lane's but the default one; the fan-out worker and beat go on.
    senders = tuple(name for name, queue in worker_groups().items() if queue != "celery")
    stop_workers(stack, only=senders)
    _fake_twilio(stack, "/_fake/reset", {})
    _fake_twilio(stack, "/_fake/config", {"rate_limit": limit, "latency_ms": 150})
    start_workers(stack, only=senders, SMS_RATE_PER_SECOND=str(limit))
    monitor.reset_scenario()
    count = sizes.rate_limited_sms
    source_id = f"limited-{time.time_ns()}"
    started = time.time()
    if post_events(stack, world, [event(source_id, world.rate_limited.org_number)], batch=False) != 202:
        raise RuntimeError("rate-limited event refused")
    row = Event.objects.get(external_id=source_id)
    timeout = count / limit * 3 + 60
    drained = True
    try:
        wait_until(
            lambda: sum(_delivery_counts(event=row).get(s, 0) for s in FINAL_OR_SENT) >= count,
            timeout=timeout,
            what="rate-limited SMS",
            interval=0.5,
        )
    except TimeoutError:
        drained = False
    stats = _fake_twilio(stack, "/_fake/stats")
    counts = _delivery_counts(event=row)
    agg = Delivery.objects.filter(event=row, sent_at__isnull=False).aggregate(first=Min("sent_at"), last=Max("sent_at"))
    accepted = sum(counts.get(s, 0) for s in ("sent", "delivered"))
    first, last = agg["first"], agg["last"]
    steady = (last - first).total_seconds() if first and last else 0.0
    per_second: dict[int, int] = {}
    for sent_at in Delivery.objects.filter(event=row, sent_at__isnull=False).values_list("sent_at", flat=True):
        second = int((sent_at - first).total_seconds())
        per_second[second] = per_second.get(second, 0) + 1
    result = {
        "limit_per_s": limit,
        "provider_latency_ms": 150,
        "messages": count,
        "messages_per_s": _rate(max(0, accepted - 1), steady),
        "drain_seconds": round((last.timestamp() if last else time.time()) - started, 2),
        "sent_in_each_second": [per_second.get(n, 0) for n in range(max(per_second, default=-1) + 1)],
        "http_429": stats["rejected_429"],
        "lost": count - accepted,
        "provider_messages": stats["messages"],
        "duplicates": max(0, stats["messages"] - accepted),
        "statuses": counts,
        "drained": drained,
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    say(f"rate-limited: {result['messages_per_s']}/s, {result['http_429']} × 429, {result['lost']} lost")
    _fake_twilio(stack, "/_fake/config", {"rate_limit": 0, "latency_ms": 0})
    _wait_for_callbacks(stack, timeout=300)  # the pages are measured next, on the same two cores
    return result


# --- 5. Pages ----------------------------------------------------------------------------------------


def _page(client, url: str, requests: int) -> dict:
    for _ in range(3):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    with QueryCounter() as queries:
        client.get(url)
    if not requests:
        return {"queries": len(queries)}
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": _percentile(times, 0.5), "p95_ms": _percentile(times, 0.95), "queries": len(queries)}


def pages(stack, sizes, world: World, monitor) -> dict:
    from django.test import Client
    from django.urls import reverse

    result = {}
    with monitor.paused():  # server time, timed in this process: not shared with the monitor's samples
        for name, seeded in (("full", world.pages), ("tenth", world.pages_tenth)):
            company_id = seeded.company.pk
            requests = sizes.page_requests if name == "full" else 0  # at 1/10 size only the query count
            viewer, admin = Client(), Client()
            viewer.force_login(seeded.users[0])
            admin.force_login(seeded.signer)
            measured = {
                "bevaka": _page(viewer, reverse("service", args=[company_id]), requests),
                "mina_bevakningar": _page(viewer, reverse("my-watches", args=[company_id]), requests),
                "behorigheter": _page(admin, reverse("permissions", args=[company_id]), requests),
            }
            if name == "full":
                result = measured
            else:
                for page, figures in measured.items():
                    result[page]["queries_at_tenth_size"] = figures["queries"]
    result["users"] = sizes.page_users
    result["history_days"] = sizes.history_days
    result["measured_in_process"] = True
    say(
        "pages: "
        + ", ".join(f"{k} p95 {v['p95_ms']} ms / {v['queries']} q" for k, v in result.items() if isinstance(v, dict))
    )
    return result


def _scenario(result: dict, name: str, stack, function, *args) -> None:
    """Run one scenario; one that fails is reported as {"error": …} (and its backlog purged), and the
    run goes on, so that one bad scenario on a busy machine does not cost the others' figures."""
    try:
        with profiled(stack, name):
            result[name] = function(*args)
    except Exception as error:
        say(f"{name} failed: {type(error).__name__}: {error}")
        result[name] = {"error": f"{type(error).__name__}: {error}"}
        with contextlib.suppress(Exception):
            _purge_backlog(stack)


SCENARIOS = (
    "ceilings",
    "burst",
    "priority",
    "head_of_line",
    "peer",
    "many_events",
    "api",
    "rate_limited_sms",
    "pages",
)


def run_all(stack, sizes, monitor, *, only: frozenset[str] = frozenset()) -> dict:
    """Every scenario in order, or only those named in ``only`` (for working on one of them), and issue
    21's targets as ratios of the run's own figures."""
    from . import issue21

    unknown = only - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenarios: {', '.join(sorted(unknown))}; one of {', '.join(SCENARIOS)}")
    world = seed_world(sizes)
    result: dict = {}
    for name in SCENARIOS:
        if only and name not in only:
            continue
        arguments = (stack, sizes) if name == "ceilings" else (stack, sizes, world, monitor)
        if name == "peer":
            arguments = (*arguments, result.get("burst"))  # ours, measured on the same burst, for the ratios
        _scenario(result, name, stack, globals().get(name) or getattr(issue21, name), *arguments)
    result["targets"] = issue21.targets(result)
    return result
