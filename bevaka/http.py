"""Helpers for reading the HTTP request, shared by every app's views (the project package, below them all).

Behind a proxy, ``REMOTE_ADDR`` is the proxy's address. ``client_ip`` is the one place that turns a request
into the client's own address: every throttle, BankID's ``endUserIp``, the audit log and the logs use it.
It believes ``X-Forwarded-For`` only as far as the proxies named in ``TRUSTED_PROXIES`` wrote it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBadRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` (addresses or CIDRs) as networks; ImproperlyConfigured names a value that is neither."""
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip()))
        except ValueError:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {proxy!r} is not an address or a network.") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:192.0.2.1 is 192.0.2.1
    return mapped or address


def _trusted(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _networks() -> tuple[Network, ...]:
    return trusted_networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request's own peer (``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES``."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    return peer is not None and _trusted(peer, _networks())


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's own address.

    Without ``TRUSTED_PROXIES``, or when the peer is not one of them: ``REMOTE_ADDR``, whatever the request's
    headers say. From a trusted proxy: ``X-Forwarded-For`` walked from the right (the entry the nearest proxy
    wrote), past every trusted proxy, to the first address that is not one — the client as the outermost
    trusted proxy saw it. Entries left of that are the client's own words and are never believed. None
    when the request has no address at all (a test client without one).
    """
    if request is None:
        return None
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return None
    networks = _networks()
    if not _trusted(peer, networks):
        return str(peer)
    client = peer
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = _address(entry)
        if hop is None:
            break  # not an address: nothing left of it can be believed either
        client = hop
        if not _trusted(hop, networks):
            break
    return str(client)


class TrustedProxyMiddleware:
    """Forget ``X-Forwarded-Proto`` unless a trusted proxy sent the request, before anything reads it.

    With ``BEHIND_TLS_PROXY`` Django takes ``X-Forwarded-Proto: https`` for a secure request (no HTTPS
    redirect, HSTS sent, Secure cookies offered); only the proxy that terminated TLS may say so, never a
    client that reached the web directly.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not from_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def holds_nul(request: HttpRequest) -> bool:
    """Whether a query parameter or a form field, name or value, holds the NUL character."""
    sources = [request.GET]
    if request.method == "POST" and request.content_type in _FORM_TYPES:
        sources.append(request.POST)
    return any("\x00" in key or any("\x00" in value for value in values) for q in sources for key, values in q.lists())


class RefuseNulMiddleware:
    """Refuse NUL in any search or form field before a view sees it: 400 with a message that says so.

    PostgreSQL stores no NUL in text, so a search (``?q=%00``) or form value holding one would fail in the
    database (a 500). Nobody types NUL; every page, search, form and admin list gets the same answer here,
    once, rather than a check in each form.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs):
        # A CSRF-exempt view (the signed event API, Twilio's webhook) reads and checks its own input and answers
        # in its own format (the API: problem+json): its form is left unread here, as CsrfViewMiddleware leaves
        # it, and so is its query, which neither reads.
        if getattr(view, "csrf_exempt", False):
            return None
        if holds_nul(request):
            from django.utils.translation import gettext as _

            message = _("Förfrågan innehåller tecknet NUL (\\0), som inte är tillåtet i något fält. Ta bort det.")
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return None
