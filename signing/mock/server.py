"""The mock BankID server's HTTP side: RP API v6.0, the test control API, the simulated BankID app
(``/app/``) and the simulated säkerhetsdosa (``/token/``). A stdlib threaded HTTP server on loopback.
"""

from __future__ import annotations

import json
import re
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from .completion import identity
from .state import FAIL_HINTS, PENDING_HINTS, ApiError, MockBankID, Order, invalid

RP_PREFIX = "/rp/v6.0/"
RP_ENDPOINTS = {"auth", "sign", "phone/auth", "phone/sign", "collect", "cancel"}
_CONTROL = re.compile(r"^/mock/v1/orders/(?P<ref>[^/]+)/(?P<action>complete|fail|hint)$")

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1d1d1b}"
    "h1{font-size:1.4rem}pre{white-space:pre-wrap;background:#f3f5f7;padding:1rem;border-radius:4px}"
    ".error{color:#b00020}.response{font-size:2rem;letter-spacing:.2em}label{display:block;margin-top:1rem}"
    "button{margin:1rem .5rem 0 0;padding:.5rem 1rem}input,select{font:inherit;padding:.3rem}"
)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><p><em>Simulerad BankID-miljö för utveckling och test</em></p>{body}</body></html>"
    ).encode()


def _demo_people(*, signatories_only: bool = False) -> list[tuple[str, str]]:
    """The demo people of companies/demo.py (the signatories: those seed_demo gives a token)."""
    try:
        from companies.demo import PEOPLE
    except Exception:
        return []
    return [
        (p.personnummer, p.name)
        for p in PEOPLE
        if not signatories_only or any(r.signing_mandate != "none" for r in p.roles.values())
    ]


def _person_picker(selected: str = "") -> str:
    options = "".join(
        f'<option value="{pnr}"{" selected" if pnr == selected else ""}>{escape(name)} ({pnr[:8]}-{pnr[8:]})</option>'
        for pnr, name in _demo_people()
    )
    return (
        '<label for="personalNumber">Personnummer (testidentitet, 12 siffror)</label>'
        f'<input id="personalNumber" name="personalNumber" list="people" value="{escape(selected)}" '
        f'inputmode="numeric" autocomplete="off"><datalist id="people">{options}</datalist>'
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "MockBankID/6.0"
    protocol_version = "HTTP/1.1"

    @property
    def bankid(self) -> MockBankID:
        return self.server.bankid  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:
        pass  # request lines would carry personal numbers in query strings

    # --- plumbing -------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _html(self, status: int, title: str, body: str) -> None:
        self._send(status, _page(title, body), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self._body().decode("utf-8", "replace")).items()}

    def _path(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

    # --- dispatch -------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path, query = self._path()
        if path.startswith(RP_PREFIX) or path.startswith("/mock/v1/orders/"):
            return self._method_not_allowed(path)
        if path == "/mock/v1/orders":
            return self._json(200, self.bankid.orders(query.get("personalNumber")))
        if path in {"/", ""}:
            return self._html(
                200,
                "Mock BankID",
                '<h1>Mock BankID</h1><ul><li><a href="/app/">BankID-appen</a></li>'
                '<li><a href="/token/">Säkerhetsdosa</a></li></ul>',
            )
        if path == "/app/":
            return self._app_start(query)
        if path == "/token/":
            return self._token_page()
        self._html(404, "Finns inte", "<h1>Sidan finns inte</h1>")

    def do_POST(self) -> None:
        path, _ = self._path()
        if path.startswith(RP_PREFIX):
            return self._rp(path[len(RP_PREFIX) :])
        if match := _CONTROL.match(path):
            return self._control(match["ref"], match["action"])
        if path == "/app/open":
            return self._app_open(self._form())
        if path == "/app/confirm":
            return self._app_confirm(self._form())
        if path == "/token/":
            return self._token_page(self._form())
        self._json(404, {"errorCode": "notFound", "details": "No such endpoint"})

    def _method_not_allowed(self, path: str) -> None:
        if path.startswith(RP_PREFIX) and path[len(RP_PREFIX) :] not in RP_ENDPOINTS:
            return self._json(404, {"errorCode": "notFound", "details": "No such endpoint"})
        self._json(405, {"errorCode": "methodNotAllowed", "details": "Only POST is allowed"})

    do_PUT = do_DELETE = do_PATCH = lambda self: self._method_not_allowed(self._path()[0])

    # --- RP API ---------------------------------------------------------------------------------------
    def _rp(self, endpoint: str) -> None:
        if endpoint not in RP_ENDPOINTS:
            return self._json(404, {"errorCode": "notFound", "details": "No such endpoint"})
        raw = self._body()
        if self.headers.get("Content-Type") != "application/json":
            return self._json(
                415, {"errorCode": "unsupportedMediaType", "details": "Content-Type must be application/json"}
            )
        try:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise invalid("Invalid JSON") from None
            if endpoint == "collect":
                answer = self.bankid.collect(body)
            elif endpoint == "cancel":
                answer = self.bankid.cancel(body)
            else:
                answer = self.bankid.start(endpoint, body)
        except ApiError as exc:
            return self._json(exc.status, exc.body())
        self._json(200, answer)

    # --- control API ----------------------------------------------------------------------------------
    def _control(self, order_ref: str, action: str) -> None:
        try:
            try:
                body = json.loads(self._body() or b"{}")
            except json.JSONDecodeError:
                raise invalid("Invalid JSON") from None
            if not isinstance(body, dict):
                raise invalid("Invalid JSON body")
            if action == "complete":
                order = self.bankid.complete(order_ref, str(body.get("personalNumber") or ""))
            elif action == "fail":
                if body.get("hintCode") not in FAIL_HINTS:
                    raise invalid(f"hintCode must be one of {sorted(FAIL_HINTS)}")
                order = self.bankid.fail(order_ref, body["hintCode"])
            else:
                if body.get("hintCode") not in PENDING_HINTS:
                    raise invalid(f"hintCode must be one of {sorted(PENDING_HINTS)}")
                order = self.bankid.set_hint(order_ref, body["hintCode"])
        except ApiError as exc:
            return self._json(exc.status, exc.body())
        self._json(200, {"orderRef": order.order_ref, "status": order.status, "hintCode": order.hint or None})

    # --- simulated BankID app -------------------------------------------------------------------------
    def _app_start(self, query: dict[str, str]) -> None:
        token = query.get("autostarttoken", "")
        redirect = query.get("redirect", "")
        hidden = (
            f'<input type="hidden" name="autostarttoken" value="{escape(token)}">'
            f'<input type="hidden" name="redirect" value="{escape(redirect)}">'
        )
        if token:
            order = self.bankid.find(auto_start_token=token)
            if order is None or order.status != "pending":
                return self._html(404, "BankID", '<h1>BankID</h1><p class="error">Ordern finns inte längre.</p>')
            if order.hint == "outstandingTransaction":
                self.bankid.set_hint(order.order_ref, "started")
            return self._html(
                200,
                "BankID",
                "<h1>BankID</h1><p>Välj vilket BankID du vill använda.</p>"
                f'<form method="post" action="/app/open">{hidden}'
                f"{_person_picker(order.required_person or '')}"
                '<button type="submit">Fortsätt</button></form>',
            )
        self._html(
            200,
            "BankID",
            "<h1>BankID</h1><p>Läs av QR-koden: klistra in dess innehåll (<code>bankid.…</code>).</p>"
            f'<form method="post" action="/app/open">{hidden}'
            '<label for="qr">QR-kod</label><input id="qr" name="qr" size="60" autocomplete="off">'
            f'{_person_picker()}<button type="submit">Läs av</button></form>',
        )

    def _app_open(self, form: dict[str, str]) -> None:
        person = form.get("personalNumber", "").replace("-", "").strip()
        from .state import valid_personal_number

        if not valid_personal_number(person):
            return self._html(400, "BankID", '<h1>BankID</h1><p class="error">Ange ett giltigt personnummer.</p>')
        if form.get("autostarttoken"):
            order = self.bankid.find(auto_start_token=form["autostarttoken"])
            if order is None or order.status != "pending":
                return self._html(404, "BankID", '<h1>BankID</h1><p class="error">Ordern finns inte längre.</p>')
        else:
            try:
                order = self.bankid.find_by_qr(form.get("qr", ""))
            except ValueError as exc:
                return self._html(400, "BankID", f'<h1>BankID</h1><p class="error">{escape(str(exc))}</p>')
        if order.required_person and order.required_person != person:
            return self._html(
                403,
                "BankID",
                '<h1>BankID</h1><p class="error">'
                "Den här identifieringen eller underskriften är inte till dig. "
                "Den begärda personen har ett annat personnummer.</p>",
            )
        self.bankid.set_hint(order.order_ref, "userSign")
        self._html(200, "BankID", self._confirm_form(order, person, form.get("redirect", "")))

    def _confirm_form(self, order: Order, person: str, redirect: str, error: str = "") -> str:
        name = identity(person)["name"]
        action = "Skriv under" if order.kind == "sign" else "Identifiera"
        heading = "Skriv under" if order.kind == "sign" else "Identifiera dig"
        intent = "" if order.kind == "sign" else "<h2>Min avsikt:</h2>"
        text = f"{intent}<pre>{escape(order.visible_text())}</pre>" if order.user_visible_data else ""
        return (
            f"<h1>{heading}</h1><p>{escape(self.bankid.display_name)} begär {action.lower()} av "
            f"<strong>{escape(name)}</strong>.</p>{text}"
            + (f'<p class="error">{escape(error)}</p>' if error else "")
            + '<form method="post" action="/app/confirm">'
            f'<input type="hidden" name="orderRef" value="{order.order_ref}">'
            f'<input type="hidden" name="personalNumber" value="{person}">'
            f'<input type="hidden" name="redirect" value="{escape(redirect)}">'
            '<label for="code">Säkerhetskod (påhittad, 6 siffror)</label>'
            '<input id="code" name="code" type="password" inputmode="numeric" autocomplete="off">'
            f'<button type="submit" name="action" value="sign">{action}</button>'
            '<button type="submit" name="action" value="cancel">Avbryt</button></form>'
        )

    def _app_confirm(self, form: dict[str, str]) -> None:
        order = self.bankid.find(order_ref=form.get("orderRef", ""))
        if order is None or order.status != "pending":
            return self._html(404, "BankID", '<h1>BankID</h1><p class="error">Ordern finns inte längre.</p>')
        person = form.get("personalNumber", "")
        redirect = form.get("redirect", "")
        try:
            if form.get("action") == "cancel":
                self.bankid.fail(order.order_ref, "userCancel")
                title, text = "Avbrutet", "Du avbröt."
            else:
                code = form.get("code", "")
                if not (code.isdigit() and len(code) == 6):
                    return self._html(
                        400,
                        "BankID",
                        self._confirm_form(order, person, redirect, "Ange en säkerhetskod med 6 siffror."),
                    )
                self.bankid.complete(order.order_ref, person)
                title, text = "Klart", "Klart! Gå tillbaka till webbplatsen."
        except ApiError as exc:
            return self._html(exc.status, "BankID", f'<h1>BankID</h1><p class="error">{escape(exc.details)}</p>')
        back = order.return_url or (redirect if redirect not in {"", "null"} else "")
        link = f'<p><a id="return" href="{escape(back)}">Tillbaka till webbplatsen</a></p>' if back else ""
        self._html(200, title, f"<h1>{title}</h1><p>{text}</p>{link}")

    # --- simulated security token ---------------------------------------------------------------------
    def _token_page(self, form: dict[str, str] | None = None) -> None:
        from signing.ocra import OcraSuite
        from signing.tokens import SUITE, demo_secret, demo_serial

        form = form or {}
        serial = form.get("serial", "").strip()
        challenge = form.get("challenge", "").replace(" ", "").strip()
        result = ""
        if form:
            if not (serial.isdigit() and challenge.isdigit() and len(challenge) == 8):
                result = '<p class="error">Välj serienummer och slå in kontrollkodens 8 siffror.</p>'
            else:
                response = OcraSuite.parse(SUITE).compute(demo_secret(serial), challenge)
                result = f'<p>Svarskod:</p><p class="response" id="response">{response[:4]} {response[4:]}</p>'
        options = "".join(
            f'<option value="{demo_serial(pnr)}"{" selected" if demo_serial(pnr) == serial else ""}>'
            f"{demo_serial(pnr)} – {escape(name)}</option>"
            for pnr, name in _demo_people(signatories_only=True)
        )
        self._html(
            200,
            "Säkerhetsdosa",
            "<h1>Säkerhetsdosa</h1><p>Slå in kontrollkoden från signeringssidan och läs av svarskoden.</p>"
            '<form method="post" action="/token/"><label for="serial">Dosans serienummer</label>'
            f'<select id="serial" name="serial">{options}</select>'
            f'<label for="challenge">Kontrollkod</label><input id="challenge" name="challenge" '
            f'value="{escape(challenge)}" inputmode="numeric" autocomplete="off">'
            '<button type="submit">OK</button></form>' + result,
        )


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, bankid: MockBankID, host: str = "127.0.0.1"):
        super().__init__((host, port), Handler)
        self.bankid = bankid

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"


def app_link(base_url: str, auto_start_token: str, redirect: str) -> str:
    return f"{base_url}?{urlencode({'autostarttoken': auto_start_token, 'redirect': redirect or 'null'})}"
