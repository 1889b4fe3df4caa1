"""`make bench-scale`: a synthetic bank in a database of its own, loaded with COPY, then measured (issue 22).

    python -m bench.scale [--size quick|default] [--users N --companies N --days N] [--out PATH]

The run creates ``bevaka_scale_<pid>`` on the shared PostgreSQL server (BENCH_DATABASE_SERVER, else
DATABASE_URL's server), migrates it, starts a private redis-server, and gives both back at the end, also on
Ctrl-C and SIGTERM (bench.infra.Stack). Everything is measured in this process, through Django's test
Client and the app's own functions (no gunicorn, no Celery workers: the figures are server time and SQL, not
the pipeline's throughput, which `make bench` measures):

1. young: the bank's structure (users, companies, memberships, contacts, watches) and its last day of
   history, loaded with the migrations' indexes in place; then every figure below on it;
2. full: the other days of history COPYed with the big tables' secondary indexes and foreign keys dropped
   and rebuilt afterwards (as a bank's bulk import would; the rebuild is counted in the load time, and it
   checks every unique key and reference: a duplicate or a dangling id fails the run); then the same
   figures again, next to the young ones;
3. a simulated day of updates (claim, sent, three status callbacks per SMS) with dead tuples and VACUUM;
4. retention: the time to take one month out, with the job the code has today.

The JSON goes to var/bench/scale.json in `make bench`'s shape (machine, settings, then the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from unittest import mock

from harness import BASE_DIR
from harness.processes import raise_interrupted

from .infra import Stack, machine, say

BIG_TABLES = ["notifications_delivery", "events_event", "audit_auditentry", "subscriptions_contactverification"]


def partitioned() -> bool:
    """Whether the schema is issue 22's (bevaka.partitions: monthly partitions, events_eventkey)."""
    try:
        from bevaka import partitions
    except ImportError:
        return False
    return partitions.is_partitioned("events_event")


def big_tables() -> list[str]:
    return [*BIG_TABLES, "events_eventkey"] if partitioned() else BIG_TABLES


STRUCTURE_TABLES = ["companies_company", "companies_user"]


@dataclass(frozen=True)
class ScaleSizes:
    name: str
    users: int
    companies: int
    days: int
    big_companies: tuple[float, ...]  # share of the users in each of the biggest companies
    deliveries_per_user_day: float  # 1.17 × 100,000 users × 90 days ≈ 10.5 million deliveries
    heavy_users: int  # the company of the user with the longest history
    heavy_events_per_day: int
    event_companies: int  # the many-events run's companies (1–3 recipients each)
    many_events: int
    page_requests: int
    admin_requests: int
    relay_scans: int
    retention_seconds: float  # at most this long for the row-by-row retention, then extrapolated


SIZES = {
    "default": ScaleSizes("default", 100_000, 20_000, 90, (0.08, 0.06, 0.05), 1.17, 10, 20, 50, 1000, 30, 10, 20, 60),
    "quick": ScaleSizes("quick", 1_500, 300, 4, (0.08, 0.05), 1.0, 5, 5, 4, 40, 3, 2, 3, 10),
}


def database_server() -> str:
    from .run import database_server as server

    return server()


def _percentile(values: list[float], share: float) -> float:
    from .scenarios import _percentile as percentile

    return percentile(values, share)


def _timed(function, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": _percentile(times, 0.5), "p95_ms": _percentile(times, 0.95), "runs": repeat}


def _sql(statement: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        with contextlib.suppress(Exception):
            return cursor.fetchall()
    return None


def disk() -> dict:
    """``df`` of the file system PostgreSQL's data directory is on (or of / when we may not see it)."""
    try:
        [[directory]] = _sql("SHOW data_directory")
    except Exception:
        directory = "/"
    path = directory if os.path.exists(directory) else "/"
    usage = shutil.disk_usage(path)
    return {
        "path": path,
        "total_gb": round(usage.total / 1e9, 1),
        "used_gb": round(usage.used / 1e9, 2),
        "free_gb": round(usage.free / 1e9, 2),
        "database_gb": round(_sql("SELECT pg_database_size(current_database())")[0][0] / 1e9, 2),
    }


def uptime() -> str:
    with contextlib.suppress(Exception):
        # In UTC: once Django is set up, TZ is TIME_ZONE (Stockholm) in our environment.
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, timeout=5, check=False, env={**os.environ, "TZ": "UTC"}
        ).stdout.strip()
    return ""


# --- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    source_name: str
    biggest: object  # bench.seed.SeededCompany
    heavy: object
    event_companies: list
    staff: object
    bank: object  # scale_data.Bank


def build_structure(sizes: ScaleSizes) -> World:
    from django.db import connection

    from agreements.models import CaseType
    from companies.models import User

    from . import seed
    from .scale_data import Bank

    if partitioned():
        import datetime

        from bevaka.partitions import ensure_partitions

        ensure_partitions(now=datetime.datetime.now(datetime.UTC), months_ahead=2, months_back=sizes.days // 28 + 2)
    bank = Bank(
        users=sizes.users,
        companies=sizes.companies,
        days=sizes.days,
        deliveries_per_user_day=sizes.deliveries_per_user_day,
    )
    system, _secret = seed.source()
    seeded_users = 0
    big = []
    for n, share in enumerate(sizes.big_companies):
        company = seed.company(f"Storbolaget {n + 1} AB")
        seed.recipients(company, max(2, int(sizes.users * share)), english_every=5)
        bank.add_seeded(company, channels=("sms", "email"))
        seeded_users += len(company.users) + 1
        big.append(company)
    heavy = seed.company("Historikbolaget AB")
    seed.recipients(heavy, sizes.heavy_users)
    heavy_company = bank.add_seeded(heavy, channels=("sms", "email"))
    seeded_users += sizes.heavy_users + 1
    event_companies = []
    for n in range(sizes.event_companies):
        company = seed.company(f"Händelsebolag {n} AB")
        count = 1 + n % 3
        channels = ("sms",) if n % 2 == 0 else ("email",)
        seed.recipients(company, count, channels=channels)
        bank.add_seeded(company, channels=channels)
        event_companies.append(company.org_number)
        seeded_users += count + 1
    staff = User.objects.create_superuser(seed._personnummer(), first_name="Bo", last_name="Bankpersonal")
    say(f"seeded {len(bank.bank)} companies with real agreements ({seeded_users} users)")
    case_type_ids = list(CaseType.objects.order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for copy()
        bank.copy_structure(
            cursor,
            user_count=max(0, sizes.users - seeded_users),
            company_count=max(0, sizes.companies - len(bank.bank)),
            case_type_ids=case_type_ids,
        )
    bank.plan_rates(heavy_company, sizes.heavy_events_per_day)
    return World(
        source_name=system.name, biggest=big[0], heavy=heavy, event_companies=event_companies, staff=staff, bank=bank
    )


def load_history(world: World, days: range, *, live: bool) -> dict:
    from django.db import connection

    from agreements.models import CaseType
    from events.models import SourceSystem

    from .scale_data import Texts, create_secondaries, drop_secondaries, reset_sequences, secondary_definitions

    case_types = list(CaseType.objects.order_by("pk"))
    texts = Texts(case_types)
    source_id = SourceSystem.objects.get(name=world.source_name).pk
    result: dict = {}
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        definitions = []
        if not live:
            definitions = secondary_definitions(cursor, big_tables())
            drop_secondaries(cursor, definitions)
            result["secondaries_dropped"] = len(definitions)
        started = time.monotonic()
        events, deliveries = world.bank.copy_history(
            cursor,
            days=days,
            live=live,
            texts=texts,
            case_type_ids=[ct.pk for ct in case_types],
            source_id=source_id,
            partitioned=partitioned(),
        )
        extra = world.bank.copy_codes_and_audit(cursor, days=days)
        result["copy_seconds"] = round(time.monotonic() - started, 1)
        result.update(events=events, deliveries=deliveries, **extra)
        say(f"COPYed {events} events, {deliveries} deliveries, {extra} in {result['copy_seconds']} s")
        if definitions:
            started = time.monotonic()
            result["rebuilt_seconds_each"] = create_secondaries(cursor, definitions)
            result["rebuild_seconds"] = round(time.monotonic() - started, 1)
        reset_sequences(cursor, [*big_tables(), *STRUCTURE_TABLES])
        started = time.monotonic()
        cursor.execute("ANALYZE")
        result["analyze_seconds"] = round(time.monotonic() - started, 1)
    return result


# --- the figures --------------------------------------------------------------------------------------


def measure_pages(world: World, sizes: ScaleSizes) -> dict:
    from django.test import Client
    from django.urls import reverse

    from .scenarios import _page

    viewer, heavy_viewer, admin = Client(), Client(), Client()
    viewer.force_login(world.biggest.users[0])
    heavy_viewer.force_login(world.heavy.users[0])
    admin.force_login(world.biggest.signer)
    return {
        "bevaka": _page(viewer, reverse("service", args=[world.biggest.company.pk]), sizes.page_requests),
        "mina_bevakningar": _page(
            heavy_viewer, reverse("my-watches", args=[world.heavy.company.pk]), sizes.page_requests
        ),
        "behorigheter": _page(admin, reverse("permissions", args=[world.biggest.company.pk]), sizes.page_requests),
    }


def measure_admin(world: World, sizes: ScaleSizes) -> dict:
    from django.test import Client
    from django.urls import reverse

    from events.models import Event

    from .scenarios import _page

    staff = Client()
    staff.force_login(world.staff)
    event_id = (
        Event.objects.filter(company=world.biggest.company)
        .order_by("-received_at")
        .values_list("pk", flat=True)
        .first()
    )
    personnummer = world.heavy.users[0].personnummer
    return {
        "deliveries_list": _page(staff, reverse("admin:notifications_delivery_changelist"), sizes.admin_requests),
        "events_list": _page(staff, reverse("admin:events_event_changelist"), sizes.admin_requests),
        "search_personnummer": _page(
            staff, reverse("admin:companies_user_changelist") + f"?q={personnummer}", sizes.admin_requests
        ),
        # "why (not)?" shows a page of members (events.admin.WHY_PAGE_SIZE), ordered by name: its first page,
        # with the COUNT of the company's memberships and the whole event's summary on top.
        "why_biggest_company_first_page": _page(
            staff, reverse("admin:events_event_why", args=[event_id]), sizes.admin_requests
        ),
    }


def measure_relay(sizes: ScaleSizes) -> dict:
    """The relays' scans as beat runs them (their SELECT … FOR UPDATE SKIP LOCKED and UPDATE), publishing
    nothing. The first call publishes the due rows; the later ones scan past them (leased)."""
    from events import fanout
    from notifications import relay

    due = {"rows": 0}

    def deliveries():
        due["rows"] = max(due["rows"], len(relay.relay_due_deliveries()))

    with mock.patch.object(relay, "publish_sends", lambda ids: None), mock.patch("events.tasks.fan_out.delay"):
        result = {
            "deliveries_scan": _timed(deliveries, sizes.relay_scans),
            "events_scan": _timed(fanout.relay_unfanned_events, sizes.relay_scans),
        }
    result["deliveries_scan"]["due_rows_found"] = due["rows"]
    return result


def measure_burst(world: World) -> dict:
    """A fan-out of one event to the biggest company, in this process (three runs, the median): the store
    part of `make bench`'s burst; its deliveries are cancelled afterwards."""
    from .scenarios import World as BenchWorld
    from .scenarios import measure_fanout

    bench_world = BenchWorld(source_name=world.source_name, secret="", burst=None, burst_tenth=None)
    runs = [measure_fanout(bench_world, world.biggest, f"scale-{n}") for n in range(3)]
    queries, rows, seconds = sorted(runs, key=lambda run: run[2])[1]
    return {
        "recipients": len(world.biggest.users),
        "deliveries": rows,
        "store_seconds": round(seconds, 3),
        "store_seconds_of_each_run": [round(run[2], 3) for run in runs],
        "store_rows_per_s": round(rows / seconds, 1) if seconds else 0.0,
        "fanout_queries": queries,
        "measured_in_process": True,
    }


def measure_many_events(world: World, sizes: ScaleSizes) -> dict:
    """Events in batches of 100 through the API's service (record_events) and each batch's fan-out
    (fan_out_events), as the ingestion API and a fan-out worker run them, in this process."""
    from events import fanout, services
    from events.models import SourceSystem
    from notifications.models import Delivery

    from .scenarios import event

    source = SourceSystem.objects.get(name=world.source_name)
    run = f"scale-many-{time.time_ns()}"
    items = [
        event(f"{run}-{n}", world.event_companies[n % len(world.event_companies)]) for n in range(sizes.many_events)
    ]
    deliveries = 0
    started = time.perf_counter()
    with (
        mock.patch.object(services, "_publish_fan_out", lambda ids: None),
        mock.patch.object(fanout, "publish_sends", lambda ids: None),
    ):
        for start in range(0, len(items), 100):
            recorded = services.record_events(
                source=source, events=services.clean_events(items[start : start + 100], batch=True)
            )
            deliveries += len(fanout.fan_out_events(event_ids=[row.pk for row in recorded]))
    seconds = time.perf_counter() - started
    Delivery.objects.filter(event__external_id__startswith=run + "-").update(
        status="cancelled", next_attempt_at=None, last_error="bench: not sent"
    )
    return {
        "events": len(items),
        "deliveries": deliveries,
        "seconds": round(seconds, 2),
        "events_per_s": round(len(items) / seconds, 1),
        "deliveries_per_s": round(deliveries / seconds, 1),
        "measured_in_process": True,
    }


def measure_all(world: World, sizes: ScaleSizes, label: str) -> dict:
    started = time.monotonic()
    result = {
        "pages": measure_pages(world, sizes),
        "admin": measure_admin(world, sizes),
        "relay": measure_relay(sizes),
        "burst": measure_burst(world),
        "many_events": measure_many_events(world, sizes),
    }
    result["seconds"] = round(time.monotonic() - started, 1)
    pages = ", ".join(f"{k} p95 {v['p95_ms']} ms/{v['queries']} q" for k, v in result["pages"].items())
    admin = ", ".join(f"{k} p95 {v['p95_ms']} ms" for k, v in result["admin"].items())
    say(f"{label}: {pages}; admin {admin}")
    say(
        f"{label}: relay p95 {result['relay']['deliveries_scan']['p95_ms']} ms, burst "
        f"{result['burst']['store_rows_per_s']} rows/s, many events {result['many_events']['events_per_s']}/s"
    )
    return result


def table_sizes() -> dict:
    rows = _sql(
        """
        SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         ORDER BY c.relkind = 'p' DESC, pg_total_relation_size(c.oid) DESC LIMIT 15
        """
    )
    result = {}
    for name, estimate, table, indexes in rows:
        parts = _sql(
            "SELECT COUNT(*), COALESCE(SUM(pg_table_size(inhrelid)), 0), COALESCE(SUM(pg_indexes_size(inhrelid)), 0), "
            "COALESCE(SUM((SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = inhrelid)), 0) "
            "FROM pg_inherits WHERE inhparent = %s::regclass",
            [name],
        )[0]
        entry = {"rows": max(0, int(estimate)), "table_mb": round(table / 1e6, 1), "index_mb": round(indexes / 1e6, 1)}
        if parts[0]:  # a partitioned parent has no storage of its own: its partitions'
            entry = {
                "rows": int(parts[3]),
                "table_mb": round(float(parts[1]) / 1e6, 1),
                "index_mb": round(float(parts[2]) / 1e6, 1),
                "partitions": parts[0],
            }
        result[name] = entry
    index_rows = _sql(
        """
        SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)
               + COALESCE((SELECT SUM(pg_relation_size(h.inhrelid)) FROM pg_inherits h
                           WHERE h.inhparent = i.indexrelid), 0)
          FROM pg_index i WHERE i.indrelid::regclass::text = ANY(%s) ORDER BY 2 DESC
        """,
        [["notifications_delivery", "events_event"]],
    )
    return {"tables": result, "indexes_mb": {name: round(float(size) / 1e6, 1) for name, size in index_rows}}


def simulate_day_of_updates(world: World) -> dict:
    """One day's deliveries taken through what the workers and callbacks do to them: a claim, a sent, and
    for SMS three status callbacks (queued, sent, delivered), each an UPDATE of every row of the day (in
    batches of 10,000, short transactions); then dead tuples, VACUUM's time and the sizes around it."""
    day_from, day_to = world.bank.now - 2 * 86400, world.bank.now - 86400
    bounds = _sql(
        "SELECT MIN(id), MAX(id), COUNT(*) FROM notifications_delivery "
        "WHERE created_at >= to_timestamp(%s) AND created_at < to_timestamp(%s)",
        [day_from, day_to],
    )[0]
    low, high, rows = bounds
    if not rows:
        return {"rows": 0}
    # On monthly partitions the day's rows are in one partition: the figures are that partition's.
    [[relation]] = _sql("SELECT tableoid::regclass::text FROM notifications_delivery WHERE id = %s", [low])
    try:
        _sql("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        has_pgstattuple = True
    except Exception:
        has_pgstattuple = False

    def bloat() -> dict:
        _sql("SELECT pg_stat_clear_snapshot()")
        n_dead, n_live = _sql(
            "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relid = %s::regclass", [relation]
        )[0]
        figures = {
            "n_dead_tup": n_dead,
            "n_live_tup": n_live,
            "table_mb": round(_sql("SELECT pg_table_size(%s::regclass)", [relation])[0][0] / 1e6, 1),
            "indexes_mb": round(_sql("SELECT pg_indexes_size(%s::regclass)", [relation])[0][0] / 1e6, 1),
        }
        if has_pgstattuple:
            approx = _sql(
                "SELECT dead_tuple_percent, approx_free_percent FROM pgstattuple_approx(%s::regclass)", [relation]
            )[0]
            figures.update(dead_tuple_percent=round(approx[0], 2), free_percent=round(approx[1], 2))
        return figures

    before = bloat()
    steps = [
        ("claim", "status = 'sending', claimed_at = now(), updated_at = now()", ""),
        ("sent", "status = 'sent', sent_at = now(), updated_at = now()", ""),
        ("callback queued", "provider_status = 'queued', updated_at = now()", "AND channel = 'sms'"),
        ("callback sent", "provider_status = 'sent', updated_at = now()", "AND channel = 'sms'"),
        (
            "callback delivered",
            "status = 'delivered', provider_status = 'delivered', delivered_at = now(), updated_at = now()",
            "AND channel = 'sms'",
        ),
    ]
    updated = 0
    started = time.monotonic()
    for _name, assignments, condition in steps:
        for start in range(low, high + 1, 10_000):
            updated += _sql_rowcount(
                f"UPDATE notifications_delivery SET {assignments} WHERE id >= %s AND id < %s "  # noqa: S608 - ours
                f"AND created_at >= to_timestamp(%s) AND created_at < to_timestamp(%s) {condition}",
                [start, start + 10_000, day_from, day_to],
            )
    update_seconds = time.monotonic() - started
    time.sleep(1.5)  # statistics reach pg_stat_user_tables within about a second
    after_updates = bloat()
    started = time.monotonic()
    _sql(f"VACUUM (ANALYZE) {relation}")
    vacuum_seconds = time.monotonic() - started
    time.sleep(1.5)
    return {
        "relation": relation,
        "rows_of_the_day": rows,
        "row_updates": updated,
        "update_seconds": round(update_seconds, 1),
        "row_updates_per_s": round(updated / update_seconds, 1) if update_seconds else 0.0,
        "before": before,
        "after_updates": after_updates,
        "vacuum_seconds": round(vacuum_seconds, 1),
        "after_vacuum": bloat(),
        "pgstattuple": has_pgstattuple,
    }


def _sql_rowcount(statement: str, params) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def measure_retention(world: World, sizes: ScaleSizes) -> dict:
    """The time to take the oldest month out of the tables: on issue 22's schema, the partition drop
    (events.retention.drop_old_partitions) of the oldest months; and today's row-by-row anonymising (the
    "before"), run for at most ``retention_seconds`` on the oldest 30 days and extrapolated from its rate."""
    result = {"row_by_row": _row_by_row_retention(sizes)}
    if partitioned():
        result["partition_drop"] = _partition_drop()
        result["month_seconds"] = result["partition_drop"]["seconds_per_month"]
        result["method"] = "partition drop"
    else:
        result["month_seconds"] = result["row_by_row"]["month_seconds"]
        result["method"] = "row by row"
    return result


def _partition_drop() -> dict:
    """Beat's retention with its clock set so that the two oldest monthly partitions (a part month and a
    whole one, at the default size) are past RETENTION_DAYS: each dropped after its audit entry."""
    import datetime

    from bevaka import partitions
    from events import retention

    months = list(partitions.partitions("events_event").values())
    with_rows = [
        (start, end)
        for start, end in months
        if _sql(
            "SELECT EXISTS (SELECT 1 FROM events_event WHERE received_at >= %s AND received_at < %s)", [start, end]
        )[0][0]
    ]
    if len(with_rows) < 2:
        return {"dropped": [], "seconds": 0.0, "seconds_per_month": 0.0}
    _start, end = with_rows[1]
    now = end + datetime.timedelta(days=90, minutes=1)
    started = time.monotonic()
    dropped = retention.drop_old_partitions(older_than_days=90, now=now)
    seconds = time.monotonic() - started
    # Months made ahead of the history (empty) are dropped too: the figure is per month that held rows.
    months_dropped = len({d.start for d in dropped if d.estimated_rows}) or 1
    return {
        "dropped": [{"table": d.table, "partition": d.name, "estimated_rows": d.estimated_rows} for d in dropped],
        "rows": sum(d.estimated_rows for d in dropped),
        "months": months_dropped,
        "empty_partitions": sum(1 for d in dropped if not d.estimated_rows),
        "seconds": round(seconds, 2),
        "seconds_per_month": round(seconds / months_dropped, 2),
    }


def _row_by_row_retention(sizes: ScaleSizes) -> dict:
    import datetime

    from django.db import transaction
    from django.utils import timezone

    from notifications import retention
    from notifications.models import Delivery

    month = min(30, max(1, sizes.days // 2))
    cutoff = timezone.now() - datetime.timedelta(days=sizes.days - month)
    candidates = Delivery.objects.filter(created_at__lt=cutoff, status__in=retention._FINISHED).filter(
        retention._not_yet_anonymised_deliveries()
    )
    eligible = candidates.count()
    values = {**retention._DELIVERY_CLEARED, "updated_at": timezone.now()}
    batch = 5000
    done, batches = 0, 0
    started = time.monotonic()
    deadline = started + sizes.retention_seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                break
            done += Delivery.objects.filter(pk__in=ids).update(**values)
            batches += 1
    seconds = time.monotonic() - started
    rate = done / seconds if seconds else 0.0
    finished = done >= eligible
    return {
        "method": "row-by-row anonymising UPDATEs (notifications.retention, batches of 5000)",
        "month_days": month,
        "rows_in_the_month": eligible,
        "rows_done": done,
        "batches": batches,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rate, 1),
        "finished": finished,
        "month_seconds": round(seconds if finished else (eligible / rate if rate else 1e9), 1),
        "month_seconds_extrapolated": not finished,
    }


# --- targets -------------------------------------------------------------------------------------------


def targets(result: dict) -> dict:
    full, young = result["full"], result["young"]
    out = {}
    for page, figures in full["pages"].items():
        out[f"page_{page}_p95_ms"] = {
            "value": figures["p95_ms"],
            "target": 50,
            "met": figures["p95_ms"] <= 50 and figures["queries"] == young["pages"][page]["queries"],
            "queries": figures["queries"],
            "queries_young": young["pages"][page]["queries"],
        }
    for name, figures in full["admin"].items():
        out[f"admin_{name}_p95_ms"] = {"value": figures["p95_ms"], "target": 300, "met": figures["p95_ms"] <= 300}
    scan = full["relay"]["deliveries_scan"]["p95_ms"]
    out["relay_scan_p95_ms"] = {"value": scan, "target": 20, "met": scan <= 20}
    for name, key in (("burst", "store_rows_per_s"), ("many_events", "events_per_s")):
        share = full[name][key] / young[name][key] if young[name][key] else 0.0
        out[f"{name}_share_of_young"] = {"value": round(share, 3), "target": 0.9, "met": share >= 0.9}
    month = result["retention"]["month_seconds"]
    out["retention_month_seconds"] = {"value": month, "target": 5, "met": month <= 5}
    total = result["settings"]["seconds_total"]
    out["whole_run_seconds"] = {"value": total, "target": 1800, "met": total <= 1800}
    return out


# --- the run -------------------------------------------------------------------------------------------


def setup_django(stack: Stack) -> None:
    from .pages_profile import setup

    os.environ.update(
        BEVAKA_VAR_DIR=str(stack.temp_dir / "var"),
        SMS_RATE_PER_SECOND="0",
        EMAIL_RATE_PER_SECOND="0",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    setup(stack.database_url, stack.redis_url)


def run(sizes: ScaleSizes, out: Path) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / "logs-scale"
    log_dir.mkdir(exist_ok=True)
    stack = Stack(log_dir=log_dir, database_server=database_server(), database_name=f"bevaka_scale_{os.getpid()}")
    previous = raise_interrupted()
    started = time.monotonic()
    info = machine()
    info["uptime_at_start"] = uptime()
    say(
        f"{sizes.name} run: {sizes.users} users, {sizes.companies} companies, {sizes.days} days; "
        + info["uptime_at_start"]
    )
    try:
        stack.create_database()
        stack.start_redis()
        setup_django(stack)
        from django.core.management import call_command
        from django.db import connections

        from .scenarios import postgres_version

        call_command("migrate", "--noinput", verbosity=0)
        say("migrated")
        disk_before = disk()
        load: dict = {}
        t = time.monotonic()
        world = build_structure(sizes)
        load["structure_seconds"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        load["young_day"] = load_history(world, range(0, 1), live=True)
        load["young_day_seconds"] = round(time.monotonic() - t, 1)
        say(f"young bank loaded: {world.bank.counts}")
        young = measure_all(world, sizes, "young")
        t = time.monotonic()
        load["history"] = load_history(world, range(1, sizes.days), live=False)
        load["history_seconds"] = round(time.monotonic() - t, 1)
        load["seconds_total"] = round(
            load["structure_seconds"] + load["young_day_seconds"] + load["history_seconds"], 1
        )
        load["rows"] = dict(world.bank.counts)
        load["history_deliveries_per_s"] = round(load["history"]["deliveries"] / max(0.1, load["history_seconds"]), 1)
        load["method"] = (
            "COPY (psycopg cursor.copy, text format, 20,000 lines a write); the history with the big tables' "
            "secondary indexes, unique constraints and foreign keys dropped and rebuilt after (counted)"
        )
        say(f"bank loaded in {load['seconds_total']} s: {load['rows']}")
        sizes_after_load = table_sizes()
        coherence = check_coherence()
        # What is known so far, in case the run is stopped before the end (the final document replaces it).
        partial = {"machine": info, "settings": {**asdict(sizes), "partial": True}, "disk": {"before": disk_before}}
        partial.update(load=load, sizes=sizes_after_load, coherence=coherence, young=young)
        out.write_text(json.dumps(partial, indent=2, ensure_ascii=False) + "\n")
        full = measure_all(world, sizes, "full")
        vacuum = simulate_day_of_updates(world)
        say(f"vacuum: {vacuum.get('vacuum_seconds')} s after {vacuum.get('row_updates')} row updates")
        retention = measure_retention(world, sizes)
        say(f"retention ({retention['method']}): {retention['month_seconds']} s a month")
        disk_after = disk()
        result = {
            "machine": {**info, "load_average_at_end": list(os.getloadavg()), "uptime_at_end": uptime()},
            "settings": {
                **asdict(sizes),
                "postgres": postgres_version(),
                "database": stack.database_name,
                "measured_with": "Django's test Client and the app's functions, in the bench process",
                "seconds_total": round(time.monotonic() - started, 1),
            },
            "disk": {"before": disk_before, "after": disk_after},
            "load": load,
            "sizes": sizes_after_load,
            "coherence": coherence,
            "young": young,
            "full": full,
            "vacuum": vacuum,
            "retention": retention,
        }
        result["targets"] = targets(result)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        say(f"wrote {out} in {time.monotonic() - started:.0f} s")
        return result
    finally:
        with contextlib.suppress(Exception):
            connections.close_all()
        stack.close()
        for number, handler in previous.items():
            signal.signal(number, handler)


def check_coherence() -> dict:
    """What the load must have made true, counted (the rebuilt constraints already refused a duplicate or
    a dangling id): alerts match their events' recipient counts, and no unique key has a duplicate."""
    [[alerts, recipients]] = _sql(
        "SELECT (SELECT COUNT(*) FROM notifications_delivery WHERE event_id IS NOT NULL), "
        "(SELECT COALESCE(SUM(recipient_count), 0) FROM events_event)"
    )
    [[orphans]] = _sql(
        "SELECT COUNT(*) FROM notifications_delivery d WHERE d.event_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events_event e WHERE e.id = d.event_id)"
    )
    constraints = _sql(
        "SELECT conname, contype FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u','f')",
        [big_tables()],
    )
    unique_indexes = _sql(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND i.indisunique AND i.indisvalid",
        [big_tables()],
    )
    return {
        "deliveries_without_their_event": orphans,
        "partitioned": partitioned(),
        "alert_deliveries": alerts,
        "events_recipient_count_sum": recipients,
        "deliveries_match_events": alerts == recipients,
        "foreign_keys_validated": sorted(name for name, kind in constraints if kind == "f"),
        "unique_indexes_valid": sorted(name for (name,) in unique_indexes),
    }


def parse_sizes(args) -> ScaleSizes:
    sizes = SIZES[args.size]
    overrides = {key: getattr(args, key) for key in ("users", "companies", "days") if getattr(args, key)}
    if overrides:
        sizes = replace(sizes, name=f"{sizes.name}+custom", **overrides)
    if sizes.days < 2:
        raise SystemExit("--days must be at least 2 (a young day and a history)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--users", type=int)
    parser.add_argument("--companies", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--out", type=Path, default=BASE_DIR / "var" / "bench" / "scale.json")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args)
    try:
        run(sizes, args.out)
    except KeyboardInterrupt as stop:
        say(f"interrupted ({stop or 'Ctrl-C'}); database dropped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
