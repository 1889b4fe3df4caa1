"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and fails on request.

``SmtpSink().start()`` listens on a free port (aiosmtpd's Controller does not accept port 0, so one is
picked first). ``fail(code, count=…, stage="rcpt"|"data")`` makes the next ``count`` transactions answer
``code`` (e.g. 451 or 550) at that stage; ``addresses`` limits a failure to those recipients, ``seconds``
to a time window and ``ratio`` to a share of the transactions (fault injection for ``make chaos``).
``messages`` are the received ``email.message.EmailMessage``, parsed when first asked for (parsing each
message as it arrived was most of the sink's CPU in the benchmark, where nobody reads them).
"""

from __future__ import annotations

import email
import email.policy
import random
import socket
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller

REPLIES = {
    421: "421 4.3.2 Service not available, closing channel",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Temporary failure, try again later",
    452: "452 4.2.2 Mailbox full",
    550: "550 5.1.1 No such user here",
    552: "552 5.2.2 Mailbox full",
    554: "554 5.7.1 Message rejected",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class _Failure:
    code: int
    count: int | None
    stage: str
    addresses: frozenset[str] | None = None  # None: every recipient
    until: float | None = None  # time.monotonic() after which the failure is over
    ratio: float = 1.0

    def applies(self, stage: str, recipients: list[str], now: float) -> bool:
        if self.stage != stage or self.count == 0 or (self.until is not None and now >= self.until):
            return False
        if self.addresses is not None and not any(r.lower() in self.addresses for r in recipients):
            return False
        return self.ratio >= 1.0 or random.random() < self.ratio  # noqa: S311 - a fake's fault injection


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.sink.lock:
            self.sink.sessions += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        failure = self.sink._take_failure("rcpt", [address])
        if failure:
            return REPLIES.get(failure.code, f"{failure.code} Failure on request")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        failure = self.sink._take_failure("data", list(envelope.rcpt_tos))
        if failure:
            return REPLIES.get(failure.code, f"{failure.code} Failure on request")
        with self.sink.lock:
            self.sink._received.append(envelope.content)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.sink.on_message:
            self.sink.on_message(_parse(envelope.content), envelope)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server in a thread; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, on_message=None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._received: list[bytes] = []
        self._parsed: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.sessions = 0  # EHLOs: one per connection a client opened
        self.lock = threading.Lock()
        self.on_message = on_message
        self._failures: list[_Failure] = []
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        """The messages received so far, oldest first (each parsed once)."""
        with self.lock:
            self._parsed.extend(_parse(raw) for raw in self._received[len(self._parsed) :])
            return list(self._parsed)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def fail(
        self,
        code: int,
        *,
        count: int | None = 1,
        stage: str = "rcpt",
        addresses=None,
        seconds: float | None = None,
        ratio: float = 1.0,
    ) -> None:
        """Answer ``code`` at ``stage`` for the next ``count`` transactions (None: until ``reset``), only to
        ``addresses`` when given, only for ``seconds`` when given, and only to a ``ratio`` of them."""
        failure = _Failure(
            code=code,
            count=count,
            stage=stage,
            addresses=None if addresses is None else frozenset(a.lower() for a in addresses),
            until=None if not seconds else time.monotonic() + float(seconds),
            ratio=float(ratio),
        )
        with self.lock:
            self._failures.append(failure)

    def reset(self) -> None:
        with self.lock:
            self._failures.clear()
            self._received.clear()
            self._parsed.clear()
            self.envelopes.clear()
            self.sessions = 0

    def clear_failures(self) -> None:
        with self.lock:
            self._failures.clear()

    def _take_failure(self, stage: str, recipients: list[str]) -> _Failure | None:
        now = time.monotonic()
        with self.lock:
            for failure in self._failures:
                if failure.applies(stage, recipients, now):
                    if failure.count is not None:
                        failure.count -= 1
                    return failure
        return None
