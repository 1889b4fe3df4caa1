"""The mock BankID's PKI: a root, a bank CA, an issuing CA, an OCSP responder and one key and certificate
per person, made with ``cryptography`` once per data folder (``settings.MOCK_BANKID_PKI_DIR``, git-ignored).

Several processes (test workers, the mock server, the site) may ask at the same time: each file is written
to a temporary name and linked into place, and the first one to arrive wins, so everyone ends up with the
same keys. Delete the folder to start a new PKI (signatures made with the old one then no longer chain to
the new root).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_NAME = "Mock BankID Root CA v1 Test"
BANK_CA_NAME = "Mock Bank Customer CA v1 Test"
ISSUING_CA_NAME = "Mock Bank Issuing CA v1 Test"
OCSP_NAME = "Mock Bank OCSP Responder v1 Test"
KEY_SIZE = 2048
# The BankID types' test certificate policies (SIGNING.md 1.4); the mock's people hold a mobile BankID.
MOBILE_TEST_POLICY = "1.2.3.4.25"
CARD_TEST_POLICY = "1.2.3.4.10"
_NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
_CA_YEARS = 30
_PERSONAL_NUMBER = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Credential:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


def pki_dir() -> Path:
    from django.conf import settings

    return Path(settings.MOCK_BANKID_PKI_DIR)


def _name(common_name: str, serial_number: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mock BankID (test only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial_number:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attributes)


def _issue(
    *,
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: Credential | None,
    ca: bool,
    years: int,
    usage: str,
    policy: str | None = None,
) -> x509.Certificate:
    signer_key = issuer.key if issuer else key
    issuer_cert = issuer.certificate if issuer else None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_BEFORE + datetime.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
        )
    flags = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    if ca:
        flags.update(key_cert_sign=True, crl_sign=True)
    else:
        flags.update(digital_signature=True, content_commitment=usage == "user")
    builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if usage == "ocsp":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if policy:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]), critical=False
        )
    return builder.sign(signer_key, hashes.SHA256())


def _pem(credential: Credential) -> bytes:
    return credential.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + credential.certificate.public_bytes(serialization.Encoding.PEM)


def _load(path: Path) -> Credential:
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Credential(key, x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE") :]))


def _place(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless another process got there first (then theirs is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        with contextlib.suppress(FileExistsError):  # another process was first: keep theirs
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _credential(filename: str, make) -> Credential:
    path = pki_dir() / filename
    if not path.exists():
        _place(path, _pem(make()))
    return _load(path)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


@functools.cache
def _authorities(folder: str) -> tuple[Credential, Credential, Credential, Credential]:
    del folder  # the cache key: a test that points MOCK_BANKID_PKI_DIR elsewhere gets that folder's PKI

    def ca(filename: str, name: str, issuer: Credential | None) -> Credential:
        def make() -> Credential:
            key = _new_key()
            certificate = _issue(subject=_name(name), key=key, issuer=issuer, ca=True, years=_CA_YEARS, usage="ca")
            return Credential(key, certificate)

        return _credential(filename, make)

    root = ca("root.pem", ROOT_NAME, None)
    bank = ca("bank-ca.pem", BANK_CA_NAME, root)
    issuing = ca("issuing-ca.pem", ISSUING_CA_NAME, bank)

    def make_ocsp() -> Credential:
        key = _new_key()
        return Credential(
            key, _issue(subject=_name(OCSP_NAME), key=key, issuer=issuing, ca=False, years=_CA_YEARS, usage="ocsp")
        )

    return root, bank, issuing, _credential("ocsp.pem", make_ocsp)


def root() -> Credential:
    return _authorities(str(pki_dir()))[0]


def chain() -> list[x509.Certificate]:
    """The CA certificates under the root, nearest the person first (issuing CA, bank CA): no root."""
    _, bank, issuing, _ = _authorities(str(pki_dir()))
    return [issuing.certificate, bank.certificate]


def issuing_ca() -> Credential:
    return _authorities(str(pki_dir()))[2]


def ocsp_responder() -> Credential:
    return _authorities(str(pki_dir()))[3]


def root_pem() -> bytes:
    return root().certificate.public_bytes(serialization.Encoding.PEM)


def uses_card(certificate_policies: list[str]) -> bool:
    """Whether an order's ``requirement.certificatePolicies`` asks for BankID på kort (test or production)."""
    return bool({CARD_TEST_POLICY, "1.2.752.78.1.2"} & set(certificate_policies or []))


def person(personal_number: str, name: str, *, card: bool = False) -> Credential:
    """The person's BankID key and certificate: subject serialNumber = personnummer, and the test policy of
    Mobilt BankID or, with ``card``, of BankID på kort (one key and certificate per person and type)."""
    if not _PERSONAL_NUMBER.match(personal_number):
        raise ValueError("a personnummer has 12 digits")

    def make() -> Credential:
        key = _new_key()
        certificate = _issue(
            subject=_name(name, serial_number=personal_number),
            key=key,
            issuer=issuing_ca(),
            ca=False,
            years=10,
            usage="user",
            policy=CARD_TEST_POLICY if card else MOBILE_TEST_POLICY,
        )
        return Credential(key, certificate)

    return _credential(f"people/{personal_number}-{'card' if card else 'mobile'}.pem", make)


def is_revoked(personal_number: str) -> bool:
    """Whether the demo world says this person's BankID is revoked (companies.demo ``bankid_revoked``)."""
    try:
        from companies.demo import person_by_personnummer
    except ImportError:  # pragma: no cover - the mock without the project
        return False
    demo_person = person_by_personnummer(personal_number)
    return bool(getattr(demo_person, "bankid_revoked", False))
