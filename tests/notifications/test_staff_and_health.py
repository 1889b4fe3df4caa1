"""The admin for deliveries (support reads, operations retries) and the dev outbox (tests/ops/test_health.py:
the health endpoints)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from companies.staff import OPERATIONS_GROUP, SUPPORT_GROUP
from notifications.models import Delivery, DeliveryStatus
from tests.factories import CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff(group_name: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def failed_delivery():
    return Delivery.objects.create(
        channel="sms",
        destination="+46701234567",
        purpose="alert",
        body="Nytt ärende",
        company=CompanyFactory(),
        status=DeliveryStatus.FAILED,
        attempts=6,
        last_error="transient: gave up",
    )


def test_support_sees_deliveries_with_masked_destinations_and_cannot_retry(client, failed_delivery):
    client.force_login(staff(SUPPORT_GROUP))
    page = client.get(reverse("admin:notifications_delivery_changelist"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "+46 70*** **67" in content
    assert "+46701234567" not in content
    assert "retry_failed" not in content


def test_the_admin_filters_by_status_channel_and_company(client, failed_delivery):
    client.force_login(staff(SUPPORT_GROUP))
    url = reverse("admin:notifications_delivery_changelist")
    page = client.get(
        url,
        {
            "status__exact": "failed",
            "channel__exact": "sms",
            "company__id__exact": failed_delivery.company_id,
        },
    )
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert client.get(url, {"status__exact": "delivered"}).context["cl"].result_count == 0


def test_operations_retries_failed_deliveries(client, failed_delivery, django_capture_on_commit_callbacks):
    client.force_login(staff(OPERATIONS_GROUP))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("admin:notifications_delivery_changelist"),
            {"action": "retry_failed", "_selected_action": [failed_delivery.pk]},
        )
    assert response.status_code == 302
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.QUEUED
    assert failed_delivery.attempts == 0


def test_support_cannot_post_the_retry_action(client, failed_delivery):
    client.force_login(staff(SUPPORT_GROUP))
    client.post(
        reverse("admin:notifications_delivery_changelist"),
        {"action": "retry_failed", "_selected_action": [failed_delivery.pk]},
    )
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.FAILED


def test_the_admin_never_shows_a_verification_code(client):
    delivery = Delivery.objects.create(
        channel="sms",
        destination="+46701234567",
        purpose="verification",
        body="Din kod är 481516.",
    )
    client.force_login(staff(SUPPORT_GROUP))
    page = client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert "481516" not in page.content.decode()


def test_the_dev_outbox_exists_only_in_debug(client, settings):
    settings.DEBUG = False
    assert client.get(reverse("dev-outbox")).status_code == 404


def test_the_dev_outbox_lists_mail_sent_with_the_outbox_backend(client, settings, tmp_path):
    from notifications.channels.email import EmailChannel

    settings.DEBUG = True
    settings.EMAIL_BACKEND = "notifications.mail.OutboxBackend"
    settings.NOTIFICATIONS_OUTBOX_DIR = str(tmp_path)
    delivery = Delivery.objects.create(
        channel="email",
        destination="anna@example.se",
        purpose="alert",
        subject="Nytt ärende hos Exempelbolaget",
        body="Logga in i banken för att läsa det.",
    )
    EmailChannel().send(delivery)
    page = client.get(reverse("dev-outbox"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Nytt ärende hos Exempelbolaget" in content
    assert "Logga in i banken för att läsa det." in content
