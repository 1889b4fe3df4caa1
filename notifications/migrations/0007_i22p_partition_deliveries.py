"""Issue 22: deliveries in monthly partitions (PostgreSQL; SQLite keeps a plain table).

- ``filed_at`` (new, the partition key): the event's ``received_at`` for an alert, else ``created_at``.
- ``one_alert_per_event_user_channel`` becomes unique on (event, user, channel, filed_at) where event is set:
  filed_at is a function of the event, so it is still one alert per event, user and channel.
- ``event`` and ``SuspendedDestination.delivery`` lose their database foreign keys (a foreign key to a
  partitioned table needs a unique key including its partition key); the code keeps them (see the models).
- On PostgreSQL the table is rebuilt partitioned by range of ``filed_at`` with the primary key (id, filed_at)
  and its rows copied (bevaka.partitions.convert_to_partitioned): an exclusive lock for the copy, fine for the
  deployments that exist today (small); docs/OPERATIONS.md says how for a big one.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

import bevaka.partitions


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        bevaka.partitions.convert_to_partitioned(
            schema_editor, "notifications_delivery", "filed_at", now=timezone.now()
        )


FILL = """
UPDATE notifications_delivery SET filed_at = COALESCE(
    (SELECT e.received_at FROM events_event e WHERE e.id = notifications_delivery.event_id), created_at)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_fanout_decision"),
        ("notifications", "0007_i23b_contact_change_purpose"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="delivery", name="one_alert_per_event_user_channel"),
        migrations.AddField(
            model_name="delivery",
            name="filed_at",
            field=bevaka.partitions.PartitionKeyField(
                fallback="created_at", null=True, verbose_name="arkiverad under", via="event"
            ),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="delivery",
            name="filed_at",
            field=bevaka.partitions.PartitionKeyField(fallback="created_at", verbose_name="arkiverad under", via="event"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deliveries",
                to="events.event",
                verbose_name="händelse",
            ),
        ),
        migrations.AlterField(
            model_name="suspendeddestination",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="notifications.delivery",
                verbose_name="utskick",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=Q(("event__isnull", False)),
                fields=("event", "user", "channel", "filed_at"),
                name="one_alert_per_event_user_channel",
            ),
        ),
        migrations.RunPython(partition, migrations.RunPython.noop),
    ]
