from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .masking import mask_destination
from .models import Delivery, Purpose, SuspendedDestination, SuspensionReason
from .services import retry_deliveries


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Deliveries for staff: read-only, destinations masked, verification codes never shown."""

    list_display = [
        "id",
        "channel",
        "destination_masked",
        "purpose",
        "status",
        "attempts",
        "company",
        "created_at",
    ]
    list_filter = ["status", "channel", "purpose", ("company", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["company"]
    search_fields = ["=id", "=provider_id", "=event__external_id"]
    date_hierarchy = "created_at"
    actions = ["retry_failed"]
    fields = [
        "id",
        "user",
        "company",
        "event",
        "channel",
        "destination_masked",
        "purpose",
        "status",
        "attempts",
        "ambiguous_resends",
        "provider_id",
        "provider_status",
        "error_code",
        "last_error",
        "subject",
        "body_shown",
        "unsubscribe_url",
        "next_attempt_at",
        "relayed_at",
        "claimed_at",
        "sent_at",
        "delivered_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("mottagare"))
    def destination_masked(self, obj: Delivery) -> str:
        return obj.masked_destination

    @admin.display(description=_("text"))
    def body_shown(self, obj: Delivery) -> str:
        if obj.purpose == Purpose.VERIFICATION:
            return _("(verifieringskoden visas inte)")
        return obj.body

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notifications.retry_delivery")

    @admin.action(description=_("Skicka valda misslyckade utskick igen"), permissions=["retry"])
    def retry_failed(self, request, queryset):
        count = retry_deliveries(delivery_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext("%(count)d utskick lades i kön igen.", "%(count)d utskick lades i kön igen.", count)
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(SuspendedDestination)
class SuspendedDestinationAdmin(admin.ModelAdmin):
    list_display = ["channel", "destination_masked", "reason", "error_code", "user", "created_at"]
    list_filter = ["channel", "reason"]
    list_select_related = ["user"]
    fields = [
        "channel",
        "destination_masked",
        "reason",
        "error_code",
        "detail",
        "user",
        "delivery",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("mottagare"))
    def destination_masked(self, obj: SuspendedDestination) -> str:
        return mask_destination(obj.destination)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # An opted-out number (STOP) is lifted only when its owner opts in again, never by staff.
        if obj is not None and obj.reason == SuspensionReason.OPTED_OUT:
            return False
        return super().has_delete_permission(request, obj)
