"""Writing to the append-only audit log (PRODUCT.md rule 9)."""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max

from companies.models import Company, User

from .models import AuditEntry, AuditSequence


def record(
    *,
    action: str,
    actor: User | None,
    company: Company | None,
    before: Any = None,
    after: Any = None,
    ip_address: str | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the change it records, so both or neither stay.

    ``actor`` None means the bank itself (a back-office job); ``before``/``after`` are small JSON summaries
    of what changed, never personal or financial detail beyond names and case types.
    """
    with transaction.atomic():
        return AuditEntry.objects.create(
            seq=_next_seq(),
            action=action,
            actor=actor,
            actor_label=(f"{actor.get_full_name()} ({actor.pk})" if actor else "Banken"),
            company=company,
            company_label=(f"{company.name} ({company.org_number_display})" if company else ""),
            before=before,
            after=after,
            ip_address=ip_address,
        )


def _next_seq() -> int:
    """The next sequence number; the counter row stays locked until the caller's transaction ends, so a
    concurrent writer waits and a rollback gives the number back."""
    if not AuditSequence.objects.filter(pk=1).update(last=F("last") + 1):
        # No counter row (a database emptied by flush): start it from the entries there are.
        top = AuditEntry.objects.aggregate(top=Max("seq"))["top"] or 0
        try:
            with transaction.atomic():
                AuditSequence.objects.create(pk=1, last=top)
        except IntegrityError:
            pass  # a concurrent writer made it first
        AuditSequence.objects.filter(pk=1).update(last=F("last") + 1)
    return AuditSequence.objects.values_list("last", flat=True).get(pk=1)
