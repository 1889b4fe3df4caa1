"""The delivery table's indexes: each is written for every row a fan-out stores and for every status change
(docs/PERFORMANCE.md), so none may be one that another already serves."""

import pytest
from django.db import connection

from notifications.models import Delivery

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Delivery._meta.db_table)
    return {name: info["columns"] for name, info in constraints.items() if info["index"]}


def test_no_index_of_the_delivery_table_is_the_leading_part_of_another():
    indexes = _indexes()
    for name, columns in indexes.items():
        for other, other_columns in indexes.items():
            if other != name:
                assert other_columns[: len(columns)] != columns, f"{name} {columns} leads {other} {other_columns}"


def test_lookups_by_user_and_by_event_still_take_an_index():
    # What the foreign keys' own indexes served: a user's history, and PROTECT's check for an event's rows.
    indexes = _indexes()
    assert ["user_id", "created_at"] in indexes.values()
    # filed_at is the partition key: the event's received time (issue 22).
    assert ["event_id", "user_id", "channel", "filed_at"] in indexes.values()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        user_plan = Delivery.objects.filter(user_id=1).explain()
        event_plan = Delivery.objects.filter(event_id=1).explain()
    if connection.vendor == "postgresql":
        # Each monthly partition has its own copy of the table's indexes, named after the partition.
        assert "Seq Scan" not in user_plan and "_user_id_created_at_idx" in user_plan, user_plan
        assert "Seq Scan" not in event_plan and "_event_id_user_id_channel_file" in event_plan, event_plan
    else:
        assert "delivery_user_history_idx" in user_plan
        assert "one_alert_per_event_user_channel" in event_plan
