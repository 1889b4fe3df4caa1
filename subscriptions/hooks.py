"""What Mina bevakningar does when the agreement or a permission changes under it.

Registered with agreements.hooks in SubscriptionsConfig.ready(); the agreement services call them inside
their own transaction, so the watches go with the change or not at all. Alerts themselves are also
stopped at send time by the access rule (PRODUCT.md rule 6).
"""

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from agreements.models import Agreement, CaseType
from companies.models import Company, User
from companies.selectors import signatories_of
from notifications.models import Channel, Purpose
from notifications.services import queue_delivery
from notifications.sms import gsm7_name, render_sms

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


def _tell_signatories_the_bank_ended(agreement: Agreement) -> set[int]:
    """Each signatory of the company is told, by every verified channel, that the bank ended the service and
    in which reason category (never the bank's own note). Returns who was told by e-mail."""
    company = agreement.company
    signatories = signatories_of(company_id=company.pk).values("user_id")
    told_by_email = set()
    for contact in VerifiedContact.objects.filter(user_id__in=signatories).select_related("user"):
        with translation.override(contact.user.language):
            reason = Agreement.EndCategory(agreement.end_category).label if agreement.end_category else ""
            if contact.channel == Channel.SMS:
                subject, body = "", render_sms("bank_ended", {"company": gsm7_name(company.name), "reason": reason})
            else:
                subject = _("Banken har avslutat tjänsten Bevaka ärenden")
                body = render_to_string("subscriptions/email/bank_ended.txt", {"company": company, "reason": reason})
                told_by_email.add(contact.user_id)
        queue_delivery(
            channel=contact.channel,
            destination=contact.destination,
            purpose=Purpose.NOTICE,
            subject=subject,
            body=body,
            user=contact.user,
            company=company,
        )
    return told_by_email


def _remove(watches, *, company: Company, kind: str, told_by_email: set[int] = frozenset()) -> None:
    removed: dict[int, list[str]] = {}
    for user_id, code in watches.values_list("user_id", "case_type__code"):
        removed.setdefault(user_id, []).append(code)
    watches.delete()
    UserNotice.objects.bulk_create(
        UserNotice(user_id=user_id, company=company, kind=kind, case_type_codes=sorted(codes))
        for user_id, codes in removed.items()
    )
    _tell_by_email(
        company=company, user_ids=[u for u in removed if u not in told_by_email], kind=kind, codes_by_user=removed
    )


def agreement_case_types_changed(*, agreement, case_type_codes: list[str]) -> None:
    """Watches of case types no longer in the agreement are deleted, and their users get a notice."""
    stale = Watch.objects.filter(company=agreement.company).exclude(case_type__code__in=case_type_codes)
    _remove(stale, company=agreement.company, kind=UserNotice.Kind.TYPES_REMOVED)


def agreement_ended(*, agreement) -> None:
    """Every watch under the agreement is deleted, and their users get a notice. When the bank ended it, the
    signatories are told by each verified channel (and a signatory is not told twice by e-mail)."""
    told = set()
    if agreement.ended_how == Agreement.EndedBy.BACK_OFFICE:
        told = _tell_signatories_the_bank_ended(agreement)
    _remove(
        Watch.objects.filter(company=agreement.company),
        company=agreement.company,
        kind=UserNotice.Kind.AGREEMENT_ENDED,
        told_by_email=told,
    )


def permission_changed(*, company: Company, user, granted: bool) -> None:
    """Hantera Bevaka ärenden given or taken: watches stay; the user is told they stop or apply again."""
    if Watch.objects.filter(company=company, user=user).exists():
        kind = UserNotice.Kind.ACCESS_RESTORED if granted else UserNotice.Kind.ACCESS_LOST
        UserNotice.objects.create(user=user, company=company, kind=kind)
        if not granted:
            _tell_by_email(company=company, user_ids=[user.pk], kind=kind, codes_by_user={})
