"""Issue 22: events and fan-out decisions in monthly partitions (PostgreSQL; SQLite keeps plain tables).

- ``EventKey`` (new table ``events_eventkey``: source, external_id, received_at; unique (source, external_id),
  the constraint ``one_event_per_source_id`` moved here from ``events_event``): what refuses a repeated
  source id in any month. Filled from the existing events.
- ``Event.uuid``: an index instead of a unique one (unique by construction, uuid4); new index
  ``event_source_id_idx`` (source, external_id) to find an event by its source id.
- ``FanoutDecision.event_received_at`` (new, the partition key: its event's received_at); the unique
  ``one_decision_per_event_and_user`` becomes (event, user, event_received_at) — the same, the time being the
  event's; ``event`` loses its database foreign key.
- On PostgreSQL ``events_event`` (by ``received_at``) and ``events_fanoutdecision`` (by
  ``event_received_at``) are rebuilt partitioned, primary keys (id, key), rows copied.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

import bevaka.partitions


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        now = timezone.now()
        bevaka.partitions.convert_to_partitioned(schema_editor, "events_event", "received_at", now=now)
        bevaka.partitions.convert_to_partitioned(schema_editor, "events_fanoutdecision", "event_received_at", now=now)


KEYS = """
INSERT INTO events_eventkey (source_id, external_id, received_at)
SELECT source_id, external_id, received_at FROM events_event
"""
FILL = """
UPDATE events_fanoutdecision SET event_received_at =
    (SELECT e.received_at FROM events_event e WHERE e.id = events_fanoutdecision.event_id)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_fanout_decision"),
        ("notifications", "0007_i22p_partition_deliveries"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="event", name="one_event_per_source_id"),
        migrations.CreateModel(
            name="EventKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("external_id", models.CharField(max_length=128)),
                ("received_at", models.DateTimeField(db_index=True)),
                (
                    "source",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="events.sourcesystem"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("source", "external_id"), name="one_event_per_source_id")
                ],
            },
        ),
        migrations.RunSQL(KEYS, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["source", "external_id"], name="event_source_id_idx"),
        ),
        migrations.AlterField(
            model_name="event",
            name="uuid",
            field=models.UUIDField(db_index=True, default=__import__("uuid").uuid4, editable=False, verbose_name="id"),
        ),
        migrations.RemoveConstraint(model_name="fanoutdecision", name="one_decision_per_event_and_user"),
        migrations.AddField(
            model_name="fanoutdecision",
            name="event_received_at",
            field=bevaka.partitions.PartitionKeyField(null=True, via="event"),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="fanoutdecision",
            name="event_received_at",
            field=bevaka.partitions.PartitionKeyField(via="event"),
        ),
        migrations.AlterField(
            model_name="fanoutdecision",
            name="event",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="decisions",
                to="events.event",
            ),
        ),
        migrations.AddConstraint(
            model_name="fanoutdecision",
            constraint=models.UniqueConstraint(
                fields=("event", "user", "event_received_at"), name="one_decision_per_event_and_user"
            ),
        ),
        migrations.RunPython(partition, migrations.RunPython.noop),
    ]
