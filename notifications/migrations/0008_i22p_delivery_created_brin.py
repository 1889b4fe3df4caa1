"""Issue 22: a BRIN index on notifications_delivery.created_at (PostgreSQL; nothing on SQLite).

The dashboard's 7-day chart and /metrics' day of deliveries select by created_at; rows arrive in created_at
order, so a block-range index finds a day's blocks for a few kilobytes a month and next to no cost per INSERT
(a B-tree on created_at would be one more index written by every fan-out). Created on the partitioned table:
every month gets its own.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS delivery_created_brin ON notifications_delivery USING brin (created_at)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS delivery_created_brin")


class Migration(migrations.Migration):
    dependencies = [("notifications", "0007_i22p_partition_deliveries")]

    operations = [migrations.RunPython(create, drop)]
