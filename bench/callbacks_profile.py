"""CPU per Twilio status callback in the web, for working on it (issue 8): signed callbacks (queued, sent,
delivered for each of N SMS deliveries, as the fake Twilio posts them) through the whole WSGI application,
middleware included, in a scratch database of your own, without gunicorn or the rest of the run.

    python -m bench.callbacks_profile --database postgres://postgres@127.0.0.1:5432/my_scratch --migrate
    python -m bench.callbacks_profile --database postgres://postgres@127.0.0.1:5432/my_scratch [--profile]

Each run replaces the database's deliveries with N fresh ones in status ``sending`` and prints the process
CPU time and the wall time per callback (after 20 warm-ups), and checks that every delivery ended
*delivered*. CPU time stays meaningful while other processes load the machine; wall time does not.
``--profile`` adds a cProfile listing. Nothing here is part of the benchmark's JSON.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import secrets
import sys
import time
from urllib.parse import urlencode

from .pages_profile import scratch_parser, setup

TOKEN = "callbacks-profile-token"  # noqa: S105 - made up, for signing our own requests
BASE_URL = "http://testserver"
ACCOUNT_SID = "AC" + "0" * 31 + "8"


def _requests(count: int) -> list[tuple[str, bytes, str]]:
    from django.utils import timezone
    from twilio.request_validator import RequestValidator

    from notifications.models import Delivery

    Delivery.objects.all().delete()
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            channel="sms",
            destination="+46701234567",
            purpose="alert",
            body="x",
            status="sending",
            provider_id="SM" + secrets.token_hex(16),
            sent_at=now,
        )
        for _ in range(count)
    )
    validator = RequestValidator(TOKEN)
    requests = []
    for status in ("queued", "sent", "delivered"):
        for delivery in deliveries:
            path = f"/webhooks/twilio/status/{delivery.pk}"
            form = {
                "MessageSid": delivery.provider_id,
                "MessageStatus": status,
                "AccountSid": ACCOUNT_SID,
                "To": delivery.destination,
                "From": "Banken",
                "ApiVersion": "2010-04-01",
            }
            requests.append((path, urlencode(form).encode(), validator.compute_signature(BASE_URL + path, form)))
    return requests


def _call(application, path: str, body: bytes, signature: str) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_TWILIO_SIGNATURE": signature,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }
    statuses = []
    response = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)
    response.close()
    if not statuses[0].startswith("200"):
        raise RuntimeError(f"{path} answered {statuses[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = scratch_parser(__doc__)
    parser.add_argument("--migrate", action="store_true", help="migrate the database, and exit")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--settings",
        default="bevaka.settings_webhooks",
        help="the settings module (default: the webhooks processes'; bevaka.settings for the whole web's)",
    )
    args = parser.parse_args(argv)
    os.environ.update(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE_URL, TWILIO_ACCOUNT_SID=ACCOUNT_SID)
    setup(args.database, args.redis, args.settings)
    if args.migrate:
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        return 0
    from bevaka.wsgi import application
    from notifications.models import Delivery

    requests = _requests(args.deliveries)
    warm, timed = requests[:20], requests[20:]
    for request in warm:
        _call(application, *request)
    profiler = cProfile.Profile() if args.profile else None
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for request in timed:
        _call(application, *request)
    if profiler:
        profiler.disable()
    cpu = (time.process_time() - started_cpu) * 1000 / len(timed)
    wall = (time.perf_counter() - started_wall) * 1000 / len(timed)
    delivered = Delivery.objects.filter(status="delivered").count()
    print(f"{len(timed)} callbacks: CPU {cpu:.2f} ms, wall {wall:.2f} ms each; {delivered} delivered", file=sys.stderr)
    if delivered != args.deliveries:
        raise SystemExit(f"only {delivered} of {args.deliveries} deliveries ended delivered")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
