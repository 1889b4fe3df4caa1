"""The clock of quiet hours and the SMS fallback: ``now()``, which a test can set for every process.

The fan-out decides whether an alert falls in quiet hours, the release sends what is due and the fallback
finds SMS without an outcome by this clock. In production it is ``timezone.now()``. With ``BEVAKA_CLOCK_FILE``
set (tests only: the browser tests' web server, worker and beat share the file), it is the instant written
in that file (ISO 8601 with an offset) when the file exists, so that a test can walk the clock to a
window's end without mocking any part of the pipeline.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone


def now() -> datetime.datetime:
    path = getattr(settings, "BEVAKA_CLOCK_FILE", "")
    if path:
        try:
            text = Path(path).read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            return datetime.datetime.fromisoformat(text)
    return timezone.now()


def set_now(path: str | Path, at: datetime.datetime) -> None:
    """Set the clock of every process reading ``path`` (tests). ``at`` must be aware."""
    if at.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    tmp = Path(f"{path}.tmp")
    tmp.write_text(at.isoformat())
    tmp.replace(path)
