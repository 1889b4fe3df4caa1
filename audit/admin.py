from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, for staff and in the database."""

    list_display = ["created_at", "action", "actor_label", "company_label", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_label", "company_label", "company__org_number", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
