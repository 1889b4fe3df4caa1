"""Mobile numbers in E.164, parsed with Google's phonenumbers (Swedish numbers without +46 accepted).

Only numbers of the countries in ``SMS_ALLOWED_COUNTRIES`` are accepted (default Sweden and the Nordic
countries): an SMS to anywhere else costs the bank and is how SMS pumping makes money.
"""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
# Longer than any written form of a number (E.164: at most 15 digits, with spaces, dashes and a prefix).
MAX_WRITTEN_LENGTH = 32


def allowed_calling_codes() -> list[str]:
    """The calling codes of SMS_ALLOWED_COUNTRIES, as a person writes them (+46, +47, …), each once."""
    codes = [f"+{phonenumbers.country_code_for_region(region)}" for region in settings.SMS_ALLOWED_COUNTRIES]
    return list(dict.fromkeys(code for code in codes if code != "+0"))


def parse_mobile_number(value: str) -> str:
    """Return the E.164 form of a mobile number in an allowed country, or raise ValidationError saying what
    is wrong."""
    text = (value or "").strip()
    if "\x00" in text or not text.isprintable():
        raise ValidationError(_("Mobilnumret innehåller ett otillåtet tecken."), code="character")
    if len(text) > MAX_WRITTEN_LENGTH:
        raise ValidationError(
            _("Mobilnumret är för långt: högst %(max)d tecken.") % {"max": MAX_WRITTEN_LENGTH}, code="length"
        )
    try:
        number = phonenumbers.parse(text, "SE")
    except phonenumbers.NumberParseException as error:
        raise ValidationError(_("Ange ett mobilnummer, till exempel 070-123 45 67."), code="format") from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Mobilnumret finns inte. Kontrollera siffrorna."), code="invalid")
    if phonenumbers.region_code_for_number(number) not in settings.SMS_ALLOWED_COUNTRIES:
        raise ValidationError(
            _("Vi skickar inte sms till landsnummer +%(code)d. Ange ett mobilnummer med %(allowed)s.")
            % {"code": number.country_code, "allowed": ", ".join(allowed_calling_codes())},
            code="country",
        )
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(_("Numret är inget mobilnummer. Ange ett nummer som kan ta emot sms."), code="type")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_mobile_number(value: str) -> None:
    """Model-field validator: the stored value must be a mobile number in E.164."""
    if parse_mobile_number(value) != value:
        raise ValidationError(_("Mobilnumret ska lagras i formatet +46701234567."), code="canonical")
