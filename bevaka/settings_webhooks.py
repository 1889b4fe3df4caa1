"""Settings of the processes that answer Twilio's status callbacks (the `webhooks` service): everything of
``bevaka.settings``, but only the callback's URL and /healthz, and only the middleware that a signed POST
without a session needs.

Three callbacks come for every SMS. Through the pages' whole middleware (sessions, the language, CSRF,
authentication, the idle timeout, messages, the content security policy of an HTML page) a callback cost
the web about a third more CPU than its view did (docs/PERFORMANCE.md, "Fifth round"), and under a burst
the two workers answered too late for the provider, which does not post a callback again.
"""

from .settings import *  # noqa: F403
from .settings import MIDDLEWARE

ROOT_URLCONF = "bevaka.urls_webhooks"
# The request id (and its log line), and the security headers and HTTPS redirect of every answer.
MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name in ("bevaka.observability.RequestIdMiddleware", "django.middleware.security.SecurityMiddleware")
]
