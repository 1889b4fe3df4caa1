from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .middleware import idle_seconds_left


def session_timeout(request) -> dict:
    """The idle-timeout values the base layout's warning script reads: the seconds left of this session's
    idle time (read from the session only by a page that shows them), and the warning's lead."""
    return {
        "session_idle_timeout": SimpleLazyObject(lambda: idle_seconds_left(request)),
        "session_idle_warning": settings.SESSION_IDLE_WARNING,
    }
