from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from .models import SecurityToken, SignatureEvidence, SignatureOrder
from .tokens import unlock_token


@admin.register(SecurityToken)
class SecurityTokenAdmin(admin.ModelAdmin):
    list_display = ["serial", "user", "status", "consecutive_failures", "locked_at"]
    list_filter = ["status"]
    search_fields = ["serial", "user__last_name", "user__first_name"]
    readonly_fields = ["user", "serial", "suite", "status", "consecutive_failures", "locked_at", "created_at"]
    fields = readonly_fields
    actions = ["unlock"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Lås upp valda säkerhetsdosor"), permissions=["unlock"])
    def unlock(self, request, queryset) -> None:
        for token in queryset.filter(status=SecurityToken.Status.LOCKED):
            unlock_token(token=token)
        self.message_user(request, _("Säkerhetsdosorna är upplåsta."), messages.SUCCESS)

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm("signing.unlock_securitytoken")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SignatureOrder)
class SignatureOrderAdmin(_ReadOnly):
    list_display = ["id", "kind", "method", "purpose", "user", "status", "message_code", "created_at"]
    list_filter = ["kind", "method", "status"]
    exclude = ["qr_start_secret", "auto_start_token", "qr_start_token"]


@admin.register(SignatureEvidence)
class SignatureEvidenceAdmin(_ReadOnly):
    list_display = ["order_ref", "method", "signer_name", "signed_at", "used_at"]
    list_filter = ["method", "provider"]
