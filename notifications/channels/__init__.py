"""One class per channel, each with ``send(delivery) -> provider id`` raising only ``ChannelError``.

``ChannelError.kind`` says what the caller may do next:

- ``permanent``: retrying cannot help (invalid number, opted out, mailbox does not exist); with a
  ``suspension`` reason the destination itself must not be used again;
- ``transient``: nothing was accepted; retry later (429, connection refused, SMTP 4xx);
- ``ambiguous``: the provider may have accepted the message (5xx or timeout after sending); wait for its
  status callback before any resend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from notifications.models import Delivery

ErrorKind = Literal["permanent", "transient", "ambiguous"]
PERMANENT: ErrorKind = "permanent"
TRANSIENT: ErrorKind = "transient"
AMBIGUOUS: ErrorKind = "ambiguous"


class ChannelError(Exception):
    """A send that did not (certainly) succeed. ``message`` must hold no phone number or address."""

    def __init__(self, message: str, *, kind: ErrorKind, code: str = "", suspension: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = str(code or "")
        self.suspension = suspension  # a SuspensionReason value when the destination must be suspended

    @property
    def permanent(self) -> bool:
        return self.kind == PERMANENT

    def __str__(self) -> str:
        return f"{self.kind}: {self.code + ' ' if self.code else ''}{self.message}"


class BaseChannel:
    """A way to send one delivery. Subclasses implement ``send``."""

    def send(self, delivery: Delivery) -> str:
        """Send ``delivery`` once; return the provider's id for it, or raise ChannelError."""
        raise NotImplementedError


CHANNEL_CLASSES = {
    "sms": "notifications.channels.sms.TwilioSmsChannel",
    "email": "notifications.channels.email.EmailChannel",
}


def get_channel(name: str) -> BaseChannel:
    """The channel that sends deliveries of ``name`` (a ``models.Channel`` value)."""
    return import_string(CHANNEL_CLASSES[name])()
