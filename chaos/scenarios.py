"""The eight fault scenarios of ``make chaos`` (issue 9), each on a fresh slice of the private stack.

How every scenario is scored:
- **expected**: the deliveries the database says must reach a provider — the fan-out's recipient query
  (``events.fanout.recipients``) counted *before* the event is posted, checked against the Delivery rows it
  made, minus what the database says must not go out (a bounced address, a revoked user);
- **delivered / lost**: expected deliveries the fake providers did / did not receive (our delivery id rides
  in every SMS status-callback URL and in every e-mail's ``X-Bevaka-Delivery`` header);
- **duplicates**: provider-side sends per delivery beyond one, for deliveries that were *not* in flight when
  the fault hit and got no ambiguous provider answer; **ambiguous_duplicates**: the same for those that were
  (the provider may have accepted a message we could not record) — bounded by ``in_flight``;
- **recovery_s**: from the moment the fault is over to the moment no delivery of the scenario is queued
  or sending (and every event is fanned out).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from .stack import CHAOS_SETTINGS, Stack

UNFINISHED = ("queued", "sending")


@dataclass
class Result:
    name: str
    expected: int
    delivered: int
    lost: int
    duplicates: int
    ambiguous_duplicates: int
    recovery_s: float | None
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)


class Chaos:
    """Builds customers and recipients in the private database, posts signed events, scores outcomes."""

    def __init__(self, stack: Stack) -> None:
        from events.models import SourceSystem
        from events.services import create_source_key

        self.stack = stack
        self.base_url = stack.env["PUBLIC_BASE_URL"]
        self.source = SourceSystem.objects.create(name="chaos-core")
        _key, self.secret = create_source_key(source=self.source, label="chaos")
        self._people = 0
        self._companies = 0
        self._events = 0

    # -- the world ----------------------------------------------------------------------------------------
    def company(self, recipients: int, *, channels=("sms",), restricted: bool = False):
        """A connected company whose ``recipients`` users watch e-invoices by ``channels`` (bulk rows).

        ``restricted``: the users are restricted (they need *Hantera Bevaka ärenden* to be alerted).
        """
        from django.utils import timezone

        from agreements.models import CaseType
        from companies.models import Authority, Membership, SigningMandate, User
        from subscriptions.models import VerifiedContact, Watch
        from tests.events.conftest import connect
        from tests.factories import CompanyFactory, UserFactory

        self._companies += 1
        company = CompanyFactory(name=f"Kaosbolaget {self._companies} AB")
        signer = UserFactory()
        Membership.objects.create(
            user=signer, company=company, authority=Authority.UNRESTRICTED, signing_mandate=SigningMandate.ALONE
        )
        connect(company, signer, ["e_invoice"])
        e_invoice = CaseType.objects.get(code="e_invoice")
        start = self._people
        self._people += recipients
        users = User.objects.bulk_create(
            User(personnummer=f"{700000000000 + n:012d}", first_name="K", last_name=str(n), password="!")  # noqa: S106 - unusable
            for n in range(start, start + recipients)
        )
        authority = Authority.RESTRICTED if restricted else Authority.UNRESTRICTED
        Membership.objects.bulk_create(Membership(user=u, company=company, authority=authority) for u in users)
        now = timezone.now()
        contacts = []
        for n, user in zip(range(start, start + recipients), users, strict=True):
            if "sms" in channels:
                contacts.append(VerifiedContact(user=user, channel="sms", destination=f"+4670{n:07d}", verified_at=now))
            if "email" in channels:
                contacts.append(
                    VerifiedContact(user=user, channel="email", destination=f"k{n}@kaos.example", verified_at=now)
                )
        VerifiedContact.objects.bulk_create(contacts)
        Watch.objects.bulk_create(
            Watch(user=u, company=company, case_type=e_invoice, by_sms="sms" in channels, by_email="email" in channels)
            for u in users
        )
        company.chaos_signer = signer
        company.chaos_users = users
        return company

    @staticmethod
    def who_should_be_alerted(company) -> int:
        """The database's view: how many deliveries an e-invoice event for ``company`` must make now."""
        from agreements.models import CaseType
        from events.fanout import recipients

        return recipients(company_id=company.pk, case_type_id=CaseType.objects.get(code="e_invoice").pk).count()

    def event(self, company, source_id: str | None = None) -> dict:
        self._events += 1
        return {
            "id": source_id or f"chaos-{self._events}-{int(time.time() * 1000)}",
            "type": "e_invoice",
            "company": company.org_number,
            "occurred_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }

    # -- the producer -------------------------------------------------------------------------------------
    def post(self, payload, *, batch: bool = False) -> int:
        """POST one signed event (or, with ``batch``, a list of them); the HTTP status, or 0 if nothing answered."""
        from events.services import sign

        body = json.dumps({"events": payload} if batch else payload).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(
            self.base_url + ("/api/v1/events/batch" if batch else "/api/v1/events"),
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Bevaka-Source": self.source.name,
                "X-Bevaka-Timestamp": str(timestamp),
                "X-Bevaka-Signature": sign(secret=self.secret, timestamp=timestamp, body=body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.read()
            return error.code
        except OSError:
            return 0

    def post_until_stored(self, payload: dict, statuses: Counter, deadline: float) -> None:
        """A core system's producer: the same id again until 202 or 200 (503 / no answer: retry)."""
        while time.monotonic() < deadline:
            status = self.post(payload)
            statuses[status] += 1
            if status in (200, 202):
                return
            if status not in (0, 500, 502, 503):
                raise RuntimeError(f"event {payload['id']} refused with {status}")
            time.sleep(0.5)
        raise RuntimeError(f"event {payload['id']} not stored before the deadline")

    # -- observing ----------------------------------------------------------------------------------------
    @staticmethod
    def _retrying(query, default=None):
        """A database read that waits out an outage (the harness itself stops PostgreSQL in scenario 4)."""
        from django.db import DatabaseError, connection

        for _ in range(600):
            try:
                return query()
            except DatabaseError:
                with contextlib.suppress(Exception):
                    connection.close()
                time.sleep(0.2)
        return default

    def deliveries(self, event_ids):
        from notifications.models import Delivery

        return Delivery.objects.filter(event_id__in=list(event_ids))

    def count(self, event_ids, **filters) -> int:
        return self._retrying(lambda: self.deliveries(event_ids).filter(**filters).count(), 0)

    def wait(self, predicate, timeout: float, what: str, interval: float = 0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self._retrying(predicate)
            if value:
                return value
            time.sleep(interval)
        raise RuntimeError(f"chaos: {what} not reached in {timeout:.0f}s")

    def event_ids(self, source_ids) -> list[int]:
        from events.models import Event

        return self._retrying(
            lambda: list(
                Event.objects.filter(source=self.source, external_id__in=list(source_ids)).values_list("pk", flat=True)
            )
        )

    def wait_fanned_out(self, event_ids, timeout: float = 120) -> None:
        from events.models import Event

        self.wait(
            lambda: (
                Event.objects.filter(pk__in=event_ids, fanned_out_at__isnull=True).count() == 0
                and Event.objects.filter(pk__in=event_ids).count() == len(event_ids)
            ),
            timeout,
            "fan-out",
        )

    def wait_backlog_empty(self, event_ids, fault_over: float, timeout: float = 300) -> float | None:
        """Seconds from ``fault_over`` (monotonic) until no delivery of these events is queued or sending."""
        from events.models import Event

        deadline = fault_over + timeout
        while time.monotonic() < deadline:
            empty = self._retrying(
                lambda: (
                    not Event.objects.filter(pk__in=event_ids, fanned_out_at__isnull=True).exists()
                    and not self.deliveries(event_ids).filter(status__in=UNFINISHED).exists()
                )
            )
            if empty:
                return round(max(0.0, time.monotonic() - fault_over), 1)
            time.sleep(0.2)
        return None

    def in_flight(self, event_ids) -> set[int]:
        return set(
            self._retrying(
                lambda: list(self.deliveries(event_ids).filter(status="sending").values_list("pk", flat=True)), []
            )
        )

    def score(
        self,
        name: str,
        event_ids,
        *,
        expected_count: int,
        in_flight: set[int],
        recovery: float | None,
        excluded: set[int] = frozenset(),
        details: dict | None = None,
    ) -> Result:
        """Count what the fake providers received against what the database says must arrive."""
        time.sleep(3)  # a hung provider request or a late resend would show by now
        received = self.stack.providers.received()
        rows = self._retrying(
            lambda: list(
                self.deliveries(event_ids).values_list("pk", "status", "ambiguous_resends", "last_error", "summary_id")
            )
        )
        ids = {pk for pk, *_ in rows}
        expected = ids - set(excluded)
        ambiguous = set(in_flight) | {pk for pk, _s, resends, *_ in rows if resends}
        # An alert held by quiet hours arrives in its summary (issue 23): delivered when the summary was.
        summary_of = {pk: summary for pk, *_, summary in rows if summary}
        delivered = {pk for pk in expected if received.get(pk) or received.get(summary_of.get(pk))}
        duplicates = sum(received[pk] - 1 for pk in ids if received.get(pk, 0) > 1 and pk not in ambiguous)
        ambiguous_duplicates = sum(received[pk] - 1 for pk in ids if received.get(pk, 0) > 1 and pk in ambiguous)
        missing_rows = max(0, expected_count - len(ids))  # recipients the fan-out never made a row for
        info = {
            "deliveries": len(ids),
            "in_flight": len(in_flight),
            "ambiguous_bound": len(ambiguous),
            "statuses": dict(Counter(status for _pk, status, *_ in rows)),
            "sent_but_excluded": sum(1 for pk in excluded if received.get(pk)),
            **(details or {}),
        }
        return Result(
            name=name,
            expected=len(expected) + missing_rows,
            delivered=len(delivered),
            lost=len(expected) - len(delivered) + missing_rows,
            duplicates=duplicates,
            ambiguous_duplicates=ambiguous_duplicates,
            recovery_s=recovery,
            details=info,
        )

    def progress(self, event_ids, share: float, total: int, timeout: float = 120) -> None:
        """Wait until ``share`` of ``total`` deliveries of these events are final."""
        target = max(1, int(total * share))
        self.wait(
            lambda: self.deliveries(event_ids).exclude(status__in=UNFINISHED).count() >= target,
            timeout,
            f"{target} deliveries final",
            interval=0.02,
        )


# --- The scenarios -------------------------------------------------------------------------------------------


def _one_event(chaos: Chaos, company) -> tuple[list[int], int]:
    expected = chaos.who_should_be_alerted(company)
    payload = chaos.event(company)
    status = chaos.post(payload)
    if status != 202:
        raise RuntimeError(f"event refused with {status}")
    [event_id] = chaos.event_ids([payload["id"]])
    return [event_id], expected


def worker_sigkill(chaos: Chaos, n: int) -> Result:
    """1. SIGKILL one worker in the middle of a fan-out's sends; then the whole pool."""
    stack = chaos.stack
    stack.providers.twilio_config(latency_ms=30)
    company = chaos.company(n)
    event_ids, expected = _one_event(chaos, company)
    chaos.wait(lambda: chaos.count(event_ids) > 0, 60, "fan-out")
    chaos.progress(event_ids, 0.15, expected)
    stack.kill_worker(0)
    in_flight = chaos.in_flight(event_ids)
    stack.start_worker(0)
    chaos.progress(event_ids, 0.5, expected)
    for index in range(len(stack.workers)):
        stack.kill_worker(index)
    in_flight |= chaos.in_flight(event_ids)
    done_at_kill = chaos.count(event_ids, status__in=["sent", "delivered"])
    for index in range(len(stack.workers)):
        stack.start_worker(index)
    fault_over = time.monotonic()
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    return chaos.score(
        "1 SIGKILL a worker, then the pool",
        event_ids,
        expected_count=expected,
        in_flight=in_flight,
        recovery=recovery,
        details={"final_at_pool_kill": done_at_kill},
    )


def worker_sigterm(chaos: Chaos, n: int) -> Result:
    """2. Warm shutdown (SIGTERM) of every worker mid-stream, as in a deploy."""
    stack = chaos.stack
    stack.providers.twilio_config(latency_ms=30)
    company = chaos.company(n // 2, channels=("sms", "email"))
    event_ids, expected = _one_event(chaos, company)
    chaos.wait(lambda: chaos.count(event_ids) > 0, 60, "fan-out")
    chaos.progress(event_ids, 0.2, expected)
    in_flight = chaos.in_flight(event_ids)
    threads = [threading.Thread(target=stack.terminate_worker, args=(i,)) for i in range(len(stack.workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(len(stack.workers)):
        stack.start_worker(index)
    fault_over = time.monotonic()
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    # A warm shutdown finishes what it started: a duplicate here is never excused as ambiguous.
    return chaos.score(
        "2 SIGTERM every worker (deploy)",
        event_ids,
        expected_count=expected,
        in_flight=set(),
        recovery=recovery,
        details={"in_flight_at_sigterm": len(in_flight)},
    )


def redis_restart(chaos: Chaos, n: int) -> Result:
    """3. Redis restarted without persistence while a backlog is queued."""
    stack = chaos.stack
    stack.providers.twilio_config(latency_ms=40)
    company = chaos.company(n)
    event_ids, expected = _one_event(chaos, company)
    chaos.wait(lambda: chaos.count(event_ids) == expected, 60, "fan-out")
    chaos.progress(event_ids, 0.1, expected)
    queued = chaos.count(event_ids, status="queued")
    stack.redis_restart()
    fault_over = time.monotonic()
    in_flight = chaos.in_flight(event_ids)
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    return chaos.score(
        "3 Redis restarted, backlog lost",
        event_ids,
        expected_count=expected,
        in_flight=in_flight,
        recovery=recovery,
        details={"queued_at_restart": queued},
    )


def postgres_outage(chaos: Chaos, n: int, outage: float = 30.0) -> Result:
    """4. PostgreSQL stopped for 30 s during ingestion and sending; producers retry with the same ids."""
    from events.models import Event

    stack = chaos.stack
    stack.providers.twilio_config(latency_ms=20)
    per_event = 10
    company = chaos.company(per_event)
    expected = chaos.who_should_be_alerted(company) * (n // per_event)
    payloads = [chaos.event(company) for _ in range(n // per_event)]
    statuses: Counter = Counter()
    deadline = time.monotonic() + outage + 300
    stored = threading.Event()

    def produce():
        with ThreadPoolExecutor(max_workers=20) as pool:
            for future in [pool.submit(chaos.post_until_stored, p, statuses, deadline) for p in payloads]:
                future.result()
        stored.set()

    producer = threading.Thread(target=produce)
    producer.start()
    chaos.wait(
        lambda: (
            Event.objects.filter(source=chaos.source, external_id__in=[p["id"] for p in payloads]).count()
            >= len(payloads) // 2
        ),
        120,
        "half the events stored",
        interval=0.01,
    )
    event_ids_so_far = chaos.event_ids([p["id"] for p in payloads])
    in_flight = chaos.in_flight(event_ids_so_far)
    from django.db import connections

    connections.close_all()
    stack.postgres.stop("fast")
    stopped_at = time.monotonic()
    time.sleep(outage)
    stack.postgres.start()
    fault_over = time.monotonic()
    producer.join()
    if not stored.is_set():
        raise RuntimeError("the producer gave up")
    source_ids = [p["id"] for p in payloads]
    event_ids = chaos.event_ids(source_ids)
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    rows_per_id = Counter(
        Event.objects.filter(source=chaos.source, external_id__in=source_ids).values_list("external_id", flat=True)
    )
    return chaos.score(
        f"4 PostgreSQL down {outage:.0f} s",
        event_ids,
        expected_count=expected,
        in_flight=in_flight,
        recovery=recovery,
        details={
            "events_posted": len(payloads),
            "events_stored": len(rows_per_id),
            "events_stored_twice": sum(1 for c in rows_per_id.values() if c > 1),
            "answers": {str(k): v for k, v in sorted(statuses.items())},
            "outage_s": round(fault_over - stopped_at, 1),
        },
    )


def twilio_faults(chaos: Chaos, n: int) -> Result:
    """5. The fake Twilio answers 429 to half the requests for a while; then 500s and time-outs after accepting."""
    stack = chaos.stack
    # A slow provider (1 s an answer) keeps the stream going through both fault windows.
    stack.providers.twilio_config(latency_ms=1000)
    company = chaos.company(n)
    stack.providers.twilio_fault("http_429", ratio=0.5, seconds=6)
    event_ids, expected = _one_event(chaos, company)
    chaos.wait(lambda: chaos.count(event_ids) > 0, 60, "fan-out")
    time.sleep(6)
    stack.providers.twilio_fault("accept_then_500", ratio=0.1, seconds=5)
    stack.providers.twilio_fault("accept_then_timeout", ratio=0.05, seconds=5, hang_seconds=3)
    time.sleep(5)
    stack.providers.twilio_config(latency_ms=20)
    fault_over = time.monotonic()
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    ambiguous_answers = chaos.count(event_ids, error_code="20500") + chaos.count(
        event_ids, last_error__startswith="ambiguous"
    )
    return chaos.score(
        "5 Twilio 429s, then 500/timeout after accepting",
        event_ids,
        expected_count=expected,
        in_flight=set(),
        recovery=recovery,
        details={
            "rows_left_with_ambiguous_error": ambiguous_answers,
            "twilio_fault_hits": stack.providers.twilio_stats().get("fault_hits", {}),
        },
    )


def smtp_faults(chaos: Chaos, n: int) -> Result:
    """6. SMTP answers 4xx for a while, then 5xx for some addresses."""
    from subscriptions.models import VerifiedContact

    stack = chaos.stack
    company = chaos.company(n, channels=("email",))
    addresses = list(
        VerifiedContact.objects.filter(user__in=company.chaos_users, channel="email").values_list(
            "destination", flat=True
        )
    )
    bounced = set(addresses[:: max(1, len(addresses) // 20)])  # 20 of the mailboxes do not exist
    stack.providers.smtp_fault(451, stage="rcpt", ratio=0.5, seconds=6, count=None)
    event_ids, expected = _one_event(chaos, company)
    chaos.wait(lambda: chaos.count(event_ids) > 0, 60, "fan-out")
    time.sleep(6)
    stack.providers.smtp_fault(550, stage="rcpt", addresses=sorted(bounced), count=None)
    stack.providers.smtp_fault(452, stage="data", ratio=0.2, seconds=4, count=None)
    time.sleep(4)
    fault_over = time.monotonic()
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    # The database's view after the fact: a 5xx is a bounce (failed, address suspended), not a lost alert —
    # unless the message had already gone through during the 4xx phase.
    rows = list(chaos.deliveries(event_ids).values_list("pk", "destination", "status", "error_code"))
    received = stack.providers.received()
    excluded = {pk for pk, destination, status, _code in rows if destination in bounced and not received.get(pk)}
    wrongly_failed = sum(
        1 for pk, destination, status, _code in rows if status == "failed" and destination not in bounced
    )
    stack.providers.smtp_clear()
    return chaos.score(
        "6 SMTP 4xx, then 5xx for some addresses",
        event_ids,
        expected_count=expected - len(excluded),
        in_flight=set(),
        recovery=recovery,
        excluded=excluded,
        details={"bounced_as_failed": len(excluded), "failed_not_bounced": wrongly_failed},
    )


def duplicate_storm(chaos: Chaos, n: int, copies: int = 10_000, clients: int = 20) -> Result:
    """7. 10,000 copies of one event from 20 parallel clients: one event, each alert once."""
    from events.models import Event

    company = chaos.company(n)
    expected = chaos.who_should_be_alerted(company)
    payload = chaos.event(company)
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client(count: int) -> None:
        local: Counter = Counter()
        for _ in range(count):
            status = chaos.post(payload)
            while status in (0, 502, 503):  # no answer: the client sends the same copy again
                local[f"retried after {status}"] += 1
                time.sleep(0.2)
                status = chaos.post(payload)
            local[status] += 1
        with lock:
            statuses.update(local)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, [copies // clients] * clients))
    fault_over = time.monotonic()
    event_ids = chaos.event_ids([payload["id"]])
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    return chaos.score(
        f"7 {copies:,} copies of one event, {clients} clients",
        event_ids,
        expected_count=expected,
        in_flight=set(),
        recovery=recovery,
        details={
            "events_stored": Event.objects.filter(source=chaos.source, external_id=payload["id"]).count(),
            "answers": {str(k): v for k, v in sorted(statuses.items())},
            "posting_s": round(fault_over - started, 1),
        },
    )


def access_revoked(chaos: Chaos, n: int) -> Result:
    """8. Hantera Bevaka ärenden revoked, and separately an agreement ended, while the deliveries are queued.

    Nothing may be sent whose send-time check ran after the change committed: the check runs after the
    claim, so a delivery claimed at or after the commit and still received by a provider is a violation.
    """
    from django.db import connection, transaction

    from agreements import services as agreement_services
    from companies.models import Membership
    from events.fanout import alert_stop_reason

    stack = chaos.stack
    # Our own rate limit (the shared token bucket) keeps the queue long: 50 SMS a second.
    stack.restart_workers(SMS_RATE_PER_SECOND="50")
    # Few users, many events each: one revocation or one ending stops hundreds of queued alerts at once.
    restricted = chaos.company(5, restricted=True)
    ended = chaos.company(25)
    control = chaos.company(10)
    Membership.objects.filter(user=restricted.chaos_signer, company=restricted).update(is_permission_admin=True)
    for user in restricted.chaos_users:  # through the service, as a permission administrator does
        agreement_services.grant_case_watch_permission(
            company=restricted, admin=restricted.chaos_signer, user_id=user.pk
        )
    plan = [(restricted, (n // 2) // 5), (ended, (n - n // 2) // 25), (control, 5)]
    expected_at_start = sum(chaos.who_should_be_alerted(company) * events for company, events in plan)
    payloads = [chaos.event(company) for company, events in plan for _ in range(events)]
    if chaos.post(payloads, batch=True) != 202:
        raise RuntimeError("events refused")
    event_ids = chaos.event_ids([p["id"] for p in payloads])
    chaos.wait(lambda: chaos.count(event_ids) == expected_at_start, 60, "fan-out")
    queued_at_change = chaos.count(event_ids, status="queued")

    def committed_at():
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]

    change_started = time.monotonic()
    with transaction.atomic():
        for user in restricted.chaos_users:
            agreement_services.revoke_case_watch_permission(
                company=restricted, admin=restricted.chaos_signer, user_id=user.pk
            )
    revoked_at = committed_at()
    agreement_services.end_agreement(company=ended, user=ended.chaos_signer)
    ended_at = committed_at()
    fault_over = time.monotonic()
    recovery = chaos.wait_backlog_empty(event_ids, fault_over)
    stack.restart_workers(SMS_RATE_PER_SECOND=CHAOS_SETTINGS["SMS_RATE_PER_SECOND"])

    from notifications.models import Delivery

    received = stack.providers.received()
    affected_rows = list(
        Delivery.objects.filter(event_id__in=event_ids, company__in=[restricted, ended]).values_list(
            "pk", "company_id", "status", "claimed_at"
        )
    )
    changed = {restricted.pk: revoked_at, ended.pk: ended_at}
    violations = sum(
        1 for pk, company_id, _s, claimed in affected_rows if received.get(pk) and claimed >= changed[company_id]
    )
    sent_yet_cancelled = sum(1 for pk, _c, status, _t in affected_rows if received.get(pk) and status == "cancelled")
    # Expected: the database's view now (the send-time check on every row), plus the affected rows whose check
    # ran before the change committed (they passed it and were sent, legitimately).
    excluded = set()
    for delivery in Delivery.objects.filter(event_id__in=event_ids).select_related("event"):
        if alert_stop_reason(delivery) and delivery.status == "cancelled":
            excluded.add(delivery.pk)
    return chaos.score(
        "8 access revoked / agreement ended while queued",
        event_ids,
        expected_count=expected_at_start - len(excluded),
        in_flight=set(),
        recovery=recovery,
        excluded=excluded,
        details={
            "queued_at_change": queued_at_change,
            "change_s": round(fault_over - change_started, 2),
            "cancelled_at_send_time": len(excluded),
            "sent_after_change_committed": violations,
            "sent_yet_cancelled": sent_yet_cancelled,
        },
    )


SCENARIOS = {
    1: worker_sigkill,
    2: worker_sigterm,
    3: redis_restart,
    4: postgres_outage,
    5: twilio_faults,
    6: smtp_faults,
    7: duplicate_storm,
    8: access_revoked,
}


def run(stack: Stack, numbers, *, deliveries: int, copies: int, outage: float) -> list[Result]:
    """Run the scenarios ``numbers`` one after the other on ``stack``."""
    chaos = Chaos(stack)
    results = []
    for number in numbers:
        stack.providers.reset()
        for index, worker in enumerate(stack.workers):
            if worker is None or not worker.alive():
                stack.start_worker(index)
        scenario = SCENARIOS[number]
        stack.say(f"chaos: scenario {number}: {scenario.__doc__.splitlines()[0]}")
        started = time.monotonic()
        if number == 7:
            result = scenario(chaos, deliveries, copies=copies)
        elif number == 4:
            result = scenario(chaos, deliveries, outage=outage)
        else:
            result = scenario(chaos, deliveries)
        result.details["scenario_s"] = round(time.monotonic() - started, 1)
        stack.say(f"chaos:   {result.as_json()}")
        results.append(result)
    return results
