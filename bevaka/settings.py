"""Settings for Bevaka ärenden, all of them read from the environment.

With nothing set, the project runs on its embedded defaults (`make run`): a SQLite file and kombu's
filesystem broker under ``var/``. Production sets ``DEBUG=false``, ``SECRET_KEY``, ``ALLOWED_HOSTS``,
``DATABASE_URL`` and ``REDIS_URL``; with those, ``manage.py check --deploy`` is clean.
"""

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from bevaka.env import BASE_DIR, VAR_DIR, settings_env
from bevaka.http import trusted_networks
from bevaka.observability import logging_config

env = settings_env()  # every NAME also as NAME_FILE (Docker/Kubernetes secrets; bevaka/env.py)

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # A development key made on first run and kept out of the repository.
    from django.core.management.utils import get_random_secret_key

    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(get_random_secret_key())
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "bevaka",  # the project's own system checks (bevaka/checks.py)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "csp",
    "companies",
    "agreements",
    "audit",
    "signing",
    "subscriptions",
    "notifications",
    "events",
]

MIDDLEWARE = [
    "bevaka.http_metrics.HttpMetricsMiddleware",  # outermost: counts every answer
    "bevaka.observability.RequestIdMiddleware",  # a request id on every log line of the request
    # Before anything reads X-Forwarded-Proto (SecurityMiddleware's redirect and HSTS, request.is_secure()).
    "bevaka.http.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, after the HTTPS redirect and HSTS
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # NUL in a search or form field is refused with a message (in the user's language) before any view.
    "bevaka.http.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "signing.middleware.SessionTimeoutMiddleware",
    "bevaka.pages.NoStoreForSignedInMiddleware",
    "bevaka.pages.PostOnlyPageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "bevaka.urls"
WSGI_APPLICATION = "bevaka.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bevaka.sqlite3'}")}
# The password apart from the URL, so that it can come from a secrets file (DATABASE_PASSWORD_FILE).
DATABASES["default"]["PASSWORD"] = env.str("DATABASE_PASSWORD", default=DATABASES["default"].get("PASSWORD", ""))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) write to the embedded database: WAL lets readers go on
    # while one writes, and IMMEDIATE takes the write lock at BEGIN instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # No JIT: the fan-out's INSERT … SELECT is estimated expensive enough to be JIT-compiled, which cost
        # ~85 ms of its ~800 ms for 20,000 rows and buys nothing for statements this short (docs/PERFORMANCE.md).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users, login, permissions ------------------------------------------------------------------------
AUTH_USER_MODEL = "companies.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Our users are identified by personnummer; guardian's anonymous user would not be a valid one.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "company-picker"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language ----------------------------------------------------------------------------------------
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Svenska")), ("en", _("Engelska"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Stockholm"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- Security baseline --------------------------------------------------------------------------------
# Cookies are Secure with the __Host- prefix everywhere but plain-HTTP development.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_NAME = "__Host-bevaka-session" if SECURE_COOKIES else "bevaka-session"
SESSION_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
CSRF_COOKIE_NAME = "__Host-bevaka-csrftoken" if SECURE_COOKIES else "bevaka-csrftoken"
CSRF_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_NAME = "bevaka-language"
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxies in front (addresses or CIDRs): their X-Forwarded-For and X-Forwarded-Proto are believed, nobody
# else's (bevaka/http.py: client_ip, TrustedProxyMiddleware). Empty: the client is REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
trusted_networks(tuple(TRUSTED_PROXIES))  # a value that is no address or network stops the start, named
if env.bool("BEHIND_TLS_PROXY", default=False) and not TRUSTED_PROXIES:
    # X-Forwarded-Proto is believed from TRUSTED_PROXIES only: without any, every request would redirect.
    raise ImproperlyConfigured("BEHIND_TLS_PROXY needs TRUSTED_PROXIES: the address(es) of the TLS proxy in front.")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Celery -------------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    # Embedded broker for `make run` without Redis: a real worker process reads the same folder.
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery-results'}"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery-results").mkdir(parents=True, exist_ok=True)
# Celery's Django fixup closes every database connection before and after every task unless told to reuse
# them: a new PostgreSQL backend (a fork, authentication, cold catalog caches) for each task, which was most
# of PostgreSQL's CPU per alert in `make bench`. Connections are closed every this many tasks; in between,
# bevaka.celery closes broken or too old ones (CONN_MAX_AGE) as Django does between requests.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Logging ------------------------------------------------------------------------------------------
# One JSON object per line with the request id and the Celery task id, personal data masked
# (bevaka/observability.py); LOG_FORMAT=plain for reading in a terminal (the default with DEBUG).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# Celery leaves the root logger to Django's LOGGING (see bevaka.observability.connect_celery_signals).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Signing ------------------------------------------------------------------------------------------
from bevaka.settings_signing import *  # noqa: E402, F403 (BankID, signature roots, the token's keys)

# A session ends after this long without activity (PSD2 RTS art. 4: at most 5 minutes), with a warning a
# minute before, and at the latest after the absolute lifetime.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=5 * 60)
SESSION_IDLE_WARNING = env.int("SESSION_IDLE_WARNING", default=60)
# A request records its activity only when the time recorded is at least this old (seconds): the session is
# then saved about once in this interval instead of on every request. The idle timeout may come this much
# earlier, never later.
SESSION_ACTIVITY_SAVE_INTERVAL = env.int("SESSION_ACTIVITY_SAVE_INTERVAL", default=15)
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_LIFETIME", default=4 * 60 * 60)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("signing.context_processors.session_timeout")

# --- Notifications ------------------------------------------------------------------------------------
# SMS through Twilio. In development the fake Twilio server (`manage.py fake_twilio --port 8002`) with made-up
# credentials; otherwise the account's from the environment (an SMS send refuses to run without them).
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="AC" + "0" * 31 + "1" if DEBUG else "")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="dev-fake-twilio-auth-token" if DEBUG else "")
TWILIO_FROM = env.str("TWILIO_FROM", default="Banken" if DEBUG else "")  # number or alphanumeric sender
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")  # preferred over FROM
TWILIO_API_BASE_URL = env.str(
    "TWILIO_API_BASE_URL", default="http://127.0.0.1:8002" if DEBUG else "https://api.twilio.com"
)
TWILIO_TIMEOUT = env.float("TWILIO_TIMEOUT", default=10.0)
# The address the outside world reaches us on: Twilio's status callbacks go to PUBLIC_BASE_URL/webhooks/….
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "")
# E-mail: SMTP in production; in development each message is saved under var/outbox and listed at /dev/utkorg/.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="notifications.mail.OutboxBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Bevaka ärenden <no-reply@bevaka.localhost>")
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="bevaka.localhost")
# Mobile numbers (contact verification, alerts) only in these countries (ISO 3166 codes): Sweden and the
# Nordic countries by default. An SMS anywhere else costs the bank, and is how SMS pumping makes money.
_NORDIC = ["SE", "NO", "DK", "FI", "IS", "AX", "FO", "GL"]
SMS_ALLOWED_COUNTRIES = [code.upper() for code in env.list("SMS_ALLOWED_COUNTRIES", default=_NORDIC)]
NOTIFICATIONS_OUTBOX_DIR = env.str("NOTIFICATIONS_OUTBOX_DIR", default=str(VAR_DIR / "outbox"))
# Messages per second per channel, shared by all workers (a Redis token bucket); 0 = unlimited.
NOTIFICATIONS_RATE_LIMITS = {
    "sms": env.float("SMS_RATE_PER_SECOND", default=50.0),
    "email": env.float("EMAIL_RATE_PER_SECOND", default=20.0),
}
NOTIFICATIONS_RATE_LIMIT_MAX_WAIT = env.float("NOTIFICATIONS_RATE_LIMIT_MAX_WAIT", default=30.0)
# Retries: back-off base·2^(n-1) with jitter, capped; then failed. Scheduled in the database, run by the relay.
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=6)
NOTIFICATIONS_RETRY_BASE_SECONDS = env.float("NOTIFICATIONS_RETRY_BASE_SECONDS", default=30.0)
NOTIFICATIONS_RETRY_MAX_SECONDS = env.float("NOTIFICATIONS_RETRY_MAX_SECONDS", default=3600.0)
# A claimed send without an outcome after this long was lost with its worker: the relay requeues it.
NOTIFICATIONS_SENDING_TIMEOUT = env.float("NOTIFICATIONS_SENDING_TIMEOUT", default=300.0)
# After an ambiguous send (5xx or timeout): wait this long for the provider's callback, then resend (bounded).
NOTIFICATIONS_AMBIGUOUS_WAIT_SECONDS = env.float("NOTIFICATIONS_AMBIGUOUS_WAIT_SECONDS", default=600.0)
NOTIFICATIONS_MAX_AMBIGUOUS_RESENDS = env.int("NOTIFICATIONS_MAX_AMBIGUOUS_RESENDS", default=1)
# How long a worker keeps trying to store "sent" while the database is unreachable (make chaos, scenario 4).
NOTIFICATIONS_OUTCOME_RETRY_SECONDS = env.float("NOTIFICATIONS_OUTCOME_RETRY_SECONDS", default=60.0)
NOTIFICATIONS_RELAY_INTERVAL = env.float("NOTIFICATIONS_RELAY_INTERVAL", default=10.0)
NOTIFICATIONS_RELAY_LEASE_SECONDS = env.float("NOTIFICATIONS_RELAY_LEASE_SECONDS", default=120.0)
NOTIFICATIONS_RELAY_LIMIT = env.int("NOTIFICATIONS_RELAY_LIMIT", default=2000)
NOTIFICATIONS_BATCH_SIZE = env.int("NOTIFICATIONS_BATCH_SIZE", default=50)
# Requests in flight per send process. A provider at its rate limit needs rate × latency of them in flight
# (Little's law: 100/s × 150 ms = 15); with 16 a process alone could only just carry the rate while the other
# was between batches, and the rate-limited bench lost 5-6 % in those gaps. 32 keeps it at the limit.
NOTIFICATIONS_SEND_CONCURRENCY = env.int("NOTIFICATIONS_SEND_CONCURRENCY", default=32)
NOTIFICATIONS_WORKER_STALE_SECONDS = env.float("NOTIFICATIONS_WORKER_STALE_SECONDS", default=120.0)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["notifications-relay"] = {
    "task": "notifications.relay_due_deliveries",
    "schedule": NOTIFICATIONS_RELAY_INTERVAL,
    "options": {"expires": max(NOTIFICATIONS_RELAY_INTERVAL * 3, 5)},
}
# Load balancers and orchestrators probe /livez, /readyz (and its old name /healthz) over plain HTTP.
SECURE_REDIRECT_EXEMPT = [*globals().get("SECURE_REDIRECT_EXEMPT", []), r"^healthz$"]
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule"))

# --- Events -------------------------------------------------------------------------------------------
# The ingestion API (/api/v1/events): body limits, and how far a signed timestamp may be from our clock.
EVENTS_MAX_BODY_BYTES = env.int("EVENTS_MAX_BODY_BYTES", default=64 * 1024)
EVENTS_MAX_BATCH_BYTES = env.int("EVENTS_MAX_BATCH_BYTES", default=1024 * 1024)
EVENTS_MAX_BATCH_EVENTS = env.int("EVENTS_MAX_BATCH_EVENTS", default=1000)
EVENTS_SIGNATURE_TOLERANCE_SECONDS = env.int("EVENTS_SIGNATURE_TOLERANCE_SECONDS", default=300)
# Each web process remembers the active source systems with their decrypted keys (and the case types) this
# many seconds: a key deactivated in another process is refused at the latest this long after. 0: read them
# on every request.
EVENTS_SOURCE_CACHE_SECONDS = env.float("EVENTS_SOURCE_CACHE_SECONDS", default=5.0)
# An event not fanned out this long after its fan-out was published is published again (lost task).
EVENTS_FANOUT_LEASE_SECONDS = env.float("EVENTS_FANOUT_LEASE_SECONDS", default=60.0)
EVENTS_FANOUT_RELAY_INTERVAL = env.float("EVENTS_FANOUT_RELAY_INTERVAL", default=15.0)
# Single events are fanned out together by one task, up to this many a transaction (events/coalesce.py; at
# most 32, the largest batch the fan-out's statements are compiled for); a pending one is remembered this long.
EVENTS_COALESCE_BOUND = min(env.int("EVENTS_COALESCE_BOUND", default=32), 32)
EVENTS_COALESCE_FLAG_SECONDS = env.float("EVENTS_COALESCE_FLAG_SECONDS", default=2.0)
# Where `manage.py simulate_events` sends its signed events.
EVENTS_API_URL = env.str("EVENTS_API_URL", default="http://127.0.0.1:8000")
CELERY_BEAT_SCHEDULE["events-fanout-relay"] = {
    "task": "events.relay_unfanned_events",
    "schedule": EVENTS_FANOUT_RELAY_INTERVAL,
    "options": {"expires": max(EVENTS_FANOUT_RELAY_INTERVAL * 3, 5)},
}

# --- Dates in the user's language ------------------------------------------------------------------------
# Templates format with DATE_FORMAT / DATETIME_FORMAT / SHORT_DATETIME_FORMAT, in Europe/Stockholm (TIME_ZONE);
# bevaka/formats/en keeps the 24-hour clock and day-month-year order of the Swedish pages.
FORMAT_MODULE_PATH = ["bevaka.formats"]
# --- Operations ---------------------------------------------------------------------------------------
# Hashed names and far-future cache headers need `collectstatic` first (the Docker image runs it and sets
# STATIC_MANIFEST=true); without it, compressed files under their own names.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# /metrics and /statusz answer the bearer token METRICS_TOKEN or the addresses/CIDRs in METRICS_ALLOWED;
# with neither, only with DEBUG (bevaka/metrics.py; `check --deploy` warns).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED = env.list("METRICS_ALLOWED", default=[])
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$", r"^(livez|readyz|statusz)$"]
# Data retention: deliveries and events older than this are anonymised (destination, texts, reference,
# provider ids and errors) by a daily beat task; the audit log is kept as it is. Never shorter than the
# 90 days of alert history that Mina bevakningar shows.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=180)
if RETENTION_DAYS < 90:
    raise ImproperlyConfigured("RETENTION_DAYS must be at least 90 (the alert history shows 90 days).")
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=5000)
CELERY_BEAT_SCHEDULE["retention-anonymise"] = {
    "task": "events.anonymise_old_records",
    "schedule": env.float("RETENTION_INTERVAL_SECONDS", default=24 * 60 * 60),
    "options": {"expires": 60 * 60},
}
# Nothing caches today, but whatever does must see the same data on every machine: Django's cache is Redis
# when there is one (the default, a per-process memory cache, would differ per gunicorn/Celery process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bevaka:cache",
            "TIMEOUT": 300,
        }
    }
# Another broker (RabbitMQ: amqp://…) than REDIS_URL; Redis stays for rate limits, heartbeat, metrics, cache.
if env.str("CELERY_BROKER_URL", default=""):
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
# --- Throttling of failed attempts (issue 9) -----------------------------------------------------------
# PSD2: at most five failed attempts in a row per person (login, contact-verification codes), then a
# temporary block. Per address only a loose outer bound, so one address cannot lock out a whole company.
INSTALLED_APPS += ["throttling"]
THROTTLE_MAX_FAILURES_IN_A_ROW = env.int("THROTTLE_MAX_FAILURES_IN_A_ROW", default=5)
THROTTLE_BLOCK_MINUTES = env.float("THROTTLE_BLOCK_MINUTES", default=15.0)
THROTTLE_ADDRESS_MAX_FAILURES = env.int("THROTTLE_ADDRESS_MAX_FAILURES", default=100)  # per hour
# An address (an office, everyone behind one NAT) starts at most this many BankID logins in 10 minutes, then
# waits the cool-down: a bound on floods, never a person's block (docs/SECURITY.md).
THROTTLE_BANKID_STARTS_PER_ADDRESS = env.int("THROTTLE_BANKID_STARTS_PER_ADDRESS", default=1000)  # per 10 min
THROTTLE_BANKID_ADDRESS_COOLDOWN_SECONDS = env.int("THROTTLE_BANKID_ADDRESS_COOLDOWN_SECONDS", default=60)
# httpx logs every request line at INFO; URLs may carry query parameters we do not want in logs.
LOGGING.setdefault("loggers", {}).update({"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}})
# --- Benchmarks (issue 8) --------------------------------------------------------------------------------
# A batch of events is fanned out by tasks of this many events each (their sends published together).
EVENTS_FANOUT_BATCH_SIZE = env.int("EVENTS_FANOUT_BATCH_SIZE", default=20)
# The queues: a lane per purpose and channel (notifications/lanes.py), on Redis read in priority order.
from bevaka.settings_queues import *  # noqa: E402, F403

if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] = "priority"
# The token bucket's burst, in seconds of the rate (notifications/ratelimit.py).
NOTIFICATIONS_RATE_LIMIT_BURST_SECONDS = env.float("NOTIFICATIONS_RATE_LIMIT_BURST_SECONDS", default=0.2)
# A batch checks its alerts once (rule 6) before their rate-limit tokens; an alert whose token took longer than
# this since that check is checked again just before its provider request.
NOTIFICATIONS_SEND_CHECK_MAX_AGE = env.float("NOTIFICATIONS_SEND_CHECK_MAX_AGE", default=2.0)
