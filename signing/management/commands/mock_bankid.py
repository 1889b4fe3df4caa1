"""Run the mock BankID server: ``python manage.py mock_bankid --port 8001 [--time-factor N]``."""

import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from signing.mock.server import MockServer
from signing.mock.state import MockBankID


class Command(BaseCommand):
    help = "Serve the mock BankID RP API v6.0, the simulated BankID app and security token on 127.0.0.1."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
        # Loopback unless told otherwise: docker-compose runs the mock in its own container (--host 0.0.0.0).
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--time-factor", type=float, default=1.0, help="make the mock's clock run N times faster (tests)"
        )

    def handle(self, *args, port: int, host: str, time_factor: float, **options) -> None:
        if getattr(settings, "BANKID_PRODUCTION", False):
            raise CommandError("The mock BankID server refuses to run with BANKID_PRODUCTION on.")
        if time_factor <= 0:
            raise CommandError("--time-factor must be positive")
        server = MockServer(port, MockBankID(time_factor=time_factor), host=host)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(f"mock_bankid listening on {server.url}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            server.server_close()
