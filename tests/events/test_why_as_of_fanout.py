"""Issue 18, defect 5: "why (not)?" explains a past event as it was decided at its fan-out, not with
today's state; the reasons are recorded by the fan-out itself, in the same transaction."""

import datetime

import pytest
from django.utils import timezone

from agreements import services as agreement_services
from events import fanout
from events.models import FanoutDecision
from events.selectors import explain_event
from notifications.models import SuspendedDestination
from subscriptions.models import Watch
from tests.factories import MembershipFactory

from .conftest import event, verify
from .test_fanout import record

pytestmark = pytest.mark.django_db


def reasons(event_row) -> dict[tuple[str, str], str]:
    return {(row.membership.user.first_name, row.channel): row.reason for row in explain_event(event_row)}


def test_why_not_tells_what_the_fan_out_decided_whatever_changed_since(world, source):
    [row] = record(source, event("why-1"))
    fanout.fan_out(event_id=row.pk)
    row.refresh_from_db()
    at_fan_out = reasons(row)
    assert "Ingen tillgång" in at_fan_out[("Cecilia", "email")]
    assert "Inget verifierat mobilnummer" in at_fan_out[("Fredrik", "sms")]
    assert "spärrad" in at_fan_out[("Bertil", "sms")]
    assert "Bevakar inte" in at_fan_out[("Eva", "sms")]

    # Afterwards, everything that decided it changes the other way.
    company = world.exempelbolaget
    agreement_services.grant_case_watch_permission(company=company, admin=world.anna, user_id=world.cecilia.pk)
    verify(world.fredrik, "sms")
    SuspendedDestination.objects.all().delete()
    Watch.objects.filter(user=world.eva, company=company).update(by_sms=True)
    newcomer = MembershipFactory(company=company).user

    later = reasons(row)
    for key, reason in at_fan_out.items():
        assert later[key] == reason, key
    assert "efter att händelsen fördelades" in later[(newcomer.first_name, "sms")]
    assert not [r for r in later.values() if r.startswith("Skulle få den nu")]


def test_the_fan_out_records_only_the_members_who_missed_it_and_why(world, source):
    [row] = record(source, event("why-2"))
    fanout.fan_out(event_id=row.pk)
    decided = {(d.user.first_name, d.sms_reason, d.email_reason) for d in FanoutDecision.objects.filter(event=row)}
    # Anna got it on both channels: no row. The others missed at least one channel, each for its reason.
    assert ("Cecilia", "has_access", "has_access") in decided
    assert ("Fredrik", "verified", "watching") in decided
    assert ("Bertil", "not_suspended", "watching") in decided
    assert ("David", "watching", "") in decided
    assert not [d for d in decided if d[0] == "Anna"]


def test_retention_removes_the_recorded_reasons_with_the_rest_of_an_old_event(world, source):
    from events.retention import anonymise_old_records

    [row] = record(source, event("why-3"))
    fanout.fan_out(event_id=row.pk)
    assert FanoutDecision.objects.filter(event=row).exists()
    anonymise_old_records(older_than_days=90, now=timezone.now() + datetime.timedelta(days=91))
    assert not FanoutDecision.objects.filter(event=row).exists()
