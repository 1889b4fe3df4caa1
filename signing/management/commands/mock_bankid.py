"""Run the mock BankID server: ``python manage.py mock_bankid --port 8001 [--time-factor N]``.

``--export-root FILE`` writes the mock PKI's root certificate (PEM) and exits: the root a verifier trusts
for the mock's signatures and OCSP responses (``xmlsec1 --trusted-pem``, ``openssl ocsp -CAfile``).
"""

import signal
import sys
from pathlib import Path

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
        parser.add_argument("--export-root", metavar="FILE", help="write the mock PKI's root certificate (PEM), exit")

    def handle(self, *args, port: int, host: str, time_factor: float, export_root: str | None, **options) -> None:
        if getattr(settings, "BANKID_PRODUCTION", False):
            raise CommandError("The mock BankID server refuses to run with BANKID_PRODUCTION on.")
        if export_root:
            from signing.mock import pki

            Path(export_root).write_bytes(pki.root_pem())
            self.stdout.write(f"Wrote the mock BankID root certificate to {export_root}")
            return
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
