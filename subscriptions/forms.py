from django import forms
from django.utils.text import format_lazy
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


def _time_field(label, example: str) -> forms.TimeField:
    """A time of day typed as HH:MM (or HH.MM), with errors that show an example."""
    return forms.TimeField(
        label=label,
        input_formats=["%H:%M", "%H.%M"],
        widget=forms.TimeInput(format="%H:%M", attrs={"inputmode": "numeric", "autocomplete": "off"}),
        error_messages={
            "required": format_lazy(_("Ange en tid, till exempel {}."), example),
            "invalid": format_lazy(_("Ange tiden som tt:mm, till exempel {}."), example),
        },
    )


class AlertPreferencesForm(forms.Form):
    """Tysta timmar and the fallback to e-mail (issue 23). Times as HH:MM, Europe/Stockholm."""

    quiet_hours = forms.BooleanField(label=_("Använd tysta timmar"), required=False)
    quiet_start = _time_field(_("Tyst från (tt:mm)"), "22:00")
    quiet_end = _time_field(_("Tyst till (tt:mm)"), "07:00")
    quiet_days_off = forms.BooleanField(label=_("Tyst hela lördagar, söndagar och helgdagar"), required=False)
    always_direct = forms.MultipleChoiceField(
        label=_("Skicka alltid direkt"), required=False, widget=forms.CheckboxSelectMultiple
    )
    sms_fallback = forms.BooleanField(label=_("Skicka med e-post när ett sms inte går fram"), required=False)

    def __init__(self, *args, case_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["always_direct"].choices = [(t.code, t.name) for t in case_types]

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if data.get("quiet_hours") and start is not None and start == end:
            self.add_error("quiet_end", _("Tysta timmar måste sluta vid en annan tid än de börjar."))
        return data
