from django.conf import settings


def session_timeout(request) -> dict:
    """The idle-timeout values the base layout's warning script reads."""
    return {
        "session_idle_timeout": settings.SESSION_IDLE_TIMEOUT,
        "session_idle_warning": settings.SESSION_IDLE_WARNING,
    }
