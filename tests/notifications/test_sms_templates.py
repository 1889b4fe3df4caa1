"""Every SMS template renders as GSM-7 in one segment (a non-breaking space or typographic quote would
turn it into UCS-2 and double the cost)."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from notifications.gsm import is_gsm7, non_gsm7_characters, segments
from notifications.sms import SAMPLE_CONTEXT, render_sms

SMS_TEMPLATES = sorted((Path(settings.BASE_DIR) / "templates" / "notifications" / "sms").glob("*.txt"))


def test_there_is_at_least_the_verification_code_template():
    assert "verification_code.txt" in [path.name for path in SMS_TEMPLATES]


@pytest.mark.parametrize("path", SMS_TEMPLATES, ids=lambda path: path.name)
@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_sms_template_renders_as_gsm7_in_one_segment(path, language):
    from django.utils import translation

    with translation.override(language):
        text = render_sms(path.stem, SAMPLE_CONTEXT)
    assert text
    assert is_gsm7(text), f"{path.name} has characters outside GSM-7: {non_gsm7_characters(text)!r}"
    assert segments(text) == 1, f"{path.name} takes {segments(text)} segments ({len(text)} characters)"


@pytest.mark.parametrize("path", SMS_TEMPLATES, ids=lambda path: path.name)
def test_every_variable_an_sms_template_uses_has_a_worst_case_sample(path):
    used = set(re.findall(r"{{\s*(\w+)", path.read_text()))
    assert used <= set(SAMPLE_CONTEXT), f"add samples for {used - set(SAMPLE_CONTEXT)} to SAMPLE_CONTEXT"


def test_swedish_letters_are_gsm7():
    assert is_gsm7("Åsa och Örjan fick ett ärende: Är det äkta? Öppna banken.")
    assert segments("å" * 160) == 1


@pytest.mark.parametrize(
    "character",
    ["\u00a0", "\u2019", "\u201c", "\u201d", "\u2013"],
    ids=["no-break space", "right single quote", "left double quote", "right double quote", "en dash"],
)
def test_a_non_breaking_space_or_typographic_punctuation_is_not_gsm7(character):
    text = f"Din kod{character}är 123456"
    assert not is_gsm7(text)
    assert non_gsm7_characters(text) == [character]
    assert segments("x" * 69 + character) == 1
    assert segments("x" * 70 + character) == 2  # UCS-2: 70 characters per segment


def test_extension_characters_count_twice():
    assert segments("€" * 80) == 1
    assert segments("€" * 81) == 2
