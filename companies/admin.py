from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .identity import parse_organisationsnummer, parse_personnummer
from .models import Company, Membership, User
from .services import remove_membership


def _canonical_search_term(term: str, parse) -> str:
    # Staff paste numbers as printed (YYYYMMDD-XXXX, NNNNNN-NNNN); search on the stored digits too.
    try:
        return parse(term)
    except Exception:
        return term.replace("-", "")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "authority", "signing_mandate", "is_permission_admin"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["last_name", "first_name"]
    list_display = ["personnummer_display", "full_name", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "groups", "language"]
    search_fields = ["personnummer", "first_name", "last_name", "email"]
    fieldsets = [
        (None, {"fields": ["personnummer", "password"]}),
        (_("Person"), {"fields": ["first_name", "last_name", "language", "alert_language", "mobile_number", "email"]}),
        (_("Bankpersonal"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Datum"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["personnummer", "first_name", "last_name"]})]
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ["groups"]

    @admin.display(description=_("Namn"), ordering="last_name")
    def full_name(self, user: User) -> str:
        return user.get_full_name()

    @admin.display(description=_("personnummer"), ordering="personnummer")
    def personnummer_display(self, obj: User) -> str:
        return obj.personnummer_display

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            queryset |= self.model.objects.filter(
                personnummer__endswith=_canonical_search_term(search_term, parse_personnummer)
            )
        return queryset, may_have_duplicates


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "org_number_display", "legal_form"]
    list_filter = ["legal_form"]
    search_fields = ["name", "org_number"]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline]

    @admin.display(description=_("organisationsnummer"), ordering="org_number")
    def org_number_display(self, obj: Company) -> str:
        return obj.org_number_display

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            term = _canonical_search_term(search_term, parse_organisationsnummer)
            queryset |= self.model.objects.filter(Q(org_number=term))
        return queryset, may_have_duplicates

    def save_formset(self, request, form, formset, change):
        # A membership removed here goes through the service, so its permissions go with it.
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            remove_membership(membership=membership)
        for instance in instances:
            instance.save()
        formset.save_m2m()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "company", "authority", "signing_mandate", "is_permission_admin"]
    list_filter = ["authority", "signing_mandate", "is_permission_admin"]
    search_fields = [
        "user__personnummer",
        "user__first_name",
        "user__last_name",
        "company__name",
        "company__org_number",
    ]
    autocomplete_fields = ["user", "company"]
    list_select_related = ["user", "company"]

    def delete_model(self, request, obj: Membership) -> None:
        remove_membership(membership=obj)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset.select_related("user", "company"):
            remove_membership(membership=membership)
