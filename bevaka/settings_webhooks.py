"""Settings of the processes that answer Twilio's status callbacks (the `webhooks` service): everything of
``bevaka.settings``, but only the callback's URL and /healthz, and only the middleware that a signed POST
without a session needs.

Three callbacks come for every SMS. Through the pages' whole middleware (sessions, the language, CSRF,
authentication, the idle timeout, messages, the content security policy of an HTML page) a callback cost
0.67–0.71 ms of CPU, through these 0.44 ms (docs/PERFORMANCE.md, "Fifth round"); and under a burst the two
workers answered a third of the callbacks too late for the provider, which does not post one again.
"""

import copy

from .settings import *  # noqa: F403
from .settings import DATABASES, MIDDLEWARE

ROOT_URLCONF = "bevaka.urls_webhooks"
# The HTTP metrics, the request id (and its log line), and the security headers and HTTPS redirect of every answer.
MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name
    in (
        "bevaka.http_metrics.HttpMetricsMiddleware",
        "bevaka.observability.RequestIdMiddleware",
        "bevaka.http.TrustedProxyMiddleware",
        "django.middleware.security.SecurityMiddleware",
    )
]

# Server-side binding, each statement prepared on its first use: a callback is one of the same two
# statements, thousands of times over one connection. PostgreSQL then parses and plans each once per
# connection instead of once per callback, and psycopg stops interpolating the values into the text.
# A copy: importing this module (a test does) must not change the web's own settings. Not behind a
# pooler in transaction mode (PgBouncer), whose connections do not keep a session's prepared statements.
DATABASES = copy.deepcopy(DATABASES)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=0)

# The admin is installed (the models are the web's) but not routed here, so it needs none of its middleware.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "admin.E408", "admin.E409", "admin.E410"]
