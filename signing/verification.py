"""Verifying signing evidence from its stored bytes (SIGNING.md 4.3), with a report of every check.

BankID: the XML signature's shape, digests and value; the signer's certificate chain to a configured root
(``BANKID_SIGNATURE_ROOTS``; the mock's root outside production when none is set); the OCSP response
(successful, *good* for that certificate, signed by a responder chaining to the root, nonce = SHA-1 of the
base64 signature, produced while the order was open); ``funcId``; the echoed visible and non-visible data
equal to what was sent; the personnummer in certificate and completion data equal to the expected person.
Security token: the record's seal (signing/seal.py) and its challenge derived from the signed content.

The same functions run when an order completes (before any evidence is stored) and years later
(``manage.py verify_evidence``), so they use only what the evidence keeps, and time is the signing time.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.utils import timezone

from . import xmlsig

OCSP_WINDOW = datetime.timedelta(minutes=10)  # producedAt may differ this much from the order's times


@dataclass
class Report:
    """What was checked, in order: ``checks`` is a list of ``{"check", "ok", "detail", "at"}``."""

    checks: list[dict] = field(default_factory=list)

    def add(self, check: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": check, "ok": bool(ok), "detail": detail, "at": timezone.now().isoformat()})
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(item["ok"] for item in self.checks)

    @property
    def failed(self) -> list[str]:
        return [item["check"] for item in self.checks if not item["ok"]]

    def as_json(self) -> dict:
        return {"ok": self.ok, "verifiedAt": timezone.now().isoformat(), "checks": self.checks}

    @classmethod
    def from_json(cls, data: dict) -> Report:
        return cls(list(data.get("checks") or []))

    def as_text(self) -> str:
        lines = [f"Overall: {'PASSED' if self.ok else 'FAILED'}"]
        for item in self.checks:
            lines.append(f"{'ok  ' if item['ok'] else 'FAIL'} {item['check']:<22} {item['at']}  {item['detail']}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Expected:
    """What the relying party sent and knows: the signature must match it."""

    user_visible_data: str  # base64 as sent
    user_non_visible_data: str  # base64 as sent
    func_id: str  # "Signing" | "Identification"
    personal_number: str | None  # None for a login, where the person is known only afterwards
    started_at: datetime.datetime
    signed_at: datetime.datetime


def signature_roots() -> list[x509.Certificate]:
    """The configured BankID signature roots; the mock's root outside production when none are set."""
    paths = [p for p in settings.BANKID_SIGNATURE_ROOTS if p]
    if paths:
        return [cert for path in paths for cert in x509.load_pem_x509_certificates(Path(path).read_bytes())]
    if settings.BANKID_PRODUCTION:
        return []
    from .mock import pki

    return [pki.root().certificate]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def chain_to_root(
    cert: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], at: datetime.datetime
) -> tuple[bool, str]:
    """Does ``cert`` chain through ``intermediates`` (CAs) to one of ``roots``, every link valid at ``at``?"""
    current, seen = cert, 0
    while seen <= len(intermediates) + 1:
        if not current.not_valid_before_utc <= at <= current.not_valid_after_utc:
            return False, f"{current.subject.rfc4514_string()} is not valid at {at.isoformat()}"
        for root in roots:
            if current.issuer == root.subject and _issued_by(current, root):
                if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
                    return False, "the root is not valid at the signing time"
                return True, f"chains to {root.subject.rfc4514_string()}"
        parent = next(
            (c for c in intermediates if c.subject == current.issuer and _is_ca(c) and _issued_by(current, c)), None
        )
        if parent is None:
            return False, f"no trusted issuer for {current.subject.rfc4514_string()}"
        current, seen = parent, seen + 1
    return False, "the chain is too long"


def _serial_number(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else ""


def verify_bankid(*, signature_b64: str, ocsp_b64: str, completion_user: dict, expected: Expected) -> Report:
    report = Report()
    try:
        signature = xmlsig.read(base64.b64decode(signature_b64, validate=True))
    except (xmlsig.XMLRefused, ValueError, binascii.Error) as exc:
        report.add("xml", False, str(exc))
        return report
    report.add("xml", True, "parsed without DTD or entities; BankID's shape")
    for uri, ok in xmlsig.digests_match(signature).items():
        report.add(f"digest {uri}", ok, "SHA-256 of C14N 1.0 equals DigestValue" if ok else "digest differs")
    report.add("signature_value", xmlsig.signature_value_ok(signature), "RSA-SHA256 over canonical SignedInfo")
    signer, intermediates = signature.certificates[0], signature.certificates[1:]
    try:
        roots = signature_roots()
    except (OSError, ValueError) as exc:  # a configured root file missing or unreadable: trust nothing
        roots, problem = [], f"BANKID_SIGNATURE_ROOTS unreadable: {type(exc).__name__}"
    else:
        problem = "no signature roots configured"
    ok, detail = chain_to_root(signer, intermediates, roots, expected.signed_at) if roots else (False, problem)
    report.add("certificate_chain", ok, detail)
    _verify_ocsp(report, ocsp_b64, signature_b64, signer, intermediates, roots, expected)
    func_id = signature.text("bid:clientInfo/bid:funcId")
    report.add("func_id", func_id == expected.func_id, f"funcId {func_id!r}, expected {expected.func_id!r}")
    report.add(
        "visible_data",
        signature.text("bid:usrVisibleData") == expected.user_visible_data,
        "usrVisibleData is the exact base64 sent",
    )
    report.add(
        "non_visible_data",
        (signature.text("bid:usrNonVisibleData") or "") == (expected.user_non_visible_data or ""),
        "usrNonVisibleData is the exact base64 sent",
    )
    in_cert, in_completion = _serial_number(signer), str(completion_user.get("personalNumber") or "")
    person_ok = bool(in_cert) and in_cert == in_completion
    if expected.personal_number is not None:
        person_ok = person_ok and in_cert == expected.personal_number
    report.add("personal_number", person_ok, "certificate, completion data and signatory agree" if person_ok else "")
    return report


def _verify_ocsp(report, ocsp_b64, signature_b64, signer, intermediates, roots, expected) -> None:
    try:
        response = ocsp.load_der_ocsp_response(base64.b64decode(ocsp_b64, validate=True))
    except (ValueError, binascii.Error) as exc:
        report.add("ocsp_response", False, f"unreadable: {exc}")
        return
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        report.add("ocsp_response", False, f"status {response.response_status.name}")
        return
    report.add("ocsp_response", True, "a successful DER OCSPResponse")
    responder = next((c for c in response.certificates if _is_ocsp_responder(c) and _signed_by(response, c)), None)
    if responder is None:
        report.add("ocsp_signature", False, "no OCSP signing certificate in the response signed it")
    else:
        ok, detail = chain_to_root(responder, [*response.certificates, *intermediates], roots, expected.signed_at)
        report.add("ocsp_signature", ok and bool(roots), f"responder {detail}")
    issuer = next((c for c in intermediates if c.subject == signer.issuer), None)
    same_cert = (
        response.serial_number == signer.serial_number
        and issuer is not None
        and response.issuer_key_hash == _key_hash(issuer, response.hash_algorithm)
    )
    status = response.certificate_status
    report.add(
        "ocsp_status",
        same_cert and status == ocsp.OCSPCertStatus.GOOD,
        f"{status.name.lower()} for {'the signer' if same_cert else 'another certificate'}",
    )
    try:
        nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        nonce = b""
    wanted = hashlib.sha1(signature_b64.encode("ascii")).digest()  # noqa: S324 - BankID's nonce definition
    report.add("ocsp_nonce", hmac.compare_digest(nonce[: len(wanted)], wanted), "SHA-1 of the base64 signature")
    produced = response.produced_at_utc
    in_window = expected.started_at - OCSP_WINDOW <= produced <= expected.signed_at + OCSP_WINDOW
    report.add("ocsp_produced_at", in_window, f"producedAt {produced.isoformat()}")


def _is_ocsp_responder(cert: x509.Certificate) -> bool:
    try:
        return ExtendedKeyUsageOID.OCSP_SIGNING in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False


def _signed_by(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or response.signature_hash_algorithm is None:
        return False
    try:
        key.verify(
            response.signature, response.tbs_response_bytes, padding.PKCS1v15(), response.signature_hash_algorithm
        )
    except InvalidSignature:
        return False
    return True


def _key_hash(issuer: x509.Certificate, algorithm) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization

    key = issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    digest = hashes.Hash(algorithm)
    digest.update(key)
    return digest.finalize()
