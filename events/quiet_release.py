"""Quiet hours' release: the alerts held until now go out as ONE summary per user, channel and company.

Beat runs ``release_held_alerts`` every ``QUIET_HOURS_RELEASE_INTERVAL``. Each held alert due by the clock
of quiet hours (``bevaka.clock``) is checked against every rule again, as at send time
(``notifications.sending.send_time_stops``: ``eligibility``'s conditions as they are now and the
destination's suspension): one that fails is cancelled with the reason. The rest of a user's alerts on a
channel in a company become one summary (``Purpose.SUMMARY``): counts per case type, nothing of the cases,
"Logga in i internetbanken" — an SMS in one GSM-7 segment where it fits. The held alerts end
``summarised``, linked to their summary, so the history and "why (not)?" say when they were sent.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bevaka import clock
from notifications.gsm import is_gsm7
from notifications.models import Channel, Delivery, DeliveryStatus, Purpose
from notifications.sending import send_time_stops
from notifications.services import queue_delivery
from notifications.sms import gsm7_name

log = logging.getLogger(__name__)

SMS_SEGMENT = 160


def summary_texts(*, language: str, channel: str, company: str, counts: list[tuple[str, int]]) -> dict[str, str]:
    """The summary's subject and body: how many alerts of each case type (name, count) waited, for the
    company; nothing of the cases. An SMS falls back to the total alone when the list does not fit one
    GSM-7 segment."""
    total = sum(n for _name, n in counts)
    with translation.override(language):
        parts = ", ".join(f"{n} {name}" for name, n in counts)
        subject = _("Bevaka ärenden: %(total)d aviseringar under tysta timmar") % {"total": total}
        if channel == Channel.SMS:
            company = gsm7_name(company)
            body = _("Bevaka ärenden %(company)s under tysta timmar: %(parts)s. Logga in i internetbanken.") % {
                "company": company,
                "parts": parts,
            }
            if len(body) > SMS_SEGMENT or not is_gsm7(body):
                body = ngettext(
                    "Bevaka ärenden %(company)s: %(total)d avisering under tysta timmar. Logga in i internetbanken.",
                    "Bevaka ärenden %(company)s: %(total)d aviseringar under tysta timmar. Logga in i internetbanken.",
                    total,
                ) % {"company": company[:40], "total": total}
            return {"subject": subject, "body": body}
        lines = "\n".join(f"- {name}: {n}" for name, n in counts)
        body = _(
            "Under dina tysta timmar kom dessa aviseringar för %(company)s:\n%(lines)s\n\n"
            "Logga in i internetbanken för att se ärendena."
        ) % {"company": company, "lines": lines}
        return {"subject": subject, "body": body + "\n"}


def release_held_alerts(*, limit: int = 2000) -> list[int]:
    """Release the held alerts due by the clock of quiet hours; returns the summaries' delivery ids.

    Rows are taken with ``FOR UPDATE SKIP LOCKED`` (two beats never release the same row) and moved in the
    transaction that queues their summary, so a crash leaves them held for the next run."""
    now = clock.now()
    summaries = []
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=DeliveryStatus.HELD, held_until__lte=now)
            .select_related("event__case_type", "company", "user")
            .order_by("held_until", "pk")[:limit]
        )
        if not due:
            return []
        stops = send_time_stops(due)
        groups: dict[tuple, list[Delivery]] = defaultdict(list)
        for delivery in due:
            stop = stops.get(delivery.pk)
            if stop is not None:
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.CANCELLED,
                    last_error=stop.reason,
                    error_code=stop.error_code,
                    updated_at=now,
                )
                continue
            groups[(delivery.user_id, delivery.channel, delivery.company_id, delivery.destination)].append(delivery)
        for (_user, channel, _company, destination), held in groups.items():
            user, company = held[0].user, held[0].company
            language = getattr(user, "alert_language", "sv") or "sv"
            counts = Counter()
            for delivery in held:
                case_type = delivery.event.case_type
                counts[case_type.name_en if language == "en" else case_type.name_sv] += 1
            texts = summary_texts(
                language=language, channel=channel, company=company.name, counts=sorted(counts.items())
            )
            summary = queue_delivery(
                channel=channel,
                destination=destination,
                purpose=Purpose.SUMMARY,
                subject=texts["subject"],
                body=texts["body"],
                user=user,
                company=company,
            )
            Delivery.objects.filter(pk__in=[d.pk for d in held]).update(
                status=DeliveryStatus.SUMMARISED, summary=summary, updated_at=now
            )
            summaries.append(summary.pk)
    log.info("quiet hours: %d held alerts released in %d summaries", len(due), len(summaries))
    return summaries
