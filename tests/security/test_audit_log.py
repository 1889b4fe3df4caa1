"""The audit log is append-only in the database itself, and ``verify_audit_log`` proves it is whole."""

import os
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audit.models import AuditEntry, AuditSequence
from audit.services import record
from harness import MANAGE, run_command


def _entries(n: int) -> list[AuditEntry]:
    return [record(action="test.entry", actor=None, company=None, after={"n": i}) for i in range(n)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET action = 'forged'",
        "UPDATE audit_auditentry SET seq = seq + 100",
        "DELETE FROM audit_auditentry",
        "DELETE FROM audit_auditentry WHERE seq = 2",
        "TRUNCATE audit_auditentry",
        "TRUNCATE audit_auditentry CASCADE",
    ],
)
def test_raw_sql_cannot_change_or_remove_an_entry(statement):
    _entries(3)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "test.entry"),
        (2, "test.entry"),
        (3, "test.entry"),
    ]


@pytest.mark.django_db
def test_the_orm_cannot_either():
    [entry] = _entries(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get().action == "test.entry"


@pytest.mark.django_db
def test_entries_are_numbered_without_gaps_even_when_a_change_is_rolled_back():
    _entries(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(action="test.rolled_back", actor=None, company=None)
        raise RuntimeError("the change fails after its audit entry")
    _entries(1)
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


@pytest.mark.django_db
def test_verify_audit_log_accepts_a_whole_log(capsys):
    _entries(5)
    call_command("verify_audit_log")
    assert "The audit log is whole: 5 entries, sequence numbers 1–5 without gaps." in capsys.readouterr().out


@pytest.mark.django_db
def test_verify_audit_log_names_the_missing_numbers():
    _entries(3)
    with connection.cursor() as cursor:  # an entry slipped in with a number skipped: 4 and 5 are missing
        cursor.execute(
            "INSERT INTO audit_auditentry (seq, created_at, actor_label, company_label, action) "
            "VALUES (6, now(), 'x', '', 'test.forged')"
        )
    AuditSequence.objects.filter(pk=1).update(last=6)
    with pytest.raises(CommandError, match=r"2 entries missing \(sequence numbers 4–5\)"):
        call_command("verify_audit_log")


@pytest.mark.django_db
def test_verify_audit_log_sees_that_the_newest_entries_are_gone():
    _entries(3)
    AuditSequence.objects.filter(pk=1).update(last=5)  # numbers 4 and 5 were given; their entries are not there
    with pytest.raises(CommandError, match=r"sequence numbers 4–5"):
        call_command("verify_audit_log")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_distinct_consecutive_numbers_and_the_command_exits_by_them():
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(8):
                try:
                    with transaction.atomic():
                        record(action="test.concurrent", actor=None, company=None, after={"writer": n, "i": i})
                        if i % 3 == 2:
                            raise RuntimeError("rolled back")
                except RuntimeError:
                    pass
        except Exception as error:  # pragma: no cover - shown by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    committed = 6 * 6  # i = 0..7 minus the two rolled back (2, 5)
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, committed + 1))

    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "bevaka.settings_test"}
    whole = run_command([*MANAGE, "verify_audit_log"], env=env)
    assert whole.returncode == 0, whole.stdout
    AuditSequence.objects.filter(pk=1).update(last=committed + 1)
    broken = run_command([*MANAGE, "verify_audit_log"], env=env)
    assert broken.returncode == 1
    assert f"sequence numbers {committed + 1}" in broken.stdout


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
