"""The events tests' world and real parts.

The fake Twilio server and the SMTP sink are the notifications tests' fixtures, imported. The worker and
beat are started here, per package rather than per session: two workers on the same Redis database would
take each other's tasks and send through each other's fakes, so ours must be gone before the
notifications tests start theirs.
"""

import json
import logging
import os
import time

import pytest
from django.utils import timezone

from agreements import services as agreement_services
from events.models import SourceSystem
from events.services import create_source_key, sign
from harness import ProcessGroup
from subscriptions import services as subscription_services
from subscriptions.models import VerifiedContact
from tests.agreements.conftest import make_evidence
from tests.notifications import conftest as notifications_conftest
from tests.notifications.conftest import notification_settings, wait_for  # noqa: F401 - wait_for for the tests

# The notifications tests' fixtures, reused (not redefined): the fake Twilio server, the SMTP sink, and the
# settings for sending through them from this process.


@pytest.fixture(scope="package")
def fake_twilio_server():
    """The events tests' own fake Twilio: the 1,000-recipient test leaves thousands of status callbacks in
    flight in it, which would slow the sends of the tests that run after this package."""
    server = notifications_conftest.start_fake_twilio()
    yield server
    server.process.stop()


fake_twilio = notifications_conftest.fake_twilio


@pytest.fixture(scope="package")
def smtp_sink_server():
    """The events tests' own SMTP sink, for the same reason as their own fake Twilio."""
    from notifications.fakes.smtp_sink import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


smtp_sink = notifications_conftest.smtp_sink
send_settings = notifications_conftest.send_settings

ALL = ["e_invoice", "personal_message", "rejected_payment"]


def connect(company, signer, codes, internet_bank="corporate"):
    """Connect ``company`` with these case types, signed by ``signer`` (a signatory alone)."""
    proposal = agreement_services.propose_connect(
        company=company, signer=signer, case_type_codes=codes, internet_bank=internet_bank
    )
    return agreement_services.apply_signed_proposal(
        proposal=proposal, signer=signer, evidence=make_evidence(signer, proposal.content)
    ).version.agreement


def change(company, signer, codes):
    proposal = agreement_services.propose_change(company=company, signer=signer, case_type_codes=codes)
    agreement_services.apply_signed_proposal(
        proposal=proposal, signer=signer, evidence=make_evidence(signer, proposal.content)
    )


def verify(user, channel, destination=None):
    destination = destination or (user.mobile_number if channel == "sms" else user.email)
    VerifiedContact.objects.update_or_create(
        user=user, channel=channel, defaults={"destination": destination, "verified_at": timezone.now()}
    )


def watch(user, company, selections: dict[str, set[str]]):
    """Verify the channels used and save the watches through Mina bevakningar's service."""
    for channel in {c for channels in selections.values() for c in channels}:
        if not VerifiedContact.objects.filter(user=user, channel=channel).exists():
            verify(user, channel)
    subscription_services.save_watches(user=user, company=company, selections=selections)


class Source:
    """A source system with one key, and a signer of requests to the API."""

    def __init__(self, name: str = "core-banking") -> None:
        self.system = SourceSystem.objects.create(name=name)
        self.key, self.secret = create_source_key(source=self.system, label="test")

    def headers(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        return {
            "X-Bevaka-Source": self.system.name,
            "X-Bevaka-Timestamp": str(timestamp),
            "X-Bevaka-Signature": sign(secret=secret or self.secret, timestamp=timestamp, body=body),
        }

    def post(self, client, path: str, payload, **options):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in self.headers(body, **options).items()}
        return client.post(path, data=body, content_type="application/json", **headers)


@pytest.fixture
def source(db):
    return Source()


def event(source_id: str = "ev-1", *, type: str = "e_invoice", company: str = "5599990107", **extra) -> dict:
    return {"id": source_id, "type": type, "company": company, "occurred_at": "2026-03-02T09:15:00+01:00", **extra}


EVENT_SETTINGS = {
    "EVENTS_FANOUT_LEASE_SECONDS": 1.0,
    "EVENTS_FANOUT_RELAY_INTERVAL": 0.3,
    "SMS_RATE_PER_SECOND": 0,
    "EMAIL_RATE_PER_SECOND": 0,
    # The SMTP sink shares this test process with polling: give it time rather than make sends ambiguous.
    "EMAIL_TIMEOUT": 10.0,
    # Several test runs may share this machine's two cores: a slow send is not a lost one.
    "NOTIFICATIONS_SENDING_TIMEOUT": 15.0,
    "NOTIFICATIONS_MAX_ATTEMPTS": 10,
}


class Pipeline:
    """A Celery worker and beat on Redis and the test database, sending through the fakes."""

    def __init__(self, env: dict[str, str], settings: dict[str, object]) -> None:
        self.env = env
        self.settings = settings
        self.processes = ProcessGroup(env=env)
        self.worker = None
        self.beat = None
        self.workers_started = 0

    def start_worker(self, *, wait: bool = True):
        self.workers_started += 1
        name = f"events-{os.getpid()}-{self.workers_started}"
        self.worker = self.processes.worker(name=name, concurrency=2, heartbeat=False, wait=wait)
        return self.worker

    def stop(self) -> None:
        self.processes.close()


@pytest.fixture(scope="module")
def events_pipeline(django_db_setup, django_db_blocker, fake_twilio_server, smtp_sink_server, tmp_path_factory):
    from django.db import connection

    from bevaka.celery import app

    with django_db_blocker.unblock():
        db = connection.settings_dict
    # Twilio's status callbacks go nowhere (a closed port): a thousand of them would hammer the live server
    # in this process long after a test, starving the SMTP sinks that live here too. The callbacks are
    # proven in tests/notifications/test_pipeline.py; here deliveries end "sent".
    values = notification_settings(
        fake_url=fake_twilio_server.url, sink_port=smtp_sink_server.port, public_base_url="http://127.0.0.1:9"
    )
    env = {
        **os.environ,
        **{key: str(value) for key, value in {**values, **EVENT_SETTINGS}.items()},
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path_factory.mktemp("events-beat") / "schedule"),
    }
    app.control.purge()  # leftovers of an earlier run in our own Redis db
    pipeline = Pipeline(env, values)
    try:
        pipeline.start_worker(wait=False)
        pipeline.beat = pipeline.processes.beat(wait=False)
        pipeline.processes.wait_ready()
        yield pipeline
    finally:
        pipeline.stop()
        # The SIGKILLed worker's unacknowledged messages would otherwise come back to the next tests' worker.
        from notifications.ratelimit import redis_connection

        app.control.purge()
        redis_connection().delete("unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def live(events_pipeline, settings, fake_twilio, smtp_sink):
    """The test process agrees with the worker."""
    for key, value in events_pipeline.settings.items():
        setattr(settings, key, value)
    from notifications.ratelimit import redis_connection

    redis_connection().delete("bevaka:ratelimit:sms", "bevaka:ratelimit:email")
    # aiosmtpd logs every SMTP line at INFO; hundreds of messages would spend this process on log records.
    mail_log = logging.getLogger("mail.log")
    level = mail_log.level
    mail_log.setLevel(logging.WARNING)
    yield events_pipeline
    mail_log.setLevel(level)


# Who gets an e-invoice event of Exempelbolaget, and why the others don't: (person, channels, reason).
EXPECTED_E_INVOICE = [
    ("anna", {"sms", "email"}, "unrestricted, watches by both"),
    ("bertil", set(), "his number is suspended (opted out)"),
    ("cecilia", set(), "restricted, permission revoked: watch kept, no access"),
    ("david", {"email"}, "restricted with the permission, English"),
    ("eva", {"email"}, "signs jointly: the mandate does not matter"),
    ("fredrik", set(), "watches by SMS, number no longer verified"),
    ("gustav", set(), "watches in his own company only"),
]


def build_world(demo):
    """The demo world with agreements, permissions, watches, contacts and a suspension (EXPECTED_E_INVOICE).

    Exempelbolaget's agreement includes e_invoice and personal_message (rejected_payment was removed after
    Anna watched it); Svenssons Bygg's includes e_invoice, watched by Gustav by SMS.
    """
    from notifications.services import suspend_destination

    company = demo.exempelbolaget
    connect(company, demo.anna, ALL)
    watch(demo.anna, company, {"e_invoice": {"sms", "email"}, "rejected_payment": {"sms"}})
    change(company, demo.anna, ["e_invoice", "personal_message"])
    watch(demo.bertil, company, {"e_invoice": {"sms"}})
    suspend_destination(channel="sms", destination=demo.bertil.mobile_number, reason="opted_out", error_code="21610")
    for person in (demo.cecilia, demo.david):
        agreement_services.grant_case_watch_permission(company=company, admin=demo.anna, user_id=person.pk)
    watch(demo.cecilia, company, {"e_invoice": {"email"}})
    agreement_services.revoke_case_watch_permission(company=company, admin=demo.anna, user_id=demo.cecilia.pk)
    demo.david.alert_language = "en"
    demo.david.save(update_fields=["alert_language"])
    watch(demo.david, company, {"e_invoice": {"email"}})
    watch(demo.eva, company, {"e_invoice": {"email"}, "personal_message": {"sms"}})
    watch(demo.fredrik, company, {"e_invoice": {"sms"}})
    VerifiedContact.objects.filter(user=demo.fredrik, channel="sms").delete()
    connect(demo.svenssons, demo.gustav, ["e_invoice"], internet_bank="corporate")
    watch(demo.gustav, demo.svenssons, {"e_invoice": {"sms"}})
    return demo


@pytest.fixture
def world(demo):
    return build_world(demo)


@pytest.fixture
def published_fan_outs(monkeypatch):
    """Fan-out tasks published after commit, captured instead of sent (test_pipeline sends them): a single
    event's coalesced fan-out as "pending" (events/coalesce.py; none is pending at the start)."""
    from django.conf import settings

    from events import tasks
    from events.coalesce import FLAG
    from notifications.ratelimit import redis_connection

    if settings.REDIS_URL:
        redis_connection().delete(FLAG)
    published: list = []
    monkeypatch.setattr(tasks.fan_out, "delay", lambda **kw: published.append(kw))
    monkeypatch.setattr(tasks.fan_out_pending, "delay", lambda **kw: published.append("pending"))
    return published
