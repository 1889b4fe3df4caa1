"""Mobile numbers in E.164, parsed with Google's phonenumbers (Swedish numbers without +46 accepted)."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def parse_mobile_number(value: str) -> str:
    """Return the E.164 form of a mobile number, or raise ValidationError saying what is wrong."""
    try:
        number = phonenumbers.parse((value or "").strip(), "SE")
    except phonenumbers.NumberParseException as error:
        raise ValidationError(_("Ange ett mobilnummer, till exempel 070-123 45 67."), code="format") from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Mobilnumret finns inte. Kontrollera siffrorna."), code="invalid")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(_("Numret är inget mobilnummer. Ange ett nummer som kan ta emot sms."), code="type")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_mobile_number(value: str) -> None:
    """Model-field validator: the stored value must be a mobile number in E.164."""
    if parse_mobile_number(value) != value:
        raise ValidationError(_("Mobilnumret ska lagras i formatet +46701234567."), code="canonical")
