"""E-mail through Django's mail API: SMTP in production, the dev outbox in `make run`."""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from . import AMBIGUOUS, PERMANENT, TRANSIENT, BaseChannel, ChannelError

if TYPE_CHECKING:
    from notifications.models import Delivery

DELIVERY_HEADER = "X-Bevaka-Delivery"


def build_message(delivery: Delivery, connection=None) -> EmailMultiAlternatives:
    """The e-mail for ``delivery``: plain text, HTML when given, our id in ``X-Bevaka-Delivery``.

    With an unsubscribe URL it carries RFC 8058 one-click ``List-Unsubscribe`` headers (no link in the
    body: the mail client shows the button).
    """
    message_id = f"<delivery-{delivery.pk}-{uuid.uuid4().hex}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
    headers = {
        DELIVERY_HEADER: str(delivery.pk),
        "Message-ID": message_id,
        "Auto-Submitted": "auto-generated",
    }
    if delivery.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{delivery.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=delivery.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.destination],
        headers=headers,
        connection=connection,
    )
    if delivery.html_body:
        message.attach_alternative(delivery.html_body, "text/html")
    return message


def _smtp_code_error(code: int, what: str, *, suspend: bool) -> ChannelError:
    if 400 <= code < 500:
        return ChannelError(f"SMTP {code} at {what}", kind=TRANSIENT, code=str(code))
    return ChannelError(
        f"SMTP {code} at {what}", kind=PERMANENT, code=str(code), suspension="bounced" if suspend else ""
    )


# Each sending thread keeps its SMTP connection between messages: a new one per message (connect,
# greeting, EHLO, QUIT) was a fifth of the worker's time on e-mail in the bench's profile, and the
# server's too. A connection idle for longer than this is asked (NOOP) whether it still stands.
IDLE_CHECK_SECONDS = 1.0
_local = threading.local()


def _settings_key() -> tuple:
    """A kept connection is only reused while the mail settings are the ones it was opened with."""
    return tuple(
        getattr(settings, name, None)
        for name in (
            "EMAIL_BACKEND",
            "EMAIL_HOST",
            "EMAIL_PORT",
            "EMAIL_HOST_USER",
            "EMAIL_USE_TLS",
            "EMAIL_USE_SSL",
            "EMAIL_TIMEOUT",
        )
    )


def _still_open(connection) -> bool:
    smtp = getattr(connection, "connection", None)
    if smtp is None:
        return not hasattr(connection, "connection")  # a backend without a socket (locmem, files)
    try:
        return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def discard_kept_connection() -> None:
    """Close this thread's kept connection, if any (the next message opens a new one)."""
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):  # closing a broken connection must not hide the outcome
            connection.close()


def _connection():
    """This thread's open connection: the kept one if it still stands, else a new one. Raises
    ChannelError (transient: nothing was handed over) when none can be opened."""
    kept = getattr(_local, "connection", None)
    if kept is not None:
        fresh = time.monotonic() - _local.used_at < IDLE_CHECK_SECONDS
        if _local.key == _settings_key() and (fresh or _still_open(kept)):
            return kept
        discard_kept_connection()
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        # Nothing was handed over: refused, unreachable, or rejected at greeting or login.
        code = getattr(error, "smtp_code", None)
        if isinstance(code, int) and code >= 500:
            raise ChannelError(f"SMTP {code} at connect", kind=TRANSIENT, code=str(code)) from None
        raise ChannelError(f"could not connect to SMTP ({type(error).__name__})", kind=TRANSIENT) from None
    _local.connection, _local.key, _local.used_at = connection, _settings_key(), time.monotonic()
    return connection


class EmailChannel(BaseChannel):
    """Sends a delivery as one e-mail; the provider id is the Message-ID we gave it."""

    def send(self, delivery: Delivery) -> str:
        connection = _connection()
        message = build_message(delivery, connection)
        try:
            message.send()
        except BaseException as error:
            discard_kept_connection()  # after any error the next message starts on a new connection
            channel_error = _send_error(error)
            if channel_error is None:
                raise
            raise channel_error from None
        _local.used_at = time.monotonic()
        return message.extra_headers["Message-ID"]


def _send_error(error: BaseException) -> ChannelError | None:
    """What an error while handing a message over means for the delivery (None: not an SMTP matter)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = next(iter(error.recipients.values()))[0] if error.recipients else 550
        return _smtp_code_error(code, "RCPT", suspend=True)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return _smtp_code_error(error.smtp_code, "MAIL FROM", suspend=False)
    if isinstance(error, smtplib.SMTPDataError):
        return _smtp_code_error(error.smtp_code, "DATA", suspend=False)
    if isinstance(error, TimeoutError | smtplib.SMTPServerDisconnected | OSError):
        return ChannelError(f"SMTP connection lost while sending ({type(error).__name__})", kind=AMBIGUOUS)
    return None
