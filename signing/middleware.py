"""Session lifetime for logged-in users: an idle timeout (PSD2: 5 minutes) and an absolute lifetime.

Each request of a logged-in user records its time in the session, unless the time recorded is less than
``SESSION_ACTIVITY_SAVE_INTERVAL`` seconds old: a write of the session on every page cost a database
UPDATE per request (docs/PERFORMANCE.md). The timeout counts from the time recorded, so it can only come
that much earlier, never later; the page's warning counts down from the same time (``idle_seconds_left``),
and "stay logged in" always records. A request that comes after ``SESSION_IDLE_TIMEOUT`` seconds without
activity, or ``SESSION_ABSOLUTE_LIFETIME`` after login, ends the session server-side (``logout`` flushes
it) and sends the user to the login page.
"""

import math
import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, resolve_url

LAST_ACTIVITY_KEY = "signing_last_activity"
LOGIN_TIME_KEY = "signing_login_time"


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            last = session.get(LAST_ACTIVITY_KEY)
            started = session.setdefault(LOGIN_TIME_KEY, now)
            if (last is not None and now - last > settings.SESSION_IDLE_TIMEOUT) or (
                now - started > settings.SESSION_ABSOLUTE_LIFETIME
            ):
                logout(request)
                if request.headers.get("Accept", "").startswith("application/json"):
                    return JsonResponse({"loggedOut": True}, status=401)
                return redirect(f"{resolve_url(settings.LOGIN_URL)}?inaktiv=1")
            if last is None or now - last >= settings.SESSION_ACTIVITY_SAVE_INTERVAL:
                session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


def record_activity(request: HttpRequest) -> None:
    """Count this request as activity now, however recently the last was recorded."""
    request.session[LAST_ACTIVITY_KEY] = time.time()


def idle_seconds_left(request: HttpRequest) -> int:
    """Seconds until the idle timeout ends this session, counted from the activity recorded."""
    last = request.session.get(LAST_ACTIVITY_KEY)
    if last is None:
        return settings.SESSION_IDLE_TIMEOUT
    # Rounded up: the page's script leaves a second more after its countdown before it goes to the login page.
    return max(0, math.ceil(settings.SESSION_IDLE_TIMEOUT - (time.time() - last)))
