"""The scenarios issue 21 adds to the benchmark, and its targets as ratios of the same run's figures.

- ``priority``: one-time codes requested through the real view (Mina bevakningar's contact change, a
  signed-in session and its CSRF token, over HTTP to the web's gunicorn) while a burst of 2 × R deliveries
  is being sent; each code's time from the request to the provider's accept (its delivery's ``sent_at``,
  set when the fake Twilio answered: the fake's own ``created`` has one-second resolution).
- ``head_of_line``: an SMS-only burst of R, then the burst of R SMS + R e-mails with every worker's SMTP
  server stalled (bench/stall.py: accepts connections, answers nothing) for its whole duration; SMS/s of
  the second as a share of the first.
- ``peer``: the one-task-per-alert design (bench/peer.py) on the same burst as ``burst``, against the same
  fakes, with our worker groups stopped; our figures as ratios of its.
- ``targets``: each figure of the issue's table, its target and whether the run met it.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import statistics
import time
import urllib.parse

from harness import wait_until

from .infra import say
from .report import _get
from .scenarios import (
    FINAL_OR_SENT,
    World,
    _delivery_counts,
    _fake_twilio,
    _percentile,
    _purge_backlog,
    _rate,
    _record_quietly,
    _wait_for_callbacks,
    cpu_snapshot,
    event,
    post_events,
)

CODE_INTERVAL_S = 0.2  # one code request every 0.2 s while the burst is being sent


# --- A signed-in browser, over HTTP ----------------------------------------------------------------------


class Browser:
    """A signed-in user's cookies (a session made by ``force_login``) and the CSRF token of a page, for
    requests to the web's gunicorn as a browser makes them."""

    def __init__(self, stack, user) -> None:
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.base = urllib.parse.urlsplit(stack.urls["web"])
        self.cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
        self.csrf = ""

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """(status, Location, body) of one request; keeps the cookies it is given."""
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, response.getheader("Location") or "", text
        finally:
            connection.close()

    def open(self, path: str) -> None:
        """GET the page and keep its form's CSRF token."""
        status, _location, text = self.request("GET", path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
        if status != 200 or not match:
            raise RuntimeError(f"{path} answered {status} without a CSRF token")
        self.csrf = match[1]


# --- Priority: a code during a burst ----------------------------------------------------------------------


def _post_burst(stack, world: World, seeded, label: str):
    from events.models import Event

    source_id = f"{label}-{time.time_ns()}"
    status = post_events(stack, world, [event(source_id, seeded.org_number)], batch=False)
    if status != 202:
        raise RuntimeError(f"{label} event answered {status}")
    return Event.objects.get(external_id=source_id)


def _done(row) -> int:
    counts = _delivery_counts(event=row)
    return sum(counts.get(s, 0) for s in FINAL_OR_SENT)


def priority(stack, sizes, world: World, monitor) -> dict:
    from django.db.models import Max
    from django.urls import reverse

    from notifications.models import Delivery

    monitor.reset_scenario()
    company_id = world.codes.company.pk
    page = reverse("my-watches", args=[company_id])
    action = reverse("change-contact", args=[company_id])
    browsers = []
    for user in world.codes.users[: sizes.codes]:
        browser = Browser(stack, user)
        browser.open(page)
        browsers.append(browser)
    say(f"priority: {len(browsers)} users signed in, their page and CSRF token fetched")
    expected = 2 * sizes.recipients
    started = time.time()
    row = _post_burst(stack, world, world.burst, "priority-burst")
    # The codes go in while the burst's deliveries are being sent: from its first provider accept.
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: _done(row) > 0, timeout=120, what="the burst's first send", interval=0.05)
    requests = []  # (destination, requested at, answered at, status)
    burst_ended = None
    for n, browser in enumerate(browsers):
        if burst_ended is None and _done(row) >= expected:
            burst_ended = time.time()
        if burst_ended is not None and n >= 3:  # at least three codes, even after a burst that short
            break
        destination = f"+4673{n:07d}"  # one of its own each (the run's database is new)
        asked = time.time()
        status, location, _text = browser.request(
            "POST",
            action,
            {"csrfmiddlewaretoken": browser.csrf, "channel": "sms", "destination": destination},
        )
        requests.append((destination, asked, time.time(), status if location.endswith(page) else -status))
        time.sleep(max(0.0, asked + CODE_INTERVAL_S - time.time()))
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: _done(row) >= expected, timeout=max(120.0, expected / 50), what="burst", interval=0.5)
    if burst_ended is None:
        burst_ended = time.time()
    destinations = [r[0] for r in requests]
    sent = dict(
        Delivery.objects.filter(purpose="verification", destination__in=destinations, sent_at__isnull=False)
        .values("destination")
        .annotate(at=Max("sent_at"))
        .values_list("destination", "at")
    )
    with contextlib.suppress(TimeoutError):  # a code still waiting after the burst: wait for it (bounded)
        wait_until(
            lambda: (
                Delivery.objects.filter(
                    purpose="verification", destination__in=destinations, sent_at__isnull=False
                ).count()
                >= len(destinations)
            ),
            timeout=60,
            what="the codes",
            interval=0.2,
        )
        sent = dict(
            Delivery.objects.filter(purpose="verification", destination__in=destinations, sent_at__isnull=False)
            .values("destination")
            .annotate(at=Max("sent_at"))
            .values_list("destination", "at")
        )
    latencies = [(sent[d].timestamp() - asked) * 1000 for d, asked, _answered, _s in requests if d in sent]
    answers = [(answered - asked) * 1000 for _d, asked, answered, _s in requests]
    during = [d for d, asked, _a, _s in requests if asked < burst_ended]
    burst_done = _done(row)
    if burst_done < expected:
        _purge_backlog(stack)
    _wait_for_callbacks(stack, timeout=300)
    result = {
        "burst_deliveries": expected,
        "burst_seconds": round(burst_ended - started, 2),
        "codes_requested": len(requests),
        "codes_requested_during_burst": len(during),
        "codes_sent": len(latencies),
        "view_redirects": sum(1 for r in requests if r[3] == 302),
        "view_answers": {str(s): sum(1 for r in requests if r[3] == s) for s in {r[3] for r in requests}},
        "code_p50_ms": _percentile(latencies, 0.50),
        "code_p99_ms": _percentile(latencies, 0.99) if latencies else None,
        "code_max_ms": round(max(latencies), 1) if latencies else None,
        "code_mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "view_p99_ms": _percentile(answers, 0.99),
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    say(
        f"priority: {len(latencies)}/{len(requests)} codes sent during a {expected}-delivery burst, "
        f"request → provider p50 {result['code_p50_ms']} ms, p99 {result['code_p99_ms']} ms"
    )
    return result


# --- Head of line: SMS while SMTP stalls --------------------------------------------------------------


def _sms_rate(row, started: float) -> tuple[int, float]:
    from django.db.models import Max

    from notifications.models import Delivery

    sms = Delivery.objects.filter(event=row, channel="sms", sent_at__isnull=False)
    last = sms.aggregate(last=Max("sent_at"))["last"]
    count = sms.count()
    return count, ((last.timestamp() if last else time.time()) - started)


def head_of_line(stack, sizes, world: World, monitor) -> dict:
    from notifications.models import Delivery

    from .run import start_workers, stop_workers
    from .stall import StallingSmtp

    monitor.reset_scenario()
    recipients = sizes.recipients
    # 1. SMS alone: R SMS alerts.
    started = time.time()
    alone = _post_burst(stack, world, world.sms_only, "sms-alone")
    alone_timeout = max(120.0, recipients / 20)
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: Delivery.objects.filter(event=alone, channel="sms", sent_at__isnull=False).count() >= recipients,
            timeout=alone_timeout,
            what="SMS-only burst",
            interval=0.25,
        )
    alone_sent, alone_seconds = _sms_rate(alone, started)
    alone_per_s = _rate(alone_sent, alone_seconds)
    say(f"head of line: SMS alone {alone_sent} in {alone_seconds:.1f} s = {alone_per_s}/s")
    _wait_for_callbacks(stack, timeout=300)

    # 2. R SMS + R e-mails with the SMTP server stalled: every worker sends its mail to it.
    stall = StallingSmtp().start()
    try:
        stop_workers(stack)
        start_workers(stack, EMAIL_PORT=str(stall.port))
        started = time.time()
        mixed = _post_burst(stack, world, world.burst, "sms-stalled")
        # Bounded: SMS that a stalled lane holds may never come within the burst; then the rate is what
        # was sent in the window (three times the SMS-only burst's time, at least 20 s).
        window = max(20.0, 3 * alone_seconds)
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: (
                    Delivery.objects.filter(event=mixed, channel="sms", sent_at__isnull=False).count() >= recipients
                ),
                timeout=window,
                what="SMS while SMTP stalls",
                interval=0.25,
            )
        mixed_sent, mixed_seconds = _sms_rate(mixed, started)
        emails_sent = Delivery.objects.filter(event=mixed, channel="email", sent_at__isnull=False).count()
        held, most_held, accepted = stall.held, stall.most_held, stall.accepted
    finally:
        stall.stop()  # the held connections close: their senders see the connection lost
    mixed_per_s = _rate(mixed_sent, mixed_seconds)
    say(
        f"head of line: SMS while SMTP stalls {mixed_sent}/{recipients} in {mixed_seconds:.1f} s = {mixed_per_s}/s; "
        f"the stalled server held {most_held} connections at most ({accepted} accepted)"
    )
    _purge_backlog(stack)  # the e-mails that waited on the stalled server
    stop_workers(stack)
    start_workers(stack)
    _wait_for_callbacks(stack, timeout=300)
    return {
        "recipients": recipients,
        "sms_alone_per_s": alone_per_s,
        "sms_alone_seconds": round(alone_seconds, 2),
        "sms_while_smtp_stalls_per_s": mixed_per_s,
        "sms_while_smtp_stalls_sent": mixed_sent,
        "sms_while_smtp_stalls_seconds": round(mixed_seconds, 2),
        "sms_share_of_alone": round(mixed_per_s / alone_per_s, 3) if alone_per_s else None,
        "emails_sent_while_stalled": emails_sent,
        "stalled_connections_held": held,
        "stalled_connections_most_held": most_held,
        "stalled_connections_accepted": accepted,
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }


# --- The peer: one task per alert ---------------------------------------------------------------------


def peer(stack, sizes, world: World, monitor, ours: dict | None = None) -> dict:
    from django.db.models import Max

    from notifications.models import Delivery

    from . import peer as peer_tasks
    from .run import PEER_QUEUE, start_peer_worker, start_workers, stop_workers

    monitor.reset_scenario()
    stop_workers(stack)  # ours (and beat, whose relay would send the peer's rows through our path)
    try:
        processes = start_peer_worker(stack)
        expected = 2 * sizes.recipients
        _fake_twilio(stack, "/_fake/reset", {})
        before = cpu_snapshot(stack, monitor)
        started = time.time()
        row = _record_quietly(world, f"peer-{time.time_ns()}", world.burst.org_number)
        peer_tasks.fan_out.apply_async(args=[row.pk], queue=PEER_QUEUE)
        drained = True
        try:
            wait_until(lambda: _done(row) >= expected, timeout=max(180.0, expected / 20), what="peer", interval=0.5)
        except TimeoutError:
            drained = False
        _wait_for_callbacks(stack, timeout=600)
        after = cpu_snapshot(stack, monitor)
        counts = _delivery_counts(event=row)
        accepted = sum(counts.get(s, 0) for s in ("sent", "delivered"))
        last = Delivery.objects.filter(event=row).aggregate(last=Max("sent_at"))["last"]
        seconds = (last.timestamp() if last else time.time()) - started
        # None when nothing was sent: a failed peer must not read as a cheap one.
        cpu = {k: round((after[k] - before[k]) * 1000 / accepted, 3) if accepted else None for k in after}
        if not drained:
            stack.redis_client().delete(PEER_QUEUE)
            _purge_backlog(stack)
    finally:
        stop_workers(stack, only=("peer",))
        start_workers(stack)
    result = {
        "design": "one Celery task per alert (load row, twilio client / send_mail, save; autoretry_for, retry_backoff)",
        "worker_processes": processes,
        "deliveries": expected,
        "drained": drained,
        "statuses": counts,
        "end_to_end_deliveries_per_s": _rate(accepted, seconds),
        "seconds_to_last_provider_accept": round(seconds, 2),
        "cpu_ms_per_delivery": cpu,
        "cpu_ms_per_delivery_total": round(sum(cpu.values()), 3) if accepted else None,
        "peak_rss_mb": monitor.scenario_peak_rss(),
    }
    if ours and "end_to_end_deliveries_per_s" in ours and result["end_to_end_deliveries_per_s"]:
        result["ratio_deliveries_per_s"] = round(
            ours["end_to_end_deliveries_per_s"] / result["end_to_end_deliveries_per_s"], 2
        )
    if ours and "cpu_ms_per_delivery_total" in ours and result["cpu_ms_per_delivery_total"]:
        result["ratio_cpu_ms_per_delivery"] = round(
            ours["cpu_ms_per_delivery_total"] / result["cpu_ms_per_delivery_total"], 3
        )
    say(
        f"peer: {accepted} deliveries in {seconds:.1f} s = {result['end_to_end_deliveries_per_s']}/s, "
        f"{result['cpu_ms_per_delivery_total']} CPU ms each; ours ×{result.get('ratio_deliveries_per_s')} "
        f"deliveries/s, ×{result.get('ratio_cpu_ms_per_delivery')} CPU"
    )
    return result


# --- The targets of issue 21 -------------------------------------------------------------------------


def targets(d: dict) -> dict:
    """Each figure of issue 21's table: its value, the target (absolute, or as the same run's ratio), met."""
    blended = _get(d, "ceilings.blended_provider_path_per_s")
    provider_ms = _get(d, "ceilings.provider_path_ms_per_delivery")
    many = _get(d, "many_events.deliveries_per_s")
    e2e = _get(d, "burst.end_to_end_deliveries_per_s")
    pages = d.get("pages") or {}
    page_names = ("bevaka", "mina_bevakningar", "behorigheter")
    page_p95 = max((pages[p]["p95_ms"] for p in page_names if isinstance(pages.get(p), dict)), default=None)

    def ratio(a, b):
        return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None

    def figure(value, target, met, **extra) -> dict:
        return {"value": value, "target": target, "met": bool(met), **extra}

    caught_up = _get(d, "api.fan_out_caught_up_after_s")
    many_share = ratio(many, blended)
    cpu = _get(d, "burst.cpu_ms_per_delivery_total")
    e2e_share = ratio(e2e, blended)
    code = _get(d, "priority.code_p99_ms")
    hol = _get(d, "head_of_line.sms_share_of_alone")
    p99 = _get(d, "many_events.latency_ms.p99")
    share = _get(d, "many_events.latency_share_of_sustainable")
    peer_rate = _get(d, "peer.ratio_deliveries_per_s")
    peer_cpu = _get(d, "peer.ratio_cpu_ms_per_delivery")
    accepted = _get(d, "many_events.events_per_s")
    queries = all(
        isinstance(pages.get(p), dict) and pages[p].get("queries") == pages[p].get("queries_at_tenth_size")
        for p in page_names
    )
    cpu_limit = round(provider_ms + 1.0, 3) if provider_ms is not None else None
    return {
        "fan_out_caught_up_after_s": figure(caught_up, "≤ 2 s", caught_up is not None and caught_up <= 2),
        "many_events_drained_share_of_blended_ceiling": figure(
            many_share,
            "drained and ≥ 0.6",
            _get(d, "many_events.drained_within_window") and (many_share or 0) >= 0.6,
            deliveries_per_s=many,
            drained=_get(d, "many_events.drained_within_window"),
        ),
        "burst_cpu_ms_per_delivery": figure(
            cpu,
            f"≤ provider path + 1.0 = {cpu_limit}",
            cpu is not None and cpu_limit is not None and cpu <= cpu_limit,
            over_by_ms=round(cpu - cpu_limit, 3) if cpu is not None and cpu_limit is not None else None,
        ),
        "burst_share_of_blended_ceiling": figure(e2e_share, "≥ 0.7", (e2e_share or 0) >= 0.7),
        "code_p99_ms": figure(code, "≤ 1000 ms", code is not None and code <= 1000),
        "sms_share_while_smtp_stalls": figure(hol, "≥ 0.9", (hol or 0) >= 0.9),
        "event_to_provider_p99_ms": figure(
            p99, f"≤ 250 ms at 0.8 of the sustainable rate (measured at {share})", p99 is not None and p99 <= 250
        ),
        "peer_ratio_deliveries_per_s": figure(peer_rate, "≥ 3", (peer_rate or 0) >= 3),
        "peer_ratio_cpu_ms_per_delivery": figure(peer_cpu, "≤ 0.333", peer_cpu is not None and peer_cpu <= 1 / 3),
        "batch_api_events_per_s": figure(accepted, "≥ 5000", (accepted or 0) >= 5000),
        "pages_p95_ms": figure(page_p95, "≤ 50 ms", page_p95 is not None and page_p95 <= 50),
        "pages_queries_constant": figure(queries, "same at full and 1/10 size", queries),
    }
