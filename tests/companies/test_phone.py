import pytest
from django.core.exceptions import ValidationError

from companies.phone import parse_mobile_number


@pytest.mark.parametrize("written", ["070-174 06 05", "0701740605", "+46 70 174 06 05", "+46701740605"])
def test_it_stores_a_swedish_mobile_number_in_e164(written):
    assert parse_mobile_number(written) == "+46701740605"


def test_it_accepts_a_foreign_mobile_number_with_country_code():
    assert parse_mobile_number("+47 412 34 567") == "+4741234567"


@pytest.mark.parametrize(
    ("written", "code"),
    [("hej", "format"), ("070-12", "invalid"), ("08-123 456 78", "type")],
)
def test_it_refuses_what_cannot_receive_an_sms_and_says_why(written, code):
    with pytest.raises(ValidationError) as error:
        parse_mobile_number(written)
    assert error.value.code == code
