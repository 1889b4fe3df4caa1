"""The mock BankID's evidence is real, independent verifiers accept it, and the product's verifier refuses
anything else: other people, revoked certificates, identifications, tampered bytes, hostile XML."""

import base64
import os
import socket
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from django.utils import timezone

from signing import xmlsig
from signing.bankid import b64, signed_data_from_signature
from signing.mock import pki
from signing.mock.state import MockBankID
from signing.verification import Expected, verify_bankid

ANNA, BERTIL, HANNA = "197804129802", "196509239833", "198203149839"
TEXT = "# Anslut Bevaka ärenden\n\nExempelbolaget i Sverige AB & <co>"
MANIFEST = '{"contentSha256":"' + "ab" * 32 + '","v":1}'


@pytest.fixture(autouse=True)
def _mock_roots(settings):
    settings.BANKID_PRODUCTION = False  # the mock's root is the trusted one


def _complete(personal_number=ANNA, *, kind="sign", signer=None):
    """completionData from the mock (in-process) and what the relying party expects of it."""
    mock = MockBankID()
    started = timezone.now()
    body = {
        "endUserIp": "192.0.2.10",
        "userVisibleData": b64(TEXT),
        "userNonVisibleData": b64(MANIFEST),
        "userVisibleDataFormat": "simpleMarkdownV1",
    }
    order_ref = mock.start(kind, body)["orderRef"]
    completion = mock.complete(order_ref, signer or personal_number).completion
    expected = Expected(
        user_visible_data=body["userVisibleData"],
        user_non_visible_data=body["userNonVisibleData"],
        func_id="Signing",
        personal_number=personal_number,
        started_at=started,
        signed_at=timezone.now(),
    )
    return completion, expected


def _verify(completion, expected, **changes):
    return verify_bankid(
        signature_b64=changes.get("signature", completion["signature"]),
        ocsp_b64=changes.get("ocsp", completion["ocspResponse"]),
        completion_user=completion["user"],
        expected=expected,
    )


def _write_root(tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem())
    return root


def test_xmlsec1_verifies_the_mocks_signature_and_refuses_a_changed_one(tmp_path):
    completion, _ = _complete()
    root = _write_root(tmp_path)
    signature = tmp_path / "signature.xml"
    signature.write_bytes(base64.b64decode(completion["signature"]))
    command = ["xmlsec1", "--verify", "--trusted-pem", str(root), "--id-attr:Id", "bankIdSignedData", str(signature)]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "SignedInfo References (ok/all): 2/2" in checked.stderr

    signature.write_bytes(signature.read_bytes().replace(b"wysiwys", b"wysiwyg"))
    assert subprocess.run(command, capture_output=True, timeout=30).returncode != 0


def test_openssl_accepts_the_mocks_ocsp_response_as_good_and_signed_under_the_root(tmp_path):
    completion, _ = _complete()
    root = _write_root(tmp_path)
    response = tmp_path / "ocsp.der"
    response.write_bytes(base64.b64decode(completion["ocspResponse"]))
    checked = subprocess.run(
        ["openssl", "ocsp", "-respin", str(response), "-CAfile", str(root), "-resp_text"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0
    assert "Response verify OK" in checked.stderr
    assert "OCSP Response Status: successful" in checked.stdout and "Cert Status: good" in checked.stdout

    other_root = tmp_path / "other.pem"  # a root that signed nothing here: openssl must refuse
    other_root.write_bytes(pki.person(BERTIL, "Bertil Berg").certificate.public_bytes(serialization.Encoding.PEM))
    refused = subprocess.run(
        ["openssl", "ocsp", "-respin", str(response), "-CAfile", str(other_root)], capture_output=True, text=True
    )
    assert "Response verify OK" not in refused.stderr


def test_the_products_verifier_passes_every_check_on_the_mocks_output():
    completion, expected = _complete()
    report = _verify(completion, expected)
    assert report.ok, report.as_text()
    assert [c["check"] for c in report.checks] == [
        "xml",
        "digest #bidSignedData",
        "digest #bidKeyInfo",
        "signature_value",
        "certificate_chain",
        "ocsp_response",
        "ocsp_signature",
        "ocsp_status",
        "ocsp_nonce",
        "ocsp_produced_at",
        "func_id",
        "visible_data",
        "non_visible_data",
        "personal_number",
    ]


def test_a_revoked_identity_another_person_and_an_identification_are_refused():
    completion, expected = _complete(HANNA)
    assert _verify(completion, expected).failed == ["ocsp_status"]

    completion, expected = _complete(ANNA, signer=BERTIL)  # Bertil signed, Anna was expected
    completion["user"] = {"personalNumber": ANNA}  # even if the completion data claims otherwise
    assert _verify(completion, expected).failed == ["personal_number"]

    completion, expected = _complete(kind="auth")
    assert _verify(completion, expected).failed == ["func_id"]


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize(
    "where, failed",
    [
        ("visible", "digest #bidSignedData"),
        ("signature_value", "signature_value"),
        ("certificate", "certificate_chain"),
        ("ocsp", "ocsp_signature"),
        ("root", "certificate_chain"),
    ],
)
def test_one_changed_byte_is_found_and_named(where, failed, settings, tmp_path):
    completion, expected = _complete()
    xml = base64.b64decode(completion["signature"]).decode()
    changes = {}
    if where == "visible":
        start = xml.index(expected.user_visible_data)
        changes["signature"] = b64(_flip(xml, start + 3))
    elif where == "signature_value":
        start = xml.index("<SignatureValue>") + len("<SignatureValue>")
        changes["signature"] = b64(_flip(xml, start + 10))
    elif where == "certificate":
        end = xml.index("</X509Certificate>")  # the person's certificate: a byte of its signature
        changes["signature"] = b64(_flip(xml, end - 10))
    elif where == "ocsp":
        der = bytearray(base64.b64decode(completion["ocspResponse"]))
        der[bytes(der).index(ocsp.load_der_ocsp_response(bytes(der)).signature) + 5] ^= 0x01  # the responder's
        changes["ocsp"] = base64.b64encode(bytes(der)).decode()
    else:
        other = tmp_path / "other-root.pem"  # BankID's root configured: the mock's signatures do not chain
        other.write_bytes(pki.person(BERTIL, "Bertil Berg").certificate.public_bytes(serialization.Encoding.PEM))
        settings.BANKID_SIGNATURE_ROOTS = [str(other)]
    report = _verify(completion, expected, **changes)
    assert not report.ok
    assert failed in report.failed, report.as_text()


HOSTILE = {
    "dtd": '<?xml version="1.0"?><!DOCTYPE Signature [<!ELEMENT Signature ANY>]><Signature/>',
    "external_file": '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file://{fifo}">]><Signature>&x;</Signature>',
    "external_url": '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]><s>&x;</s>',
    "parameter_entity": '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]><s/>',
    "billion_laughs": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]><lolz>&lol9;</lolz>",
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_hostile_xml_is_refused_at_once_without_reading_a_file_or_the_network(attack, encoding, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block until someone writes: a read hangs the test
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    document = HOSTILE[attack].format(fifo=fifo, port=listener.getsockname()[1])
    data = document.encode(encoding)
    began = time.monotonic()
    with pytest.raises(xmlsig.XMLRefused):
        xmlsig.parse(data)
    with pytest.raises(ValueError):
        signed_data_from_signature(base64.b64encode(data).decode())
    completion, expected = _complete()
    report = _verify(completion, expected, signature=base64.b64encode(data).decode())
    assert report.failed == ["xml"]
    assert time.monotonic() - began < 2.0
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    listener.close()


def test_below_the_doctype_refusal_the_parser_reads_no_external_entity(tmp_path):
    """xmlsig.parse refuses a DOCTYPE before parsing; its parser, were one to get through, reads no file."""
    from lxml import etree

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER")
    document = f'<!DOCTYPE s [<!ENTITY x SYSTEM "file://{secret}">]><s>&x;</s>'.encode()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)  # as xmlsig.parse's
    assert b"SECRET-MARKER" not in etree.tostring(etree.fromstring(document, parser))


@pytest.mark.django_db
def test_a_login_with_a_revoked_bankid_is_refused_and_a_good_one_is_verified_as_an_identification(mock_bankid, demo):
    from signing.evidence import complete_login
    from signing.models import SignatureEvidence, SignatureOrder
    from signing.services import SigningError, poll_order, start_login
    from tests.signing.helpers import control

    def log_in(personal_number):
        order = start_login(end_user_ip="192.0.2.10", return_url="http://testserver/")
        assert control(mock_bankid, order.order_ref, "complete", {"personalNumber": personal_number}).is_success
        return poll_order(order_id=order.pk)

    refused = log_in(HANNA)
    assert (refused.status, refused.message_code) == (SignatureOrder.Status.FAILED, "RFA16")
    with pytest.raises(SigningError):
        complete_login(order_id=refused.pk)
    accepted = log_in(ANNA)
    assert accepted.status == SignatureOrder.Status.COMPLETE
    evidence = SignatureEvidence.objects.get(order=accepted)
    assert evidence.verification["ok"] and evidence.request["endpoint"] == "auth"
    assert complete_login(order_id=accepted.pk) == demo.anna


def test_the_persons_certificate_names_them_and_carries_the_bankid_types_test_policy():
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    for card, policy in [(False, "1.2.3.4.25"), (True, "1.2.3.4.10")]:
        completion, _ = _complete()
        if card:
            mock = MockBankID()
            body = {"endUserIp": "192.0.2.10", "userVisibleData": b64(TEXT)}
            body["requirement"] = {"certificatePolicies": ["1.2.3.4.10"], "cardReader": "class1"}
            completion = mock.complete(mock.start("sign", body)["orderRef"], ANNA).completion
        signer = xmlsig.read(base64.b64decode(completion["signature"])).certificates[0]
        assert signer.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == ANNA
        policies = signer.extensions.get_extension_for_class(x509.CertificatePolicies).value
        assert [p.policy_identifier.dotted_string for p in policies] == [policy]
        assert ocsp.load_der_ocsp_response(base64.b64decode(completion["ocspResponse"])).serial_number == (
            signer.serial_number
        )


def test_missing_or_unset_roots_in_production_trust_nothing(settings, tmp_path):
    completion, expected = _complete()
    settings.BANKID_SIGNATURE_ROOTS = [str(tmp_path / "missing.pem")]
    assert "certificate_chain" in _verify(completion, expected).failed
    settings.BANKID_SIGNATURE_ROOTS = []
    settings.BANKID_PRODUCTION = True  # never the mock's root in production
    assert "certificate_chain" in _verify(completion, expected).failed


def test_the_mock_emits_canonical_xml_so_the_signed_elements_bytes_hash_to_their_digests():
    """As pybankid's experimental verifier does: hash the raw substrings of the returned document."""
    import hashlib
    import re

    completion, _ = _complete()
    xml = base64.b64decode(completion["signature"]).decode()
    digests = re.findall(r"<DigestValue>([^<]+)</DigestValue>", xml)
    signed_data = re.search(r"<bankIdSignedData .*?</bankIdSignedData>", xml).group(0)
    key_info = re.search(r"<KeyInfo .*?</KeyInfo>", xml).group(0)
    for raw, digest in zip([signed_data, key_info], digests, strict=True):
        assert base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode() == digest
    signed_info = re.search(r"<SignedInfo .*?</SignedInfo>", xml).group(0)
    signer = xmlsig.read(xml.encode()).certificates[0]
    value = re.search(r"<SignatureValue>([^<]+)</SignatureValue>", xml).group(1)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signer.public_key().verify(base64.b64decode(value), signed_info.encode(), padding.PKCS1v15(), hashes.SHA256())
