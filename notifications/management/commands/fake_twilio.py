from django.conf import settings
from django.core.management.base import BaseCommand

from notifications.fakes.twilio_server import FakeTwilioState, make_server


class Command(BaseCommand):
    help = "Run the fake Twilio Messages API on loopback (development and tests only)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--account-sid", default=None, help="default: settings.TWILIO_ACCOUNT_SID")
        parser.add_argument("--auth-token", default=None, help="default: settings.TWILIO_AUTH_TOKEN")
        parser.add_argument("--rate-limit", type=float, default=0.0, help="messages per second; 0 = none")
        parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
        parser.add_argument("--callback-delay-ms", type=float, default=50.0, help="between status callbacks")

    def handle(self, *args, **options):
        state = FakeTwilioState(
            account_sid=options["account_sid"] or settings.TWILIO_ACCOUNT_SID,
            auth_token=options["auth_token"] or settings.TWILIO_AUTH_TOKEN,
            rate_limit=options["rate_limit"],
            latency_ms=options["latency_ms"],
            callback_delay_ms=options["callback_delay_ms"],
        )
        if not state.account_sid or not state.auth_token:
            self.stderr.write("fake_twilio needs an account sid and auth token (settings or options).")
            raise SystemExit(2)
        server = make_server(options["host"], options["port"], state)
        host, port = server.server_address[:2]
        self.stdout.write(f"fake_twilio listening on http://{host}:{port}")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
