"""Every change to an agreement or to the permission Hantera Bevaka ärenden (PRODUCT.md rules 1–3, 9).

Each function is atomic, checks the actor's mandate itself (views only parse forms), writes an audit
entry in the same transaction, and raises AgreementError with a message safe to show the customer.
"""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from audit.services import record
from companies.models import MANAGE_CASE_WATCH_PERM, Authority, Company, Membership, SigningMandate, User
from signing.evidence import consume_signature

from . import hooks
from .access import holds_manage_case_watch
from .models import (
    PENDING_LIFETIME_DAYS,
    Agreement,
    AgreementSignature,
    AgreementVersion,
    CaseType,
    InternetBank,
    PendingAgreementChange,
)
from .pending import expire_pending as _expire_pending
from .pending import open_pending_change, withdraw_superseded
from .proposals import Proposal
from .selectors import active_agreement

SIGNING_PURPOSE = "bevaka_arenden.agreement"  # what an agreement's signatures are started and used for


class AgreementError(Exception):
    """A refused agreement action; ``str(error)`` says why, in the customer's language."""


def _signatory_membership(*, company: Company, user: User) -> Membership:
    membership = Membership.objects.filter(company=company, user=user, user__is_active=True).first()
    if membership is None or membership.signing_mandate == SigningMandate.NONE:
        raise AgreementError(
            _(
                "Du måste ha en fullmakt att teckna avtal via internetbanken för att kunna teckna, ändra och "
                "avsluta avtalet för tjänsten."
            )
        )
    return membership


def _current_version(agreement: Agreement) -> AgreementVersion:
    return agreement.versions.order_by("-number").first()


def _clean_codes(codes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    codes = tuple(sorted(set(codes)))
    if not codes:
        raise AgreementError(_("Välj minst ett ärende som ska ingå i avtalet."))
    known = set(CaseType.objects.filter(code__in=codes).values_list("code", flat=True))
    if unknown := set(codes) - known:
        raise AgreementError(_("Okänd ärendetyp: %(codes)s") % {"codes": ", ".join(sorted(unknown))})
    return codes


def _refuse_a_second_pending(membership: Membership) -> None:
    # A joint signature would be refused while another change waits: say so before the signing, not after.
    if membership.signing_mandate == SigningMandate.JOINTLY and open_pending_change(company=membership.company):
        raise AgreementError(
            _("En ändring av avtalet väntar redan på signatur. Signera eller återkalla den innan du föreslår en ny.")
        )


def propose_connect(*, company: Company, signer: User, case_type_codes: list[str], internet_bank: str = "") -> Proposal:
    """What connecting the company with these case types would mean. Validates; stores nothing."""
    _refuse_a_second_pending(_signatory_membership(company=company, user=signer))
    if active_agreement(company=company):
        raise AgreementError(_("Företaget är redan anslutet till tjänsten Bevaka ärenden."))
    codes = _clean_codes(case_type_codes)
    if company.is_sole_proprietorship:
        if internet_bank not in InternetBank.values:
            raise AgreementError(
                _("Välj om du vill ansluta till tjänsten via internetbanken privat eller internetbanken företag.")
            )
    else:
        internet_bank = InternetBank.CORPORATE
    return Proposal(
        company_id=company.pk,
        company_name=company.name,
        org_number=company.org_number,
        action=AgreementVersion.Action.CONNECT,
        case_type_codes=codes,
        internet_bank=internet_bank,
        is_sole_proprietorship=company.is_sole_proprietorship,
        base_version=None,
    )


def propose_change(*, company: Company, signer: User, case_type_codes: list[str]) -> Proposal:
    """What changing the active agreement to these case types would mean. Validates; stores nothing."""
    _refuse_a_second_pending(_signatory_membership(company=company, user=signer))
    agreement = active_agreement(company=company)
    if agreement is None:
        raise AgreementError(_("Företaget är inte anslutet till tjänsten Bevaka ärenden."))
    codes = _clean_codes(case_type_codes)
    current = _current_version(agreement)
    if tuple(sorted(current.case_type_codes)) == codes:
        raise AgreementError(_("Avtalet innehåller redan de ärenden du valt. Ändra urvalet eller avbryt."))
    return Proposal(
        company_id=company.pk,
        company_name=company.name,
        org_number=company.org_number,
        action=AgreementVersion.Action.CHANGE,
        case_type_codes=codes,
        internet_bank=agreement.internet_bank,
        is_sole_proprietorship=company.is_sole_proprietorship,
        base_version=current.number,
    )


@dataclass(frozen=True)
class SignedResult:
    """What a signature led to: a new version in force, or a change waiting for a second signatory."""

    version: AgreementVersion | None = None
    pending: PendingAgreementChange | None = None


def _summary(agreement: Agreement | None) -> dict | None:
    if agreement is None:
        return None
    version = _current_version(agreement)
    return {
        "status": agreement.status,
        "version": version.number if version else None,
        "case_types": version.case_type_codes if version else [],
    }


def _put_in_force(
    *, proposal: Proposal, signatures: list[tuple[User, object]], ip_address: str | None
) -> AgreementVersion:
    """Make the proposal the company's agreement, with one or two signatures. Locks, so that two
    signatories acting at once cannot make two active agreements or lose a change."""
    company = Company.objects.select_for_update().get(pk=proposal.company_id)
    now = timezone.now()
    agreement = Agreement.objects.select_for_update().active().filter(company=company).first()
    before = _summary(agreement)
    if proposal.action == AgreementVersion.Action.CONNECT:
        if agreement is not None:
            raise AgreementError(_("Företaget är redan anslutet till tjänsten Bevaka ärenden."))
        try:
            with transaction.atomic():
                agreement = Agreement.objects.create(
                    company=company, internet_bank=proposal.internet_bank, created_at=now
                )
        except IntegrityError as error:  # the constraint, should a lock ever be bypassed
            raise AgreementError(_("Företaget är redan anslutet till tjänsten Bevaka ärenden.")) from error
        number = 1
    else:
        if agreement is None:
            raise AgreementError(_("Företaget är inte anslutet till tjänsten Bevaka ärenden."))
        current = _current_version(agreement)
        if current.number != proposal.base_version:
            raise AgreementError(
                _("Avtalet har ändrats av någon annan sedan du började. Gör om ändringen utifrån det nya avtalet.")
            )
        number = current.number + 1
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=number,
        action=proposal.action,
        case_type_codes=list(proposal.case_type_codes),
        internet_bank=proposal.internet_bank,
        terms_version=proposal.terms_version,
        content=proposal.content,
        content_sha256=proposal.content_sha256,
        created_at=now,
    )
    for signer, evidence in signatures:
        AgreementSignature.objects.create(
            version=version, signer=signer, evidence=evidence, signed_at=evidence.signed_at
        )
    agreement.case_types.set(CaseType.objects.filter(code__in=proposal.case_type_codes))
    record(
        action=f"agreement.{proposal.action}",
        actor=signatures[-1][0],
        company=company,
        before=before,
        after={**_summary(agreement), "signers": [s.pk for s, _ in signatures]},
        ip_address=ip_address,
    )
    hooks.case_types_changed(agreement=agreement, case_type_codes=list(proposal.case_type_codes))
    return version


@transaction.atomic
def apply_signed_proposal(*, proposal: Proposal, signer: User, evidence, ip_address: str | None = None) -> SignedResult:
    """Act on a proposal the signer has just signed (``evidence`` from signing.consume_signature).

    A signatory who signs alone puts it in force at once. One who signs jointly leaves it pending until a
    second signatory signs the same content (see cosign_pending). Raises AgreementError.
    """
    membership = _signatory_membership(company=Company.objects.get(pk=proposal.company_id), user=signer)
    if membership.signing_mandate == SigningMandate.ALONE:
        version = _put_in_force(proposal=proposal, signatures=[(signer, evidence)], ip_address=ip_address)
        # A joint change waiting on the version before can never take effect now: withdrawn, and said so.
        withdraw_superseded(company=version.agreement.company, version=version, actor=signer, ip_address=ip_address)
        return SignedResult(version=version)

    company = Company.objects.select_for_update().get(pk=proposal.company_id)
    _expire_pending(company=company)
    if PendingAgreementChange.objects.filter(company=company, status=PendingAgreementChange.Status.PENDING).exists():
        raise AgreementError(_("Det finns redan en ändring av avtalet som väntar på signatur."))
    agreement = active_agreement(company=company)
    now = timezone.now()
    pending = PendingAgreementChange.objects.create(
        company=company,
        action=proposal.action,
        agreement=agreement,
        base_version_number=proposal.base_version,
        case_type_codes=list(proposal.case_type_codes),
        internet_bank=proposal.internet_bank,
        terms_version=proposal.terms_version,
        content=proposal.content,
        content_sha256=proposal.content_sha256,
        initiated_by=signer,
        first_evidence=evidence,
        created_at=now,
        expires_at=now + datetime.timedelta(days=PENDING_LIFETIME_DAYS),
    )
    record(
        action=f"agreement.{proposal.action}.first_signature",
        actor=signer,
        company=company,
        before=_summary(agreement),
        after={"pending": pending.pk, "case_types": list(proposal.case_type_codes)},
        ip_address=ip_address,
    )
    return SignedResult(pending=pending)


@transaction.atomic
def complete_signed_proposal(
    *, proposal: Proposal, order_id: str, signer: User, ip_address: str | None = None
) -> SignedResult:
    """Take ``signer``'s signature of ``proposal`` (signing order ``order_id``) and act on it, in one
    transaction: a refused action leaves the signature unused, so nothing is half done.

    A proposal for a pending change is its second signature and puts it in force (cosign_pending); any
    other goes to apply_signed_proposal. Raises signing's SigningError when the signature is not complete,
    not ``signer``'s, not for this purpose and content, or used before; AgreementError when the action
    itself is refused (as apply_signed_proposal and cosign_pending refuse it).
    """
    evidence = consume_signature(
        order_id=order_id, user=signer, purpose=SIGNING_PURPOSE, canonical_content=proposal.content
    )
    if proposal.pending_id:
        version = cosign_pending(
            pending_id=proposal.pending_id, proposal=proposal, signer=signer, evidence=evidence, ip_address=ip_address
        )
        return SignedResult(version=version)
    return apply_signed_proposal(proposal=proposal, signer=signer, evidence=evidence, ip_address=ip_address)


def proposal_for_pending(pending: PendingAgreementChange) -> Proposal:
    """The proposal a second signatory signs: exactly the content the first one signed."""
    return Proposal.from_content(
        pending.content,
        company_id=pending.company_id,
        is_sole_proprietorship=pending.company.is_sole_proprietorship,
        pending_id=pending.pk,
    )


@transaction.atomic
def cosign_pending(
    *, pending_id: int, proposal: Proposal, signer: User, evidence, ip_address: str | None = None
) -> AgreementVersion:
    """A second signatory's signature on a pending change: puts it in force. Raises AgreementError."""
    pending = PendingAgreementChange.objects.select_for_update().select_related("company").get(pk=pending_id)
    _signatory_membership(company=pending.company, user=signer)
    if not pending.is_open:
        raise AgreementError(_("Ändringen väntar inte längre på signatur."))
    if signer.pk == pending.initiated_by_id:
        raise AgreementError(_("Ändringen måste signeras av en annan person med fullmakt att teckna avtal."))
    if proposal.content_sha256 != pending.content_sha256:
        raise AgreementError(_("Det du signerade stämmer inte med ändringen som väntar. Försök igen."))
    version = _put_in_force(
        proposal=proposal,
        signatures=[(pending.initiated_by, pending.first_evidence), (signer, evidence)],
        ip_address=ip_address,
    )
    pending.status = PendingAgreementChange.Status.COMPLETED
    pending.resolved_at = timezone.now()
    pending.resolved_by = signer
    pending.save(update_fields=["status", "resolved_at", "resolved_by"])
    return version


@transaction.atomic
def withdraw_pending(*, pending_id: int, user: User, ip_address: str | None = None) -> None:
    """Either signatory withdraws a pending change before it takes effect."""
    pending = PendingAgreementChange.objects.select_for_update().select_related("company").get(pk=pending_id)
    _signatory_membership(company=pending.company, user=user)
    if pending.status != PendingAgreementChange.Status.PENDING:
        raise AgreementError(_("Ändringen väntar inte längre på signatur."))
    pending.status = PendingAgreementChange.Status.WITHDRAWN
    pending.resolved_at = timezone.now()
    pending.resolved_by = user
    pending.save(update_fields=["status", "resolved_at", "resolved_by"])
    record(
        action="agreement.pending_withdrawn",
        actor=user,
        company=pending.company,
        before={"pending": pending.pk, "case_types": pending.case_type_codes},
        ip_address=ip_address,
    )


def _end(
    agreement: Agreement, *, actor: User | None, how: str, category: str, reason: str, ip_address: str | None
) -> Agreement:
    before = _summary(agreement)
    agreement.status = Agreement.Status.ENDED
    agreement.ended_at = timezone.now()
    agreement.ended_by = actor
    agreement.ended_how = how
    agreement.end_category = category
    agreement.end_reason = reason
    agreement.save(update_fields=["status", "ended_at", "ended_by", "ended_how", "end_category", "end_reason"])
    PendingAgreementChange.objects.filter(
        company=agreement.company, status=PendingAgreementChange.Status.PENDING
    ).update(status=PendingAgreementChange.Status.WITHDRAWN, resolved_at=agreement.ended_at, resolved_by=actor)
    record(
        action="agreement.end" if how == Agreement.EndedBy.CUSTOMER else "agreement.end_by_bank",
        actor=actor,
        company=agreement.company,
        before=before,
        after={**_summary(agreement), "category": category, "reason": reason} if reason else _summary(agreement),
        ip_address=ip_address,
    )
    hooks.agreement_ended(agreement=agreement)
    return agreement


@transaction.atomic
def end_agreement(*, company: Company, user: User, ip_address: str | None = None) -> Agreement:
    """A signatory ends the company's agreement (confirmed, not signed). Alerts stop at once."""
    _signatory_membership(company=company, user=user)
    agreement = Agreement.objects.select_for_update().active().filter(company=company).first()
    if agreement is None:
        raise AgreementError(_("Företaget är inte anslutet till tjänsten Bevaka ärenden."))
    return _end(agreement, actor=user, how=Agreement.EndedBy.CUSTOMER, category="", reason="", ip_address=ip_address)


@transaction.atomic
def end_agreement_by_bank(
    *, agreement_id: int, staff_user: User, reason: str, category: str = "other", ip_address: str | None = None
) -> Agreement:
    """The bank's back office ends an agreement, with a reason category (shown to the customer) and a reason
    (the bank's own note). Raises AgreementError if not active. The signatories are told by the listeners."""
    if not reason.strip():
        raise AgreementError(_("Ange en orsak."))
    if category not in Agreement.EndCategory.values:
        raise AgreementError(_("Välj en orsak som kunden ser."))
    agreement = Agreement.objects.select_for_update().select_related("company").get(pk=agreement_id)
    if not agreement.is_active:
        raise AgreementError(_("Avtalet är redan avslutat."))
    return _end(
        agreement,
        actor=staff_user,
        how=Agreement.EndedBy.BACK_OFFICE,
        category=category,
        reason=reason.strip(),
        ip_address=ip_address,
    )


def _restricted_member(*, company: Company, admin: User, user_id: int) -> Membership:
    admin_membership = Membership.objects.filter(company=company, user=admin, is_permission_admin=True).first()
    if admin_membership is None:
        raise AgreementError(_("Du är inte behörighetsadministratör för företaget."))
    member = Membership.objects.select_related("user").filter(company=company, user_id=user_id).first()
    if member is None:
        raise AgreementError(_("Användaren finns inte på företaget."))
    if member.authority == Authority.UNRESTRICTED:
        raise AgreementError(_("Användare med obegränsad behörighet har redan tillgång till tjänsten."))
    return member


def _set_case_watch_permission(
    *, company: Company, admin: User, user_id: int, granted: bool, ip_address: str | None
) -> None:
    member = _restricted_member(company=company, admin=admin, user_id=user_id)
    if holds_manage_case_watch(user=member.user, company=company) == granted:
        return
    (assign_perm if granted else remove_perm)(MANAGE_CASE_WATCH_PERM, member.user, company)
    hooks.permission_changed(company=company, user=member.user, granted=granted)
    record(
        action="permission.grant" if granted else "permission.revoke",
        actor=admin,
        company=company,
        before={"user": member.user_id, "manage_case_watch": not granted},
        after={"user": member.user_id, "manage_case_watch": granted},
        ip_address=ip_address,
    )


@transaction.atomic
def grant_case_watch_permission(*, company: Company, admin: User, user_id: int, ip_address: str | None = None) -> None:
    """A permission administrator gives a restricted user Hantera Bevaka ärenden on the company."""
    _set_case_watch_permission(company=company, admin=admin, user_id=user_id, granted=True, ip_address=ip_address)


@transaction.atomic
def revoke_case_watch_permission(*, company: Company, admin: User, user_id: int, ip_address: str | None = None) -> None:
    """Take Hantera Bevaka ärenden away. The user's watches are kept but stop until access returns."""
    _set_case_watch_permission(company=company, admin=admin, user_id=user_id, granted=False, ip_address=ip_address)
