from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bevaka.http import client_ip
from throttling import services as throttling

from .identity import parse_personnummer


class PersonnummerLoginForm(forms.Form):
    """The development login: a personnummer of an existing user, nothing else (DEBUG only)."""

    personnummer = forms.CharField(
        label=_("Personnummer"),
        help_text=_("12 siffror, ÅÅÅÅMMDD-XXXX."),
        max_length=13,
        widget=forms.TextInput(attrs={"autocomplete": "username", "inputmode": "numeric"}),
    )

    def clean_personnummer(self) -> str:
        return parse_personnummer(self.cleaned_data["personnummer"])


class PersonnummerField(forms.CharField):
    """A form field that accepts every written form of a personnummer and cleans to 12 digits."""

    def to_python(self, value):
        value = super().to_python(value)
        return parse_personnummer(value) if value else value


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Språk"), choices=())
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.fields["language"].choices = settings.LANGUAGES

    def clean_language(self) -> str:
        value = self.cleaned_data["language"]
        if not value:
            raise ValidationError(_("Välj ett språk."))
        return value


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's password login, limited as every login is: five wrong in a row for one person, then a
    block (``throttling.ADMIN_LOGIN``), and the loose per-address bound; a block refuses even the right
    password, so that guessing goes no further. Staff normally log in with BankID (the site's login)."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        try:
            person = parse_personnummer(username)
        except ValidationError:
            person = username.strip()
        address = client_ip(self.request) or "unknown"
        try:
            throttling.check(limit=throttling.LOGIN_ADDRESS, key=address)
            throttling.check(limit=throttling.ADMIN_LOGIN, key=person)
        except throttling.Blocked as blocked:
            raise ValidationError(str(blocked), code="blocked") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            throttling.record_failure(limit=throttling.ADMIN_LOGIN, key=person)
            throttling.record_failure(limit=throttling.LOGIN_ADDRESS, key=address)
            raise
        throttling.record_success(limit=throttling.ADMIN_LOGIN, key=person)
        return cleaned
