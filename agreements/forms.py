from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CaseType, InternetBank


class CaseTypeChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: CaseType) -> str:
        return obj.name


class AgreementForm(forms.Form):
    """Which case types the agreement includes (and, for an enskild firma at connect, which internet bank)."""

    case_types = CaseTypeChoiceField(
        label=_("Ärenden som ska ingå i avtalet"),
        queryset=CaseType.objects.all(),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        required=False,  # the service says what is wrong, in the same words for form and API
    )
    internet_bank = forms.ChoiceField(
        label=_("Anslut via"),
        choices=InternetBank.choices,
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args, sole_proprietorship: bool = False, with_internet_bank: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not (sole_proprietorship and with_internet_bank):
            del self.fields["internet_bank"]

    def codes(self) -> list[str]:
        return [t.code for t in self.cleaned_data["case_types"]]


class SigningMethodForm(forms.Form):
    method = forms.ChoiceField(label=_("Signera med"), widget=forms.RadioSelect, choices=())

    def __init__(self, *args, **kwargs):
        from signing.models import SigningMethod

        super().__init__(*args, **kwargs)
        self.fields["method"].choices = SigningMethod.choices
