import datetime
import itertools

import pytest
from django.utils import timezone

from agreements.models import CaseType
from events.models import Event, SourceSystem
from notifications.models import Delivery, DeliveryStatus
from tests.factories import CompanyFactory, UserFactory

_numbers = itertools.count(1)


@pytest.fixture
def make_event(db):
    """An event of a company, received ``age`` ago (default: now)."""
    source = SourceSystem.objects.create(name=f"ops-core-{next(_numbers)}")

    def make(*, age=datetime.timedelta(0), reference="faktura 4711", company=None) -> Event:
        return Event.objects.create(
            source=source,
            external_id=f"ev-{next(_numbers)}",
            case_type=CaseType.objects.get(code="e_invoice"),
            company=company or CompanyFactory(),
            occurred_at=timezone.now() - age,
            received_at=timezone.now() - age,
            reference=reference,
            content_sha256="0" * 64,
        )

    return make


@pytest.fixture
def make_delivery(db):
    """A delivery with personal data in every field that can hold it, created ``age`` ago."""

    def make(
        *,
        age=datetime.timedelta(0),
        status=DeliveryStatus.DELIVERED,
        channel="sms",
        purpose="alert",
        event=None,
        destination="+46701234567",
    ) -> Delivery:
        return Delivery.objects.create(
            user=UserFactory(),
            company=event.company if event else None,
            event=event,
            channel=channel,
            destination=destination,
            purpose=purpose,
            subject="Nytt ärende",
            body="Exempelbolaget har fått en e-faktura",
            html_body="<p>Exempelbolaget</p>",
            unsubscribe_url="https://bank.example/avregistrera/abc",
            status=status,
            provider_id="SM" + "1" * 32,
            error_code="30003" if status == DeliveryStatus.FAILED else "",
            last_error="550 anna@example.se: no such user" if status == DeliveryStatus.FAILED else "",
            created_at=timezone.now() - age,
        )

    return make
