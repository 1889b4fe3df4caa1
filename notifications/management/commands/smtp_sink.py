import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand

from notifications.channels.email import DELIVERY_HEADER
from notifications.fakes.smtp_sink import SmtpSink
from notifications.masking import mask_destination


def control_server(sink: SmtpSink, host: str, port: int) -> ThreadingHTTPServer:
    """A small JSON control API for a sink in another process (``make chaos``):

    - ``GET /_fake/received``: ``[{"delivery": "<X-Bevaka-Delivery>"}, …]``, one entry per message received
      (no addresses, no bodies);
    - ``POST /_fake/faults`` with ``{"code", "stage", "count", "addresses", "seconds", "ratio"}`` (see
      ``SmtpSink.fail``); ``POST /_fake/clear_faults``; ``POST /_fake/reset`` forgets messages and faults.
    """

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            return

        def _json(self, status: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/_fake/received":
                received = [{"delivery": m.get(DELIVERY_HEADER, "")} for m in sink.messages]
                return self._json(200, received)
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path == "/_fake/reset":
                sink.reset()
                return self._json(200, {"reset": True})
            if self.path == "/_fake/clear_faults":
                sink.clear_failures()
                return self._json(200, {"cleared": True})
            if self.path == "/_fake/faults":
                try:
                    item = json.loads(raw or b"{}")
                    sink.fail(
                        int(item["code"]),
                        count=None if item.get("count") is None else int(item["count"]),
                        stage=item.get("stage", "rcpt"),
                        addresses=item.get("addresses"),
                        seconds=item.get("seconds"),
                        ratio=float(item.get("ratio", 1.0)),
                    )
                except (KeyError, ValueError, TypeError) as error:
                    return self._json(400, {"error": str(error)})
                return self._json(200, {"added": True})
            return self._json(404, {"error": "not found"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class Command(BaseCommand):
    help = "Run an SMTP sink on loopback that accepts (or, with --fail, refuses) every message."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--fail", type=int, default=None, help="answer this SMTP code (e.g. 451, 550)")
        parser.add_argument("--fail-stage", choices=["rcpt", "data"], default="rcpt")
        parser.add_argument(
            "--control-port", type=int, default=None, help="serve the JSON control API here (0 picks a free port)"
        )
        parser.add_argument("--quiet", action="store_true", help="do not print a line per message")

    def handle(self, *args, **options):
        def show(message, envelope):
            to = ", ".join(mask_destination(address) for address in envelope.rcpt_tos)
            self.stdout.write(f"received {message['Subject']!r} for {to}")
            self.stdout.flush()

        sink = SmtpSink(options["host"], options["port"], on_message=None if options["quiet"] else show).start()
        if options["fail"]:
            sink.fail(options["fail"], count=None, stage=options["fail_stage"])
        control = None
        if options["control_port"] is not None:
            control = control_server(sink, options["host"], options["control_port"])
            threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
            host, port = control.server_address[:2]
            self.stdout.write(f"smtp_sink control on http://{host}:{port}")
        self.stdout.write(f"smtp_sink listening on smtp://{sink.host}:{sink.port}")
        self.stdout.flush()
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if control is not None:
                control.shutdown()
            sink.stop()
