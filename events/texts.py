"""The alert's texts: the company's name and the kind of case only (PRODUCT.md: no personal or financial
data in an alert), per language and channel."""

from __future__ import annotations

import functools

from django.template.loader import render_to_string
from django.utils import translation

from notifications.models import Channel
from notifications.sms import gsm7_name, render_sms

from .models import Event

LANGUAGES = ("sv", "en")


def alert_texts(event: Event) -> dict[tuple[str, str], dict[str, str]]:
    """The alert's subject and bodies per (language, channel): company name and kind of case only."""
    return _alert_texts(event.company.name, event.case_type.name_sv, event.case_type.name_en)


@functools.lru_cache(maxsize=2048)
def _alert_texts(company_name: str, name_sv: str, name_en: str) -> dict[tuple[str, str], dict[str, str]]:
    # Rendering six templates per event showed in the fan-out's profile; the same company and case type
    # give the same texts, so a worker renders them once (callers must not change the dict).
    texts = {}
    for language in LANGUAGES:
        case_type = name_en if language == "en" else name_sv
        context = {"company": company_name, "case_type": case_type}
        with translation.override(language):
            texts[(language, Channel.SMS)] = {
                "subject": case_type,
                "body": render_sms("alert", {**context, "company": gsm7_name(company_name)}),
                "html_body": "",
            }
            texts[(language, Channel.EMAIL)] = {
                "subject": case_type,
                "body": render_to_string("events/email/alert.txt", context).strip() + "\n",
                "html_body": render_to_string("events/email/alert.html", context),
            }
    return texts
