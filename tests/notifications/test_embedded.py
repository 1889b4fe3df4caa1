"""`make run` in small: SQLite, kombu's filesystem broker, a worker, beat, and the fake Twilio server with its
development credentials; an SMS reaches the fake's phone and an e-mail the dev outbox."""

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from harness import MANAGE, celery_beat, celery_worker, free_port, run_command, worker_ready

pytestmark = pytest.mark.slow

QUEUE = """
from notifications.services import queue_delivery
from notifications.sms import render_sms
queue_delivery(channel="sms", destination="+46701234567", purpose="verification",
               body=render_sms("verification_code", {"code": "424242"}))
queue_delivery(channel="email", destination="anna@example.se", purpose="alert", subject="Nytt ärende",
               body="Logga in i banken.")
"""


def test_the_development_setup_sends_sms_to_the_fake_phone_and_mail_to_the_outbox(embedded_env, project_process):
    port = free_port()
    env = {**embedded_env, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}", "NOTIFICATIONS_RELAY_INTERVAL": "0.5"}
    assert run_command([*MANAGE, "migrate", "--noinput"], env=env).returncode == 0
    project_process([*MANAGE, "fake_twilio", "--port", str(port)], env=env, ready=r"fake_twilio listening on")
    project_process(
        celery_worker(name="embedded", pool="solo"),
        env=env,
        ready=worker_ready("embedded"),
        timeout=60,
        stop_signal=signal.SIGKILL,  # the test is over: even a cold shutdown waits out a 4 s file-broker poll
    )
    project_process(celery_beat(), env=env, ready=r"beat: Starting")
    result = run_command([*MANAGE, "shell", "-c", QUEUE], env=env)
    assert result.returncode == 0, result.stdout

    outbox = Path(env["BEVAKA_VAR_DIR"]) / "outbox"
    deadline = time.monotonic() + 30
    messages, mails = [], []
    while time.monotonic() < deadline and not (messages and mails):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_fake/messages", headers={"Accept": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            messages = json.loads(response.read())
        mails = list(outbox.glob("*.eml")) if outbox.exists() else []
        time.sleep(0.2)
    assert [m["body"] for m in messages] == [
        "Din kod till Bevaka ärenden är 424242. Koden gäller i 10 minuter. Banken frågar aldrig efter koden."
    ]
    assert len(mails) == 1
    assert b"X-Bevaka-Delivery:" in mails[0].read_bytes()
