"""Twilio's status webhook, signed with the twilio library's own RequestValidator as Twilio does."""

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from notifications.models import Delivery, DeliveryStatus, SuspendedDestination

from .conftest import AUTH_TOKEN, PUBLIC, callback

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]


def test_a_signed_callback_marks_the_delivery_delivered(client, delivery):
    response = callback(client, delivery.pk, "delivered")
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.delivered_at is not None
    assert delivery.provider_status == "delivered"


def test_a_forged_callback_gets_403_and_changes_nothing(client, delivery):
    response = callback(client, delivery.pk, "failed", token="not-the-auth-token")
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_callback_without_a_signature_gets_403(client, delivery):
    path = reverse("twilio-status-callback", kwargs={"delivery_id": delivery.pk})
    assert client.post(path, {"MessageSid": delivery.provider_id, "MessageStatus": "failed"}).status_code == 403


def test_a_signature_for_another_delivery_does_not_fit(client, delivery):
    path = reverse("twilio-status-callback", kwargs={"delivery_id": delivery.pk})
    params = {"MessageSid": delivery.provider_id, "MessageStatus": "failed"}
    other = PUBLIC + reverse("twilio-status-callback", kwargs={"delivery_id": delivery.pk + 1})
    signature = RequestValidator(AUTH_TOKEN).compute_signature(other, params)
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403


def test_an_out_of_order_callback_does_not_move_the_delivery_back(client, delivery):
    callback(client, delivery.pk, "delivered")
    assert callback(client, delivery.pk, "sent").status_code == 200
    assert callback(client, delivery.pk, "queued").status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_status == "delivered"


def test_the_same_callback_twice_is_harmless(client, delivery):
    callback(client, delivery.pk, "delivered")
    first = Delivery.objects.get(pk=delivery.pk).delivered_at
    callback(client, delivery.pk, "delivered")
    assert Delivery.objects.get(pk=delivery.pk).delivered_at == first


def test_an_unknown_delivery_gets_200(client):
    assert callback(client, 999_999, "delivered").status_code == 200


def test_a_callback_for_another_message_changes_nothing(client, delivery):
    callback(client, delivery.pk, "failed", sid="SM" + "b" * 32, error_code="30003")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_an_undelivered_callback_fails_the_delivery_with_the_code(client, delivery):
    callback(client, delivery.pk, "undelivered", error_code="30003")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "30003"
    assert not SuspendedDestination.objects.exists()


def test_a_landline_callback_suspends_the_number(client, delivery):
    callback(client, delivery.pk, "undelivered", error_code="30006")
    assert SuspendedDestination.objects.get(destination="+46701234567").reason == "not_mobile"


def test_a_first_callback_after_an_ambiguous_send_records_the_message_and_stops_a_resend(client, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.QUEUED, provider_id="")
    callback(client, delivery.pk, "queued")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING  # no longer queued for a resend
    assert delivery.provider_id == "SM" + "a" * 32


def test_it_refuses_get(client, delivery):
    path = reverse("twilio-status-callback", kwargs={"delivery_id": delivery.pk})
    assert client.get(path).status_code == 405


def test_a_callback_takes_a_bounded_number_of_queries(client, delivery, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        callback(client, delivery.pk, "delivered")


def test_sent_and_delivered_cost_one_statement_each(client, delivery, django_assert_num_queries):
    # Three callbacks come for every SMS: the common ones are one conditional UPDATE, no lock, no transaction.
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING, provider_id="", sent_at=None)
    with django_assert_num_queries(1):
        callback(client, delivery.pk, "sent")
    with django_assert_num_queries(1):
        callback(client, delivery.pk, "delivered")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_id == "SM" + "a" * 32
    assert delivery.sent_at is not None and delivery.delivered_at >= delivery.sent_at


def test_a_queued_callback_before_our_own_record_stores_the_message_id(client, delivery):
    # The provider's first callback often beats the batch's UPDATE of its answer.
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING, provider_id="")
    callback(client, delivery.pk, "queued")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == (DeliveryStatus.SENDING, "SM" + "a" * 32)
    callback(client, delivery.pk, "queued", sid="SM" + "b" * 32)  # another message's: ignored
    delivery.refresh_from_db()
    assert delivery.provider_id == "SM" + "a" * 32


def test_a_late_sent_after_a_failure_changes_nothing(client, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, error_code="30003")
    callback(client, delivery.pk, "sent")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == (DeliveryStatus.FAILED, "30003")


def test_the_provider_id_index_leaves_out_rows_without_one(delivery):
    """The callbacks' "… AND provider_id = ''" once walked every queued row of a burst through this index
    (PostgreSQL estimated one row for '' from statistics taken before the burst) instead of the primary key."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'delivery_provider_id_idx'")
        [definition] = cursor.fetchone()
    assert "WHERE" in definition and "''" in definition
    Delivery.objects.bulk_create(
        Delivery(channel="sms", destination="+46701234567", purpose="alert", body="x") for _ in range(200)
    )
    plan = Delivery.objects.filter(pk=delivery.pk, channel="sms", provider_id="").explain()
    # Each monthly partition (PostgreSQL, issue 22) has its own copy of both, named after the partition.
    assert "_pkey" in plan and "provider_id_idx" not in plan, plan
