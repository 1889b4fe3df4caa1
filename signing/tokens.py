"""Security tokens (säkerhetsdosor): issuing, the demo tokens, secrets, challenges, unlocking."""

import hashlib
import hmac

from django.conf import settings
from django.db import transaction

from .crypto import decrypt_secret, encrypt_secret
from .models import SecurityToken

SUITE = "OCRA-1:HOTP-SHA256-8:QN08"
CHALLENGE_DOMAIN = b"bevaka-arenden/sign/v1\x00"


def demo_serial(personnummer: str) -> str:
    """The made-up 10-digit serial of a demo person's token (stable, so the mock can list it)."""
    digest = hashlib.sha256(b"bevaka-arenden/demo-token-serial\x00" + personnummer.encode()).digest()
    return str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)


def demo_secret(serial: str) -> bytes:
    """A demo token's 32-byte secret, derived from the demo seed so that the simulated token knows it."""
    return hmac.new(settings.SIGNING_DEMO_TOKEN_SEED.encode(), serial.encode(), hashlib.sha256).digest()


def challenge_for(*, content_sha256: str, nonce: str) -> str:
    """The 8-digit challenge (never a leading zero) bound to what is signed and a one-time nonce."""
    digest = hashlib.sha256(CHALLENGE_DOMAIN + bytes.fromhex(content_sha256) + bytes.fromhex(nonce)).digest()
    return str(10_000_000 + int.from_bytes(digest[:8], "big") % 90_000_000)


def token_secret(token: SecurityToken) -> bytes:
    return decrypt_secret(token.secret_encrypted)


@transaction.atomic
def issue_token(*, user, serial: str, secret: bytes, suite: str = SUITE) -> SecurityToken:
    """Give ``user`` the token ``serial`` (replacing any token they had); the secret is stored encrypted."""
    SecurityToken.objects.filter(user=user).delete()
    return SecurityToken.objects.create(user=user, serial=serial, suite=suite, secret_encrypted=encrypt_secret(secret))


def issue_demo_token(*, user) -> SecurityToken:
    """The demo person's token (serial from ``demo_serial``); kept if it exists. Used by seed_demo."""
    existing = SecurityToken.objects.filter(user=user).first()
    if existing is not None:
        return existing
    serial = demo_serial(user.personnummer)
    return issue_token(user=user, serial=serial, secret=demo_secret(serial))


def unlock_token(*, token: SecurityToken) -> None:
    """Unlock a locked token and reset its failure count (staff in the operations group, via the admin)."""
    SecurityToken.objects.filter(pk=token.pk).update(
        status=SecurityToken.Status.ACTIVE, consecutive_failures=0, locked_at=None
    )
