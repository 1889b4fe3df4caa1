"""The fake Twilio server (a process) speaks Twilio's HTTP contract; the SMTP sink command is real."""

import base64
import json
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from harness import MANAGE
from notifications.channels.sms import BaseUrlHttpClient

from .conftest import ACCOUNT_SID, AUTH_TOKEN


def raw_create(url: str, fields: dict, *, account_sid: str = ACCOUNT_SID, token: str = AUTH_TOKEN):
    request = urllib.request.Request(
        f"{url}/2010-04-01/Accounts/{account_sid}/Messages.json",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Authorization": "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def client_for(url: str, token: str = AUTH_TOKEN) -> Client:
    return Client(ACCOUNT_SID, token, http_client=BaseUrlHttpClient(url, timeout=5))


def test_it_creates_a_message_with_an_sm_sid_in_twilios_shape(fake_twilio):
    status, body = raw_create(fake_twilio.url, {"To": "+46701234567", "From": "Banken", "Body": "Hej"})
    assert status == 201
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert body["status"] == "queued" and body["to"] == "+46701234567"
    [listed] = fake_twilio.messages()
    assert set(listed) >= {"sid", "to", "from", "body", "status", "status_callback", "created"}


def test_it_keeps_the_connection_open_between_messages_as_twilio_does(fake_twilio):
    import http.client

    parts = urllib.parse.urlsplit(fake_twilio.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    try:
        for n in range(3):
            connection.request(
                "POST",
                f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                body=urllib.parse.urlencode({"To": f"+4670123456{n}", "From": "Banken", "Body": "Hej"}),
                headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            assert (response.status, response.version) == (201, 11)
            response.read()
            if n == 0:
                socket_of_first = connection.sock
            assert connection.sock is socket_of_first  # the same connection, not a new one per message
    finally:
        connection.close()
    assert len(fake_twilio.messages()) == 3


def test_each_message_gets_its_signed_callbacks_in_order_from_the_posters(fake_twilio):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from twilio.request_validator import RequestValidator

    received: list[tuple[str, dict, bool]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            valid = RequestValidator(AUTH_TOKEN).validate(url, form, self.headers.get("X-Twilio-Signature", ""))
            received.append((self.path, form, valid))
            self.send_response(200 if self.path.endswith("/ok") else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    try:
        fake_twilio.fault("undelivered", count=1, error_code=30006)
        sids = []
        for n in range(20):  # more messages at once than the fake has posters
            callback = f"{base}/status/{n}/" + ("gone" if n == 19 else "ok")
            status, body = raw_create(
                fake_twilio.url, {"To": "+46701234567", "From": "Banken", "Body": "Hej", "StatusCallback": callback}
            )
            assert status == 201
            sids.append(body["sid"])
        deadline = time.monotonic() + 20
        while fake_twilio.stats()["callbacks_pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = fake_twilio.stats()
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert stats["callbacks_pending"] == 0
    assert stats["callbacks"] == {"200": 57, "404": 3}  # a callback that is not answered 200 is not posted again
    assert all(valid for _, _, valid in received)
    by_sid = {sid: [form["MessageStatus"] for _, form, _ in received if form["MessageSid"] == sid] for sid in sids}
    assert by_sid[sids[0]] == ["queued", "sent", "undelivered"]
    assert [form.get("ErrorCode") for _, form, _ in received if form["MessageSid"] == sids[0]][-1] == "30006"
    assert all(statuses == ["queued", "sent", "delivered"] for statuses in list(by_sid.values())[1:])
    assert {m["status"] for m in fake_twilio.messages()} == {"delivered", "undelivered"}


def test_it_refuses_wrong_basic_auth_with_401_and_twilios_error_body(fake_twilio):
    status, body = raw_create(fake_twilio.url, {"To": "+46701234567", "From": "B", "Body": "x"}, token="nope")
    assert status == 401
    assert body["code"] == 20003 and body["status"] == 401 and body["more_info"].endswith("20003")
    assert set(body) == {"code", "message", "status", "more_info"}


def test_the_twilio_client_turns_an_error_body_into_a_rest_exception(fake_twilio):
    with pytest.raises(TwilioRestException) as error:
        client_for(fake_twilio.url).messages.create(to="070-not-a-number", from_="Banken", body="x")
    assert (error.value.status, error.value.code) == (400, 21211)


def test_faults_apply_to_their_count_and_reset_clears_everything(fake_twilio):
    fake_twilio.fault("opted_out", count=1)
    create = client_for(fake_twilio.url).messages.create
    with pytest.raises(TwilioRestException) as error:
        create(to="+46701234567", from_="Banken", body="x")
    assert error.value.code == 21610
    assert create(to="+46701234567", from_="Banken", body="x").sid.startswith("SM")
    fake_twilio.fault("http_500")
    fake_twilio.reset()
    assert fake_twilio.messages() == []
    assert create(to="+46701234567", from_="Banken", body="x").sid


def test_a_fault_for_some_seconds_ends_by_itself(fake_twilio):
    fake_twilio.fault("http_429", seconds=0.5)
    create = client_for(fake_twilio.url).messages.create
    with pytest.raises(TwilioRestException) as error:
        create(to="+46701234567", from_="Banken", body="x")
    assert (error.value.status, error.value.code) == (429, 20429)
    time.sleep(0.6)
    assert create(to="+46701234567", from_="Banken", body="x").sid


def test_it_refuses_an_unknown_fault_mode(fake_twilio):
    with pytest.raises(urllib.error.HTTPError) as error:
        fake_twilio.fault("meteor")
    assert error.value.code == 400


def test_its_rate_limit_answers_429_with_code_20429(project_process):
    fake = project_process(
        [
            *MANAGE,
            "fake_twilio",
            "--port",
            "0",
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--rate-limit",
            "3",
            "--latency-ms",
            "10",
        ],
        ready=r"fake_twilio listening on (?P<url>http://\S+)",
    )
    answers = [raw_create(fake.url, {"To": "+46701234567", "From": "B", "Body": "x"}) for _ in range(6)]
    statuses = [status for status, _ in answers]
    assert statuses[:3] == [201, 201, 201]
    assert 429 in statuses[3:]
    assert next(body for status, body in answers if status == 429)["code"] == 20429


def test_its_phone_page_shows_the_messages_escaped(fake_twilio):
    raw_create(fake_twilio.url, {"To": "+46701234567", "From": "B", "Body": "<b>Kod 123456</b>"})
    for url, headers in [
        (fake_twilio.url + "/_fake/messages.html", {}),
        (fake_twilio.url + "/_fake/messages", {"Accept": "text/html"}),
    ]:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            page = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/html")
        assert "&lt;b&gt;Kod 123456&lt;/b&gt;" in page


def test_the_smtp_sink_command_receives_mail_and_can_refuse_it(project_process):
    sink = project_process(
        [*MANAGE, "smtp_sink", "--port", "0"],
        ready=r"smtp_sink listening on smtp://127\.0\.0\.1:(?P<port>\d+)",
    )
    port = int(sink.wait_for_output(r"smtp://127\.0\.0\.1:(\d+)")[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.sendmail("a@example.se", ["anna@example.se"], "Subject: Hej\r\n\r\nText\r\n")
    sink.wait_for_output(r"received 'Hej' for a\*\*\*@example\.se")

    refusing = project_process(
        [*MANAGE, "smtp_sink", "--port", "0", "--fail", "550"],
        ready=r"smtp_sink listening on smtp://\S+:(\d+)",
    )
    port = int(refusing.wait_for_output(r"smtp://127\.0\.0\.1:(\d+)")[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.sendmail("a@example.se", ["anna@example.se"], "Subject: Hej\r\n\r\nText\r\n")
