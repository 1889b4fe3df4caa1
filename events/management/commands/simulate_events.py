"""Send signed events to the running API, as a core system would: for demos (`make run`) and smoke tests."""

import json
import random
import time
import uuid

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agreements.models import Agreement
from companies import demo
from companies.models import Company
from events.models import SourceKey, SourceSystem
from events.services import create_source_key, key_secret, sign


class Command(BaseCommand):
    help = "POST signed case events to the running API (default: one e-invoice for Exempelbolaget)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default=settings.EVENTS_API_URL, help="the web app's base URL")
        parser.add_argument("--source", default="demo-core", help="source system name (made with a key if missing)")
        parser.add_argument("--company", default=demo.EXEMPELBOLAGET, help="organisationsnummer")
        parser.add_argument("--type", default="", help="case type code; default: one the agreement includes")
        parser.add_argument("--count", type=int, default=1, help="how many events (one batch when more than one)")

    def handle(self, *args, url: str, source: str, company: str, type: str, count: int, **options) -> None:
        secret = self._secret(source)
        codes = [type] if type else self._agreement_types(company)
        events = [
            {
                "id": f"sim-{uuid.uuid4().hex[:16]}",
                "type": random.choice(codes),  # noqa: S311 - demo data
                "company": company,
                "occurred_at": timezone.localtime().isoformat(timespec="seconds"),
            }
            for _ in range(count)
        ]
        path, payload = ("/api/v1/events", events[0]) if count == 1 else ("/api/v1/events/batch", {"events": events})
        body = json.dumps(payload).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Bevaka-Source": source,
            "X-Bevaka-Timestamp": str(timestamp),
            "X-Bevaka-Signature": sign(secret=secret, timestamp=timestamp, body=body),
        }
        try:
            response = httpx.post(url.rstrip("/") + path, content=body, headers=headers, timeout=10)
        except httpx.HTTPError as error:
            raise CommandError(f"Could not reach {url}: {error}") from None
        self.stdout.write(f"{response.status_code} {response.text}")
        if response.status_code >= 400:
            raise CommandError("The API refused the events.", returncode=1)

    def _secret(self, name: str) -> str:
        system = SourceSystem.objects.filter(name=name).first()
        key = SourceKey.objects.filter(source=system, is_active=True).order_by("-created_at").first()
        if key is not None:
            return key_secret(key)
        if not settings.DEBUG:
            raise CommandError(f"No active key for source {name!r}; staff create one in the admin.")
        system = system or SourceSystem.objects.create(name=name, description="simulate_events (development)")
        _key, secret = create_source_key(source=system, label="simulate_events")
        self.stderr.write(f"Made source system {name!r} with a new key (development only).")
        return secret

    def _agreement_types(self, org_number: str) -> list[str]:
        company = Company.objects.filter(org_number=org_number.replace("-", "")).first()
        agreement = Agreement.objects.active().filter(company=company).first()
        codes = list(agreement.case_types.values_list("code", flat=True)) if agreement else []
        return codes or ["e_invoice"]
