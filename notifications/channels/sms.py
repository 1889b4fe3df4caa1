"""SMS through Twilio's Messages API, with the real ``twilio`` client pointed at a configurable base URL."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from . import AMBIGUOUS, PERMANENT, TRANSIENT, BaseChannel, ChannelError

if TYPE_CHECKING:
    from notifications.models import Delivery

# Twilio's request log lines carry URLs and headers only, but keep them out of INFO anyway.
_twilio_logger = logging.getLogger("notifications.twilio_http")
_twilio_logger.setLevel(logging.WARNING)

# Twilio error codes that say the destination itself is unusable, and which suspension they mean.
SUSPENDING_CODES = {
    "21211": "invalid",  # invalid 'To' number
    "21614": "not_mobile",  # 'To' is not a mobile number
    "21610": "opted_out",  # the recipient sent STOP
    "30005": "invalid",  # unknown destination handset
    "30006": "not_mobile",  # landline or unreachable carrier
    "30004": "opted_out",  # message blocked (the recipient blocked the sender)
}


class PoolKeyCachingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, remembering each connection pool's key attributes per host and TLS setting.

    requests works them out again for every request, and with a CA bundle named by the environment
    (REQUESTS_CA_BUNDLE, as many hosts set it) that includes a stat of the file (``os.path.isdir``):
    19 % of the SMS lane's busy samples in a quick burst's profile (issue 21). They change only with the
    URL's scheme, host and port and with ``verify`` and ``cert``, which are the cache's key.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pool_keys: dict[tuple, tuple[dict, dict]] = {}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        url = urlsplit(request.url)
        key = (url.scheme, url.hostname, url.port, verify, cert)
        try:
            cached = self._pool_keys.get(key)
        except TypeError:  # an unhashable verify or cert: nothing to remember
            return super().build_connection_pool_key_attributes(request, verify, cert)
        if cached is None:
            cached = self._pool_keys[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params, pool_kwargs = cached
        return dict(host_params), dict(pool_kwargs)


class BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's HTTP client with scheme and host of every request rewritten to ``base_url``.

    Covers every Twilio domain, so dev and tests reach the fake Twilio server on loopback.
    """

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(logger=_twilio_logger, **kwargs)
        self.base = urlsplit(base_url.rstrip("/"))
        if self.session is not None:
            self.session.mount("http://", PoolKeyCachingAdapter(pool_maxsize=4))
            self.session.mount("https://", PoolKeyCachingAdapter())

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


_local = threading.local()


def _required(name: str) -> str:
    value = getattr(settings, name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set to send SMS.")
    return value


def twilio_client() -> Client:
    """A Twilio client for this thread (requests sessions are not shared between threads)."""
    key = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_API_BASE_URL)
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != key:
        http_client = BaseUrlHttpClient(settings.TWILIO_API_BASE_URL, timeout=settings.TWILIO_TIMEOUT)
        client = Client(_required("TWILIO_ACCOUNT_SID"), _required("TWILIO_AUTH_TOKEN"), http_client=http_client)
        _local.client = cached = (key, client)
    return cached[1]


def status_callback_url(delivery_id: int) -> str:
    """The URL Twilio posts this delivery's status to; the webhook validates signatures against it."""
    base = _required("PUBLIC_BASE_URL").rstrip("/")
    return base + reverse("twilio-status-callback", kwargs={"delivery_id": delivery_id})


def _is_connect_failure(error: requests.RequestException) -> bool:
    # Nothing reached the provider: refused, unresolvable or timed out while connecting.
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        text = f"{reason!r} {error!r}"
        return "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text
    return False


class TwilioSmsChannel(BaseChannel):
    """Sends a delivery as one SMS; our delivery id rides in the status-callback URL."""

    def send(self, delivery: Delivery) -> str:
        sender = {}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            sender["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            sender["from_"] = _required("TWILIO_FROM")
        try:
            message = twilio_client().messages.create(
                to=delivery.destination,
                body=delivery.body,
                status_callback=status_callback_url(delivery.pk),
                **sender,
            )
        except TwilioRestException as error:
            raise _from_twilio_error(error) from None
        except requests.RequestException as error:
            if _is_connect_failure(error):
                raise ChannelError("could not connect to Twilio", kind=TRANSIENT) from None
            raise ChannelError(
                f"no answer from Twilio after sending ({type(error).__name__})", kind=AMBIGUOUS
            ) from None
        return message.sid


def _from_twilio_error(error: TwilioRestException) -> ChannelError:
    code = str(error.code or "")
    text = f"Twilio answered HTTP {error.status}"
    if error.status == 429 or code == "20429":
        return ChannelError(text + " (too many requests)", kind=TRANSIENT, code=code)
    if error.status >= 500:
        return ChannelError(text, kind=AMBIGUOUS, code=code)
    if code in SUSPENDING_CODES:
        return ChannelError(text, kind=PERMANENT, code=code, suspension=SUSPENDING_CODES[code])
    if error.status in (401, 403):
        # Our credentials, not the message: retry once someone fixes the configuration.
        return ChannelError(text + " (authentication)", kind=TRANSIENT, code=code)
    return ChannelError(text, kind=PERMANENT, code=code)
