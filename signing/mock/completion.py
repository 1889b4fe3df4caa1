"""What the mock BankID server puts in a completed order: the person's identity, an XML signature shaped
like BankID's and made with the mock PKI (pki.py), carrying exactly what the relying party sent, and an
OCSP response for the person's certificate."""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from lxml import etree

if TYPE_CHECKING:
    from .state import Order

from ..xmlsig import BANKID_NS, DSIG_NS


def identity(personal_number: str) -> dict[str, str]:
    """A test identity: the demo person's name when there is one (companies.demo), else a made-up one."""
    given, surname = "Test", "Testsson"
    try:
        from companies.demo import person_by_personnummer

        person = person_by_personnummer(personal_number)
    except Exception:
        person = None
    if person is not None:
        given, surname = person.first_name, person.last_name
    return {
        "personalNumber": personal_number,
        "name": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
    }


def signature_xml(order: Order, personal_number: str, uhi: str, display_name: str) -> str:
    """An XMLDSig shaped like BankID's (SIGNING.md 4.2), signed with the person's mock BankID key.

    Enveloping, C14N 1.0, RSA-SHA256, references to ``#bidSignedData`` and ``#bidKeyInfo``; ``KeyInfo``
    holds the person's certificate and the CA chain (no root); ``usrVisibleData``/``usrNonVisibleData``
    are the exact base64 strings received. Emitted in canonical form, so the digests verify as they stand.
    """
    from html import escape

    from .. import xmlsig
    from . import pki

    func = "Signing" if order.kind == "sign" else "Identification"
    nonce = base64.b64encode(uuid.uuid4().bytes + b"mock").decode()
    fmt = f' format="{escape(order.visible_format)}"' if order.visible_format else ""
    visible = (
        f'<usrVisibleData charset="UTF-8"{fmt} visible="wysiwys">{escape(order.user_visible_data)}</usrVisibleData>'
        if order.user_visible_data
        else ""
    )
    hidden = (
        f"<usrNonVisibleData>{escape(order.user_non_visible_data)}</usrNonVisibleData>"
        if order.user_non_visible_data
        else ""
    )
    signed_data = (
        f'<bankIdSignedData xmlns="{BANKID_NS}" Id="bidSignedData">'
        f"{visible}{hidden}"
        f"<srvInfo><name>{base64.b64encode(b'cn=Mock RP,o=Mock').decode()}</name>"
        f"<nonce>{nonce}</nonce><displayName>{base64.b64encode(display_name.encode()).decode()}</displayName>"
        "</srvInfo>"
        f"<clientInfo><funcId>{func}</funcId><version>{base64.b64encode(b'mock-bankid-6.0').decode()}</version>"
        f"<env><ai><type>{base64.b64encode(b'MOBILE').decode()}</type>"
        f"<uhi>{uhi}</uhi></ai></env></clientInfo></bankIdSignedData>"
    )
    card = pki.uses_card(order.requirement.get("certificatePolicies", []))
    credential = pki.person(personal_number, identity(personal_number)["name"], card=card)
    certificates = "".join(
        f"<X509Certificate>{base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()}</X509Certificate>"
        for cert in [credential.certificate, *pki.chain()]
    )
    key_info = f'<KeyInfo Id="bidKeyInfo"><X509Data>{certificates}</X509Data></KeyInfo>'
    c14n = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    reference = (
        "<Transforms>"
        f'<Transform Algorithm="{c14n}"></Transform></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></DigestMethod>'
        "<DigestValue></DigestValue>"
    )
    signed_info = (
        "<SignedInfo>"
        f'<CanonicalizationMethod Algorithm="{c14n}"></CanonicalizationMethod>'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></SignatureMethod>'
        f'<Reference Type="{BANKID_NS}" URI="#bidSignedData">{reference}</Reference>'
        f'<Reference URI="#bidKeyInfo">{reference}</Reference></SignedInfo>'
    )
    document = etree.fromstring(
        f'<Signature xmlns="{DSIG_NS}">{signed_info}<SignatureValue></SignatureValue>{key_info}'
        f"<Object>{signed_data}</Object></Signature>".encode(),
        etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False),
    )
    ns = {"ds": DSIG_NS, "bid": BANKID_NS}
    digests = document.findall("ds:SignedInfo/ds:Reference/ds:DigestValue", ns)
    for digest, target in zip(
        digests, [document.find("ds:Object/bid:bankIdSignedData", ns), document.find("ds:KeyInfo", ns)], strict=True
    ):
        digest.text = xmlsig.digest(target)
    canonical_signed_info = xmlsig.c14n(document.find("ds:SignedInfo", ns))
    value = credential.key.sign(canonical_signed_info, padding.PKCS1v15(), hashes.SHA256())
    document.find("ds:SignatureValue", ns).text = base64.b64encode(value).decode()
    text = etree.tostring(document, method="c14n").decode()
    # Explicit namespaces, as BankID's: each signed element's bytes as they stand are its canonical form
    # (what pybankid's verifier hashes), not only after re-canonicalisation. The declarations are redundant.
    for element in ("SignedInfo", "KeyInfo"):
        text = text.replace(f"<{element}", f'<{element} xmlns="{DSIG_NS}"', 1)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>' + text


def ocsp_response(signature_b64: str, personal_number: str, *, card: bool = False) -> bytes:
    """A DER OCSPResponse for the person's certificate: successful, *good* (or *revoked* for a demo
    person whose BankID is revoked), produced now, signed by the mock responder, with the nonce SHA-1 of
    the base64 signature (as BankID's, SIGNING.md 4.3)."""
    from . import pki

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    certificate = pki.person(personal_number, identity(personal_number)["name"], card=card).certificate
    responder = pki.ocsp_responder()
    revoked = pki.is_revoked(personal_number)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=certificate,
            issuer=pki.issuing_ca().certificate,
            algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash OCSP responders commonly use
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=None,
            revocation_time=now - datetime.timedelta(days=1) if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
        .certificates([responder.certificate, *pki.chain()])
        .add_extension(
            x509.OCSPNonce(hashlib.sha1(signature_b64.encode("ascii")).digest()),  # noqa: S324 - BankID's nonce
            critical=False,
        )
    )
    response = builder.sign(responder.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)
