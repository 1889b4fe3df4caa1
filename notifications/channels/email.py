"""E-mail through Django's mail API: SMTP in production, the dev outbox in `make run`."""

from __future__ import annotations

import contextlib
import smtplib
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


class EmailChannel(BaseChannel):
    """Sends a delivery as one e-mail; the provider id is the Message-ID we gave it."""

    def send(self, delivery: Delivery) -> str:
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as error:
            # Nothing was handed over: refused, unreachable, or rejected at greeting or login.
            code = getattr(error, "smtp_code", None)
            if isinstance(code, int) and code >= 500:
                raise ChannelError(f"SMTP {code} at connect", kind=TRANSIENT, code=str(code)) from None
            raise ChannelError(f"could not connect to SMTP ({type(error).__name__})", kind=TRANSIENT) from None
        message = build_message(delivery, connection)
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as error:
            code = next(iter(error.recipients.values()))[0] if error.recipients else 550
            raise _smtp_code_error(code, "RCPT", suspend=True) from None
        except smtplib.SMTPSenderRefused as error:
            raise _smtp_code_error(error.smtp_code, "MAIL FROM", suspend=False) from None
        except smtplib.SMTPDataError as error:
            raise _smtp_code_error(error.smtp_code, "DATA", suspend=False) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as error:
            raise ChannelError(f"SMTP connection lost while sending ({type(error).__name__})", kind=AMBIGUOUS) from None
        finally:
            with contextlib.suppress(Exception):  # closing a broken connection must not hide the outcome
                connection.close()
        return message.extra_headers["Message-ID"]
