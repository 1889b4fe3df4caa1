"""What Mina bevakningar does when the agreement or a permission changes under it.

Registered with agreements.hooks in SubscriptionsConfig.ready(); the agreement services call them inside
their own transaction, so the watches go with the change or not at all. Alerts themselves are also
stopped at send time by the access rule (PRODUCT.md rule 6).
"""

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from agreements.models import CaseType
from companies.models import Company, User
from notifications.models import Channel, Purpose
from notifications.services import queue_delivery

from .models import UserNotice, VerifiedContact, Watch


def _tell_by_email(*, company: Company, user_ids: list[int], kind: str, codes_by_user: dict[int, list[str]]) -> None:
    """An e-mail to each user's verified address saying which alerts stopped (none without one)."""
    contacts = {
        c.user_id: c.destination for c in VerifiedContact.objects.filter(user_id__in=user_ids, channel=Channel.EMAIL)
    }
    if not contacts:
        return
    users = User.objects.in_bulk(list(contacts))
    types = {t.code: t for t in CaseType.objects.all()}
    for user_id, address in contacts.items():
        user = users[user_id]
        with translation.override(user.alert_language):
            body = render_to_string(
                "subscriptions/email/alerts_stopped.txt",
                {
                    "company": company,
                    "kind": kind,
                    "case_types": [types[c].name for c in codes_by_user.get(user_id, []) if c in types],
                },
            )
            subject = _("Aviseringar från Bevaka ärenden har upphört")
        queue_delivery(
            channel=Channel.EMAIL,
            destination=address,
            purpose=Purpose.NOTICE,
            subject=subject,
            body=body,
            user=user,
            company=company,
        )


def _remove(watches, *, company: Company, kind: str) -> None:
    removed: dict[int, list[str]] = {}
    for user_id, code in watches.values_list("user_id", "case_type__code"):
        removed.setdefault(user_id, []).append(code)
    watches.delete()
    UserNotice.objects.bulk_create(
        UserNotice(user_id=user_id, company=company, kind=kind, case_type_codes=sorted(codes))
        for user_id, codes in removed.items()
    )
    _tell_by_email(company=company, user_ids=list(removed), kind=kind, codes_by_user=removed)


def agreement_case_types_changed(*, agreement, case_type_codes: list[str]) -> None:
    """Watches of case types no longer in the agreement are deleted, and their users get a notice."""
    stale = Watch.objects.filter(company=agreement.company).exclude(case_type__code__in=case_type_codes)
    _remove(stale, company=agreement.company, kind=UserNotice.Kind.TYPES_REMOVED)


def agreement_ended(*, agreement) -> None:
    """Every watch under the agreement is deleted, and their users get a notice."""
    _remove(
        Watch.objects.filter(company=agreement.company),
        company=agreement.company,
        kind=UserNotice.Kind.AGREEMENT_ENDED,
    )


def permission_changed(*, company: Company, user, granted: bool) -> None:
    """Hantera Bevaka ärenden given or taken: watches stay; the user is told they stop or apply again."""
    if Watch.objects.filter(company=company, user=user).exists():
        kind = UserNotice.Kind.ACCESS_RESTORED if granted else UserNotice.Kind.ACCESS_LOST
        UserNotice.objects.create(user=user, company=company, kind=kind)
        if not granted:
            _tell_by_email(company=company, user_ids=[user.pk], kind=kind, codes_by_user={})
