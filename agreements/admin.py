from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from bevaka.http import client_ip

from .evidence import version_bundle
from .models import Agreement, AgreementSignature, AgreementVersion, CaseType, PendingAgreementChange
from .services import AgreementError, end_agreement_by_bank


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.display(description=_("ärendetyper"))
def case_type_names(version) -> str:
    """The version's case types by name, in the reader's language (their codes are what is stored)."""
    return ", ".join(t.name for t in CaseType.objects.filter(code__in=version.case_type_codes))


def _shown_fields(model) -> list:
    # The stored codes are shown by name instead (issue 18: staff read ["e_invoice", …] otherwise).
    return [case_type_names if f.name == "case_type_codes" else f.name for f in model._meta.fields]


class VersionInline(ReadOnlyInline):
    model = AgreementVersion
    fields = ["number", "action", case_type_names, "terms_version", "created_at", "content_sha256"]
    readonly_fields = fields


class SignatureInline(ReadOnlyInline):
    model = AgreementSignature
    fields = ["signer", "signed_at", "evidence"]
    readonly_fields = fields


class EndByBankForm(forms.Form):
    category = forms.ChoiceField(
        label=_("Orsak som kunden ser"), choices=[("", "---------"), *Agreement.EndCategory.choices]
    )
    reason = forms.CharField(
        label=_("Bankens anteckning"),
        help_text=_("Visas inte för kunden."),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    """Agreements are read-only here; the bank ends one with a reason through its own page."""

    list_display = ["company", "status", "created_at", "ended_at", "ended_how"]
    list_filter = ["status", "ended_how", "internet_bank"]
    search_fields = ["company__name", "company__org_number"]
    list_select_related = ["company"]
    inlines = [VersionInline]
    readonly_fields = [
        "company",
        "status",
        "internet_bank",
        "case_types",
        "created_at",
        "ended_at",
        "ended_by",
        "ended_how",
        "end_category",
        "end_reason",
    ]
    exclude = []
    change_form_template = "admin/agreements/agreement/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "<int:agreement_id>/avsluta/",
                self.admin_site.admin_view(self.end_by_bank_view),
                name="agreements_agreement_end_by_bank",
            ),
            *super().get_urls(),
        ]

    def end_by_bank_view(self, request, agreement_id: int):
        if not request.user.has_perm("agreements.end_agreement_back_office"):
            raise PermissionDenied
        agreement = get_object_or_404(Agreement.objects.select_related("company"), pk=agreement_id)
        form = EndByBankForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                end_agreement_by_bank(
                    agreement_id=agreement.pk,
                    staff_user=request.user,
                    reason=form.cleaned_data["reason"],
                    category=form.cleaned_data["category"],
                    ip_address=client_ip(request),
                )
            except AgreementError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Avtalet är avslutat."))
                return redirect(reverse("admin:agreements_agreement_change", args=[agreement.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "agreement": agreement,
            "form": form,
            "title": _("Avsluta avtal från banken"),
        }
        return render(request, "admin/agreements/agreement/end_by_bank.html", context)


@admin.register(AgreementVersion)
class AgreementVersionAdmin(admin.ModelAdmin):
    list_display = ["agreement", "number", "action", "created_at"]
    list_select_related = ["agreement__company"]
    search_fields = ["agreement__company__name", "agreement__company__org_number"]
    inlines = [SignatureInline]
    fields = readonly_fields = [*_shown_fields(AgreementVersion), "evidence_bundle"]

    @admin.display(description=_("signeringsbevis"))
    def evidence_bundle(self, version):
        url = reverse("admin:agreements_agreementversion_evidence", args=[version.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Ladda ner signeringsbevis (zip)"))

    def get_urls(self):
        return [
            path(
                "<int:version_id>/bevis.zip",
                self.admin_site.admin_view(self.evidence_view),
                name="agreements_agreementversion_evidence",
            ),
            *super().get_urls(),
        ]

    def evidence_view(self, request, version_id: int):
        """The version's evidence bundle for staff who may view versions (a GET: it changes nothing, not even
        the audit log — tests/security/test_csrf.py)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(AgreementVersion.objects.select_related("agreement__company"), pk=version_id)
        filename, data = version_bundle(version)
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PendingAgreementChange)
class PendingAgreementChangeAdmin(AgreementVersionAdmin):
    list_display = ["company", "action", "status", "created_at", "expires_at"]
    list_select_related = ["company"]
    list_filter = ["status"]
    search_fields = ["company__name", "company__org_number"]
    inlines = []
    fields = readonly_fields = _shown_fields(PendingAgreementChange)

    def get_urls(self):
        return admin.ModelAdmin.get_urls(self)  # no evidence bundle before the change is signed by all


@admin.register(CaseType)
class CaseTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "swedish_name", "name_en", "position"]

    @admin.display(description=_("namn (svenska)"), ordering="name_sv")
    def swedish_name(self, case_type):
        # Marked as Swedish, so a screen reader reading the English admin pronounces it right (WCAG 3.1.2).
        return format_html('<span lang="sv">{}</span>', case_type.name_sv)

    readonly_fields = ["code"]

    def has_add_permission(self, request) -> bool:
        return False  # a type is added in agreements/case_types.py, with its alert texts

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
