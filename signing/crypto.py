"""Encryption at rest for security-token secrets (Fernet: AES-128-CBC + HMAC-SHA256)."""

import base64
import hashlib

from cryptography.fernet import Fernet
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.SIGNING_TOKEN_KEY
    if not key:
        # Development and tests: a key derived from SECRET_KEY (production sets SIGNING_TOKEN_KEY).
        digest = hashlib.sha256(b"bevaka-arenden/signing/token-key\x00" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def encrypt_secret(secret: bytes) -> str:
    return _fernet().encrypt(secret).decode()


def decrypt_secret(token: str) -> bytes:
    return _fernet().decrypt(token.encode())
