"""Logs: one JSON object per line, with the request id and the Celery task id, personal data masked."""

import io
import json
import logging
import re
import uuid

import pytest

from bevaka.observability import (
    ContextFilter,
    JsonFormatter,
    PersonalDataFilter,
    mask_personal_data,
    request_id_var,
)
from harness import MANAGE, celery_worker, run_command, worker_ready


@pytest.fixture
def log_lines():
    """The JSON lines the root logger writes while the test runs, through the project's filters."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.parametrize(
    "text, secret",
    [
        ("login for 19780412-9802", "19780412-9802"),
        ("login for 197804129802", "197804129802"),
        ("login for 7804129802", "7804129802"),
        ("sms to +46701234567 queued", "+46701234567"),
        ("sms to 070-123 45 67 queued", "070-123 45 67"),
        ("sms to 0046701234567 queued", "0046701234567"),
        ("mail to anna.andersson@exempel.se bounced", "anna.andersson@exempel.se"),
    ],
)
def test_personal_data_is_masked(text, secret):
    masked = mask_personal_data(text)
    assert secret not in masked
    assert masked.split()[0] == text.split()[0]


def test_ids_dates_and_durations_are_not_mistaken_for_personal_data():
    text = "delivery 12345 task 550e8400-e29b-41d4-a716-446655440000 on 2026-12-01 took 1500 ms celery@vm.local"
    assert mask_personal_data(text) == text


@pytest.mark.logs_personal_data_on_purpose  # it logs personal data to see the masking filter remove it
def test_a_record_is_one_json_line_with_masked_message_arguments_and_traceback(log_lines):
    log = logging.getLogger("tests.ops")
    log.info("sent to %s for %s", "+46701234567", "19780412-9802")
    try:
        raise ValueError("bad address anna@exempel.se")
    except ValueError:
        log.exception("failed for %s", "anna@exempel.se")
    first, second = log_lines()
    assert first["message"] == "sent to ***67 for [personnummer]"
    assert first["level"] == "INFO" and first["logger"] == "tests.ops"
    assert "anna@exempel.se" not in json.dumps(second)
    assert "a***@exempel.se" in second["exception"] and "ValueError" in second["exception"]


def test_a_request_gets_an_id_returns_it_and_logs_one_line_with_it(client, log_lines, db):
    response = client.get("/healthz")
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = [line for line in log_lines() if line["logger"] == "bevaka.request"]
    assert lines[-1]["request_id"] == request_id
    assert lines[-1]["message"].startswith("GET /healthz ")
    assert lines[-1]["status"] == response.status_code


def test_the_callers_request_id_is_honoured_and_a_malformed_one_replaced(client, db):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-2026-abcdef12")["X-Request-ID"] == "lb-2026-abcdef12"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="<script>alert(1)</script>")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


@pytest.mark.logs_personal_data_on_purpose  # it logs personal data to see the masking filter remove it
def test_production_settings_log_json_and_mask_what_a_module_logs():
    result = run_command(
        [
            *MANAGE,
            "shell",
            "-c",
            "import logging; logging.getLogger('bevaka.test').warning('code sent to %s', '+46701234567')",
        ]
    )
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["message"] == "code sent to ***67"
    assert line["level"] == "WARNING" and "request_id" in line and "task_id" in line


@pytest.mark.logs_personal_data_on_purpose  # it logs personal data to see the masking filter remove it
def test_the_plain_format_is_there_for_development():
    import os

    env = {**os.environ, "LOG_FORMAT": "plain"}
    result = run_command(
        [*MANAGE, "shell", "-c", "import logging; logging.getLogger('bevaka.test').warning('hej %s', 'a@b.se')"],
        env=env,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith("WARNING bevaka.test hej a***@b.se")


@pytest.mark.slow
def test_a_task_logs_with_its_task_id_and_the_request_id_that_published_it(project_process):
    queue = f"ops-logging-{uuid.uuid4().hex[:8]}"
    name = f"ops-{uuid.uuid4().hex[:6]}"
    # A queue of its own: tasks other tests left on the default queue must not stand in front.
    worker = project_process(
        celery_worker(name=name, pool="solo", queues=[queue]), ready=worker_ready(name), timeout=60
    )
    from bevaka.celery import ping

    token = request_id_var.set("req-ops-12345678")
    try:
        result = ping.apply_async(queue=queue)
    finally:
        request_id_var.reset(token)

    def ping_line():
        for line in worker.lines:
            if line.startswith("{") and '"pong' in line:
                entry = json.loads(line)
                if entry["task_id"] == result.id:
                    return entry
        return None

    from tests.notifications.conftest import wait_for

    # Bounded, and generous: the machine is shared, and a loaded one has taken more than 30 s here.
    try:
        wait_for(lambda: ping_line() is not None, timeout=90, message="the ping task's log line")
    except AssertionError as error:
        raise AssertionError(f"{error}; the worker said:\n{worker.output[-3000:]}") from None
    assert result.get(timeout=30) == "pong"
    assert ping_line()["request_id"] == "req-ops-12345678"
    assert all(json.loads(line) for line in worker.lines if line.startswith("{"))
