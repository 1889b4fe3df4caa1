from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from notifications.masking import mask_destination

from .models import ContactVerification, UserNotice, VerifiedContact, Watch


@admin.register(Watch)
class WatchAdmin(admin.ModelAdmin):
    list_display = ["user", "company", "case_type", "by_sms", "by_email", "updated_at"]
    list_filter = ["case_type", "by_sms", "by_email"]
    search_fields = [
        "user__personnummer",
        "user__first_name",
        "user__last_name",
        "company__name",
        "company__org_number",
    ]
    list_select_related = ["user", "company", "case_type"]
    readonly_fields = ["user", "company", "case_type", "by_sms", "by_email", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # watches change only through Mina bevakningar, which audits them

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VerifiedContact)
class VerifiedContactAdmin(WatchAdmin):
    list_display = ["user", "channel", "verified_at"]
    list_filter = ["channel"]
    search_fields = ["user__personnummer", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    fields = readonly_fields = ["user", "channel", "destination_masked", "verified_at"]

    @admin.display(description=_("mottagare"))
    def destination_masked(self, obj: VerifiedContact) -> str:
        return mask_destination(obj.destination)


@admin.register(ContactVerification)
class ContactVerificationAdmin(VerifiedContactAdmin):
    list_display = ["user", "channel", "created_at", "attempts", "used_at"]
    fields = readonly_fields = [
        "user",
        "channel",
        "destination_masked",
        "attempts",
        "created_at",
        "expires_at",
        "used_at",
    ]


@admin.register(UserNotice)
class UserNoticeAdmin(VerifiedContactAdmin):
    list_display = ["user", "company", "kind", "created_at", "seen_at"]
    list_filter = ["kind"]
    fields = readonly_fields = ["user", "company", "kind", "case_type_codes", "created_at", "seen_at"]
