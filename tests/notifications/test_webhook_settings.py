"""The `webhooks` processes' settings (bevaka/settings_webhooks.py): Twilio's status callback and /healthz
at the same paths as the web's, nothing else, and without the pages' middleware."""

import pytest
from django.urls import get_resolver
from twilio.request_validator import RequestValidator

from bevaka import settings_webhooks
from notifications.models import Delivery, DeliveryStatus

from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.django_db

PUBLIC = "https://bank.example"


@pytest.fixture(autouse=True)
def webhooks_process(settings):
    settings.ROOT_URLCONF = settings_webhooks.ROOT_URLCONF
    settings.MIDDLEWARE = settings_webhooks.MIDDLEWARE
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC
    return settings


def _post(client, delivery_id: int, status: str, token: str = AUTH_TOKEN):
    path = f"/webhooks/twilio/status/{delivery_id}"
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "b" * 32, "MessageStatus": status}
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def delivery():
    return Delivery.objects.create(
        channel="sms",
        destination="+46701234567",
        purpose="alert",
        body="x",
        status=DeliveryStatus.SENDING,
        provider_id="SM" + "b" * 32,
        attempts=1,
    )


def test_a_signed_callback_is_applied_with_the_request_id_and_security_headers(client, delivery):
    response = _post(client, delivery.pk, "delivered")
    assert response.status_code == 200
    assert response["X-Request-ID"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response  # no session, no CSRF cookie, no language cookie
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_forged_callback_is_refused(client, delivery):
    assert _post(client, delivery.pk, "delivered", token="not-the-auth-token").status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING


@pytest.mark.parametrize("path", ["/", "/admin/", "/api/v1/events", "/metrics", "/dev/utkorg/"])
def test_the_pages_and_the_api_are_not_served_there(client, path):
    assert client.get(path).status_code == 404


def test_healthz_answers_there(client):
    assert client.get("/healthz").status_code in (200, 503)


def test_it_runs_only_the_request_id_and_security_middleware():
    assert settings_webhooks.MIDDLEWARE == [
        "bevaka.observability.RequestIdMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]


def test_its_routes_are_the_webs_own_at_the_same_paths():
    web = {p.pattern.name: (str(p.pattern), p.callback) for p in get_resolver("notifications.urls").url_patterns}
    for route in get_resolver(settings_webhooks.ROOT_URLCONF).url_patterns:
        assert web[route.name] == (str(route.pattern), route.callback)


_CALLBACKS_SCRIPT = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator

answers = []
client = Client()
for delivery_id, sid, status, code in json.loads(sys.argv[1]):
    path = "/webhooks/twilio/status/%d" % delivery_id
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": sid, "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    signature = RequestValidator("webhooks-token").compute_signature("http://testserver" + path, params)
    answers.append(client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code)
print(json.dumps({"answers": answers, "prepare_threshold": connection.connection.prepare_threshold,
                  "cursor": type(connection.connection.cursor()).__name__}))
"""


@pytest.mark.django_db(transaction=True)
def test_a_webhooks_process_applies_callbacks_with_server_side_binding():
    """In a process of its own on these settings (server-side binding, statements prepared), both paths of
    a callback work: the conditional UPDATEs of queued/sent/delivered, and the locked ORM path of a failure
    that suspends the number."""
    import json
    import os
    import sys

    from django.db import connection

    from notifications.models import SuspendedDestination
    from tests.harness import run_command

    rows = [
        Delivery.objects.create(
            channel="sms",
            destination=f"+4670123456{n}",
            purpose="alert",
            body="x",
            status=DeliveryStatus.SENDING,
            provider_id=f"SM{n}" + "c" * 31,
            attempts=1,
        )
        for n in range(2)
    ]
    calls = [(rows[0].pk, rows[0].provider_id, status, "") for status in ("queued", "sent", "delivered")]
    calls += [
        (rows[1].pk, rows[1].provider_id, "queued", ""),
        (rows[1].pk, rows[1].provider_id, "undelivered", "30006"),
    ]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_webhooks",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": "webhooks-test-only",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
        "TWILIO_AUTH_TOKEN": "webhooks-token",
        "PUBLIC_BASE_URL": "http://testserver",
        "LOG_LEVEL": "WARNING",
    }
    result = run_command([sys.executable, "-c", _CALLBACKS_SCRIPT, json.dumps(calls)], env=env, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answers"] == [200] * 5
    assert report["prepare_threshold"] == 0 and report["cursor"] != "ClientCursor"
    for row in rows:
        row.refresh_from_db()
    assert rows[0].status == DeliveryStatus.DELIVERED and rows[0].delivered_at is not None
    assert rows[1].status == DeliveryStatus.FAILED and rows[1].error_code == "30006"
    assert SuspendedDestination.objects.filter(channel="sms", destination=rows[1].destination).exists()


_EMBEDDED_SCRIPT = """
import json
import django
django.setup()
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator
from notifications.models import Delivery

rows = [
    Delivery.objects.create(channel="sms", destination="+4670123456%d" % n, purpose="alert", body="x",
                            status="sending", provider_id="", attempts=1)
    for n in range(2)
]
client, answers = Client(), []
for row, status, code in [(rows[0], "queued", ""), (rows[0], "sent", ""), (rows[0], "delivered", ""),
                          (rows[0], "sent", ""), (rows[1], "undelivered", "30006")]:
    path = "/webhooks/twilio/status/%d" % row.pk
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": "SM%d" % row.pk, "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    signature = RequestValidator("embedded-token").compute_signature("http://testserver" + path, params)
    answers.append(client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code)
for row in rows:
    row.refresh_from_db()
print(json.dumps({"vendor": connection.vendor, "answers": answers,
                  "rows": [[row.status, row.provider_id, row.delivered_at is not None] for row in rows]}))
"""


@pytest.mark.parametrize("settings_module", ["bevaka.settings", "bevaka.settings_webhooks"])
def test_callbacks_are_applied_on_the_embedded_database_of_make_run(embedded_env, settings_module):
    """`make run` keeps its data in SQLite, where the callback's statements must run as well."""
    import json
    import sys

    from tests.harness import MANAGE, run_command

    env = {
        **embedded_env,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "ALLOWED_HOSTS": "testserver",
        "TWILIO_AUTH_TOKEN": "embedded-token",
        "PUBLIC_BASE_URL": "http://testserver",
        "LOG_LEVEL": "WARNING",
    }
    migrated = run_command([*MANAGE, "migrate", "--noinput"], env=env)
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    result = run_command([sys.executable, "-c", _EMBEDDED_SCRIPT], env=env, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["vendor"] == "sqlite"
    assert report["answers"] == [200] * 5
    first, second = report["rows"]
    assert first[0] == "delivered" and first[1].startswith("SM") and first[2]  # a late "sent" did not undo it
    assert second[0] == "failed"
