"""Swedish identity numbers: personnummer (people) and organisationsnummer (companies).

Both end in a Luhn check digit computed over their last ten digits. Parsing returns the canonical form
(12 digits for a personnummer, 10 for an organisationsnummer) or raises ``ValidationError`` with a
message a bank customer understands.
"""

import datetime
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# ASCII digits only (Python's \d takes "٣" and "３" too), and \Z: "$" would let a final newline by.
_PERSONNUMMER = re.compile(r"^(?P<century>\d{2})?(?P<date>\d{6})(?P<sep>[-+]?)(?P<serial>\d{4})\Z", re.ASCII)
_ORGANISATIONSNUMMER = re.compile(r"^(?:16)?(?P<head>\d{6})-?(?P<tail>\d{4})\Z", re.ASCII)


def luhn_checksum_ok(digits: str) -> bool:
    """True if the string of digits ends in a correct Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    for candidate in "0123456789":
        if luhn_checksum_ok(digits + candidate):
            return candidate
    raise AssertionError("unreachable: one of ten digits always completes a Luhn sum")


def _birth_date(year: int, month: int, day: int) -> datetime.date | None:
    # A samordningsnummer (coordination number) adds 60 to the day.
    if day > 60:
        day -= 60
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def parse_personnummer(value: str, *, today: datetime.date | None = None) -> str:
    """Return the 12-digit form of a personnummer given as YYYYMMDD-XXXX, YYMMDD-XXXX or without dash.

    With only two digits of year, the century is the one that makes the person younger than 100, or
    100 or older when the separator is "+", as on Swedish documents.
    """
    text = (value or "").strip().replace(" ", "")
    match = _PERSONNUMMER.match(text)
    if not match:
        raise ValidationError(
            _("Ange personnumret med 12 siffror, ÅÅÅÅMMDD-XXXX, eller 10 siffror, ÅÅMMDD-XXXX."),
            code="format",
        )
    date_digits, serial, century = match["date"], match["serial"], match["century"]
    yy, month, day = int(date_digits[:2]), int(date_digits[2:4]), int(date_digits[4:6])
    today = today or datetime.date.today()
    if century:
        year = int(century) * 100 + yy
    else:
        year = (today.year // 100) * 100 + yy
        if year > today.year:
            year -= 100
        if match["sep"] == "+":
            year -= 100
    birth = _birth_date(year, month, day)
    if birth is None or birth > today or year < 1850:
        raise ValidationError(_("Personnumret innehåller inget giltigt datum."), code="date")
    if not luhn_checksum_ok(date_digits + serial):
        raise ValidationError(_("Personnumret har fel kontrollsiffra."), code="checksum")
    return f"{year:04d}{date_digits[2:]}{serial}"


def format_personnummer(value: str) -> str:
    """12 digits as YYYYMMDD-XXXX."""
    return f"{value[:8]}-{value[8:]}" if len(value) == 12 else value


def parse_organisationsnummer(value: str) -> str:
    """Return the 10-digit form of an organisationsnummer (NNNNNN-NNNN, optionally prefixed 16).

    A legal entity's number has 20 or more in its "month" digits; a sole proprietorship's number is its
    owner's personnummer, so a number below that must also be a valid date of birth.
    """
    text = (value or "").strip().replace(" ", "")
    match = _ORGANISATIONSNUMMER.match(text)
    if not match:
        raise ValidationError(
            _("Ange organisationsnumret med 10 siffror, NNNNNN-NNNN."),
            code="format",
        )
    digits = match["head"] + match["tail"]
    if not luhn_checksum_ok(digits):
        raise ValidationError(_("Organisationsnumret har fel kontrollsiffra."), code="checksum")
    if int(digits[2]) < 2:
        parse_personnummer(digits)  # a sole proprietorship: the owner's date of birth must be real
    return digits


def format_organisationsnummer(value: str) -> str:
    """10 digits as NNNNNN-NNNN."""
    return f"{value[:6]}-{value[6:]}" if len(value) == 10 else value


def validate_personnummer(value: str) -> None:
    """Model-field validator: the stored value must be a canonical 12-digit personnummer."""
    if parse_personnummer(value) != value:
        raise ValidationError(_("Personnumret ska lagras med 12 siffror."), code="canonical")


def validate_organisationsnummer(value: str) -> None:
    """Model-field validator: the stored value must be a canonical 10-digit organisationsnummer."""
    if parse_organisationsnummer(value) != value:
        raise ValidationError(_("Organisationsnumret ska lagras med 10 siffror."), code="canonical")
