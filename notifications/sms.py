"""SMS texts: templates under templates/notifications/sms/, rendered to one GSM-7 segment.

Every template there is rendered by the GSM-7 test with ``SAMPLE_CONTEXT`` (longest plausible values), and
must use only variables listed in it: a new template with a new variable must add a worst-case sample.
"""

import unicodedata

from django.template.loader import render_to_string

from .gsm import is_gsm7

# Worst-case values for every variable an SMS template may use.
SAMPLE_CONTEXT = {
    "code": "123456",
    "company": "Exempelbolaget i Sverige Aktiebolag med ett mycket långt namn AB",  # alert.txt keeps 60
    "case_type": "Mottaget personligt meddelande",  # the longest name in agreements/case_types.py
    "login_url": "https://bank.example/foretag",
    "reason": "Företaget har upphört eller lämnat banken",  # the longest Agreement.EndCategory label
    "when": "30 september 2026 kl. 23:59",  # contact_changed.txt: the longest date and time
    "what": "email",  # contact_changed.txt: which contact detail ("sms" or "email")
    "kind": "removed",  # contact_changed.txt: "added", "changed" or "removed"
}


def render_sms(template: str, context: dict) -> str:
    """Render ``notifications/sms/<template>.txt`` to the text of one SMS (whitespace collapsed)."""
    text = render_to_string(f"notifications/sms/{template}.txt", context)
    return " ".join(text.split())


def gsm7_name(name: str) -> str:
    """A company name an SMS can carry in GSM-7: accents outside it dropped (Ł → L), anything else "?"."""
    text = []
    for character in name:
        if is_gsm7(character):
            text.append(character)
            continue
        base = unicodedata.normalize("NFKD", character)[:1]
        text.append(base if base and is_gsm7(base) else "?")
    return "".join(text)
