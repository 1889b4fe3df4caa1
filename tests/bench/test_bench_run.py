"""A tiny benchmark run, as `make bench` does it but with a few hundred rows: it must write the issue's JSON
document with a number at every key, and give back everything it started. No speed is asserted here
(speed is the benchmark's business, on a quiet machine: docs/PERFORMANCE.md)."""

import re

import pytest

from bench.report import _get

from .runs import databases_named, run_module

pytestmark = pytest.mark.slow

SHAPE = {
    "machine": ["cores"],
    "ceilings": [
        "celery_noop_tasks_per_s",
        "pg_copy_rows_per_s",
        "fake_twilio_requests_per_s",
        "provider_path_sms_per_s",
        "smtp_sink_messages_per_s",
        "provider_path_email_per_s",
        "blended_provider_path_per_s",
        "provider_path_ms_per_delivery",
    ],
    "burst": [
        "recipients",
        "deliveries",
        "store_rows_per_s",
        "end_to_end_deliveries_per_s",
        "fanout_queries",
        "fanout_queries_at_tenth_size",
        "cpu_ms_per_delivery.web",
        "cpu_ms_per_delivery.webhooks",
        "cpu_ms_per_delivery.worker",
        "cpu_ms_per_delivery.postgres",
        "cpu_ms_per_delivery.redis",
        "cpu_ms_per_delivery.fakes",
    ],
    "many_events": [
        "events",
        "events_per_s",
        "sustainable_events_per_s",
        "deliveries_per_s",
        "latency_ms.p50",
        "latency_ms.p95",
        "latency_ms.p99",
        "latency_at_events_per_s",
    ],
    "api": ["requests_per_s", "p99_ms", "errors", "fan_out_caught_up_after_s"],
    # Issue 21's figures.
    "priority": ["codes_requested", "codes_sent", "code_p50_ms", "code_p99_ms", "view_p99_ms"],
    "head_of_line": [
        "sms_alone_per_s",
        "sms_while_smtp_stalls_per_s",
        "sms_share_of_alone",
        "stalled_connections_accepted",
        "stalled_connections_most_held",
    ],
    "peer": [
        "worker_processes",
        "end_to_end_deliveries_per_s",
        "cpu_ms_per_delivery_total",
        "cpu_ms_per_delivery.worker",
        "ratio_deliveries_per_s",
        "ratio_cpu_ms_per_delivery",
    ],
    "rate_limited_sms": ["limit_per_s", "messages_per_s", "http_429", "lost"],
    "pages": [
        f"{page}.{figure}"
        for page in ("bevaka", "mina_bevakningar", "behorigheter")
        for figure in ("p95_ms", "queries")
    ],
    "peak_rss_mb": ["web", "worker"],
}


@pytest.mark.slow
def test_a_tiny_run_writes_the_whole_document_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "latest.json"
    document, stderr = run_module("bench.run", "--size", "tiny", out=out, timeout=300)
    missing = [
        f"{section}.{key}"
        for section, keys in SHAPE.items()
        for key in keys
        if not isinstance(_get(document, f"{section}.{key}"), int | float)
        or isinstance(_get(document, f"{section}.{key}"), bool)
    ]
    assert not missing, missing
    assert document["settings"]["name"] == "tiny"
    assert document["burst"]["deliveries"] == 2 * document["burst"]["recipients"]
    assert document["many_events"]["events"] == 100
    # The status callbacks reached the callbacks' own gunicorn (on bevaka.settings_webhooks) and were
    # applied: every answer a 200 (or none, when the fake gave up waiting), and SMS ended delivered.
    answers = document["burst"]["status_callbacks_by_answer"]
    assert answers.get("200", 0) > 0 and set(answers) <= {"200", "none"}, answers
    assert document["burst"]["statuses"].get("delivered", 0) > 0, document["burst"]["statuses"]
    # Issue 21: the codes went through the real view (a redirect back to Mina bevakningar each) and were
    # sent; the SMTP server of head_of_line really stalled senders (it held their connections); the peer
    # sent the whole burst; each target says what it was measured against and whether it was met.
    priority = document["priority"]
    assert priority["codes_requested"] >= 3 and priority["view_answers"] == {"302": priority["codes_requested"]}
    assert priority["codes_sent"] == priority["codes_requested"], priority
    assert document["head_of_line"]["stalled_connections_most_held"] > 0, document["head_of_line"]
    assert document["head_of_line"]["emails_sent_while_stalled"] == 0, document["head_of_line"]
    assert document["peer"]["drained"] is True and document["peer"]["deliveries"] == document["burst"]["deliveries"]
    assert document["many_events"]["drained_within_window"] in (True, False)
    assert set(document["targets"]) >= {
        "fan_out_caught_up_after_s",
        "many_events_drained_share_of_blended_ceiling",
        "burst_cpu_ms_per_delivery",
        "burst_share_of_blended_ceiling",
        "code_p99_ms",
        "sms_share_while_smtp_stalls",
        "event_to_provider_p99_ms",
        "peer_ratio_deliveries_per_s",
        "peer_ratio_cpu_ms_per_delivery",
    }
    assert all(isinstance(t["met"], bool) and t["target"] for t in document["targets"].values()), document["targets"]
    assert document["settings"]["worker_queues"], document["settings"]
    # Its own database is gone again (another run, e.g. `make bench`, may have one of its own meanwhile).
    [name] = re.findall(r"database (bevaka_bench_\d+) created", stderr)
    assert f"database {name} dropped" in stderr
    assert name not in databases_named("bevaka_bench_")


def test_the_worker_layout_follows_the_lanes_when_the_product_has_them(monkeypatch):
    """One worker group per lane of notifications.lanes.LANES, with the processes it suggests (whatever
    shape its entries have); without lanes, the send queue and the fan-out's."""
    from bench import run

    monkeypatch.setattr(run, "_lanes", lambda: None)
    assert run.worker_groups() == {"worker": "send", "worker-fanout": "celery"}
    lanes = {"codes": ("one-time codes", 1), "sms": {"carries": "SMS alerts", "processes": 2}, "email": 3}
    monkeypatch.setattr(run, "_lanes", lambda: lanes)
    assert run.worker_groups() == {"worker-codes": "codes", "worker-sms": "sms", "worker-email": "email"}
    stack = run.BenchStack.__new__(run.BenchStack)
    stack.worker_processes, stack.send_processes = 2, 2
    assert [stack.processes_for(q) for q in ("codes", "sms", "email")] == [1, 2, 3]
