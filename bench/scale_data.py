"""The synthetic bank of `make bench-scale`, written with COPY (psycopg 3's ``cursor.copy()``).

The companies that the run measures (the biggest ones, the company of the user with the longest history,
the companies of the many-events run) are made through ``bench.seed``: a real signed agreement, users with
verified contacts and watches. Every other company, user, membership, contact and watch, and the whole
history (events, deliveries, verification codes, audit entries), is COPYed: rows as the app writes them,
with the alert texts the app renders (``events.texts``), made up but coherent (every delivery's event, user
and company exist; the unique keys hold, or the load fails).

Ids are given explicitly: the history from oldest to newest, the live day (loaded first, for the young
database's figures) from ``LIVE_ID_BASE`` up, so that ids follow time as the app's would; the identity
sequences are moved past them afterwards.
"""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass, field

from .infra import say

LIVE_ID_BASE = 1_000_000_000
BLOCK = 20_000  # lines per write to the COPY stream


@dataclass
class Member:
    user_id: int
    sms: str = ""  # destination, "" when no SMS watch
    email: str = ""
    english: bool = False


@dataclass
class BankCompany:
    id: int
    name: str
    watchers: list[Member] = field(default_factory=list)
    events_per_day: float = 0.0
    seeded: object = None  # bench.seed.SeededCompany for the measured ones


def _escape(text: str) -> str:
    """COPY's text format: backslash, tab, newline and carriage return escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _ts(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat()


class Texts:
    """The alert texts per company, as the fan-out stores them (rendered once with a placeholder name)."""

    PLACEHOLDER = "Platshallarbolaget AB"

    def __init__(self, case_types) -> None:
        from events.texts import _alert_texts

        self.case_types = case_types
        self.templates = {
            ct.pk: {
                key: {part: _escape(text) for part, text in parts.items()}
                for key, parts in _alert_texts(self.PLACEHOLDER, ct.name_sv, ct.name_en).items()
            }
            for ct in case_types
        }
        self.cache: dict[tuple[int, int], dict] = {}

    def for_company(self, company: BankCompany, case_type_id: int) -> dict:
        key = (company.id, case_type_id)
        found = self.cache.get(key)
        if found is None:
            name = _escape(company.name)
            found = {
                k: {part: text.replace(self.PLACEHOLDER, name) for part, text in parts.items()}
                for k, parts in self.templates[case_type_id].items()
            }
            if len(self.cache) > 50_000:
                self.cache.clear()
            self.cache[key] = found
        return found


class Copier:
    """Buffers lines and writes them to one COPY in blocks; counts rows."""

    def __init__(self, cursor, table: str, columns: str) -> None:
        self.context = cursor.copy(f"COPY {table} ({columns}) FROM STDIN")
        self.copy = self.context.__enter__()
        self.lines: list[str] = []
        self.rows = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.copy.write("".join(self.lines))
            self.rows += len(self.lines)
            self.lines = []

    def close(self) -> int:
        self.flush()
        self.context.__exit__(None, None, None)
        return self.rows


USER_COLUMNS = (
    "id, password, is_superuser, personnummer, first_name, last_name, language, mobile_number, email, "
    "is_staff, is_active, date_joined, alert_language"
)
EVENT_COLUMNS = (
    "id, uuid, external_id, occurred_at, reference, content_sha256, received_at, fanout_published_at, "
    "fanned_out_at, recipient_count, case_type_id, company_id, source_id"
)
DELIVERY_COLUMNS = (
    "id, channel, destination, purpose, subject, body, html_body, unsubscribe_url, status, attempts, "
    "ambiguous_resends, provider_id, provider_status, error_code, last_error, next_attempt_at, relayed_at, "
    "claimed_at, sent_at, delivered_at, created_at, updated_at, company_id, user_id, event_id"
)


class Bank:
    """Plans the bank (companies, members, who watches what) and writes it."""

    def __init__(self, *, users: int, companies: int, days: int, deliveries_per_user_day: float, rng_seed: int = 22):
        self.users = users
        self.companies = companies
        self.days = days
        self.rate = deliveries_per_user_day
        self.rng = random.Random(rng_seed)  # noqa: S311 - made-up data, reproducible
        self.bank: list[BankCompany] = []
        self.counts: dict[str, int] = {}
        self.now = time.time()
        self.next_event_id = 1
        self.next_delivery_id = 1
        self.next_live_event_id = LIVE_ID_BASE
        self.next_live_delivery_id = LIVE_ID_BASE

    # --- the structure: users, companies, memberships, contacts, watches --------------------------------

    def add_seeded(self, seeded, *, channels: tuple[str, ...]) -> BankCompany:
        """A company made through bench.seed (real agreement): its users watch by ``channels``."""
        company = BankCompany(id=seeded.company.pk, name=seeded.company.name, seeded=seeded)
        for user in seeded.users:
            company.watchers.append(
                Member(
                    user_id=user.pk,
                    sms=f"+4670{user.pk:07d}" if "sms" in channels else "",
                    email=f"mottagare{user.pk}@bench.example" if "email" in channels else "",
                    english=user.alert_language == "en",
                )
            )
        self.bank.append(company)
        return company

    def copy_structure(self, cursor, *, user_count: int, company_count: int, case_type_ids: list[int]) -> None:
        """``user_count`` users in ``company_count`` companies (sizes from an exponential tail), each with a
        signatory who administers permissions; unrestricted members watch by SMS, e-mail or both."""
        from . import seed

        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM companies_user")
        next_user = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM companies_company")
        next_company = cursor.fetchone()[0] + 1
        mean = max(1.0, user_count / max(1, company_count))
        sizes = [1 + int(self.rng.expovariate(1 / (mean - 1))) if mean > 1 else 1 for _ in range(company_count)]
        # Bring the total to user_count exactly (one user at least each).
        difference = user_count - sum(sizes)
        index = 0
        while difference != 0 and company_count:
            n = index % company_count
            if difference > 0:
                sizes[n] += 1
                difference -= 1
            elif sizes[n] > 1:
                sizes[n] -= 1
                difference += 1
            index += 1
        joined = _ts(self.now - 400 * 86400)
        companies_rows: list[str] = []
        users_rows: list[str] = []
        memberships_rows: list[str] = []
        contacts_rows: list[str] = []
        watches_rows: list[str] = []
        user_id = next_user
        for n, size in enumerate(sizes):
            company_id = next_company + n
            name = f"Bankkund {company_id} AB"
            companies_rows.append(f"{company_id}\t{seed._org_number()}\t{name}\taktiebolag\t{joined}\n")
            company = BankCompany(id=company_id, name=name)
            for m in range(size):
                english = self.rng.random() < 0.2
                users_rows.append(
                    f"{user_id}\t!\tf\t{seed._personnummer()}\tAnna{m}\tKund{company_id}\tsv\t\t\tf\tt\t{joined}\t"
                    f"{'en' if english else 'sv'}\n"
                )
                admin = m == 0
                unrestricted = admin or self.rng.random() < 0.7
                memberships_rows.append(
                    f"{'unrestricted' if unrestricted else 'restricted'}\t{'alone' if admin else 'none'}\t"
                    f"{'t' if admin else 'f'}\t{joined}\t{company_id}\t{user_id}\n"
                )
                if unrestricted and not admin and self.rng.random() < 0.6:
                    pick = self.rng.random()
                    sms = f"+4673{user_id:07d}" if pick < 0.75 else ""
                    email = f"kund{user_id}@foretag{company_id}.example" if pick >= 0.5 else ""
                    company.watchers.append(Member(user_id=user_id, sms=sms, email=email, english=english))
                    for channel, destination in (("sms", sms), ("email", email)):
                        if destination:
                            contacts_rows.append(f"{channel}\t{destination}\t{joined}\t{user_id}\n")
                    for case_type_id in case_type_ids:
                        watches_rows.append(
                            f"{'t' if sms else 'f'}\t{'t' if email else 'f'}\t{joined}\t{joined}\t{case_type_id}\t"
                            f"{company_id}\t{user_id}\n"
                        )
                user_id += 1
            self.bank.append(company)
        for table, columns, rows in (
            ("companies_company", "id, org_number, name, legal_form, created_at", companies_rows),
            ("companies_user", USER_COLUMNS, users_rows),
            (
                "companies_membership",
                "authority, signing_mandate, is_permission_admin, created_at, company_id, user_id",
                memberships_rows,
            ),
            ("subscriptions_verifiedcontact", "channel, destination, verified_at, user_id", contacts_rows),
            (
                "subscriptions_watch",
                "by_sms, by_email, created_at, updated_at, case_type_id, company_id, user_id",
                watches_rows,
            ),
        ):
            copier = Copier(cursor, table, columns)
            for line in rows:
                copier.add(line)
            self.counts[table] = copier.close()

    # --- the history: events, deliveries, verification codes, audit entries ----------------------------

    def plan_rates(self, heavy: BankCompany, heavy_events_per_day: int) -> None:
        """Events per company and day such that the deliveries come to users × days × rate."""
        watcher_channels = {c.id: sum(bool(m.sms) + bool(m.email) for m in c.watchers) for c in self.bank}
        target = self.users * self.days * self.rate - heavy_events_per_day * self.days * watcher_channels[heavy.id]
        others = sum(n for cid, n in watcher_channels.items() if cid != heavy.id)
        per_day = max(0.0, target / max(1, others * self.days))
        for company in self.bank:
            company.events_per_day = heavy_events_per_day if company is heavy else per_day

    def copy_history(
        self,
        cursor,
        *,
        days: range,
        live: bool,
        texts: Texts,
        case_type_ids: list[int],
        source_id: int,
        partitioned: bool,
    ):
        """Events and their deliveries for ``days`` (0 = the last 24 hours), oldest first: per day, one COPY
        of the day's events, then one of their deliveries (one connection runs one COPY at a time).

        ``partitioned`` (issue 22's schema): each delivery is filed under its event's received time
        (``filed_at``, the partition key), and each event's source id is also in ``events_eventkey``, the
        table whose unique key refuses a repeated source id across months."""
        rng = self.rng
        event_id = self.next_live_event_id if live else self.next_event_id
        delivery_id = self.next_live_delivery_id if live else self.next_delivery_id
        n_events = n_deliveries = 0
        for day in sorted(days, reverse=True):
            day_start = self.now - (day + 1) * 86400
            planned = []
            for company in self.bank:
                if not company.watchers:
                    continue
                for _ in range(int(company.events_per_day + rng.random())):
                    at = day_start + rng.random() * 86400
                    if at > self.now - 1:
                        at = self.now - 1 - rng.random() * 60
                    planned.append((at, company))
            planned.sort(key=lambda item: item[0])
            events = Copier(cursor, "events_event", EVENT_COLUMNS)
            first_event = event_id
            for at, company in planned:
                recipients = sum(bool(m.sms) + bool(m.email) for m in company.watchers)
                received, fanned = _ts(at), _ts(at + 0.5)
                h = f"{event_id:032x}"
                events.add(
                    f"{event_id}\t{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}\tscale-{event_id}\t{received}\t"
                    f"\t{event_id:064x}\t{received}\t{received}\t{fanned}\t{recipients}\t"
                    f"{case_type_ids[event_id % len(case_type_ids)]}\t{company.id}\t{source_id}\n"
                )
                event_id += 1
            n_events += events.close()
            if partitioned:
                keys = Copier(cursor, "events_eventkey", "external_id, received_at, source_id")
                for offset, (at, _company) in enumerate(planned):
                    keys.add(f"scale-{first_event + offset}\t{_ts(at)}\t{source_id}\n")
                keys.close()
            deliveries = Copier(
                cursor, "notifications_delivery", DELIVERY_COLUMNS + (", filed_at" if partitioned else "")
            )
            for offset, (at, company) in enumerate(planned):
                this_event = first_event + offset
                recent = at > self.now - 60  # the last minute's are still queued: the relay's due rows
                created, sent, delivered = _ts(at + 0.6), _ts(at + 1.5), _ts(at + 6)
                filed = f"\t{_ts(at)}\n" if partitioned else "\n"
                alert = texts.for_company(company, case_type_ids[this_event % len(case_type_ids)])
                for member in company.watchers:
                    language = "en" if member.english else "sv"
                    for channel, destination in (("sms", member.sms), ("email", member.email)):
                        if not destination:
                            continue
                        text = alert[(language, channel)]
                        if recent:
                            status, provider_id, provider_status, error = "queued", "", "", ""
                            claimed = when_sent = when_done = "\\N"
                            next_attempt = created
                        else:
                            next_attempt = "\\N"
                            roll = rng.random()
                            claimed = created
                            if channel == "sms":
                                provider_id = f"SM{delivery_id:032x}"
                                if roll < 0.95:
                                    status, provider_status, error = "delivered", "delivered", ""
                                    when_sent, when_done = sent, delivered
                                elif roll < 0.98:
                                    status, provider_status, error = "failed", "undelivered", "30003"
                                    when_sent, when_done = sent, "\\N"
                                else:
                                    status, provider_status, error = "sent", "sent", ""
                                    when_sent, when_done = sent, "\\N"
                            else:
                                provider_id = f"<{delivery_id}.{this_event}@bevaka.bank.example>"
                                provider_status = ""
                                if roll < 0.99:
                                    status, error, when_sent, when_done = "sent", "", sent, "\\N"
                                else:
                                    status, error, when_sent, when_done = "failed", "550", "\\N", "\\N"
                        deliveries.add(
                            f"{delivery_id}\t{channel}\t{destination}\talert\t{text['subject']}\t{text['body']}\t"
                            f"{text['html_body']}\t\t{status}\t{0 if recent else 1}\t0\t{provider_id}\t"
                            f"{provider_status}\t{error}\t\t{next_attempt}\t{created}\t{claimed}\t{when_sent}\t"
                            f"{when_done}\t{created}\t{delivered}\t{company.id}\t{member.user_id}\t{this_event}" + filed
                        )
                        delivery_id += 1
            n_deliveries += deliveries.close()
        if live:
            self.next_live_event_id, self.next_live_delivery_id = event_id, delivery_id
        else:
            self.next_event_id, self.next_delivery_id = event_id, delivery_id
        self.counts["events"] = self.counts.get("events", 0) + n_events
        self.counts["deliveries"] = self.counts.get("deliveries", 0) + n_deliveries
        return n_events, n_deliveries

    def copy_codes_and_audit(self, cursor, *, days: range) -> dict[str, int]:
        """Verification codes (and their SMS/e-mail deliveries) for about one user in 30 a day, and audit
        entries (watch changes, grants) for about one in 50 a day, numbered on from the audit sequence."""
        rng = self.rng
        cursor.execute("SELECT last FROM audit_auditsequence ORDER BY id LIMIT 1")
        row = cursor.fetchone()
        seq = row[0] if row else 0
        members = [(c, m) for c in self.bank for m in c.watchers]
        codes = Copier(
            cursor,
            "subscriptions_contactverification",
            "channel, destination, code_hash, attempts, created_at, expires_at, used_at, user_id",
        )
        audit_lines = []
        for day in sorted(days, reverse=True):
            day_start = self.now - (day + 1) * 86400
            for _ in range(max(1, len(members) // 30)):
                company, member = rng.choice(members)
                at = day_start + rng.random() * 86400
                channel, destination = ("sms", member.sms) if member.sms else ("email", member.email)
                codes.add(
                    f"{channel}\t{destination}\tpbkdf2_sha256$1000000${at:.0f}${'x' * 44}\t0\t{_ts(at)}\t"
                    f"{_ts(at + 600)}\t{_ts(at + 60)}\t{member.user_id}\n"
                )
            for _ in range(max(1, len(members) // 50)):
                company, member = rng.choice(members)
                at = day_start + rng.random() * 86400
                seq += 1
                audit_lines.append(
                    f"{_ts(at)}\tAnna Kund\t{_escape(company.name)}\twatch.changed\t"
                    '{"by_sms": false}\t{"by_sms": true}\t\\N\t'
                    f"{member.user_id}\t{company.id}\t{seq}\n"
                )
        code_rows = codes.close()
        audit = Copier(
            cursor,
            "audit_auditentry",
            "created_at, actor_label, company_label, action, before, after, ip_address, actor_id, company_id, seq",
        )
        for line in audit_lines:
            audit.add(line)
        result = {"verification_codes": code_rows, "audit_entries": audit.close()}
        cursor.execute("UPDATE audit_auditsequence SET last = %s", [seq])
        for key, value in result.items():
            self.counts[key] = self.counts.get(key, 0) + value
        return result


def reset_sequences(cursor, tables: list[str]) -> None:
    """Move each table's identity past the ids the COPY gave."""
    for table in tables:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"  # noqa: S608 - our table names
        )


# --- secondary indexes and foreign keys around the bulk load ------------------------------------------


def secondary_definitions(cursor, tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, name, SQL to recreate) of every index but the primary key, and of every unique and foreign
    key constraint, of ``tables``: what a bank's bulk import drops before a large COPY and builds after."""
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, c.contype,
               'ALTER TABLE ' || c.conrelid::regclass::text || ' ADD CONSTRAINT ' || quote_ident(c.conname)
               || ' ' || pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('u', 'f')
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    owned = {name for _table, name, _kind, _sql in constraints}
    cursor.execute(
        """
        SELECT i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid)
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
        """,
        [tables],
    )
    # A partitioned table's index is given as "ON ONLY parent" (the parent's alone, left invalid until each
    # partition's is attached); rebuilt as it was made, on the parent and every partition.
    indexes = [
        (table, name, sql.replace(" ON ONLY ", " ON ", 1))
        for table, name, sql in cursor.fetchall()
        if name not in owned
    ]
    # Unique constraints first (foreign keys may lean on them), then the plain and unique indexes, then FKs.
    ordered = [(t, n, s) for t, n, k, s in constraints if k == "u"]
    ordered += indexes
    ordered += [(t, n, s) for t, n, k, s in constraints if k == "f"]
    return ordered


def drop_secondaries(cursor, definitions: list[tuple[str, str, str]]) -> None:
    for table, name, sql in reversed(definitions):
        if sql.startswith("ALTER TABLE"):
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        else:
            cursor.execute(f'DROP INDEX "{name}"')


def create_secondaries(cursor, definitions: list[tuple[str, str, str]]) -> dict[str, float]:
    """Recreate them; a duplicate or a dangling reference raises here (the load fails loudly)."""
    seconds = {}
    for _table, name, sql in definitions:
        started = time.monotonic()
        cursor.execute(sql)
        seconds[name] = round(time.monotonic() - started, 1)
        say(f"  rebuilt {name} in {seconds[name]} s")
    return seconds
