"""The alert pipeline on `make run`'s embedded defaults (SQLite, kombu's filesystem broker): events recorded
through the one storage path, fanned out by a real worker, sent to the fake Twilio server, and stored with
the times they happened at — so *Skickade aviseringar* shows them (issue 18: they were stored as sent on
3 February 1901)."""

import json
import signal
import time
import urllib.request

import pytest

from harness import MANAGE, celery_worker, free_port, run_command, worker_ready

pytestmark = pytest.mark.slow

SETUP = """
from django.utils import timezone
from agreements.models import Agreement, CaseType
from companies import demo
from companies.models import Company, User
from subscriptions.models import VerifiedContact, Watch

company = Company.objects.get(org_number=demo.EXEMPELBOLAGET)
agreement = Agreement.objects.create(company=company)
agreement.case_types.set(CaseType.objects.filter(code__in=["e_invoice", "rejected_payment"]))
for personnummer, number in [("197804129802", "+46701111111"), ("196509239833", "+46702222222")]:
    user = User.objects.get(personnummer=personnummer)
    VerifiedContact.objects.create(user=user, channel="sms", destination=number, verified_at=timezone.now())
    Watch.objects.create(user=user, company=company, case_type=CaseType.objects.get(code="e_invoice"), by_sms=True)
"""

RECORD = """
import json
from events.models import SourceSystem
from events.services import clean_events, record_events

source, _ = SourceSystem.objects.get_or_create(name="embedded-test")
items = [
    {"id": "inv-1", "type": "e_invoice", "company": "5599990107", "occurred_at": "2026-12-04T09:15:00+01:00"},
    {"id": "pay-1", "type": "rejected_payment", "company": "5599990107", "occurred_at": "2026-12-04T09:16:00Z"},
]
first = record_events(source=source, events=clean_events(items, batch=True))
again = record_events(source=source, events=clean_events(items[:1], batch=False))
print(json.dumps([[r.status, str(r.uuid)] for r in [*first, *again]]))
"""

CHECK = """
import datetime, json
from django.utils import timezone
from companies import demo
from companies.models import Company, User
from events.models import Event, FanoutDecision
from events.selectors import explain_event
from notifications.models import Delivery
from subscriptions.selectors import alert_history

now = timezone.now()
event = Event.objects.get(external_id="inv-1")
company = Company.objects.get(org_number=demo.EXEMPELBOLAGET)
anna = User.objects.get(personnummer="197804129802")
print(json.dumps({
    "occurred_at": event.occurred_at.isoformat(),
    "uuid": str(event.uuid),
    "deliveries": sorted(
        [d.status, abs((now - d.created_at).total_seconds()) < 300, abs((now - d.sent_at).total_seconds()) < 300]
        for d in Delivery.objects.filter(event=event)
    ),
    "history": [row.subject for row in alert_history(user=anna, company=company, page=1).object_list],
    "got_it": sorted(e.membership.user.first_name for e in explain_event(event) if e.got_it),
    "decided": FanoutDecision.objects.filter(event=event).count(),
}))
"""


def _json(result):
    assert result.returncode == 0, result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_events_become_alerts_stored_at_the_right_time_on_sqlite(embedded_env, project_process):
    port = free_port()
    env = {**embedded_env, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}"}
    assert run_command([*MANAGE, "migrate", "--noinput"], env=env).returncode == 0
    assert run_command([*MANAGE, "seed_demo"], env=env).returncode == 0
    assert run_command([*MANAGE, "shell", "-c", SETUP], env=env).returncode == 0
    project_process([*MANAGE, "fake_twilio", "--port", str(port)], env=env, ready=r"fake_twilio listening on")
    project_process(
        celery_worker(name="embedded-pipeline", pool="solo"),
        env=env,
        ready=worker_ready("embedded-pipeline"),
        timeout=60,
        stop_signal=signal.SIGKILL,  # the test is over: even a cold shutdown waits out a 4 s file-broker poll
    )
    recorded = _json(run_command([*MANAGE, "shell", "-c", RECORD], env=env))
    assert [status for status, _uuid in recorded] == ["accepted", "accepted", "duplicate"]
    assert recorded[0][1] == recorded[2][1]  # the duplicate names the stored event

    deadline = time.monotonic() + 30
    messages = []
    while time.monotonic() < deadline and len(messages) < 2:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_fake/messages", headers={"Accept": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            messages = json.loads(response.read())
        time.sleep(0.2)
    assert sorted(m["to"] for m in messages) == ["+46701111111", "+46702222222"]

    state = _json(run_command([*MANAGE, "shell", "-c", CHECK], env=env))
    assert state["uuid"] == recorded[0][1]
    assert state["occurred_at"] == "2026-12-04T08:15:00+00:00"
    assert [[status in {"sent", "delivered"}, created, sent] for status, created, sent in state["deliveries"]] == [
        [True, True, True],
        [True, True, True],
    ]
    assert state["history"] == ["Inkommen e-faktura"]
    assert state["got_it"] == ["Anna", "Bertil"]
    assert state["decided"] > 0  # the fan-out recorded why the other members missed it, on SQLite too
