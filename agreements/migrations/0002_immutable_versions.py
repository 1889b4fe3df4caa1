"""Signed agreement versions and their signatures are immutable in the database itself."""

from django.db import migrations

TABLES = ["agreements_agreementversion", "agreements_agreementsignature"]

PG_FORWARD = """
CREATE FUNCTION agreements_signed_rows_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
""" + "".join(
    f"CREATE TRIGGER {t}_immutable BEFORE UPDATE OR DELETE ON {t} "
    "FOR EACH ROW EXECUTE FUNCTION agreements_signed_rows_are_immutable();\n"
    for t in TABLES
)
PG_BACKWARD = "".join(f"DROP TRIGGER IF EXISTS {t}_immutable ON {t};\n" for t in TABLES) + (
    "DROP FUNCTION IF EXISTS agreements_signed_rows_are_immutable();"
)


def _sqlite(table: str, op: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is immutable: {op} refused'); END;"
    )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for table in TABLES:
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(_sqlite(table, op))


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for table in TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")


class Migration(migrations.Migration):
    dependencies = [("agreements", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
