"""The three consumers of the one eligibility rule agree, for every combination of what decides it:
authority × *Hantera Bevaka ärenden* × the agreement's case types × watch × verified destination ×
suspension, on both channels. The fan-out creates the delivery ⇔ the send path's check lets it go ⇔
"why (not)?" says the user would get it."""

import itertools

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from agreements.models import CaseType
from companies.models import MANAGE_CASE_WATCH_PERM, Authority
from events import fanout
from events.models import Event, SourceSystem
from events.selectors import explain_event
from notifications.models import Delivery, Purpose
from notifications.sending import send_time_stops
from notifications.services import suspend_destination
from subscriptions.models import VerifiedContact, Watch
from tests.factories import AgreementFactory, CompanyFactory, MembershipFactory

pytestmark = pytest.mark.django_db

WOULD_GET_IT = "Skulle få den nu: ändrades efter fördelningen, eller händelsen är inte fördelad än."
AGREEMENTS = ("includes the type", "other types only", "ended")
PERSON = list(
    itertools.product(
        (Authority.UNRESTRICTED, Authority.RESTRICTED),  # authority
        (True, False),  # holds Hantera Bevaka ärenden
        (True, False),  # watches the type by the channel (else by the other channel only)
        (True, False),  # the destination is verified
        (True, False),  # the destination is suspended
        ("sms", "email"),
    )
)


def _company(agreement: str, case_type, other_type):
    company = CompanyFactory()
    status = "ended" if agreement == "ended" else "active"
    AgreementFactory(company=company, status=status).case_types.set(
        [other_type] if agreement == "other types only" else [case_type, other_type]
    )
    people = {}
    for n, (authority, permission, watching, verified, suspended, channel) in enumerate(PERSON):
        user = MembershipFactory(company=company, authority=authority).user
        if permission:
            assign_perm(MANAGE_CASE_WATCH_PERM, user, company)
        by_channel = channel if watching else ("email" if channel == "sms" else "sms")
        Watch.objects.create(
            user=user, company=company, case_type=case_type, by_sms=by_channel == "sms", by_email=by_channel == "email"
        )
        destination = f"+4670{company.pk:03d}{n:04d}" if channel == "sms" else f"person{n}@company{company.pk}.example"
        if verified:
            VerifiedContact.objects.create(
                user=user, channel=channel, destination=destination, verified_at=timezone.now()
            )
        if suspended:
            suspend_destination(channel=channel, destination=destination, reason="invalid")
        people[user.pk] = (channel, destination)
    return company, people


@pytest.mark.parametrize("agreement", AGREEMENTS)
def test_the_fan_out_the_send_time_check_and_why_not_agree_on_every_combination(agreement):
    case_type, other_type = CaseType.objects.get(code="e_invoice"), CaseType.objects.get(code="personal_message")
    company, people = _company(agreement, case_type, other_type)
    source = SourceSystem.objects.create(name="eligibility")
    fanned, checked, explained = (
        Event.objects.create(
            source=source,
            external_id=name,
            case_type=case_type,
            company=company,
            occurred_at=timezone.now(),
            content_sha256="-",
        )
        for name in ("fanned", "checked", "explained")
    )

    fanout.fan_out(event_id=fanned.pk)
    fan_out_says = {(d.user_id, d.channel) for d in Delivery.objects.filter(event=fanned)}

    queued = Delivery.objects.bulk_create(
        Delivery(
            event=checked,
            user_id=user_id,
            company=company,
            channel=channel,
            destination=destination,
            purpose=Purpose.ALERT,
            body="x",
            next_attempt_at=timezone.now(),
        )
        for user_id, (channel, destination) in people.items()
    )
    stops = send_time_stops(queued)
    send_time_says = {(d.user_id, d.channel) for d in queued if d.pk not in stops}

    why_not_says = {
        (row.membership.user_id, row.channel) for row in explain_event(explained) if row.reason == WOULD_GET_IT
    }

    eligible = {
        (user_id, channel)
        for (user_id, (channel, _destination)), (authority, permission, watching, verified, suspended, _channel) in zip(
            people.items(), PERSON, strict=True
        )
        if agreement == "includes the type"
        and (authority == Authority.UNRESTRICTED or permission)
        and watching
        and verified
        and not suspended
    }
    assert fan_out_says == send_time_says == why_not_says == eligible
    assert (len(eligible) > 0) == (agreement == "includes the type")
    assert len(stops) == len(people) - len(send_time_says)
