"""The fake Twilio's status callbacks: posted in order for each accepted message, signed as Twilio signs
them (``X-Twilio-Signature``), from a fixed pool of poster threads."""

from __future__ import annotations

import heapq
import http.client
import itertools
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from .twilio_server import FakeTwilioState


class CallbackDispatcher:
    """Posts each accepted message's status callbacks, ``callback_delay_ms`` apart and in order
    (queued → sent → delivered or undelivered), from a fixed pool of poster threads fed by one schedule.

    A thread of its own for every message, each posting through a new connection, cost the fake 2 ms of
    CPU per message in the bench's burst, where hundreds of messages a second share two cores with what
    they stand in for (docs/PERFORMANCE.md, "Fifth round"). Twilio does not post a callback again; neither
    does this.
    """

    def __init__(self, state: FakeTwilioState, posters: int = 8) -> None:
        self.state = state
        self._due: list[tuple[float, int, dict, tuple[str, int | None], int]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        for number in range(posters):
            threading.Thread(target=self._post_forever, name=f"callbacks-{number}", daemon=True).start()

    def add(self, message: dict, final: tuple[str, int | None]) -> None:
        with self.state.lock:
            self.state.callbacks_pending += 1
        self._schedule(message, final, 0)

    def _schedule(self, message: dict, final: tuple[str, int | None], step: int) -> None:
        due = time.monotonic() + self.state.callback_delay_ms / 1000
        with self._ready:
            heapq.heappush(self._due, (due, next(self._order), message, final, step))
            self._ready.notify()

    def _next(self):
        with self._ready:
            while True:
                if self._due:
                    wait = self._due[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._due)
                    self._ready.wait(wait)
                else:
                    self._ready.wait()

    def _post_forever(self) -> None:
        while True:
            _, _, message, final, step = self._next()
            status = ("queued", "sent", final[0])[step]
            try:
                self._post(message, status, final)
            except Exception:  # a poster must outlive one bad callback: counted as "error", not raised
                with self.state.lock:
                    self.state.callbacks["error"] = self.state.callbacks.get("error", 0) + 1
            finally:
                if step < 2:
                    self._schedule(message, final, step + 1)
                else:
                    with self.state.lock:
                        self.state.callbacks_pending -= 1

    def _post(self, message: dict, status: str, final: tuple[str, int | None]) -> None:
        state = self.state
        with state.lock:
            message["status"] = status
            if status == "undelivered":
                message["error_code"] = final[1]
        if not message["status_callback"]:
            return
        params = {
            "AccountSid": message["account_sid"],
            "ApiVersion": "2010-04-01",
            "From": message["from"],
            "To": message["to"],
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if status == "undelivered":
            params["ErrorCode"] = str(final[1])
        answer = post_signed(message["status_callback"], params, state.auth_token)
        with state.lock:
            key = str(answer or "none")
            state.callbacks[key] = state.callbacks.get(key, 0) + 1


def post_signed(url: str, params: dict, auth_token: str, timeout: float = 10) -> int | None:
    """POST ``params`` form-encoded to ``url`` with Twilio's signature, on a connection of its own; the HTTP
    status, or None."""
    signature = RequestValidator(auth_token).compute_signature(url, params)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=urllib.parse.urlencode(params),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
