from django import forms
from django.utils.translation import gettext_lazy as _

from companies.models import Language
from notifications.models import Channel


class WatchForm(forms.Form):
    """One SMS and one e-mail checkbox per case type of the agreement; a channel not verified is disabled."""

    def __init__(self, *args, rows, verified_channels: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            for channel, label, initial in (
                (Channel.SMS, _("Sms"), row.by_sms),
                (Channel.EMAIL, _("E-post"), row.by_email),
            ):
                self.fields[f"{row.case_type.code}__{channel}"] = forms.BooleanField(
                    label=f"{row.case_type.name}: {label}",
                    required=False,
                    initial=initial,
                    disabled=channel not in verified_channels,
                )

    def selections(self) -> dict[str, set[str]]:
        chosen: dict[str, set[str]] = {}
        for name, value in self.cleaned_data.items():
            code, channel = name.rsplit("__", 1)
            if value:
                chosen.setdefault(code, set()).add(channel)
        return chosen

    def row_fields(self):
        """(row, sms bound field, e-mail bound field) for the template's table."""
        return [(row, self[f"{row.case_type.code}__sms"], self[f"{row.case_type.code}__email"]) for row in self.rows]


class ContactForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.HiddenInput)
    destination = forms.CharField(
        label=_("Nytt värde"),
        max_length=254,
        error_messages={"max_length": _("Uppgiften är för lång: högst %(limit_value)d tecken, inte %(show_value)d.")},
    )


class CodeForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.HiddenInput)
    code = forms.CharField(
        label=_("Kod"),
        max_length=8,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class RemoveContactForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.HiddenInput)


class AlertLanguageForm(forms.Form):
    """Språk för aviseringar: the language alerts and codes are written in (not the screen's)."""

    language = forms.ChoiceField(label=_("Språk för aviseringar"), choices=Language.choices)
