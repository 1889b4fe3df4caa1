"""Using a completed signature or BankID identification: once, for what it was made for.

The evidence was stored before its order was reported complete (signing/services.py); these functions
lock it and mark it used in the same transaction, so a concurrent second use is refused.
"""

import hmac

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import SignatureEvidence, SignatureOrder
from .services import SigningError, content_hash

Status = SignatureOrder.Status


def consume_signature(*, order_id, user, purpose: str, canonical_content: str) -> SignatureEvidence:
    """Use a completed signature once, for the action it was started for.

    Refuses (SigningError) unless the order is complete, was signed by ``user`` (personnummer), is for
    ``purpose``, has not been consumed before, and SHA-256 of ``canonical_content`` still equals what was
    signed. Marks the evidence used (atomically; a concurrent second call is refused) and returns it.
    """
    with transaction.atomic():
        order = (
            SignatureOrder.objects.select_for_update()
            .filter(pk=order_id, kind=SignatureOrder.Kind.SIGN, user=user)
            .first()
        )
        if order is None:
            raise SigningError(_("Signeringen finns inte."), "not_found")
        if order.status == Status.CANCELLED:
            # The user's own choice (Avbryt), not a failure: the caller says so as information (issue 18).
            raise SigningError(_("Du avbröt signeringen. Inget har ändrats."), "cancelled")
        if order.status != Status.COMPLETE:
            raise SigningError(_("Signeringen är inte klar. Signera igen."), "not_complete")
        evidence = SignatureEvidence.objects.select_for_update().get(order=order)
        if evidence.signer_personnummer != user.personnummer:
            raise SigningError(_("Det var inte du som skrev under."), "wrong_person")
        if order.purpose != purpose:
            raise SigningError(_("Underskriften gäller något annat."), "wrong_purpose")
        if evidence.used_at is not None:
            raise SigningError(_("Underskriften är redan använd. Signera igen."), "replayed")
        if not hmac.compare_digest(content_hash(canonical_content), evidence.content_sha256):
            raise SigningError(
                _("Innehållet har ändrats sedan du skrev under. Granska det och skriv under igen."),
                "content_changed",
            )
        now = timezone.now()
        SignatureEvidence.objects.filter(pk=evidence.pk, used_at__isnull=True).update(used_at=now)
        evidence.used_at = now
        return evidence


def complete_login(*, order_id):
    """The user a completed BankID identification logs in; the identification is used once.

    Raises SigningError if the order is not complete, already used, or names no active bank user.
    """
    with transaction.atomic():
        order = SignatureOrder.objects.select_for_update().filter(pk=order_id, kind=SignatureOrder.Kind.AUTH).first()
        if order is None or order.status != Status.COMPLETE:
            raise SigningError(_("Inloggningen är inte klar. Försök igen."), "not_complete")
        evidence = SignatureEvidence.objects.select_for_update().get(order=order)
        if evidence.used_at is not None:
            raise SigningError(_("Inloggningen är redan använd. Logga in igen."), "replayed")
        user = get_user_model().objects.filter(personnummer=evidence.signer_personnummer, is_active=True).first()
        if user is None:
            raise SigningError(_("Du är inte kund i Internetbanken Företag."), "no_user")
        SignatureEvidence.objects.filter(pk=evidence.pk, used_at__isnull=True).update(used_at=timezone.now())
        return user
