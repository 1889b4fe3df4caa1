"""Masking of phone numbers and e-mail addresses for every display and log line."""

import phonenumbers


def mask_destination(value: str) -> str:
    """Show enough to recognise a destination and no more: ``+46 70*** **12``, ``a***@example.se``."""
    value = (value or "").strip()
    if not value:
        return ""
    if "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    try:
        number = phonenumbers.parse(value, "SE")
        country = f"+{number.country_code}"
        national = str(number.national_number)
    except phonenumbers.NumberParseException:
        country, national = "", "".join(ch for ch in value if ch.isdigit())
    if len(national) < 5:
        return f"{country} ***".strip()
    return f"{country} {national[:2]}*** **{national[-2:]}".strip()
