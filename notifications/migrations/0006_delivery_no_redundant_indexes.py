"""Delivery's own indexes on user and event go: delivery_user_history_idx (user, created_at) and the
unique one_alert_per_event_user_channel (event, user, channel) lead with those columns and serve every
lookup by either, and each index is written for every row a fan-out stores and every status change.

Only the indexes are dropped (concurrently on PostgreSQL), so that a large table is neither locked nor
scanned again to validate its foreign keys (a plain AlterField drops and re-adds them)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


INDEXES = {"notifications_delivery_event_id_b0d7d368": "event_id", "notifications_delivery_user_id_70f8752d": "user_id"}


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def drop_indexes(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{name}"')


def create_indexes(apps, schema_editor):
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{name}" ON "notifications_delivery" ("{column}")'
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("events", "0001_initial"),
        ("notifications", "0005_provider_id_index_without_empty_ids"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="events.event",
                        verbose_name="händelse",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deliveries",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="användare",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
