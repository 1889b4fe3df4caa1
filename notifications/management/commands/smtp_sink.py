import signal
import threading

from django.core.management.base import BaseCommand

from notifications.fakes.smtp_sink import SmtpSink
from notifications.masking import mask_destination


class Command(BaseCommand):
    help = "Run an SMTP sink on loopback that accepts (or, with --fail, refuses) every message."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--fail", type=int, default=None, help="answer this SMTP code (e.g. 451, 550)")
        parser.add_argument("--fail-stage", choices=["rcpt", "data"], default="rcpt")

    def handle(self, *args, **options):
        def show(message, envelope):
            to = ", ".join(mask_destination(address) for address in envelope.rcpt_tos)
            self.stdout.write(f"received {message['Subject']!r} for {to}")
            self.stdout.flush()

        sink = SmtpSink(options["host"], options["port"], on_message=show).start()
        if options["fail"]:
            sink.fail(options["fail"], count=None, stage=options["fail_stage"])
        self.stdout.write(f"smtp_sink listening on smtp://{sink.host}:{sink.port}")
        self.stdout.flush()
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            sink.stop()
