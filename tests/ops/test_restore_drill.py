"""make restore-drill against a database filled by the demo and a signed agreement: dumped, restored into a
fresh database, checked there, and the copy dropped again."""

import os
import re
import sys

import psycopg
import pytest
from django.db import connection

from audit.models import AuditEntry
from harness import BASE_DIR, run_command
from tests.agreements.conftest import token_signed_connect

pytestmark = pytest.mark.django_db(transaction=True)

DRILL = [sys.executable, str(BASE_DIR / "scripts" / "restore_drill.py")]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def drill_databases() -> list[str]:
    with psycopg.connect(database_url()) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", ["%_restore_drill_%"])
        return [name for (name,) in rows]


@pytest.fixture
def signed_world(demo):
    # Signed for real (a security token), so that verify_evidence on the copy has true evidence to check.
    token_signed_connect(demo.exempelbolaget, demo.anna, ["e_invoice", "personal_message"])
    assert AuditEntry.objects.exists()
    return demo


def test_the_drill_restores_the_demo_and_a_signed_agreement_and_verifies_the_copy(signed_world):
    result = run_command(DRILL, env={**os.environ, "DATABASE_URL": database_url()}, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    output = result.stdout
    assert "pg_restore into" in output and "verify_audit_log on the copy: ok" in output
    assert "The audit log is whole" in output
    assert "verify_evidence on the copy: ok" in output  # issue 20's verifier, on the restored bytes
    assert "Verification passed for every signed version." in output
    assert re.search(r"signed content whole: [1-9]\d* agreement versions, [1-9]\d* signatures", output)
    assert "restore-drill: passed" in output
    assert drill_databases() == []  # the copy is gone


def test_the_drill_fails_when_the_copy_has_a_gap_in_the_audit_log(signed_world):
    last = AuditEntry.objects.order_by("seq").values_list("seq", flat=True).last()
    with connection.cursor() as cursor:  # what a broken backup looks like: an entry lost
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditentry WHERE seq = %s", [last])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
    result = run_command(DRILL, env={**os.environ, "DATABASE_URL": database_url()}, timeout=300)
    assert result.returncode != 0
    assert "verify_audit_log on the copy failed" in result.stdout and "gaps" in result.stdout
    assert drill_databases() == []


def test_a_required_check_that_does_not_exist_fails_the_drill(signed_world):
    result = run_command(
        [*DRILL, "--checks", "verify_audit_log verify_nothing", "--require", "verify_nothing"],
        env={**os.environ, "DATABASE_URL": database_url()},
        timeout=300,
    )
    assert result.returncode != 0 and "verify_nothing does not exist" in result.stdout
    assert drill_databases() == []
