"""Helpers for reading the HTTP request, shared by every app's views (the project package, below them all)."""

from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as our own server saw it (a TLS proxy in front is trusted by REMOTE_ADDR)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None
