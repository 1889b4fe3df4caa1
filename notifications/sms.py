"""SMS texts: templates under templates/notifications/sms/, rendered to one GSM-7 segment.

Every template there is rendered by the GSM-7 test with ``SAMPLE_CONTEXT`` (longest plausible values), and
must use only variables listed in it: a new template with a new variable must add a worst-case sample.
"""

from django.template.loader import render_to_string

# Worst-case values for every variable an SMS template may use.
SAMPLE_CONTEXT = {
    "code": "123456",
    "company": "Exempelbolaget i Sverige Aktiebolag med ett mycket långt namn AB",  # alert.txt keeps 60
    "case_type": "Mottaget personligt meddelande",  # the longest name in agreements/case_types.py
    "login_url": "https://bank.example/foretag",
}


def render_sms(template: str, context: dict) -> str:
    """Render ``notifications/sms/<template>.txt`` to the text of one SMS (whitespace collapsed)."""
    text = render_to_string(f"notifications/sms/{template}.txt", context)
    return " ".join(text.split())
