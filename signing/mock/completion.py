"""What the mock BankID server puts in a completed order: the person's identity and a signature shaped
like BankID's XMLDSig, carrying exactly what the relying party sent."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import Order


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
    """An XMLDSig shaped like BankID's, carrying the exact base64 strings received (not cryptographically
    valid: digests are real SHA-256 of the emitted elements, the signature value is a mock)."""
    from html import escape

    func = "Signing" if order.kind == "sign" else "Identification"
    nonce = base64.b64encode(uuid.uuid4().bytes + b"mock").decode()
    visible = (
        f'<usrVisibleData charset="UTF-8" visible="wysiwys"'
        f"{' format=' + chr(34) + order.visible_format + chr(34) if order.visible_format else ''}>"
        f"{escape(order.user_visible_data or '')}</usrVisibleData>"
        if order.user_visible_data
        else ""
    )
    hidden = (
        f"<usrNonVisibleData>{escape(order.user_non_visible_data)}</usrNonVisibleData>"
        if order.user_non_visible_data
        else ""
    )
    signed_data = (
        '<bankIdSignedData xmlns="http://www.bankid.com/signature/v1.0.0/types" Id="bidSignedData">'
        f"{visible}{hidden}"
        f"<srvInfo><name>{base64.b64encode(b'cn=Mock RP,o=Mock').decode()}</name>"
        f"<nonce>{nonce}</nonce><displayName>{base64.b64encode(display_name.encode()).decode()}</displayName>"
        "</srvInfo>"
        f"<clientInfo><funcId>{func}</funcId><version>{base64.b64encode(b'mock-bankid-6.0').decode()}</version>"
        f"<env><ai><type>{base64.b64encode(b'MOBILE').decode()}</type>"
        f"<uhi>{uhi}</uhi></ai></env></clientInfo></bankIdSignedData>"
    )
    key_info = (
        '<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#" Id="bidKeyInfo"><X509Data><X509Certificate>'
        f"{base64.b64encode(('MOCK CERT ' + personal_number).encode()).decode()}"
        "</X509Certificate></X509Data></KeyInfo>"
    )

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    signed_info = (
        "<SignedInfo>"
        '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"></CanonicalizationMethod>'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></SignatureMethod>'
        '<Reference Type="http://www.bankid.com/signature/v1.0.0/types" URI="#bidSignedData"><Transforms>'
        '<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"></Transform></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></DigestMethod>'
        f"<DigestValue>{digest(signed_data)}</DigestValue></Reference>"
        '<Reference URI="#bidKeyInfo"><Transforms>'
        '<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"></Transform></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></DigestMethod>'
        f"<DigestValue>{digest(key_info)}</DigestValue></Reference></SignedInfo>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">{signed_info}'
        f"<SignatureValue>{digest('mock:' + signed_info)}</SignatureValue>{key_info}"
        f"<Object>{signed_data}</Object></Signature>"
    )
