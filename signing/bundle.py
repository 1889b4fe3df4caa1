"""The evidence bundle: one zip per signed content (an agreement version), verifiable years later.

``build_bundle`` writes the signed content exactly as shown, its SHA-256, and per signature the request
that was sent, the full completion data, ``signature.xml``, ``ocsp.der``, the certificate chain, the
verification report made when it was signed (JSON and text); the BankID root in PEM; a README saying how
to check it all with standard tools. ``verify_bundle`` re-verifies a bundle from its bytes alone (plus the
configured signature roots) — ``manage.py verify_evidence`` runs it on a stored version or a zip.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import io
import json
import zipfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import xmlsig
from .models import SignatureEvidence
from .seal import verify_token_record
from .verification import Expected, Report, signature_roots, verify_bankid

README = """Evidence bundle: {title}

content.txt       the signed content exactly as shown and stored (UTF-8)
content.sha256    its SHA-256; check with:  sha256sum -c content.sha256
root.pem          the BankID signature root the signatures chain to: compare its fingerprint with the one
                  BankID publishes (for the mock BankID: `manage.py mock_bankid --export-root FILE`)
signature-N/      one folder per signature:
  evidence.json     who signed, how, when, and the base64 strings sent
  request.json      the request sent to BankID (/sign), byte for byte as JSON
  completion.json   BankID's full completionData
  signature.xml     the XML signature (completionData.signature, base64-decoded)
  ocsp.der          the OCSP response (completionData.ocspResponse, base64-decoded)
  chain.pem         the signer's certificate and the CA certificates from the signature's KeyInfo
  visible.txt       the text shown in the BankID app (usrVisibleData, base64-decoded)
  token-record.json (security token only) the sealed OCRA record
  verification.json / verification.txt  the checks made when the signature was received

Verify with standard tools (run inside signature-N/):
  xmlsec1 --verify --trusted-pem ../root.pem --id-attr:Id bankIdSignedData signature.xml
  openssl ocsp -respin ocsp.der -CAfile ../root.pem -resp_text
  (the OCSP nonce is SHA-1 of completion.json's "signature" string; the status must be "good")
  base64 of visible.txt equals request.json's body.userVisibleData; the manifest in
  body.userNonVisibleData names content.txt's SHA-256 as "contentSha256".
Or all of it at once with the product: python manage.py verify_evidence BUNDLE.zip

A security-token (OCRA) signature is sealed with the bank's HMAC key; OCRA is symmetric, so it proves less
than a BankID signature (docs/SECURITY.md). Only the bank can check the seal.
"""


def _json(data) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _pem(certificates: list[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def _signature_files(evidence: SignatureEvidence) -> dict[str, bytes]:
    report = Report.from_json(evidence.verification or {})
    files = {
        "evidence.json": _json(
            {
                "provider": evidence.provider,
                "method": evidence.method,
                "environment": evidence.environment,
                "orderRef": evidence.order_ref,
                "funcId": "Identification" if evidence.order.kind == "auth" else "Signing",
                "signerPersonalNumber": evidence.signer_personnummer,
                "signerName": evidence.signer_name,
                "userVisibleData": evidence.user_visible_data,
                "userNonVisibleData": evidence.user_non_visible_data,
                "contentSha256": evidence.content_sha256,
                "startedAt": evidence.started_at.isoformat(),
                "signedAt": evidence.signed_at.isoformat(),
            }
        ),
        "verification.json": _json(evidence.verification or {}),
        "verification.txt": report.as_text().encode("utf-8"),
        "visible.txt": base64.b64decode(evidence.user_visible_data or ""),
    }
    if evidence.provider == "ocra":
        files["token-record.json"] = _json(evidence.completion_data)
        return files
    completion = evidence.completion_data
    files["request.json"] = _json(evidence.request or {})
    files["completion.json"] = _json(completion)
    files["signature.xml"] = base64.b64decode(str(completion.get("signature") or ""))
    files["ocsp.der"] = base64.b64decode(str(completion.get("ocspResponse") or ""))
    try:
        files["chain.pem"] = _pem(xmlsig.read(files["signature.xml"]).certificates)
    except xmlsig.XMLRefused:
        files["chain.pem"] = b""
    return files


def build_bundle(*, title: str, content: str, evidences: list[SignatureEvidence]) -> bytes:
    files: dict[str, bytes] = {
        "README.txt": README.format(title=title).encode("utf-8"),
        "content.txt": content.encode("utf-8"),
        "content.sha256": f"{hashlib.sha256(content.encode('utf-8')).hexdigest()}  content.txt\n".encode(),
        "root.pem": _pem(signature_roots()),
    }
    for number, evidence in enumerate(evidences, start=1):
        for name, data in _signature_files(evidence).items():
            files[f"signature-{number}/{name}"] = data
    stamp = max((e.signed_at for e in evidences), default=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp.astimezone(datetime.UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


MAX_BUNDLE_BYTES = 20_000_000


def verify_bundle(data: bytes) -> Report:
    """Every check of every signature in the bundle, named ``signature-N: check``; plus the content's."""
    report = Report()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        if sum(info.file_size for info in archive.infolist()) > MAX_BUNDLE_BYTES:
            raise zipfile.BadZipFile("too large")
        files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, OSError) as exc:
        report.add("bundle", False, f"not a readable zip: {exc}")
        return report
    content = files.get("content.txt", b"")
    content_sha256 = hashlib.sha256(content).hexdigest()
    stated = files.get("content.sha256", b"").split(b" ", 1)[0].decode("ascii", "replace")
    report.add("content_sha256", stated == content_sha256, "content.sha256 is the SHA-256 of content.txt")
    folders = sorted({name.split("/", 1)[0] for name in files if name.startswith("signature-")})
    report.add("signatures", bool(folders), f"{len(folders)} signature(s)")
    for folder in folders:
        part = {name.split("/", 1)[1]: value for name, value in files.items() if name.startswith(folder + "/")}
        for item in _verify_signature(part, content_sha256).checks:
            report.checks.append({**item, "check": f"{folder}: {item['check']}"})
    return report


def _load(part: dict[str, bytes], name: str) -> dict:
    try:
        value = json.loads(part.get(name, b"{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _verify_signature(part: dict[str, bytes], content_sha256: str) -> Report:
    meta = _load(part, "evidence.json")
    if "token-record.json" in part:
        return verify_token_record(_load(part, "token-record.json"), content_sha256=content_sha256)
    report = Report()
    body = _load(part, "request.json").get("body") or {}
    completion = _load(part, "completion.json")
    signature_b64 = base64.b64encode(part.get("signature.xml", b"")).decode()
    ocsp_b64 = base64.b64encode(part.get("ocsp.der", b"")).decode()
    report.add(
        "completion_copy",
        completion.get("signature") == signature_b64 and completion.get("ocspResponse") == ocsp_b64,
        "signature.xml and ocsp.der are completion.json's signature and ocspResponse",
    )
    visible = str(body.get("userVisibleData") or "")
    report.add(
        "visible_text",
        base64.b64encode(part.get("visible.txt", b"")).decode() == visible,
        "visible.txt is the userVisibleData sent",
    )
    try:
        manifest = json.loads(base64.b64decode(str(body.get("userNonVisibleData") or ""), validate=True))
    except (ValueError, binascii.Error):
        manifest = {}
    named = manifest.get("contentSha256") if isinstance(manifest, dict) else None
    report.add("manifest", named == content_sha256, "the signed manifest names content.txt's SHA-256")
    try:
        started = datetime.datetime.fromisoformat(meta["startedAt"])
        signed = datetime.datetime.fromisoformat(meta["signedAt"])
    except (KeyError, TypeError, ValueError):
        report.add("evidence", False, "evidence.json lacks the signing times")
        return report
    expected = Expected(
        user_visible_data=visible,
        user_non_visible_data=str(body.get("userNonVisibleData") or ""),
        func_id=str(meta.get("funcId") or "Signing"),
        personal_number=str(meta.get("signerPersonalNumber") or ""),
        started_at=started,
        signed_at=signed,
    )
    report.checks.extend(
        verify_bankid(
            signature_b64=signature_b64,
            ocsp_b64=ocsp_b64,
            completion_user=completion.get("user") or {},
            expected=expected,
        ).checks
    )
    return report
