"""The peer of issue 21: the pipeline a Django team would write first, to measure ours against.

One Celery task per alert: it loads its row, sends it with the twilio client or Django's mail API
(``send_mail``: a new SMTP connection per message), and saves the outcome; Celery's own retry
(``autoretry_for``, ``retry_backoff``) handles a failed send. Registered only in the bench's peer worker
(``--include bench.peer``, its own queue ``bench-peer``): never in the product's workers.

The peer gets our fan-out (``events.fanout.fan_out_events``: one INSERT … SELECT) with its sends published
as one task per alert instead of our batches: the comparison is about the send path only, and a first
design's fan-out (a row and a ``delay()`` per recipient in a loop) would only make the peer slower.
"""

from __future__ import annotations

import smtplib
from unittest import mock

import requests
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

QUEUE = "bench-peer"  # bench.run.PEER_QUEUE
_client = None


def _twilio() -> Client:
    """One twilio client per worker process (prefork: one task at a time per process)."""
    global _client
    if _client is None:
        from notifications.channels.sms import BaseUrlHttpClient  # only what points the client at the fake

        _client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=BaseUrlHttpClient(settings.TWILIO_API_BASE_URL, timeout=settings.TWILIO_TIMEOUT),
        )
    return _client


@shared_task(
    name="bench.peer.send_alert",
    ignore_result=True,
    autoretry_for=(TwilioRestException, requests.RequestException, smtplib.SMTPException, OSError),
    retry_backoff=True,
    max_retries=5,
)
def send_alert(delivery_id: int) -> None:
    from notifications.models import Delivery

    delivery = Delivery.objects.get(pk=delivery_id)
    if delivery.status != "queued":
        return
    if delivery.channel == "sms":
        from django.urls import reverse

        message = _twilio().messages.create(
            to=delivery.destination,
            from_=settings.TWILIO_FROM,
            body=delivery.body,
            status_callback=settings.PUBLIC_BASE_URL.rstrip("/")
            + reverse("twilio-status-callback", kwargs={"delivery_id": delivery.pk}),
        )
        delivery.provider_id = message.sid
    else:
        send_mail(
            delivery.subject,
            delivery.body,
            settings.DEFAULT_FROM_EMAIL,
            [delivery.destination],
            html_message=delivery.html_body or None,
        )
    delivery.status = "sent"
    delivery.attempts += 1
    delivery.sent_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "sent_at", "provider_id", "updated_at"])


def _publish_one_task_each(deliveries) -> None:
    """``publish_sends``'s stand-in: ids (before issue 21) or ``(id, purpose, channel)`` (with lanes)."""
    for item in deliveries:
        delivery_id = item[0] if isinstance(item, tuple | list) else item
        send_alert.apply_async(args=[delivery_id], queue=QUEUE)


@shared_task(name="bench.peer.fan_out", ignore_result=True)
def fan_out(event_id: int) -> None:
    from events import fanout

    with mock.patch.object(fanout, "publish_sends", _publish_one_task_each):
        fanout.fan_out_events(event_ids=[event_id])
