"""Fallback to e-mail: an SMS alert that could not be delivered goes by e-mail, once.

Beat runs ``fall_back_to_email`` every ``SMS_FALLBACK_INTERVAL``. An SMS alert qualifies when it ended
``failed`` (the provider said *undelivered* or *failed*, or we gave up), or was sent with no final status
within ``SMS_FALLBACK_AFTER`` (by the clock of quiet hours, ``bevaka.clock``) — then its outcome is
ambiguous: it may have arrived, and the e-mail and the history say so. Only when the user has a verified
e-mail address, has not turned the fallback off, and has no e-mail delivery of the same alert (the unique
event+user+channel constraint makes it once, even for two beats at once). The e-mail is an alert of the
same event, ``fallback_of`` the SMS: the send-time check holds it to every rule with the SMS's watch.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from bevaka import clock
from notifications.models import Channel, Delivery, DeliveryStatus, Purpose
from notifications.publishing import publish_sends
from subscriptions.models import AlertPreferences, VerifiedContact

log = logging.getLogger(__name__)

# An SMS older than this is never fallen back for (the scan stays short; an alert a day late is no alert).
_WINDOW = datetime.timedelta(days=1)


def candidates(now: datetime.datetime):
    """The SMS alerts that should go by e-mail now: failed, or sent without a final status in time."""
    cutoff = now - datetime.timedelta(seconds=settings.SMS_FALLBACK_AFTER)
    # The scan's bound is the real clock's, like the rows' own stamps; only "due" is the seam's.
    oldest = timezone.now() - _WINDOW
    emailed = Delivery.objects.filter(event=OuterRef("event"), user=OuterRef("user"), channel=Channel.EMAIL)
    turned_off = AlertPreferences.objects.filter(user=OuterRef("user"), sms_fallback=False)
    has_email = VerifiedContact.objects.filter(user=OuterRef("user"), channel=Channel.EMAIL)
    return (
        Delivery.objects.filter(purpose=Purpose.ALERT, channel=Channel.SMS, event__isnull=False)
        .filter(
            Q(status=DeliveryStatus.FAILED, updated_at__gte=oldest)
            | Q(status=DeliveryStatus.SENT, sent_at__lte=cutoff, sent_at__gte=oldest)
        )
        .exclude(Exists(emailed))
        .exclude(Exists(turned_off))
        .filter(Exists(has_email))
    )


def fallback_texts(*, language: str, company: str, case_type: str, ambiguous: bool) -> dict[str, str]:
    with translation.override(language):
        context = {"company": company, "case_type": case_type, "ambiguous": ambiguous}
        return {
            "subject": case_type,
            "body": render_to_string("events/email/fallback.txt", context).strip() + "\n",
        }


def fall_back_to_email(*, limit: int = 500) -> list[int]:
    """Queue the e-mail of each SMS alert that could not be delivered; returns the new delivery ids."""
    now = clock.now()
    created = []
    for sms in candidates(now).select_related("event__case_type", "company", "user").order_by("pk")[:limit]:
        contact = VerifiedContact.objects.filter(user=sms.user_id, channel=Channel.EMAIL).first()
        if contact is None:
            continue
        ambiguous = sms.status == DeliveryStatus.SENT
        language = sms.user.alert_language or "sv"
        case_type = sms.event.case_type.name_en if language == "en" else sms.event.case_type.name_sv
        texts = fallback_texts(language=language, company=sms.company.name, case_type=case_type, ambiguous=ambiguous)
        try:
            with transaction.atomic():
                email = Delivery.objects.create(
                    event=sms.event,
                    user=sms.user,
                    company=sms.company,
                    channel=Channel.EMAIL,
                    destination=contact.destination.lower(),
                    purpose=Purpose.ALERT,
                    subject=texts["subject"],
                    body=texts["body"],
                    fallback_of=sms,
                    next_attempt_at=now,
                    relayed_at=now,
                )
        except IntegrityError:
            continue  # another run made it first: once
        created.append(email.pk)
        log.info("delivery %s: SMS %s could not be delivered, sent by e-mail", email.pk, sms.pk)
    if created:
        publish_sends([(pk, Purpose.ALERT, Channel.EMAIL) for pk in created])
    return created
