"""Issue 18, defect 5: staff find a customer's deliveries by name, personnummer and phone number (shown
masked), and Support and Drift can view watches and verified contacts (read-only)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from companies import demo as demo_world
from companies.models import User
from notifications.models import Delivery
from subscriptions.models import VerifiedContact, Watch

pytestmark = pytest.mark.django_db


def _staff(group: str) -> User:
    member = next(s for s in demo_world.STAFF if s.group == group)
    return User.objects.get(personnummer=member.personnummer)


@pytest.fixture
def deliveries(demo):
    def make(user, destination):
        return Delivery.objects.create(
            user=user,
            company=demo.exempelbolaget,
            channel="sms",
            destination=destination,
            purpose="alert",
            body="alert",
            next_attempt_at=timezone.now(),
        )

    return {"anna": make(demo.anna, demo.anna.mobile_number), "bertil": make(demo.bertil, demo.bertil.mobile_number)}


@pytest.mark.parametrize(
    "term",
    ["Anna Andersson", "andersson", "19880101-2380", "198801012380", "070-174 06 05", "+46701740605"],
)
def test_support_finds_deliveries_by_name_personnummer_and_phone_number(client, demo, deliveries, term):
    if "19880101" in term:
        term = term.replace("19880101-2380", demo.anna.personnummer_display).replace(
            "198801012380", demo.anna.personnummer
        )
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    response = client.get(reverse("admin:notifications_delivery_changelist"), {"q": term})
    assert response.status_code == 200
    assert [d.pk for d in response.context["cl"].result_list] == [deliveries["anna"].pk], term


def test_the_delivery_list_shows_who_with_the_personnummer_masked(client, demo, deliveries):
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    html = client.get(reverse("admin:notifications_delivery_changelist")).content.decode()
    assert "Anna Andersson" in html
    assert f"{demo.anna.personnummer[:8]}-****" in html
    assert demo.anna.personnummer_display not in html and demo.anna.mobile_number not in html


@pytest.mark.parametrize("group", [demo_world.SUPPORT_GROUP, demo_world.OPERATIONS_GROUP])
def test_support_and_drift_view_watches_and_verified_contacts_read_only(client, demo, group):
    contact = VerifiedContact.objects.create(
        user=demo.anna, channel="sms", destination=demo.anna.mobile_number, verified_at=timezone.now()
    )
    Watch.objects.create(user=demo.anna, company=demo.exempelbolaget, case_type_id=1, by_sms=True)
    client.force_login(_staff(group))
    for model in ("watch", "verifiedcontact"):
        assert client.get(reverse(f"admin:subscriptions_{model}_changelist")).status_code == 200, model
    page = client.get(reverse("admin:subscriptions_verifiedcontact_change", args=[contact.pk])).content.decode()
    assert demo.anna.mobile_number not in page and "+46 70*** **05" in page
    assert client.post(reverse("admin:subscriptions_verifiedcontact_change", args=[contact.pk])).status_code == 403
