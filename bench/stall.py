"""An SMTP server that stalls: it accepts every connection and answers nothing (no greeting, no reply), as
a mail relay does when it hangs. For the head-of-line scenario of issue 21 (bench/scenarios.py).

``StallingSmtp().start()`` listens on a free loopback port in a thread of the bench process; it keeps every
connection open until ``stop()``, and counts them: ``accepted`` (ever) and ``held`` (open now, the most at
once in ``most_held``), so the scenario can show that the sink really stalled senders.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from harness import free_port


class StallingSmtp(threading.Thread):
    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(daemon=True, name="bench-stalling-smtp")
        self.host = host
        self.port = free_port()
        self.lock = threading.Lock()
        self.accepted = 0
        self.most_held = 0
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._listener = socket.create_server((host, self.port), backlog=512)
        self._listener.settimeout(0.2)

    @property
    def held(self) -> int:
        with self.lock:
            return len(self._held)

    def start(self) -> StallingSmtp:
        super().start()
        return self

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self.lock:
                self._held.append(connection)  # never read from, never written to
                self.accepted += 1
                self.most_held = max(self.most_held, len(self._held))

    def stop(self) -> None:
        """Close the listener and every held connection (their clients then see the connection lost)."""
        self._stopped.set()
        self.join(5)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self.lock:
            held, self._held = self._held, []
        for connection in held:
            with contextlib.suppress(OSError):
                connection.close()
