"""`make bench-scale` at its quick size: it must write every figure in the right shape, load a coherent
bank (every delivery's event and user exist, the unique keys hold: the rebuilt constraints check them), and
give its own database back. No speed is asserted (docs/PERFORMANCE.md, "At bank scale")."""

import re

import psycopg
import pytest

from bench.report import _get
from bench.scale_data import create_secondaries, drop_secondaries, secondary_definitions

from .runs import databases_named, run_module

pytestmark = pytest.mark.slow

PAGE = ["p50_ms", "p95_ms", "queries"]
SHAPE = {
    "machine": ["cores", "load_average_at_start", "load_average_at_end"],
    "disk.before": ["free_gb", "used_gb", "database_gb"],
    "disk.after": ["free_gb", "used_gb", "database_gb"],
    "load": ["seconds_total", "structure_seconds", "history_seconds", "history.rebuild_seconds"],
    **{
        f"{state}.pages.{page}": PAGE
        for state in ("young", "full")
        for page in ("bevaka", "mina_bevakningar", "behorigheter")
    },
    **{
        f"{state}.admin.{page}": PAGE
        for state in ("young", "full")
        for page in ("deliveries_list", "events_list", "search_personnummer", "why_biggest_company_first_page")
    },
    **{
        f"{state}.relay.{scan}": ["p50_ms", "p95_ms"]
        for state in ("young", "full")
        for scan in ("deliveries_scan", "events_scan")
    },
    **{f"{state}.burst": ["deliveries", "store_rows_per_s", "fanout_queries"] for state in ("young", "full")},
    **{f"{state}.many_events": ["events", "events_per_s", "deliveries_per_s"] for state in ("young", "full")},
    "vacuum": ["row_updates", "vacuum_seconds", "after_updates.n_dead_tup", "after_vacuum.table_mb"],
    "retention": ["month_seconds", "row_by_row.rows_in_the_month", "row_by_row.month_seconds"],
    "settings": ["users", "companies", "days", "seconds_total"],
}


def _number(document, dotted) -> bool:
    value = _get(document, dotted)
    return (isinstance(value, int | float) and not isinstance(value, bool)) or isinstance(value, list)


def test_a_quick_run_writes_every_figure_loads_a_coherent_bank_and_drops_its_database(tmp_path):
    out = tmp_path / "scale.json"
    document, stderr = run_module("bench.scale", "--size", "quick", out=out, timeout=600)
    missing = [
        f"{section}.{key}"
        for section, keys in SHAPE.items()
        for key in keys
        if not _number(document, f"{section}.{key}")
    ]
    assert not missing, missing
    load = document["load"]
    assert load["rows"]["deliveries"] > load["rows"]["events"] > 0
    assert load["rows"]["verification_codes"] > 0 and load["rows"]["audit_entries"] > 0
    coherence = document["coherence"]
    assert coherence["deliveries_match_events"], coherence
    assert "one_alert_per_event_user_channel" in coherence["unique_indexes_valid"]
    assert coherence["deliveries_without_their_event"] == 0, coherence
    assert document["sizes"]["tables"]["notifications_delivery"]["table_mb"] > 0
    if coherence["partitioned"]:  # issue 22's schema: a month leaves by a partition drop
        assert document["retention"]["partition_drop"]["dropped"], document["retention"]
    # The same pages answered with the same SQL on a young and on a full bank (the figure the issue pins).
    assert document["full"]["burst"]["deliveries"] == document["young"]["burst"]["deliveries"] > 0
    assert set(document["targets"]) >= {"relay_scan_p95_ms", "retention_month_seconds", "whole_run_seconds"}
    [name] = re.findall(r"database (bevaka_scale_\d+) created", stderr)
    assert f"database {name} dropped" in stderr
    assert name not in databases_named("bevaka_scale_")


@pytest.mark.django_db
def test_a_duplicate_alert_fails_the_rebuild_of_the_keys_loudly():
    """The load drops the big tables' unique keys and foreign keys around its COPY and rebuilds them: a
    duplicate delivery (same event, user and channel) must make the rebuild fail. (All in the test's
    transaction, DDL included: it is rolled back.)"""
    from django.db import connection

    from agreements.models import CaseType
    from events.models import Event, SourceSystem
    from notifications.models import Delivery
    from tests.factories import CompanyFactory, UserFactory

    company, user = CompanyFactory(), UserFactory()
    event = Event.objects.create(
        source=SourceSystem.objects.create(name="scale-test"),
        external_id="e-1",
        case_type=CaseType.objects.first(),
        company=company,
        occurred_at="2026-12-01T10:00:00Z",
        content_sha256="0" * 64,
    )
    Delivery.objects.create(
        event=event,
        user=user,
        company=company,
        channel="sms",
        destination="+46701234567",
        purpose="alert",
        body="Bevaka ärenden",
    )
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check pending on the table we alter
        definitions = secondary_definitions(cursor, ["notifications_delivery"])
        assert any(name == "one_alert_per_event_user_channel" for _table, name, _sql in definitions)
        drop_secondaries(cursor, definitions)
        # The same row again (every column but the id), as a COPY of a duplicate would store it.
        cursor.execute(
            "SELECT string_agg(quote_ident(column_name), ', ') FROM information_schema.columns "
            "WHERE table_name = 'notifications_delivery' AND column_name <> 'id'"
        )
        [columns] = cursor.fetchone()
        cursor.execute(f"INSERT INTO notifications_delivery ({columns}) SELECT {columns} FROM notifications_delivery")  # noqa: S608
        with pytest.raises(psycopg.errors.UniqueViolation):
            create_secondaries(cursor, definitions)
