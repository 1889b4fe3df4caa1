"""BankID's XML signature (SIGNING.md 4.2): parsed safely, canonicalised, its digests and value checked.

Parsing refuses any document type declaration before the parser sees it, and the parser itself loads no
DTD, resolves no entity and reads nothing from the network, so a DTD, an external entity or an entity
expansion ("billion laughs") is refused at once without reading a file or a URL. Only the shape BankID
sends is accepted: one enveloping ``Signature`` with C14N 1.0, RSA-SHA256 and two SHA-256 references,
``#bidSignedData`` (the ``bankIdSignedData`` object) and ``#bidKeyInfo`` (the ``KeyInfo``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
BANKID_NS = "http://www.bankid.com/signature/v1.0.0/types"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MAX_SIGNATURE_BYTES = 400_000  # 40 000 + 200 000 base64 characters of data and a few certificates
NS = {"ds": DSIG_NS, "bid": BANKID_NS}


class XMLRefused(ValueError):
    """The bytes are not a signature document this product will read."""


def parse(data: bytes) -> etree._Element:
    """The document's root element, parsed with DTDs, entities and network access refused."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise XMLRefused("the signature document is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise XMLRefused("the signature document is not UTF-8") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XMLRefused("a document type declaration is not allowed")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise XMLRefused(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype or any(isinstance(node, etree._Entity) for node in root.iter()):
        raise XMLRefused("a document type declaration is not allowed")
    return root


def c14n(element: etree._Element) -> bytes:
    """Canonical XML 1.0 (no comments) of ``element`` as a document subset.

    The element is serialised and read back on its own first: lxml's C14N of an element inside a larger
    document can emit a spurious ``xmlns=""``. For BankID's documents (no namespace declarations but the
    two defaults) this equals the in-context canonical form xmlsec1 computes.
    """
    alone = etree.fromstring(etree.tostring(element), etree.XMLParser(resolve_entities=False, no_network=True))
    return etree.tostring(alone, method="c14n", exclusive=False, with_comments=False)


def digest(element: etree._Element) -> str:
    return base64.b64encode(hashlib.sha256(c14n(element)).digest()).decode("ascii")


@dataclass(frozen=True)
class Signature:
    root: etree._Element
    signed_data: etree._Element
    key_info: etree._Element
    certificates: list[x509.Certificate]  # as in KeyInfo: the signer's first, then the CA chain

    def text(self, path: str) -> str | None:
        found = self.signed_data.find(path, NS)
        return None if found is None else (found.text or "")


def _only(root: etree._Element, path: str, what: str) -> etree._Element:
    found = root.findall(path, NS)
    if len(found) != 1:
        raise XMLRefused(f"expected one {what}, found {len(found)}")
    return found[0]


def read(data: bytes) -> Signature:
    """Parse and check the shape: algorithms, the two references, one element per Id, the certificates."""
    root = parse(data)
    if root.tag != f"{{{DSIG_NS}}}Signature":
        raise XMLRefused("the root element is not an XMLDSig Signature")
    if len(root.xpath("//*[@Id]")) != 2:
        raise XMLRefused("exactly two elements may carry an Id")
    signed_info = _only(root, "ds:SignedInfo", "SignedInfo")
    method = _only(signed_info, "ds:CanonicalizationMethod", "CanonicalizationMethod").get("Algorithm")
    if method != C14N_10:
        raise XMLRefused(f"canonicalisation {method} is not C14N 1.0")
    if _only(signed_info, "ds:SignatureMethod", "SignatureMethod").get("Algorithm") != RSA_SHA256:
        raise XMLRefused("the signature method is not RSA-SHA256")
    references = signed_info.findall("ds:Reference", NS)
    if [ref.get("URI") for ref in references] != ["#bidSignedData", "#bidKeyInfo"]:
        raise XMLRefused("the references are not #bidSignedData and #bidKeyInfo")
    if references[0].get("Type") != BANKID_NS:
        raise XMLRefused("the #bidSignedData reference has the wrong Type")
    for reference in references:
        transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", NS)]
        if transforms not in ([], [C14N_10]):
            raise XMLRefused("a reference has transforms other than C14N 1.0")
        if _only(reference, "ds:DigestMethod", "DigestMethod").get("Algorithm") != SHA256:
            raise XMLRefused("a reference's digest is not SHA-256")
    signed_data = _only(root, "ds:Object/bid:bankIdSignedData", "bankIdSignedData")
    key_info = _only(root, "ds:KeyInfo", "KeyInfo")
    if signed_data.get("Id") != "bidSignedData" or key_info.get("Id") != "bidKeyInfo":
        raise XMLRefused("the referenced elements do not carry the expected Id")
    certificates = []
    for element in key_info.findall("ds:X509Data/ds:X509Certificate", NS):
        try:
            certificates.append(x509.load_der_x509_certificate(base64.b64decode(element.text or "", validate=True)))
        except (ValueError, binascii.Error):
            raise XMLRefused("a certificate in KeyInfo cannot be read") from None
    if not certificates:
        raise XMLRefused("KeyInfo has no certificate")
    return Signature(root, signed_data, key_info, certificates)


def digests_match(signature: Signature) -> dict[str, bool]:
    """Per reference URI: does SHA-256 of the canonical referenced element equal its DigestValue?"""
    result = {}
    for reference in signature.root.findall("ds:SignedInfo/ds:Reference", NS):
        target = signature.signed_data if reference.get("URI") == "#bidSignedData" else signature.key_info
        stated = (reference.findtext("ds:DigestValue", default="", namespaces=NS) or "").strip()
        result[reference.get("URI")] = hmac.compare_digest(stated.encode(), digest(target).encode())
    return result


def signature_value_ok(signature: Signature) -> bool:
    """Does ``SignatureValue`` verify over the canonical ``SignedInfo`` with the signer's public key?"""
    key = signature.certificates[0].public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        value = base64.b64decode(signature.root.findtext("ds:SignatureValue", default="", namespaces=NS), validate=True)
        key.verify(value, c14n(signature.root.find("ds:SignedInfo", NS)), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
