"""The development e-mail backend: every message saved as an .eml file, listed on the dev outbox page."""

import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class OutboxBackend(BaseEmailBackend):
    """Write each message to ``NOTIFICATIONS_OUTBOX_DIR/<time>-<uuid>.eml`` (development only)."""

    _lock = threading.Lock()

    def send_messages(self, email_messages) -> int:
        folder = Path(settings.NOTIFICATIONS_OUTBOX_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
            with self._lock:
                (folder / name).write_bytes(message.message().as_bytes(linesep="\n"))
            sent += 1
        return sent
