"""Real parts for the notification tests: the fake Twilio server (a process), an SMTP sink (aiosmtpd in a
thread), and for the pipeline a Celery worker and beat (processes) on Redis and the PostgreSQL test database.
"""

import json
import os
import time
import urllib.request

import pytest

from harness import ProcessGroup, commands, start_process
from notifications.fakes.smtp_sink import SmtpSink

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-twilio-auth-token"
SENDER = "Banken"
PUBLIC = "https://bank.example"  # PUBLIC_BASE_URL of the status-webhook tests: what their signatures cover


@pytest.fixture
def webhook_settings(settings):
    """The settings a signed status callback is checked against."""
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC
    return settings


@pytest.fixture
def delivery(db):
    """An SMS that Twilio accepted (status sent), for status callbacks to move on."""
    from notifications.models import Delivery, DeliveryStatus

    return Delivery.objects.create(
        channel="sms",
        destination="+46701234567",
        purpose="alert",
        body="x",
        status=DeliveryStatus.SENT,
        provider_id="SM" + "a" * 32,
        attempts=1,
    )


def callback(client, delivery_id, status, *, sid="SM" + "a" * 32, token=AUTH_TOKEN, error_code=None, **extra):
    """POST a status callback for the delivery as Twilio does, signed with ``token`` for PUBLIC's URL."""
    from django.urls import reverse
    from twilio.request_validator import RequestValidator

    path = reverse("twilio-status-callback", kwargs={"delivery_id": delivery_id})
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, "To": "+46701234567"}
    if error_code:
        params["ErrorCode"] = error_code
    params.update(extra)
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


class FakeTwilio:
    """The running fake Twilio process, with its control endpoints."""

    def __init__(self, process) -> None:
        self.process = process
        self.url = process.url

    def _post(self, path: str, payload) -> object:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._post("/_fake/reset", {})
        self._post("/_fake/config", {"rate_limit": 0, "latency_ms": 0, "callback_delay_ms": 20})

    def fault(self, mode: str, **options) -> None:
        self._post("/_fake/faults", {"mode": mode, **options})

    def configure(self, **options) -> None:
        self._post("/_fake/config", options)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_fake/stats", timeout=5) as response:
            return json.loads(response.read())

    def messages(self) -> list[dict]:
        request = urllib.request.Request(self.url + "/_fake/messages", headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())


def start_fake_twilio() -> "FakeTwilio":
    """A fake Twilio process on a free port, with the test credentials."""
    process = start_process(
        commands.fake_twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, callback_delay_ms=20),
        ready=commands.FAKE_TWILIO_READY,
    )
    return FakeTwilio(process)


@pytest.fixture(scope="session")
def fake_twilio_server():
    server = start_fake_twilio()
    yield server
    server.process.stop()


@pytest.fixture
def fake_twilio(fake_twilio_server):
    fake_twilio_server.reset()
    return fake_twilio_server


@pytest.fixture(scope="session")
def smtp_sink_server():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_server):
    smtp_sink_server.reset()
    return smtp_sink_server


def notification_settings(*, fake_url: str, sink_port: int, public_base_url: str) -> dict[str, object]:
    """Settings for sending through the fakes with short clocks (for the test process and the workers)."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": SENDER,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_API_BASE_URL": fake_url,
        "TWILIO_TIMEOUT": 1.0,
        "PUBLIC_BASE_URL": public_base_url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": sink_port,
        "EMAIL_TIMEOUT": 2.0,
        "NOTIFICATIONS_RETRY_BASE_SECONDS": 0.2,
        "NOTIFICATIONS_RETRY_MAX_SECONDS": 1.0,
        "NOTIFICATIONS_SENDING_TIMEOUT": 4.0,
        "NOTIFICATIONS_AMBIGUOUS_WAIT_SECONDS": 1.5,
        "NOTIFICATIONS_RELAY_INTERVAL": 0.3,
        "NOTIFICATIONS_RELAY_LEASE_SECONDS": 3.0,
    }


@pytest.fixture
def send_settings(settings, fake_twilio, smtp_sink):
    """The test process sends through the fake Twilio server and the SMTP sink (callbacks go nowhere)."""
    for key, value in notification_settings(
        fake_url=fake_twilio.url, sink_port=smtp_sink.port, public_base_url="http://127.0.0.1:9"
    ).items():
        setattr(settings, key, value)
    return settings


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached in {timeout}s (last: {value!r})")
        time.sleep(interval)


@pytest.fixture(scope="module")
def pipeline(django_db_setup, django_db_blocker, live_server, fake_twilio_server, smtp_sink_server, tmp_path_factory):
    # Module-scoped, like the events tests' pipeline: its beat relays every queued row of the test database
    # and its worker takes every task on the shared Redis queue, so it must not outlive the module that
    # needs it (other tests' rows would be relayed under them, the other pipeline's tasks taken).
    """A Celery worker (prefork, 2 children) and beat on Redis and the test database, sending through the
    fake Twilio server and the SMTP sink; Twilio's callbacks reach the live server."""
    from django.db import connection

    from bevaka.celery import app

    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    values = notification_settings(
        fake_url=fake_twilio_server.url, sink_port=smtp_sink_server.port, public_base_url=live_server.url
    )
    db = connection.settings_dict
    env = {
        **os.environ,
        **{key: str(value) for key, value in values.items()},
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "SMS_RATE_PER_SECOND": "40",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path_factory.mktemp("beat") / "schedule"),
    }
    app.control.purge()  # leftovers of an earlier run in our own Redis db
    processes = ProcessGroup(env=env)
    worker = processes.worker(name=f"notify-{os.getpid()}", concurrency=2, wait=False)
    beat = processes.beat(wait=False)
    processes.wait_ready()
    yield type("Pipeline", (), {"worker": worker, "beat": beat, "env": env, "settings": values})
    processes.close()
