"""A gapless sequence number on every audit entry (verify_audit_log checks it), and TRUNCATE refused too.

Existing entries are numbered in id order; the append-only trigger is set aside for that one UPDATE.
"""

from django.db import migrations, models

PG_TRUNCATE = """
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_is_append_only();
"""
PG_TRUNCATE_BACKWARD = "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_auditentry;"
NUMBER = """
UPDATE audit_auditentry SET seq = (SELECT count(*) FROM audit_auditentry AS earlier
                                   WHERE earlier.id <= audit_auditentry.id)
"""
SQLITE_NO_UPDATE = (
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditentry is append-only: UPDATE refused'); END;"
)


def number_existing_entries(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        schema_editor.execute(NUMBER)
        schema_editor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        schema_editor.execute(NUMBER)
        schema_editor.execute(SQLITE_NO_UPDATE)
    else:
        schema_editor.execute(NUMBER)
    AuditEntry = apps.get_model("audit", "AuditEntry")
    AuditSequence = apps.get_model("audit", "AuditSequence")
    AuditSequence.objects.create(pk=1, last=AuditEntry.objects.count())
    if vendor == "postgresql":
        schema_editor.execute(PG_TRUNCATE)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_TRUNCATE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.CreateModel(
            name="AuditSequence",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "löpnummer i granskningsloggen",
                "verbose_name_plural": "löpnummer i granskningsloggen",
            },
        ),
        migrations.AddField(
            model_name="auditentry",
            name="seq",
            field=models.BigIntegerField(null=True, verbose_name="löpnummer"),
        ),
        migrations.RunPython(number_existing_entries, backward),
        migrations.AlterField(
            model_name="auditentry",
            name="seq",
            field=models.BigIntegerField(unique=True, verbose_name="löpnummer"),
        ),
    ]
