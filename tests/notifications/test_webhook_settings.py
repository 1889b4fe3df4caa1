"""The `webhooks` processes' settings (bevaka/settings_webhooks.py): Twilio's status callback and /healthz
at the same paths as the web's, nothing else, and without the pages' middleware."""

import json
import os
import sys

import pytest
from django.urls import get_resolver

from bevaka import settings_webhooks
from harness import MANAGE, run_command
from notifications.models import DeliveryStatus, SuspendedDestination

from .conftest import callback

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhooks_process(webhook_settings):
    webhook_settings.ROOT_URLCONF = settings_webhooks.ROOT_URLCONF
    webhook_settings.MIDDLEWARE = settings_webhooks.MIDDLEWARE
    return webhook_settings


def test_a_signed_callback_is_applied_with_the_request_id_and_security_headers(client, delivery):
    response = callback(client, delivery.pk, "delivered")
    assert response.status_code == 200
    assert response["X-Request-ID"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response  # no session, no CSRF cookie, no language cookie
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_forged_callback_is_refused(client, delivery):
    assert callback(client, delivery.pk, "delivered", token="not-the-auth-token").status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


@pytest.mark.parametrize("path", ["/", "/admin/", "/api/v1/events", "/metrics", "/dev/utkorg/"])
def test_the_pages_and_the_api_are_not_served_there(client, path):
    assert client.get(path).status_code == 404


def test_the_health_endpoints_answer_there(client):
    for path in ("/livez", "/readyz", "/healthz"):
        assert client.get(path).status_code == 200, path


def test_it_runs_only_the_http_metrics_request_id_trusted_proxy_and_security_middleware():
    # TrustedProxyMiddleware: here too only the proxy may say a request came over HTTPS (issue 19).
    assert settings_webhooks.MIDDLEWARE == [
        "bevaka.http_metrics.HttpMetricsMiddleware",
        "bevaka.observability.RequestIdMiddleware",
        "bevaka.http.TrustedProxyMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]


def test_its_routes_are_the_webs_own_at_the_same_paths():
    web = {
        p.pattern.name: (str(p.pattern), p.callback) for p in get_resolver("bevaka.urls").url_patterns if p.pattern.name
    }
    web.update({p.pattern.name: (str(p.pattern), p.callback) for p in get_resolver("notifications.urls").url_patterns})
    for route in get_resolver(settings_webhooks.ROOT_URLCONF).url_patterns:
        assert web[route.name] == (str(route.pattern), route.callback)


# In a process of its own: SMS deliveries in status sending to +46701234560, +46701234561, … (with these
# provider ids; the output holds no number: the suite keeps personal data out of it), then these signed
# callbacks (row, status, error code) through the WSGI application of the process's settings.
_CALLBACKS_SCRIPT = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator
from notifications.models import Delivery

spec = json.loads(sys.argv[1])
rows = [
    Delivery.objects.create(channel="sms", destination="+4670123456%d" % n, purpose="alert", body="x",
                            status="sending", provider_id=sid, attempts=1)
    for n, sid in enumerate(spec["provider_ids"])
]
client, answers = Client(), []
for index, status, code in spec["calls"]:
    row = rows[index]
    path = "/webhooks/twilio/status/%d" % row.pk
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": row.provider_id or "SM%d" % row.pk,
              "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    signature = RequestValidator("process-token").compute_signature("http://testserver" + path, params)
    answers.append(client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code)
for row in rows:
    row.refresh_from_db()
connection.ensure_connection()
print(json.dumps({
    "vendor": connection.vendor,
    "answers": answers,
    "prepare_threshold": getattr(connection.connection, "prepare_threshold", None),
    "cursor": type(connection.connection.cursor()).__name__,
    "rows": [[row.status, row.provider_id, row.delivered_at is not None, row.error_code] for row in rows],
}))
"""


def _callbacks_in_a_process(env: dict, provider_ids: list[str], calls: list[tuple[int, str, str]]) -> dict:
    env = {
        **env,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "TWILIO_AUTH_TOKEN": "process-token",
        "PUBLIC_BASE_URL": "http://testserver",
        "LOG_LEVEL": "WARNING",
    }
    spec = json.dumps({"provider_ids": provider_ids, "calls": calls})
    result = run_command([sys.executable, "-c", _CALLBACKS_SCRIPT, spec], env=env, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_a_webhooks_process_applies_callbacks_with_server_side_binding():
    """In a process of its own on these settings (server-side binding, statements prepared), both paths of
    a callback work: the conditional UPDATEs of queued/sent/delivered, and the locked ORM path of a failure
    that suspends the number."""
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_webhooks",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": "webhooks-test-only",
        "DEBUG": "false",
    }
    calls = [(0, "queued", ""), (0, "sent", ""), (0, "delivered", ""), (1, "queued", ""), (1, "undelivered", "30006")]
    report = _callbacks_in_a_process(env, ["SM0" + "c" * 31, "SM1" + "c" * 31], calls)
    assert report["answers"] == [200] * 5
    assert report["prepare_threshold"] == 0 and report["cursor"] != "ClientCursor"
    (status, _, delivered, _), (failed, _, _, code) = report["rows"]
    assert status == DeliveryStatus.DELIVERED and delivered
    assert failed == DeliveryStatus.FAILED and code == "30006"
    assert SuspendedDestination.objects.filter(channel="sms", destination="+46701234561").exists()


@pytest.mark.parametrize("settings_module", ["bevaka.settings", "bevaka.settings_webhooks"])
def test_callbacks_are_applied_on_the_embedded_database_of_make_run(embedded_env, settings_module):
    """`make run` keeps its data in SQLite, where the callback's statements must run as well."""
    env = {**embedded_env, "DJANGO_SETTINGS_MODULE": settings_module}
    migrated = run_command([*MANAGE, "migrate", "--noinput"], env=env)
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    calls = [(0, "queued", ""), (0, "sent", ""), (0, "delivered", ""), (0, "sent", ""), (1, "undelivered", "30006")]
    report = _callbacks_in_a_process(env, ["", ""], calls)
    assert report["vendor"] == "sqlite"
    assert report["answers"] == [200] * 5
    first, second = report["rows"]
    assert first[0] == "delivered" and first[1].startswith("SM") and first[2]  # a late "sent" did not undo it
    assert second[0] == "failed"
