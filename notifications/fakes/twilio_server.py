"""A fake of Twilio's Messages API on loopback, for `make run` and the tests (stdlib HTTP server).

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: Basic auth (401, code 20003), Twilio's form
  fields, a 201 JSON message with an ``SM…`` sid, or an error body ``{"code", "message", "status",
  "more_info"}``. Each accepted message gets signed status callbacks (``X-Twilio-Signature``) posted to its
  ``StatusCallback``: queued → sent → delivered (or undelivered with an error code), ``callback_delay_ms``
  apart, by a pool of poster threads (``CallbackDispatcher``), never posted again.
- ``GET /_fake/messages``: JSON list of messages; ``GET /_fake/messages.html`` (or ``/``): the dev "phone".
- ``POST /_fake/faults`` with JSON ``{"mode", "ratio", "seconds", "count", "error_code", "hang_seconds"}``
  adds a fault: ``mode`` one of http_429, http_500, timeout, accept_then_500, accept_then_timeout,
  invalid_number, opted_out, undelivered (``timeout`` hangs before accepting, ``accept_then_…`` accept the
  message, send its callbacks, and then fail to answer); ``ratio`` the share of requests it hits (default 1.0);
  ``seconds`` how long it stays in force
  (default: until reset); ``count`` how many requests it may hit at most; ``error_code`` the undelivered
  code (default 30003); ``hang_seconds`` how long ``timeout`` keeps the request unanswered (default 30).
  ``GET /_fake/faults`` lists them; ``POST /_fake/reset`` forgets messages and faults; ``POST /_fake/config``
  with ``{"rate_limit", "latency_ms", "callback_delay_ms"}`` changes those while running.
- ``rate_limit``: a token bucket of N messages/s; beyond it 429 with code 20429. ``latency_ms``: delay
  before each Messages answer.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .twilio_callbacks import CallbackDispatcher

FAULT_MODES = {
    "http_429",
    "http_500",
    "timeout",
    "accept_then_500",
    "accept_then_timeout",
    "invalid_number",
    "opted_out",
    "undelivered",
}
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21602: (400, "Message body is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (400, "The 'From' phone number provided is not a valid message-capable phone number."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
}


@dataclass
class Fault:
    mode: str
    ratio: float = 1.0
    until: float | None = None
    count: int | None = None
    error_code: int = 30003
    hang_seconds: float = 30.0

    def as_json(self) -> dict:
        left = None if self.until is None else max(0.0, round(self.until - time.monotonic(), 1))
        return {
            "mode": self.mode,
            "ratio": self.ratio,
            "seconds_left": left,
            "count": self.count,
            "error_code": self.error_code,
        }


@dataclass
class FakeTwilioState:
    account_sid: str
    auth_token: str
    rate_limit: float = 0.0
    latency_ms: float = 0.0
    callback_delay_ms: float = 50.0
    messages: list[dict] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _tokens: float = 0.0
    _tokens_at: float = 0.0
    in_flight: int = 0  # create requests being answered right now
    max_in_flight: int = 0  # the most at once since the last reset
    rejected_429: int = 0
    callbacks: dict = field(default_factory=dict)  # status callbacks posted, by the answer ("none": no answer)
    callbacks_pending: int = 0  # messages whose callbacks are still to be posted
    fault_hits: dict = field(default_factory=dict)  # mode → requests it hit since the last reset
    dispatcher: CallbackDispatcher | None = None  # posts the status callbacks (make_server starts it)

    def take_token(self) -> bool:
        if self.rate_limit <= 0:
            return True
        with self.lock:
            now = time.monotonic()
            if not self._tokens_at:
                self._tokens, self._tokens_at = self.rate_limit, now
            self._tokens = min(self.rate_limit, self._tokens + (now - self._tokens_at) * self.rate_limit)
            self._tokens_at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def pick_fault(self) -> Fault | None:
        with self.lock:
            now = time.monotonic()
            self.faults = [f for f in self.faults if (f.until is None or f.until > now) and f.count != 0]
            for fault in self.faults:
                if random.random() < fault.ratio:  # noqa: S311 - a fake's fault injection
                    if fault.count is not None:
                        fault.count -= 1
                    self.fault_hits[fault.mode] = self.fault_hits.get(fault.mode, 0) + 1
                    return fault
        return None

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.faults.clear()
            self._tokens_at = 0.0
            self.in_flight = self.max_in_flight = self.rejected_429 = 0
            self.callbacks = {}
            self.fault_hits = {}


def _now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC), usegmt=True)


class FakeTwilioHandler(BaseHTTPRequestHandler):
    server_version = "FakeTwilio/1.0"
    # Keep-alive, as api.twilio.com has: with HTTP/1.0 every message cost the sender a new connection (a
    # fifteenth of the send threads' time in the bench's profile). Every answer carries its Content-Length.
    protocol_version = "HTTP/1.1"
    state: FakeTwilioState  # set on the server class

    def log_message(self, format, *args):
        return

    # -- helpers ------------------------------------------------------------------------------------
    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, code: int, status: int | None = None) -> None:
        http_status, message = ERRORS[code]
        self._send_json(
            status or http_status,
            {
                "code": code,
                "message": message,
                "status": status or http_status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
            },
        )

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self, account_sid: str) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        state = self.state
        return (
            secrets.compare_digest(user, state.account_sid)
            and secrets.compare_digest(password, state.auth_token)
            and account_sid == state.account_sid
        )

    # -- routes -------------------------------------------------------------------------------------
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake/messages":
            if "text/html" in self.headers.get("Accept", "") and "application/json" not in self.headers.get(
                "Accept", ""
            ):
                return self._send_phone()
            with self.state.lock:
                return self._send_json(200, [dict(m) for m in self.state.messages])
        if path in ("/", "/_fake/messages.html"):
            return self._send_phone()
        if path == "/_fake/faults":
            with self.state.lock:
                return self._send_json(200, [f.as_json() for f in self.state.faults])
        if path == "/_fake/stats":
            with self.state.lock:
                stats = {
                    "messages": len(self.state.messages),
                    "max_in_flight": self.state.max_in_flight,
                    "rejected_429": self.state.rejected_429,
                    "callbacks": dict(self.state.callbacks),
                    "callbacks_pending": self.state.callbacks_pending,
                    "fault_hits": dict(self.state.fault_hits),
                }
            return self._send_json(200, stats)
        return self._send_error(20404)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake/reset":
            self._read_body()
            self.state.reset()
            return self._send_json(200, {"reset": True})
        if path == "/_fake/faults":
            return self._add_faults()
        if path == "/_fake/config":
            return self._configure()
        match = _MESSAGES_PATH.match(path)
        if match:
            return self._create_message(match["sid"])
        self._read_body()
        return self._send_error(20404)

    def _add_faults(self):
        try:
            payload = json.loads(self._read_body() or b"{}")
            items = payload if isinstance(payload, list) else [payload]
            faults = []
            for item in items:
                if item.get("mode") not in FAULT_MODES:
                    raise ValueError(f"mode must be one of {sorted(FAULT_MODES)}")
                seconds = item.get("seconds")
                faults.append(
                    Fault(
                        mode=item["mode"],
                        ratio=float(item.get("ratio", 1.0)),
                        until=None if seconds in (None, 0) else time.monotonic() + float(seconds),
                        count=None if item.get("count") is None else int(item["count"]),
                        error_code=int(item.get("error_code", 30003)),
                        hang_seconds=float(item.get("hang_seconds", 30)),
                    )
                )
        except (ValueError, TypeError, AttributeError) as error:
            return self._send_json(400, {"error": str(error)})
        with self.state.lock:
            self.state.faults.extend(faults)
            listed = [f.as_json() for f in self.state.faults]
        return self._send_json(200, listed)

    def _configure(self):
        try:
            payload = json.loads(self._read_body() or b"{}")
            with self.state.lock:
                for key in ("rate_limit", "latency_ms", "callback_delay_ms"):
                    if key in payload:
                        setattr(self.state, key, float(payload[key]))
                self.state._tokens_at = 0.0
                current = {k: getattr(self.state, k) for k in ("rate_limit", "latency_ms", "callback_delay_ms")}
        except (ValueError, TypeError, AttributeError) as error:
            return self._send_json(400, {"error": str(error)})
        return self._send_json(200, current)

    def _create_message(self, account_sid: str):
        form = urllib.parse.parse_qs(self._read_body().decode(), keep_blank_values=True)
        fields = {key: values[-1] for key, values in form.items()}
        if not self._authorised(account_sid):
            return self._send_error(20003)
        with self.state.lock:
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        try:
            if self.state.latency_ms:
                time.sleep(self.state.latency_ms / 1000)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1
        if not self.state.take_token():
            with self.state.lock:
                self.state.rejected_429 += 1
            return self._send_error(20429)
        to, body = fields.get("To", ""), fields.get("Body", "")
        sender = fields.get("From", "") or fields.get("MessagingServiceSid", "")
        if not to:
            return self._send_error(21604)
        if not sender:
            return self._send_error(21606)
        if not body:
            return self._send_error(21602)
        if not _E164.match(to):
            return self._send_error(21211)
        fault = self.state.pick_fault()
        mode = fault.mode if fault else None
        if mode == "http_429":
            return self._send_error(20429)
        if mode == "http_500":
            return self._send_error(20500)
        if mode == "timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            return None
        if mode == "invalid_number":
            return self._send_error(21211)
        if mode == "opted_out":
            return self._send_error(21610)
        message = self._store_message(account_sid, to, sender, body, fields.get("StatusCallback", ""))
        final = ("undelivered", fault.error_code) if mode == "undelivered" else ("delivered", None)
        self.state.dispatcher.add(message, final)
        if mode == "accept_then_500":
            return self._send_error(20500)
        if mode == "accept_then_timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            return None
        return self._send_json(201, self._resource(message))

    def _store_message(self, account_sid, to, sender, body, callback) -> dict:
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": account_sid,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "error_code": None,
            "status_callback": callback,
            "created": _now_rfc2822(),
        }
        with self.state.lock:
            self.state.messages.append(message)
        return message

    def _resource(self, message: dict) -> dict:
        sid = message["sid"]
        uri = f"/2010-04-01/Accounts/{message['account_sid']}/Messages/{sid}.json"
        return {
            "sid": sid,
            "account_sid": message["account_sid"],
            "to": message["to"],
            "from": message["from"],
            "body": message["body"],
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "date_created": message["created"],
            "date_updated": message["created"],
            "date_sent": None,
            "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }

    def _send_phone(self):
        with self.state.lock:
            messages = list(reversed(self.state.messages))
        rows = "".join(
            "<li><p>{created} · till {to} · {status}{code}</p><p><strong>{body}</strong></p></li>".format(
                created=html.escape(m["created"]),
                to=html.escape(m["to"]),
                status=html.escape(m["status"]),
                code=f" ({m['error_code']})" if m["error_code"] else "",
                body=html.escape(m["body"]),
            )
            for m in messages
        )
        page = f"""<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Falsk Twilio – telefonen</title></head>
<body><h1>Sms som den falska Twilio-tjänsten har tagit emot</h1>
<p>{len(messages)} meddelanden, nyast först. Sidan uppdateras var femte sekund.</p>
<ol>{rows or "<li>Inga sms ännu.</li>"}</ol></body></html>"""
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", "default-src 'none'")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops connections when a worker's 16 send threads and the bench's
    # clients connect at once (a dropped SYN costs the client a 1 s retransmit, or a reset).
    request_queue_size = 256


def make_server(host: str, port: int, state: FakeTwilioState) -> ThreadingHTTPServer:
    """A threading HTTP server serving the fake with ``state`` (not started)."""
    if state.dispatcher is None:
        state.dispatcher = CallbackDispatcher(state)
    handler = type("BoundFakeTwilioHandler", (FakeTwilioHandler,), {"state": state})
    server = _Server((host, port), handler)
    server.daemon_threads = True
    return server
