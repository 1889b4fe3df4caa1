"""ingest_events and simulate_events, the 503 when the database is gone, and the back office: the event
admin with "why (not)?" for support, keys for operations."""

import json
import os
import sys

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from companies.staff import OPERATIONS_GROUP, SUPPORT_GROUP
from events import fanout
from events.models import Event, SourceKey
from events.services import clean_events, record_events
from harness import free_port
from tests.factories import UserFactory

from .conftest import EXPECTED_E_INVOICE, event

pytestmark = pytest.mark.django_db


def test_ingest_events_stores_a_file_and_reports_what_it_did_with_each_line(tmp_path, demo, source, capsys):
    lines = [
        json.dumps(event("f-1")),
        json.dumps(event("f-2", type="personal_message")),
        "{broken",
        json.dumps(event("f-3", company="5560000001")),
        json.dumps(event("f-1")),
        "",
        json.dumps(event("f-4", type="nope")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(CommandError, match="3 lines were not stored"):
        call_command("ingest_events", str(path), "--source", source.system.name)
    out, err = capsys.readouterr()
    assert "6 lines: 2 accepted, 1 duplicate, 2 invalid, 1 unknown company, 0 conflict" in out
    assert "line 3: not valid JSON" in err and "line 7: type" in err and "line 4: no customer" in err
    assert sorted(Event.objects.values_list("external_id", flat=True)) == ["f-1", "f-2"]


def test_ingest_events_refuses_an_unknown_source(tmp_path, db):
    path = tmp_path / "e.jsonl"
    path.write_text("")
    with pytest.raises(CommandError, match="No active source system"):
        call_command("ingest_events", str(path), "--source", "nobody")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simulate_events_posts_signed_events_that_the_running_api_accepts(live_server, demo, settings):
    from .conftest import connect

    connect(demo.exempelbolaget, demo.anna, ["personal_message"])
    settings.DEBUG = True  # simulate_events makes its development source and key only in DEBUG
    call_command("simulate_events", "--url", live_server.url, "--count", "3")
    call_command("simulate_events", "--url", live_server.url)
    assert Event.objects.count() == 4
    assert set(Event.objects.values_list("case_type__code", flat=True)) == {"personal_message"}
    assert SourceKey.objects.filter(source__name="demo-core", is_active=True).count() == 1


@pytest.mark.slow
def test_the_api_answers_503_problem_json_when_the_database_cannot_be_reached(project_process, db):
    """A web process whose database is a closed port: the source is told to retry, nothing is stored."""
    import urllib.error
    import urllib.request

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "CONN_MAX_AGE": "0",
    }
    # runserver checks migrations at start and stops without a database: a plain WSGI server instead.
    serve = (
        "import sys; from wsgiref.simple_server import make_server; from bevaka.wsgi import application; "
        "server = make_server('127.0.0.1', int(sys.argv[1]), application); "
        "print('serving on http://127.0.0.1:%s/api/v1/openapi.json' % sys.argv[1], flush=True); server.serve_forever()"
    )
    server = project_process(
        [sys.executable, "-c", serve, str(port)], env=env, ready=r"serving on (?P<url>\S+)", timeout=30
    )
    body = json.dumps(event()).encode()
    request = urllib.request.Request(
        server.url.replace("openapi.json", "events"),
        data=body,
        headers={"Content-Type": "application/json", "X-Bevaka-Source": "core", "X-Bevaka-Timestamp": "1",
                 "X-Bevaka-Signature": "sha256=" + "0" * 64},
        method="POST",
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    # The timestamp is checked before the database is asked: a fresh one reaches the database.
    assert answer.value.code == 401
    import time

    request.headers["X-bevaka-timestamp"] = str(int(time.time()))
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    assert answer.value.code == 503
    assert answer.value.headers["Content-Type"] == "application/problem+json"
    assert answer.value.headers["Retry-After"] == "30"
    assert json.loads(answer.value.read())["status"] == 503
    assert not Event.objects.exists() and connection.settings_dict["NAME"] != "nowhere"


def staff(group: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_support_sees_why_each_user_did_or_did_not_get_an_event(client, world, source):
    [recorded] = record_events(source=source.system, events=clean_events([event("inv-1")], batch=True))
    fanout.fan_out(event_id=recorded.event.pk)
    client.force_login(staff(SUPPORT_GROUP))
    page = client.get(reverse("admin:events_event_change", args=[recorded.event.pk]))
    assert page.status_code == 200
    assert "queued: 4" in page.content.decode()
    why = client.get(reverse("admin:events_event_why", args=[recorded.event.pk]))
    assert why.status_code == 200
    rows = {(r.membership.user.first_name.lower(), r.channel): r for r in why.context["rows"]}
    for person, channels, _why in EXPECTED_E_INVOICE:
        for channel in ("sms", "email"):
            assert rows[(person, channel)].got_it == (channel in channels), (person, channel)
    assert "spärrad" in rows[("bertil", "sms")].reason
    assert "Ingen tillgång" in rows[("cecilia", "email")].reason
    assert "Inget verifierat mobilnummer" in rows[("fredrik", "sms")].reason
    assert "Bevakar inte" in rows[("eva", "sms")].reason
    assert "Ingen tillgång" in rows[("gustav", "sms")].reason
    content = why.content.decode()
    assert world.anna.mobile_number not in content and world.anna.email not in content  # masked


def test_the_why_page_says_cancelled_with_the_reason_and_names_a_type_outside_the_agreement(client, world, source):
    from notifications.models import Delivery

    [inv, rej] = record_events(
        source=source.system, events=clean_events([event("inv-2"), event("rp-2", type="rejected_payment")], batch=True)
    )
    fanout.fan_out(event_id=inv.event.pk)
    Delivery.objects.filter(user=world.david).update(status="cancelled", last_error=fanout.STOP_NO_ACCESS)
    client.force_login(staff(SUPPORT_GROUP))
    rows = client.get(reverse("admin:events_event_why", args=[inv.event.pk])).context["rows"]
    david = next(r for r in rows if r.membership.user == world.david and r.channel == "email")
    assert not david.got_it and fanout.STOP_NO_ACCESS in david.reason
    rows = client.get(reverse("admin:events_event_why", args=[rej.event.pk])).context["rows"]
    assert all("avtal omfattar inte" in r.reason for r in rows)


def test_operations_make_a_key_shown_once_and_support_cannot(client, source):
    url = reverse("admin:events_sourcesystem_changelist")
    client.force_login(staff(SUPPORT_GROUP))
    assert "make_key" not in client.get(url).content.decode()
    client.force_login(staff(OPERATIONS_GROUP))
    response = client.post(url, {"action": "make_key", "_selected_action": [source.system.pk]}, follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    assert "plats 2" in text
    assert SourceKey.objects.filter(source=source.system, is_active=True).count() == 2
    response = client.post(url, {"action": "make_key", "_selected_action": [source.system.pk]}, follow=True)
    assert "två aktiva nycklar" in " ".join(str(m) for m in response.context["messages"])
    detail = client.get(reverse("admin:events_sourcesystem_change", args=[source.system.pk])).content.decode()
    assert source.secret not in detail and source.key.fingerprint in detail


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_one_503_and_the_next_request_connects_anew(project_process, demo):
    """The API skips the per-request health check of a reused connection: a dropped one fails that request
    with 503 (the source retries), and the next request connects anew and is stored."""
    import urllib.error
    import urllib.request

    from events.services import sign
    from tests.events.conftest import Source

    source = Source("dropped-core")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bevaka").rsplit("/", 1)[0]
        + "/"
        + connection.settings_dict["NAME"],
        "CONN_MAX_AGE": "600",
        "PGAPPNAME": f"bevaka-dropped-{port}",
    }
    serve = (
        "import sys; from wsgiref.simple_server import make_server; from bevaka.wsgi import application; "
        "server = make_server('127.0.0.1', int(sys.argv[1]), application); "
        "print('serving on http://127.0.0.1:%s/api/v1/events' % sys.argv[1], flush=True); server.serve_forever()"
    )
    server = project_process(
        [sys.executable, "-c", serve, str(port)], env=env, ready=r"serving on (?P<url>\S+)", timeout=30
    )

    def post(source_id: str) -> int:
        import time

        body = json.dumps(event(source_id)).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(
            server.url,
            data=body,
            headers={"Content-Type": "application/json", "X-Bevaka-Source": source.system.name,
                     "X-Bevaka-Timestamp": str(timestamp),
                     "X-Bevaka-Signature": sign(secret=source.secret, timestamp=timestamp, body=body)},
            method="POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post("drop-1") == 202
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            [env["PGAPPNAME"]],
        )
        assert cursor.fetchone()[0] == 1
    assert post("drop-2") == 503
    assert post("drop-2") == 202
    assert set(Event.objects.values_list("external_id", flat=True)) == {"drop-1", "drop-2"}
