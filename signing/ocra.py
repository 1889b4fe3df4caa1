"""OCRA, the OATH challenge-response algorithm (RFC 6287), as a säkerhetsdosa computes it.

Only what a one-way challenge/response or plain-signature token needs: suites
``OCRA-1:HOTP-<SHA1|SHA256|SHA512>-<t>:[C-]Q<N|A|H><len>[-P<hash>][-T<step>]``. The RFC's test vectors are in
tests/signing/test_ocra.py. Responses are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_SUITE = re.compile(
    r"^OCRA-1:HOTP-(?P<hash>SHA1|SHA256|SHA512)-(?P<digits>\d{1,2}):"
    r"(?P<counter>C-)?Q(?P<qformat>[NAH])(?P<qlen>\d{2})"
    r"(?:-P(?P<phash>SHA1|SHA256|SHA512))?(?:-T(?P<tstep>\d{1,2}[SMH]))?$"
)
_HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


class OcraError(ValueError):
    pass


@dataclass(frozen=True)
class OcraSuite:
    text: str
    hash_name: str
    digits: int
    uses_counter: bool
    question_format: str
    question_length: int
    pin_hash: str | None
    uses_time: bool

    @classmethod
    def parse(cls, text: str) -> OcraSuite:
        match = _SUITE.match(text)
        if not match:
            raise OcraError(f"unsupported OCRA suite {text!r}")
        digits = int(match["digits"])
        if digits != 0 and not 4 <= digits <= 10:
            raise OcraError("OCRA truncation must be 0 or 4-10 digits")
        qlen = int(match["qlen"])
        if not 4 <= qlen <= 64:
            raise OcraError("OCRA challenge length must be 04-64")
        return cls(
            text=text,
            hash_name=match["hash"],
            digits=digits,
            uses_counter=bool(match["counter"]),
            question_format=match["qformat"],
            question_length=qlen,
            pin_hash=match["phash"],
            uses_time=bool(match["tstep"]),
        )

    def _question_bytes(self, question: str) -> bytes:
        if len(question) > self.question_length:
            raise OcraError("challenge longer than the suite allows")
        if self.question_format == "N":
            if not question.isdigit():
                raise OcraError("a numeric challenge must be digits only")
            hex_text = format(int(question), "X")
            hex_text += "0" * (256 - len(hex_text))  # right-padded, as the RFC specifies
            return bytes.fromhex(hex_text)
        if self.question_format == "A":
            raw = question.encode("ascii")
            return raw + b"\x00" * (128 - len(raw))
        hex_text = question + "0" * (256 - len(question))
        return bytes.fromhex(hex_text)

    def message(
        self,
        question: str,
        *,
        counter: int | None = None,
        pin: str | None = None,
        timestamp: int | None = None,
    ) -> bytes:
        parts = [self.text.encode("ascii"), b"\x00"]
        if self.uses_counter:
            if counter is None:
                raise OcraError("this suite needs a counter")
            parts.append(counter.to_bytes(8, "big"))
        parts.append(self._question_bytes(question))
        if self.pin_hash:
            if pin is None:
                raise OcraError("this suite needs the PIN")
            parts.append(_HASHES[self.pin_hash](pin.encode()).digest())
        if self.uses_time:
            if timestamp is None:
                raise OcraError("this suite needs a time step value")
            parts.append(timestamp.to_bytes(8, "big"))
        return b"".join(parts)

    def compute(
        self,
        key: bytes,
        question: str,
        *,
        counter: int | None = None,
        pin: str | None = None,
        timestamp: int | None = None,
    ) -> str:
        """The token's response to ``question`` (a string of ``digits`` digits, zero-padded)."""
        message = self.message(question, counter=counter, pin=pin, timestamp=timestamp)
        mac = hmac.new(key, message, _HASHES[self.hash_name])
        digest = mac.digest()
        if self.digits == 0:
            return digest.hex()
        offset = digest[-1] & 0x0F
        code = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
        return str(code % 10**self.digits).zfill(self.digits)

    def verify(
        self,
        key: bytes,
        question: str,
        response: str,
        *,
        counter: int | None = None,
        pin: str | None = None,
        timestamp: int | None = None,
    ) -> bool:
        """True if ``response`` is the token's answer; constant time in the response's content."""
        expected = self.compute(key, question, counter=counter, pin=pin, timestamp=timestamp)
        return hmac.compare_digest(expected.encode(), (response or "").strip().encode())


def ocra(suite: str, key: bytes, question: str, **kwargs) -> str:
    """Shorthand: ``OcraSuite.parse(suite).compute(key, question, ...)``."""
    return OcraSuite.parse(suite).compute(key, question, **kwargs)
