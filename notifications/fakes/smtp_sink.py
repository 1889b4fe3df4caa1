"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and fails on request.

``SmtpSink().start()`` listens on a free port (aiosmtpd's Controller does not accept port 0, so one is
picked first). ``fail(code, count=…, stage="rcpt"|"data")`` makes the next ``count`` transactions answer
``code`` (e.g. 451 or 550) at that stage; ``messages`` are the received ``email.message.EmailMessage``.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
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


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        failure = self.sink._take_failure("rcpt")
        if failure:
            return REPLIES.get(failure.code, f"{failure.code} Failure on request")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        failure = self.sink._take_failure("data")
        if failure:
            return REPLIES.get(failure.code, f"{failure.code} Failure on request")
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.sink.on_message:
            self.sink.on_message(message, envelope)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server in a thread; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, on_message=None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self.on_message = on_message
        self._failures: list[_Failure] = []
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def fail(self, code: int, *, count: int | None = 1, stage: str = "rcpt") -> None:
        """Answer ``code`` at ``stage`` for the next ``count`` transactions (None: until ``reset``)."""
        with self.lock:
            self._failures.append(_Failure(code=code, count=count, stage=stage))

    def reset(self) -> None:
        with self.lock:
            self._failures.clear()
            self.messages.clear()
            self.envelopes.clear()

    def _take_failure(self, stage: str) -> _Failure | None:
        with self.lock:
            for failure in self._failures:
                if failure.stage == stage and failure.count != 0:
                    if failure.count is not None:
                        failure.count -= 1
                    return failure
        return None
