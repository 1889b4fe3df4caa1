"""Signing and BankID login: start, poll, answer (token), cancel, consume.

Every flow that needs a signature uses ``start_signature`` → the sign page (``signing:sign``) →
``signing.evidence.consume_signature`` at the caller's ``return_url``. Evidence is stored before an order
is reported complete; using it (signing/evidence.py) is atomic and once-only.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import secrets
import string
import uuid
from urllib.parse import urlsplit

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import record
from bevaka import metrics

from . import rfa
from .bankid import BankIDClient, BankIDError, b64, certificate_policy
from .models import SecurityToken, SignatureEvidence, SignatureOrder, SigningMethod
from .ocra import OcraSuite
from .seal import seal, verify_token_record
from .tokens import challenge_for, token_secret
from .verification import Expected, Report, verify_bankid

logger = logging.getLogger(__name__)

TOKEN_CHALLENGE_LIFETIME = datetime.timedelta(minutes=5)
TOKEN_MAX_ATTEMPTS = 3
TOKEN_MAX_CONSECUTIVE_FAILURES = 5
BANKID_ORDER_LIFETIME = datetime.timedelta(minutes=3)
COLLECT_INTERVAL = datetime.timedelta(seconds=1.5)  # the page polls every 2 s; BankID allows ≥ 1 s

Status = SignatureOrder.Status


class SigningError(Exception):
    """A refusal whose ``str()`` is a Swedish (or, with English active, English) message safe to show."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(str(message))
        self.code = code


def content_hash(canonical_content: str) -> str:
    return hashlib.sha256(canonical_content.encode("utf-8")).hexdigest()


def _manifest(*, purpose: str, object_ref: str, content_sha256: str, nonce: str) -> str:
    """The userNonVisibleData: a canonical JSON manifest, serialised once and stored byte-exact."""
    data = {"v": 1, "purpose": purpose, "object": object_ref, "contentSha256": content_sha256, "nonce": nonce}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _client() -> BankIDClient:
    return BankIDClient()


def _cancel_at_bankid(order_ref: str) -> None:
    try:
        _client().cancel(order_ref)
    except BankIDError as exc:
        logger.info("BankID cancel of an order failed: %s", exc.error_code)


def _cancel_pending(queryset) -> None:
    """Cancel these pending orders (ours and, for BankID, at BankID): one attempt at a time per person."""
    for order in list(queryset.filter(status=Status.PENDING)):
        updated = SignatureOrder.objects.filter(pk=order.pk, status=Status.PENDING).update(
            status=Status.CANCELLED, message_code="RFA3", finished_at=timezone.now()
        )
        if updated:
            metrics.count("bevaka_signing_orders_total", kind=order.kind, outcome=Status.CANCELLED)
        if updated and order.order_ref:
            _cancel_at_bankid(order.order_ref)


def _absolute_sign_url(return_url: str, order_id: uuid.UUID) -> str:
    parts = urlsplit(return_url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}{reverse('signing:sign', args=[order_id])}"
    return ""


def start_signature(
    *,
    user,
    method: str,
    purpose: str,
    visible_text: str,
    canonical_content: str,
    object_ref: str,
    return_url: str,
    end_user_ip: str,
) -> SignatureOrder:
    """Start a signature of ``visible_text`` by ``user`` with ``method``; the user continues on
    ``signing:sign``, which redirects to ``return_url`` when done.

    The SHA-256 of ``canonical_content`` is what is bound to the signature (BankID: in the signed
    userNonVisibleData manifest; token: in the challenge). Cancels the user's other pending orders.
    Raises SigningError (e.g. RFA4 when BankID already has an order for this person, no or a locked token).
    """
    if method not in SigningMethod.values:
        raise SigningError(_("Okänt sätt att signera."), "unknown_method")
    _cancel_pending(SignatureOrder.objects.filter(user=user))
    order_id = uuid.uuid4()
    digest = content_hash(canonical_content)
    nonce = secrets.token_hex(16)
    manifest = _manifest(purpose=purpose, object_ref=object_ref, content_sha256=digest, nonce=nonce)
    order = SignatureOrder(
        id=order_id,
        kind=SignatureOrder.Kind.SIGN,
        user=user,
        method=method,
        purpose=purpose,
        visible_text=visible_text,
        content_sha256=digest,
        object_ref=object_ref,
        return_url=return_url,
        end_user_ip=end_user_ip,
        nonce=nonce,
        user_visible_data=b64(visible_text),
        user_non_visible_data=b64(manifest),
    )
    now = timezone.now()
    if method == SigningMethod.SECURITY_TOKEN:
        with transaction.atomic():
            token = SecurityToken.objects.select_for_update().filter(user=user).first()
            if token is None:
                raise SigningError(_("Du har ingen säkerhetsdosa. Välj ett annat sätt att signera."), "no_token")
            if token.status == SecurityToken.Status.LOCKED:
                raise SigningError(rfa.message("TOKEN_LOCKED"), "TOKEN_LOCKED")
            order.token = token
            order.challenge = challenge_for(content_sha256=digest, nonce=nonce)
            order.message_code = "TOKEN_AWAITING_RESPONSE"
            order.expires_at = now + TOKEN_CHALLENGE_LIFETIME
            order.save()
        return order

    requirement = {
        "personalNumber": user.personnummer,
        "certificatePolicies": [certificate_policy("card" if method == SigningMethod.BANKID_CARD else "mobile")],
        "pinCode": True,
    }
    if method == SigningMethod.BANKID_CARD:
        requirement["cardReader"] = "class1"
    client = _client()
    try:
        started = client.sign(
            end_user_ip=end_user_ip,
            user_visible_data=order.user_visible_data,
            user_non_visible_data=order.user_non_visible_data,
            user_visible_data_format="simpleMarkdownV1",
            requirement=requirement,
            return_url=_absolute_sign_url(return_url, order_id) or None,
        )
    except BankIDError as exc:
        raise SigningError(rfa.message(rfa.code_for_error(exc.error_code)), exc.error_code) from exc
    _fill_bankid(order, started, client)
    order.message_code = rfa.code_for_pending(
        "outstandingTransaction", launch="desktop" if method == SigningMethod.BANKID_CARD else "qr"
    )
    order.save()
    return order


def _fill_bankid(order: SignatureOrder, started, client: BankIDClient) -> None:
    order.request = client.last_request or {}
    order.order_ref = started.order_ref
    order.auto_start_token = started.auto_start_token
    order.qr_start_token = started.qr_start_token
    order.qr_start_secret = started.qr_start_secret
    order.order_time = timezone.now()
    order.expires_at = order.order_time + BANKID_ORDER_LIFETIME
    order.hint_code = "outstandingTransaction"


def start_login(*, end_user_ip: str, return_url: str, previous_order_id: str | None = None) -> SignatureOrder:
    """Start a BankID identification (``/auth``) for logging in; the person is known only on completion.

    ``previous_order_id`` (the session's earlier attempt) is cancelled first. Raises SigningError.
    """
    if previous_order_id:
        _cancel_pending(SignatureOrder.objects.filter(pk=previous_order_id, kind=SignatureOrder.Kind.AUTH))
    order_id = uuid.uuid4()
    text = _("Logga in i Internetbanken Företag")
    nonce = secrets.token_hex(16)
    manifest = _manifest(purpose="login", object_ref="", content_sha256=content_hash(text), nonce=nonce)
    order = SignatureOrder(
        id=order_id,
        kind=SignatureOrder.Kind.AUTH,
        method=SigningMethod.BANKID_MOBILE,
        purpose="login",
        visible_text=text,
        content_sha256=content_hash(text),
        return_url=return_url,
        end_user_ip=end_user_ip,
        nonce=nonce,
        user_visible_data=b64(text),
        user_non_visible_data=b64(manifest),
    )
    client = _client()
    try:
        started = client.auth(
            end_user_ip=end_user_ip,
            user_visible_data=order.user_visible_data,
            user_non_visible_data=order.user_non_visible_data,
            user_visible_data_format="simpleMarkdownV1",
            return_url=_absolute_sign_url(return_url, order_id).replace(
                reverse("signing:sign", args=[order_id]), reverse("signing:login-wait", args=[order_id])
            )
            or None,
        )
    except BankIDError as exc:
        raise SigningError(rfa.message(rfa.code_for_error(exc.error_code)), exc.error_code) from exc
    _fill_bankid(order, started, client)
    order.message_code = "RFA1"
    order.save()
    return order


def _launch(order: SignatureOrder, launch: str | None) -> str:
    if order.method == SigningMethod.BANKID_CARD:
        return "desktop"
    return launch or "qr"


def poll_order(*, order_id, launch: str | None = None) -> SignatureOrder:
    """Bring a pending order up to date: BankID → ``/collect`` (at most every 1.5 s); token → expiry.

    On BankID ``complete`` the evidence is checked (the signer is the order's user; the signature echoes
    exactly the userVisibleData/userNonVisibleData we sent) and stored before the order is marked complete.
    ``launch`` ("qr", "mobile", "desktop") picks the user message. Returns the order.
    """
    with transaction.atomic():
        order = SignatureOrder.objects.select_for_update(of=("self",)).select_related("user").get(pk=order_id)
        if order.status != Status.PENDING:
            return order
        now = timezone.now()
        if not order.is_bankid:
            if now >= order.expires_at:
                _finish(order, Status.FAILED, "TOKEN_CHALLENGE_EXPIRED")
            return order
        if order.last_collect_at and now - order.last_collect_at < COLLECT_INTERVAL:
            return order
        order.last_collect_at = now
        try:
            result = _client().collect(order.order_ref)
        except BankIDError as exc:
            if exc.error_code == "maintenance":
                order.save(update_fields=["last_collect_at"])  # retry silently at the next poll
                return order
            logger.warning("BankID collect failed: %s", exc.error_code)
            _finish(order, Status.FAILED, rfa.code_for_error(exc.error_code), hint=exc.error_code)
            return order
        status = result.get("status")
        hint = str(result.get("hintCode") or "")
        if status == "pending":
            order.hint_code = hint
            order.message_code = rfa.code_for_pending(hint, launch=_launch(order, launch))
            order.save(update_fields=["last_collect_at", "hint_code", "message_code"])
        elif status == "failed":
            _finish(order, Status.FAILED, rfa.code_for_failed(hint, launch=_launch(order, launch)), hint=hint)
        elif status == "complete":
            _complete_bankid(order, result.get("completionData") or {})
        else:
            _finish(order, Status.FAILED, "RFA22", hint=str(status))
    return order


def _finish(order: SignatureOrder, status: str, message_code: str, *, hint: str | None = None) -> None:
    order.status = status
    order.message_code = message_code
    if hint is not None:
        order.hint_code = hint
    order.finished_at = timezone.now()
    order.save()
    metrics.count("bevaka_signing_orders_total", kind=order.kind, outcome=status)


def _complete_bankid(order: SignatureOrder, completion: dict) -> None:
    person = completion.get("user") or {}
    personnummer = str(person.get("personalNumber") or "")
    if order.kind == SignatureOrder.Kind.SIGN and personnummer != order.user.personnummer:
        _finish(order, Status.FAILED, "WRONG_PERSON", hint="wrongPerson")
        return
    now = timezone.now()
    is_sign = order.kind == SignatureOrder.Kind.SIGN
    expected = Expected(
        user_visible_data=order.user_visible_data,
        user_non_visible_data=order.user_non_visible_data,
        func_id="Signing" if is_sign else "Identification",
        personal_number=order.user.personnummer if is_sign else None,
        started_at=order.order_time or order.created_at,
        signed_at=now,
    )
    report = verify_bankid(
        signature_b64=str(completion.get("signature") or ""),
        ocsp_b64=str(completion.get("ocspResponse") or ""),
        completion_user=person,
        expected=expected,
    )
    if not report.ok:
        _refuse(order, report)
        return
    SignatureEvidence.objects.create(
        order=order,
        provider="bankid",
        environment=_client().base_url,
        method=order.method,
        order_ref=order.order_ref,
        signer_personnummer=personnummer,
        signer_name=str(person.get("name") or ""),
        user_visible_data=order.user_visible_data,
        user_non_visible_data=order.user_non_visible_data,
        content_sha256=order.content_sha256,
        completion_data=completion,
        request=order.request,
        verification=report.as_json(),
        started_at=expected.started_at,
        signed_at=now,
    )
    _finish(order, Status.COMPLETE, "SIGNED" if order.kind == SignatureOrder.Kind.SIGN else "IDENTIFIED", hint="")


def _refuse(order: SignatureOrder, report: Report) -> None:
    """A signature that fails verification: no evidence, an audit entry, a message saying why."""
    failed = report.failed
    logger.warning("BankID signature refused for order %s: %s", order.pk, ", ".join(failed))
    record(
        action="signing.signature_refused",
        actor=order.user,
        company=None,
        after={"order": str(order.pk), "kind": order.kind, "failedChecks": failed},
        ip_address=order.end_user_ip,
    )
    revoked = any(c["check"] == "ocsp_status" and c["detail"].startswith("revoked") for c in report.checks)
    code = "RFA16" if revoked else "WRONG_PERSON" if failed == ["personal_number"] else "SIGNATURE_INVALID"
    _finish(order, Status.FAILED, code, hint="signatureRefused")


def answer_token_challenge(*, order_id, user, response: str) -> SignatureOrder:
    """Check the token's response to the order's challenge (constant time) and complete the order.

    A wrong response counts against the order (3 → failed) and the token (5 in a row → locked); an
    expired challenge fails the order. Evidence is stored before the order is complete. Returns the
    order; its ``message_code`` says what happened. Raises SigningError for an order that is not the
    user's pending token order.
    """
    with transaction.atomic():
        order = (
            SignatureOrder.objects.select_for_update()
            .filter(pk=order_id, user=user, method=SigningMethod.SECURITY_TOKEN)
            .first()
        )
        if order is None:
            raise SigningError(_("Signeringen finns inte."), "not_found")
        if order.status != Status.PENDING:
            raise SigningError(_("Signeringen är redan avslutad. Börja om."), "not_pending")
        token = SecurityToken.objects.select_for_update().get(pk=order.token_id)
        now = timezone.now()
        if token.status == SecurityToken.Status.LOCKED:
            _finish(order, Status.FAILED, "TOKEN_LOCKED")
            return order
        if now >= order.expires_at:
            _finish(order, Status.FAILED, "TOKEN_CHALLENGE_EXPIRED")
            return order
        digits = "".join(ch for ch in (response or "") if ch in string.digits)  # not "²" or "３"
        suite = OcraSuite.parse(token.suite)
        if suite.verify(token_secret(token), order.challenge, digits):
            token.consecutive_failures = 0
            token.save(update_fields=["consecutive_failures"])
            record = _token_record(order, token, digits, now)
            SignatureEvidence.objects.create(
                order=order,
                provider="ocra",
                environment="token",
                method=order.method,
                order_ref=str(order.pk),
                signer_personnummer=user.personnummer,
                signer_name=user.get_full_name(),
                user_visible_data=order.user_visible_data,
                user_non_visible_data=order.user_non_visible_data,
                content_sha256=order.content_sha256,
                completion_data=record,
                verification=verify_token_record(record, content_sha256=order.content_sha256).as_json(),
                started_at=order.created_at,
                signed_at=now,
            )
            _finish(order, Status.COMPLETE, "SIGNED")
            return order
        order.attempts += 1
        token.consecutive_failures += 1
        if token.consecutive_failures >= TOKEN_MAX_CONSECUTIVE_FAILURES:
            token.status = SecurityToken.Status.LOCKED
            token.locked_at = now
            token.save(update_fields=["consecutive_failures", "status", "locked_at"])
            _finish(order, Status.FAILED, "TOKEN_LOCKED")
        elif order.attempts >= TOKEN_MAX_ATTEMPTS:
            token.save(update_fields=["consecutive_failures"])
            _finish(order, Status.FAILED, "TOKEN_TOO_MANY_ATTEMPTS")
        else:
            token.save(update_fields=["consecutive_failures"])
            order.message_code = "TOKEN_WRONG_RESPONSE"
            order.save(update_fields=["attempts", "message_code"])
        return order


def _token_record(order: SignatureOrder, token: SecurityToken, response: str, now) -> dict:
    """What proves a token signature, sealed with the server's HMAC (signing/seal.py)."""
    return seal(
        {
            "serial": token.serial,
            "suite": token.suite,
            "challenge": order.challenge,
            "nonce": order.nonce,
            "contentSha256": order.content_sha256,
            "response": response,
            "wrongAttemptsBefore": order.attempts,
            "verifiedAt": now.isoformat(),
            "personalNumber": order.user.personnummer,
            "endUserIp": order.end_user_ip,
        }
    )


def cancel_signature(*, order_id, user) -> None:
    """Cancel the user's pending order (at BankID too). Does nothing for a finished or unknown order."""
    _cancel_pending(SignatureOrder.objects.filter(pk=order_id, user=user))
