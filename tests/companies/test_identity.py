import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from companies.identity import (
    format_organisationsnummer,
    format_personnummer,
    luhn_check_digit,
    luhn_checksum_ok,
    parse_organisationsnummer,
    parse_personnummer,
)

TODAY = datetime.date(2026, 11, 25)

birth_dates = st.dates(min_value=datetime.date(1927, 1, 1), max_value=TODAY)
serials = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")


def _personnummer(birth: datetime.date, serial: str) -> str:
    ten = birth.strftime("%y%m%d") + serial
    return birth.strftime("%Y%m%d") + serial + luhn_check_digit(ten)


@given(birth=birth_dates, serial=serials)
def test_it_accepts_every_valid_personnummer_in_each_written_form(birth, serial):
    canonical = _personnummer(birth, serial)
    written = [canonical, f"{canonical[:8]}-{canonical[8:]}", f"{canonical[2:8]}-{canonical[8:]}"]
    if (TODAY - birth).days < 365 * 99:  # unambiguous without century
        written.append(canonical[2:])
    for form in written:
        assert parse_personnummer(form, today=TODAY) == canonical


@given(birth=birth_dates, serial=serials, wrong=st.integers(min_value=1, max_value=9))
def test_it_refuses_a_personnummer_with_a_wrong_check_digit(birth, serial, wrong):
    canonical = _personnummer(birth, serial)
    broken = canonical[:-1] + str((int(canonical[-1]) + wrong) % 10)
    with pytest.raises(ValidationError) as error:
        parse_personnummer(broken, today=TODAY)
    assert error.value.code == "checksum"


@given(
    year=st.integers(min_value=1930, max_value=2020),
    month=st.integers(min_value=0, max_value=99),
    day=st.integers(min_value=0, max_value=99),
    serial=serials,
)
def test_it_refuses_a_personnummer_whose_date_does_not_exist(year, month, day, serial):
    try:
        datetime.date(year, month, day if day <= 60 else day - 60)
        valid_date = True
    except ValueError:
        valid_date = False
    ten = f"{year % 100:02d}{month:02d}{day:02d}{serial}"
    number = f"{year}{ten[2:]}{luhn_check_digit(ten)}"
    if valid_date:
        assert parse_personnummer(number, today=TODAY) == number
    else:
        with pytest.raises(ValidationError) as error:
            parse_personnummer(number, today=TODAY)
        assert error.value.code == "date"


def test_it_refuses_a_birth_date_in_the_future():
    ten = "271224" + "980"
    with pytest.raises(ValidationError):
        parse_personnummer("2027" + ten[2:] + luhn_check_digit(ten), today=TODAY)


def test_it_reads_a_two_digit_year_as_the_century_that_makes_the_person_younger_than_100():
    assert parse_personnummer("780412-9802", today=TODAY) == "197804129802"
    assert parse_personnummer("780412+9802", today=TODAY) == "187804129802"


def test_it_accepts_a_coordination_number():
    ten = "780472" + "980"  # day 12 + 60
    assert parse_personnummer("19" + ten + luhn_check_digit(ten), today=TODAY).startswith("19780472")


@pytest.mark.parametrize("garbage", ["", "abc", "1978-04-12-9802", "19780412980", "1978041298021"])
def test_it_explains_the_expected_format(garbage):
    with pytest.raises(ValidationError) as error:
        parse_personnummer(garbage, today=TODAY)
    assert error.value.code == "format"
    assert "ÅÅÅÅMMDD-XXXX" in str(error.value.messages[0])


def test_the_demo_numbers_are_valid():
    assert parse_organisationsnummer("559999-0107") == "5599990107"
    assert parse_organisationsnummer("580227-9892") == "5802279892"  # a sole proprietorship
    assert parse_personnummer("19580227-9892") == "195802279892"


@given(body=st.integers(min_value=0, max_value=999_999_999).map(lambda n: f"{n:09d}"))
def test_luhn_check_digit_always_completes_a_valid_number_and_only_one_digit_does(body):
    digit = luhn_check_digit(body)
    assert luhn_checksum_ok(body + digit)
    assert [d for d in "0123456789" if luhn_checksum_ok(body + d)] == [digit]


@given(
    first=st.integers(min_value=10, max_value=99),
    third=st.integers(min_value=2, max_value=9),
    rest=st.integers(min_value=0, max_value=999_999),
)
def test_it_accepts_every_legal_entity_number_with_a_correct_check_digit(first, third, rest):
    body = f"{first}{third}{rest:06d}"
    number = body + luhn_check_digit(body)
    assert parse_organisationsnummer(number) == number
    assert parse_organisationsnummer(format_organisationsnummer(number)) == number
    assert parse_organisationsnummer("16" + number) == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(ValidationError):
        parse_organisationsnummer(wrong)


def test_a_sole_proprietorship_number_must_be_a_real_date_of_birth():
    body = "581327989"  # month 13
    with pytest.raises(ValidationError):
        parse_organisationsnummer(body + luhn_check_digit(body))


def test_numbers_are_displayed_with_a_dash():
    assert format_personnummer("197804129802") == "19780412-9802"
    assert format_organisationsnummer("5599990107") == "559999-0107"
