"""OCRA (RFC 6287) against the RFC's Appendix C test vectors, and the challenge bound to the content."""

import pytest

from signing.ocra import OcraError, OcraSuite, ocra
from signing.tokens import challenge_for

KEY20 = bytes.fromhex("3132333435363738393031323334353637383930")
KEY32 = KEY20 + bytes.fromhex("313233343536373839303132")
KEY64 = (b"1234567890" * 7)[:64]


@pytest.mark.parametrize(
    ("question", "response"), [("00000000", "237653"), ("11111111", "243178"), ("22222222", "653583")]
)
def test_it_reproduces_the_rfc_one_way_vectors_with_sha1(question, response):
    assert ocra("OCRA-1:HOTP-SHA1-6:QN08", KEY20, question) == response


@pytest.mark.parametrize(
    ("question", "response"),
    [("00000000", "83238735"), ("11111111", "01501458"), ("22222222", "17957585"), ("44444444", "86807031")],
)
def test_it_reproduces_the_rfc_sha256_vectors_with_a_pin(question, response):
    assert ocra("OCRA-1:HOTP-SHA256-8:QN08-PSHA1", KEY32, question, pin="1234") == response


@pytest.mark.parametrize(("counter", "response"), [(0, "65347737"), (1, "86775851"), (9, "08522129")])
def test_it_reproduces_the_rfc_counter_vectors(counter, response):
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    assert ocra(suite, KEY32, "12345678", counter=counter, pin="1234") == response


@pytest.mark.parametrize(
    ("counter", "question", "response"), [(0, "00000000", "07016083"), (1, "11111111", "63947962")]
)
def test_it_reproduces_the_rfc_sha512_counter_vectors(counter, question, response):
    assert ocra("OCRA-1:HOTP-SHA512-8:C-QN08", KEY64, question, counter=counter) == response


@pytest.mark.parametrize(
    ("question", "response"),
    [
        ("SIG10000", "53095496"),
        ("SIG11000", "04110475"),
        ("SIG12000", "31331128"),
        ("SIG13000", "76028668"),
        ("SIG14000", "46554205"),
    ],
)
def test_it_reproduces_the_rfc_plain_signature_vectors(question, response):
    assert ocra("OCRA-1:HOTP-SHA256-8:QA08", KEY32, question) == response


def test_it_reproduces_the_rfc_timed_signature_vector():
    assert ocra("OCRA-1:HOTP-SHA512-8:QA10-T1M", KEY64, "SIG1000000", timestamp=0x132D0B6) == "77537423"


def test_it_verifies_only_the_right_response():
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA1-6:QN08")
    assert suite.verify(KEY20, "00000000", "237653")
    assert not suite.verify(KEY20, "00000000", "237654")
    assert not suite.verify(KEY20, "00000000", "")


def test_it_refuses_an_unknown_suite():
    with pytest.raises(OcraError):
        OcraSuite.parse("OCRA-2:HOTP-MD5-6:QN08")


def test_the_challenge_is_eight_digits_and_changes_with_the_content_and_the_nonce():
    a = challenge_for(content_sha256="00" * 32, nonce="11" * 16)
    assert len(a) == 8 and a.isdigit() and a[0] != "0"
    assert challenge_for(content_sha256="01" + "00" * 31, nonce="11" * 16) != a
    assert challenge_for(content_sha256="00" * 32, nonce="12" + "11" * 15) != a
