"""Changes signed by one signatory with a joint mandate (i förening), waiting for a second: which one is
open, and withdrawing those that a newer version in force has overtaken (issue 19).

A change waiting on version N can never take effect once version N+1 is in force (``_put_in_force`` refuses
a stale base), so it is withdrawn at once — audited, and shown on the service page — rather than offered to
the second signatory, refused only after signing, and blocking new proposals until it expires.
"""

import datetime

from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from companies.models import Company, User

from .models import PENDING_LIFETIME_DAYS, AgreementVersion, PendingAgreementChange

SUPERSEDED_ACTION = "agreement.pending_superseded"


def expire_pending(*, company: Company) -> None:
    """Mark the company's pending changes past their lifetime as expired."""
    PendingAgreementChange.objects.filter(
        company=company, status=PendingAgreementChange.Status.PENDING, expires_at__lte=timezone.now()
    ).update(status=PendingAgreementChange.Status.EXPIRED, resolved_at=timezone.now())


def open_pending_change(*, company: Company) -> PendingAgreementChange | None:
    """The company's change waiting for a second signature, if any and not expired."""
    return (
        PendingAgreementChange.objects.filter(
            company=company, status=PendingAgreementChange.Status.PENDING, expires_at__gt=timezone.now()
        )
        .select_related("initiated_by")
        .first()
    )


def withdraw_superseded(*, company: Company, version: AgreementVersion, actor: User, ip_address: str | None) -> None:
    """Withdraw every change still waiting for a second signature now that ``version`` is in force (called in
    the transaction that put it in force, with the company's row locked), each with an audit entry naming
    who had signed it, so that both joint signatories are told (``last_superseded``)."""
    waiting = PendingAgreementChange.objects.select_for_update().select_related("initiated_by")
    for pending in waiting.filter(company=company, status=PendingAgreementChange.Status.PENDING):
        pending.status = PendingAgreementChange.Status.WITHDRAWN
        pending.resolved_at = timezone.now()
        pending.resolved_by = actor
        pending.save(update_fields=["status", "resolved_at", "resolved_by"])
        record(
            action=SUPERSEDED_ACTION,
            actor=actor,
            company=company,
            before={
                "pending": pending.pk,
                "case_types": pending.case_type_codes,
                "signed_by": pending.initiated_by.get_full_name(),
                "signed_at": pending.created_at.isoformat(),
            },
            after={"version": version.number, "case_types": version.case_type_codes},
            ip_address=ip_address,
        )


def last_superseded(*, company: Company) -> dict | None:
    """The latest change withdrawn because a newer version came into force, within a pending change's
    lifetime: who signed it and when, who put the newer version in force and when (one query)."""
    since = timezone.now() - datetime.timedelta(days=PENDING_LIFETIME_DAYS)
    entry = (
        AuditEntry.objects.filter(company=company, action=SUPERSEDED_ACTION, created_at__gte=since)
        .order_by("-id")
        .only("actor_label", "created_at", "before")
        .first()
    )
    if entry is None:
        return None
    return {
        "signed_by": entry.before.get("signed_by", ""),
        "signed_at": datetime.datetime.fromisoformat(entry.before["signed_at"]),
        "withdrawn_at": entry.created_at,
        "withdrawn_by": entry.actor_label,
    }
