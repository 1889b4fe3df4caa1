"""An agreement version's evidence: verified before the version exists, bundled, re-verifiable, tamper-evident."""

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from agreements import services
from agreements.evidence import version_bundle
from agreements.models import AgreementVersion
from audit.models import AuditEntry
from companies.models import Membership
from signing.models import SignatureEvidence, SignatureOrder, SigningMethod
from signing.services import SigningError, poll_order
from tests.agreements.conftest import answer_with_token, start_connect_signature
from tests.signing.helpers import control

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SIGNATURE_FILES = {
    "evidence.json",
    "request.json",
    "completion.json",
    "signature.xml",
    "ocsp.der",
    "chain.pem",
    "visible.txt",
    "verification.json",
    "verification.txt",
}


def _sign(demo, mock, user, method=SigningMethod.BANKID_MOBILE):
    """``user`` proposes connecting Exempelbolaget and signs it; returns (order, proposal)."""
    order, proposal = start_connect_signature(demo.exempelbolaget, user, ["e_invoice"], method)
    if method == SigningMethod.SECURITY_TOKEN:
        return answer_with_token(order, user), proposal
    assert control(mock, order.order_ref, "complete", {"personalNumber": user.personnummer}).is_success
    return poll_order(order_id=order.pk), proposal


def _version(demo, mock, method=SigningMethod.BANKID_MOBILE) -> AgreementVersion:
    order, proposal = _sign(demo, mock, demo.anna, method)
    result = services.complete_signed_proposal(proposal=proposal, order_id=str(order.pk), signer=demo.anna)
    return result.version


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in files.items():
            archive.writestr(name, value)
    return buffer.getvalue()


def _verify(target: str) -> str:
    out = io.StringIO()
    call_command("verify_evidence", target, stdout=out)
    return out.getvalue()


def test_a_bankid_signed_version_has_a_complete_bundle_that_verifies(mock_bankid, demo, tmp_path):
    version = _version(demo, mock_bankid)
    evidence = version.signatures.get().evidence
    assert evidence.verification["ok"] and len(evidence.verification["checks"]) == 14
    assert evidence.request["body"]["userVisibleData"] == evidence.user_visible_data

    name, data = version_bundle(version)
    files = _files(data)
    assert {"README.txt", "content.txt", "content.sha256", "root.pem"} <= set(files)
    assert {f"signature-1/{n}" for n in SIGNATURE_FILES} <= set(files)
    assert files["content.txt"].decode() == version.content
    assert files["content.sha256"].decode().split()[0] == version.content_sha256
    assert "Verification passed." in _verify(str(version.pk))
    bundle = tmp_path / name
    bundle.write_bytes(data)
    assert "Verification passed." in _verify(str(bundle))


def _change(files, name, old: bytes, new: bytes):
    assert old in files[name], (name, old)
    return {**files, name: files[name].replace(old, new, 1)}


def _flip_inside(files, name, marker: bytes, offset: int):
    data = bytearray(files[name])
    at = bytes(data).index(marker) + offset
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    return {**files, name: bytes(data)}


def test_one_changed_byte_anywhere_fails_verify_evidence_naming_the_check(mock_bankid, demo, tmp_path):
    version = _version(demo, mock_bankid)
    files = _files(version_bundle(version)[1])
    evidence = version.signatures.get().evidence
    from cryptography.x509 import ocsp

    ocsp_der = files["signature-1/ocsp.der"]
    ocsp_signature = ocsp.load_der_ocsp_response(ocsp_der).signature
    tampered = {
        "signature-1: visible_text": _flip_inside(files, "signature-1/visible.txt", b"Exempelbolaget", 2),
        "signature-1: digest #bidSignedData": _flip_inside(
            files, "signature-1/signature.xml", evidence.user_visible_data.encode(), 5
        ),
        "signature-1: signature_value": _flip_inside(files, "signature-1/signature.xml", b"<SignatureValue>", 30),
        "signature-1: certificate_chain": _flip_inside(files, "signature-1/signature.xml", b"</X509Certificate>", -8),
        "signature-1: ocsp_signature": _change(
            files, "signature-1/ocsp.der", ocsp_signature, bytes([ocsp_signature[0] ^ 1]) + ocsp_signature[1:]
        ),
        "content_sha256": _flip_inside(files, "content.txt", b"Exempelbolaget", 3),
    }
    for check, changed in tampered.items():
        bundle = tmp_path / "tampered.zip"
        bundle.write_bytes(_zip(changed))
        with pytest.raises(CommandError) as failed:
            _verify(str(bundle))
        assert check in str(failed.value), (check, str(failed.value))

    # The stored evidence itself: the database refuses an edit past save()'s guard, and a deletion.
    signature = evidence.completion_data["signature"]
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        SignatureEvidence.objects.filter(pk=evidence.pk).update(
            completion_data={**evidence.completion_data, "signature": signature[:200] + "x" + signature[201:]}
        )
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        SignatureEvidence.objects.filter(pk=evidence.pk).update(used_at=None)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM signing_signatureevidence WHERE id = %s", [evidence.pk])
    assert "Verification passed." in _verify(str(version.pk))


def test_a_token_signed_version_is_sealed_and_a_changed_record_fails(mock_bankid, demo, tmp_path):
    version = _version(demo, mock_bankid, SigningMethod.SECURITY_TOKEN)
    files = _files(version_bundle(version)[1])
    record = json.loads(files["signature-1/token-record.json"])
    assert record["sealKeyId"] and record["seal"] and record["personalNumber"] == demo.anna.personnummer
    assert "Verification passed." in _verify(str(version.pk))
    forged = {**record, "response": "12345678"}
    bundle = tmp_path / "forged.zip"
    bundle.write_bytes(_zip({**files, "signature-1/token-record.json": json.dumps(forged).encode()}))
    with pytest.raises(CommandError, match="signature-1: token_seal"):
        _verify(str(bundle))


def test_without_an_argument_every_signed_version_is_verified_and_one_failure_fails_all(mock_bankid, demo, settings):
    version = _version(demo, mock_bankid, SigningMethod.SECURITY_TOKEN)
    out = io.StringIO()
    call_command("verify_evidence", stdout=out)
    assert f"version {version.pk}: passed" in out.getvalue()
    assert "Verification passed for every signed version." in out.getvalue()
    # The key that sealed the token record is no longer configured: its seal cannot be checked.
    settings.SIGNING_SEAL_KEYS = {"another": "a-key-that-did-not-seal-it"}
    settings.SIGNING_SEAL_KEY_ID = "another"
    with pytest.raises(CommandError, match=rf"agreement versions \[{version.pk}\]"):
        call_command("verify_evidence", stdout=io.StringIO())


def test_a_rotated_seal_key_still_verifies_old_records_and_an_unknown_key_does_not(settings):
    from signing.seal import seal, verify_token_record

    settings.SIGNING_SEAL_KEYS = {"k1": "first secret"}
    record = seal({"contentSha256": "00" * 32, "nonce": "11" * 16, "challenge": "x"})
    assert record["sealKeyId"] == "k1"
    settings.SIGNING_SEAL_KEYS = {"k1": "first secret", "k2": "second secret"}
    settings.SIGNING_SEAL_KEY_ID = "k2"
    assert seal({"a": 1})["sealKeyId"] == "k2"
    assert "token_seal" not in verify_token_record(record, content_sha256="00" * 32).failed
    settings.SIGNING_SEAL_KEYS = {"k2": "second secret"}
    assert "token_seal" in verify_token_record(record, content_sha256="00" * 32).failed


def test_a_revoked_bankid_is_refused_audited_and_no_version_is_stored(mock_bankid, demo):
    Membership.objects.filter(user=demo.hanna, company=demo.exempelbolaget).update(signing_mandate="alone")
    order, proposal = _sign(demo, mock_bankid, demo.hanna)
    assert (order.status, order.message_code) == (SignatureOrder.Status.FAILED, "RFA16")
    assert not SignatureEvidence.objects.filter(order=order).exists()
    entry = AuditEntry.objects.get(action="signing.signature_refused")
    assert entry.after["failedChecks"] == ["ocsp_status"] and entry.actor_id == demo.hanna.pk
    with pytest.raises(SigningError):
        services.complete_signed_proposal(proposal=proposal, order_id=str(order.pk), signer=demo.hanna)
    assert not AgreementVersion.objects.filter(agreement__company=demo.exempelbolaget).exists()


def test_the_bundle_is_for_the_companys_signatories_and_staff(mock_bankid, demo, client):
    from companies.models import User

    version = _version(demo, mock_bankid)
    url = reverse("agreements:evidence-bundle", args=[demo.exempelbolaget.pk, version.pk])
    client.force_login(demo.anna)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    assert "signature-1/signature.xml" in _files(response.content)
    receipt = client.get(reverse("agreements:receipt", args=[demo.exempelbolaget.pk, version.pk]))
    assert url in receipt.content.decode()
    for outsider in (demo.cecilia, demo.gustav):  # members of the company who are no signatories
        client.force_login(outsider)
        assert client.get(url).status_code == 404
    wrong_company = reverse("agreements:evidence-bundle", args=[demo.svenssons.pk, version.pk])
    client.force_login(demo.gustav)
    assert client.get(wrong_company).status_code == 404

    staff = User.objects.get(personnummer="197506159875")
    client.force_login(staff)
    admin_url = reverse("admin:agreements_agreementversion_evidence", args=[version.pk])
    response = client.get(admin_url)
    assert response.status_code == 200 and "signature-1/ocsp.der" in _files(response.content)
