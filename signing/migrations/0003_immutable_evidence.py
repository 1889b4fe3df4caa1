"""Signature evidence (with its verification report) is immutable in the database itself: the only change
allowed is ``used_at`` going from empty to a time, once (signing/evidence.py)."""

from django.db import migrations

TABLE = "signing_signatureevidence"

PG_FORWARD = f"""
CREATE FUNCTION signing_evidence_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.used_at IS NULL AND NEW.used_at IS NOT NULL
       AND (to_jsonb(NEW) - 'used_at') = (to_jsonb(OLD) - 'used_at') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE}
FOR EACH ROW EXECUTE FUNCTION signing_evidence_is_immutable();
"""
PG_BACKWARD = f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE}; DROP FUNCTION IF EXISTS signing_evidence_is_immutable();"


def _sqlite_statements(columns: list[str]) -> list[str]:
    others = ", ".join(c for c in columns if c != "used_at")
    abort = f"BEGIN SELECT RAISE(ABORT, '{TABLE} is immutable'); END;"
    return [
        f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE OF {others} ON {TABLE} {abort}",
        f"CREATE TRIGGER {TABLE}_used_once BEFORE UPDATE OF used_at ON {TABLE} "
        f"WHEN OLD.used_at IS NOT NULL OR NEW.used_at IS NULL {abort}",
        f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} {abort}",
    ]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        model = apps.get_model("signing", "SignatureEvidence")
        for statement in _sqlite_statements([f.column for f in model._meta.concrete_fields]):
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for name in ("no_update", "used_once", "no_delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{name};")


class Migration(migrations.Migration):
    dependencies = [("signing", "0002_evidence_request_and_verification")]
    operations = [migrations.RunPython(forward, backward)]
