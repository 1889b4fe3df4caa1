"""Twilio's status webhook and the development outbox (the health endpoints: bevaka/health.py)."""

import email
import email.policy
import logging
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator

from bevaka.db import skip_connection_health_check

from .services import record_sms_status

log = logging.getLogger(__name__)


@csrf_exempt  # Twilio cannot send our CSRF token; the request is authenticated by its signature instead
@require_POST
def twilio_status_callback(request, delivery_id: int):
    """Apply Twilio's status for our delivery; 403 without a valid X-Twilio-Signature, else always 200.

    The signature is checked against the URL we gave Twilio (PUBLIC_BASE_URL + path), which is also what
    Twilio saw behind a TLS proxy.
    """
    skip_connection_health_check()
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.TWILIO_AUTH_TOKEN or not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, request.POST, signature
    ):
        log.warning("Twilio status callback for delivery %s refused: bad signature", delivery_id)
        return HttpResponseForbidden("invalid signature")
    record_sms_status(
        delivery_id=delivery_id,
        message_sid=request.POST.get("MessageSid", ""),
        status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=200)


def _outbox_messages(limit: int = 50) -> list[dict]:
    folder = Path(settings.NOTIFICATIONS_OUTBOX_DIR)
    if not folder.is_dir():
        return []
    messages = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = parsed.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": parsed["To"],
                "subject": parsed["Subject"],
                "date": parsed["Date"],
                "delivery": parsed["X-Bevaka-Delivery"],
                "unsubscribe": parsed["List-Unsubscribe"],
                "text": text.get_content() if text is not None else "",
                "has_html": parsed.get_body(preferencelist=("html",)) is not None,
            }
        )
    return messages


@never_cache
@require_GET
def dev_outbox(request):
    """The development outbox (DEBUG only; 404 otherwise): the newest mail the outbox backend saved."""
    if not settings.DEBUG:
        raise Http404("the dev outbox exists only in development")
    context = {
        "messages_sent": _outbox_messages(),
        "fake_phone_url": settings.TWILIO_API_BASE_URL.rstrip("/") + "/_fake/messages.html",
    }
    return render(request, "notifications/dev_outbox.html", context)
