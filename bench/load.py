"""Load generators, run as separate processes by the benchmark (``python -m bench.load MODE …``), so that
they are spread over the cores like the pipeline's workers; each prints one JSON line with its counts.

Modes:
- ``twilio_raw``: POST Messages.json to the fake Twilio server with a plain HTTP client (its own ceiling);
- ``smtp_raw``: send alert-sized mails to the SMTP sink over one reused connection per thread;
- ``sms_channel`` / ``email_channel``: the channel's own ``send()`` (the twilio client, Django's SMTP
  backend) on unsaved deliveries: the provider path without database or Celery;
- ``api_single``: signed single events against POST /api/v1/events (scenario 3), with latencies.

A process prints "ready" once set up, then reads the start time (unix seconds) from stdin: the parent sends
it when every process is ready, so that they overlap; all threads stop ``--seconds`` after it.
"""

from __future__ import annotations

import argparse
import base64
import email.policy
import http.client
import itertools
import json
import os
import smtplib
import sys
import threading
import time
import urllib.parse
from email.message import EmailMessage

SMS_BODY = "Bevaka ärenden: Avvisad betalning för Benchbolaget AB. Logga in i internetbanken för att se ärendet."
EMAIL_BODY = (
    "Hej!\n\nDet finns ett nytt ärende för Benchbolaget AB: Avvisad betalning.\n\n"
    "Logga in i internetbanken för att se ärendet. Av säkerhetsskäl står inga detaljer i det här meddelandet.\n\n"
    "Med vänlig hälsning\nBanken\n"
)
EMAIL_HTML = "<!DOCTYPE html><html lang=sv><body><p>" + EMAIL_BODY.replace("\n\n", "</p><p>") + "</p></body></html>"


def _twilio_raw(args, counter) -> None:
    base = urllib.parse.urlsplit(os.environ["TWILIO_API_BASE_URL"])
    sid, token = os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"]
    auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
    body = urllib.parse.urlencode({"To": "+46701234567", "From": "Banken", "Body": SMS_BODY})
    path = f"/2010-04-01/Accounts/{sid}/Messages.json"
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}

    def one() -> bool:
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 201
        finally:
            connection.close()

    _loop(args, counter, one)


def _smtp_raw(args, counter) -> None:
    host, port = os.environ["EMAIL_HOST"], int(os.environ["EMAIL_PORT"])
    message = EmailMessage()
    message["Subject"] = "Avvisad betalning"
    message["From"] = "no-reply@bevaka.localhost"
    message["To"] = "mottagare@bench.example"
    message.set_content(EMAIL_BODY, cte="quoted-printable")  # 7-bit, as Django's backend sends it
    message.add_alternative(EMAIL_HTML, subtype="html", cte="quoted-printable")
    payload = message.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire
    local = threading.local()

    def one() -> bool:
        if getattr(local, "smtp", None) is None:
            local.smtp = smtplib.SMTP(host, port, timeout=10)
        local.smtp.sendmail("no-reply@bevaka.localhost", ["mottagare@bench.example"], payload)
        return True

    _loop(args, counter, one)


_ids = itertools.count(10_000_000 + os.getpid() * 100_000)


def _send_one(channel_name: str) -> bool:
    from notifications.channels import get_channel
    from notifications.models import Delivery

    delivery = Delivery(
        pk=next(_ids),
        channel=channel_name,
        destination="+46701234567" if channel_name == "sms" else "mottagare@bench.example",
        purpose="alert",
        subject="Avvisad betalning",
        body=SMS_BODY if channel_name == "sms" else EMAIL_BODY,
        html_body="" if channel_name == "sms" else EMAIL_HTML,
    )
    get_channel(channel_name).send(delivery)  # a channel object per send, as the pipeline does
    return True


def _channel(args, counter, channel_name: str) -> None:
    _loop(args, counter, lambda: _send_one(channel_name))


def _api_single(args, counter) -> None:
    base = urllib.parse.urlsplit(os.environ["BENCH_API_URL"])
    secret, source = os.environ["BENCH_SOURCE_SECRET"], os.environ["BENCH_SOURCE_NAME"]
    org_number = os.environ["BENCH_API_COMPANY"]
    ids = itertools.count()  # shared by this process's threads (next() on a count is atomic)
    prefix = f"api-{os.getpid()}-{time.time_ns()}"
    import hashlib
    import hmac

    def one() -> bool:
        body = json.dumps(
            {
                "id": f"{prefix}-{next(ids)}",
                "type": "rejected_payment",
                "company": org_number,
                "occurred_at": "2026-03-02T09:15:00+01:00",
            }
        ).encode()
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Bevaka-Source": source,
            "X-Bevaka-Timestamp": timestamp,
            "X-Bevaka-Signature": f"sha256={digest}",
        }
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        try:
            connection.request("POST", "/api/v1/events", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 202 or f"http_{response.status}"
        finally:
            connection.close()

    _loop(args, counter, one, keep_latencies=True)


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.latencies_ms: list[float] = []


def _loop(args, counter: Counter, one, *, keep_latencies: bool = False) -> None:
    while time.time() < args.start_at:
        time.sleep(0.005)
    deadline = args.start_at + args.seconds
    while time.time() < deadline:
        started = time.perf_counter()
        try:
            outcome = one()
        except Exception as error:
            outcome = type(error).__name__
        ok = outcome is True
        kind = outcome if isinstance(outcome, str) else "status"
        elapsed = (time.perf_counter() - started) * 1000
        with counter.lock:
            if ok:
                counter.ok += 1
            else:
                counter.errors += 1
                counter.error_kinds[kind] = counter.error_kinds.get(kind, 0) + 1
            if keep_latencies:
                counter.latencies_ms.append(round(elapsed, 2))


MODES = {
    "twilio_raw": _twilio_raw,
    "smtp_raw": _smtp_raw,
    "sms_channel": lambda args, counter: _channel(args, counter, "sms"),
    "email_channel": lambda args, counter: _channel(args, counter, "email"),
    "api_single": _api_single,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    counter = Counter()
    if args.mode in ("sms_channel", "email_channel"):
        import django

        django.setup()  # once, before the threads
        # One send first: the twilio client imports its API modules on first use (about a second), which
        # a long-running worker pays once; it must not count against a few seconds of measurement.
        _send_one(args.mode.removesuffix("_channel"))
    print("ready", flush=True)
    line = sys.stdin.readline()
    args.start_at = float(line) if line.strip() else time.time()
    threads = [threading.Thread(target=MODES[args.mode], args=(args, counter)) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 60)
    print(
        json.dumps(
            {
                "ok": counter.ok,
                "errors": counter.errors,
                "error_kinds": counter.error_kinds,
                "seconds": args.seconds,
                "latencies_ms": counter.latencies_ms,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
