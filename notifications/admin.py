from contextlib import suppress

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from bevaka.admin_paging import LargeTableAdmin
from companies.identity import parse_personnummer
from companies.phone import parse_mobile_number

from .masking import mask_destination
from .models import Delivery, Purpose, SuspendedDestination, SuspensionReason
from .services import retry_deliveries


@admin.register(Delivery)
class DeliveryAdmin(LargeTableAdmin):
    """Deliveries for staff: read-only, destinations masked, verification codes never shown."""

    list_display = [
        "id",
        "recipient",
        "channel",
        "destination_masked",
        "purpose",
        "status",
        "attempts",
        "company",
        "created_at",
    ]
    # No company filter listing the companies that have deliveries (a DISTINCT over the whole table); a
    # company's deliveries are ?company__id__exact=N, linked from elsewhere.
    list_filter = ["status", "channel", "purpose", ("created_at", admin.DateFieldListFilter)]
    # Newest first by the primary key, (id, filed_at) in each monthly partition: a page reads its rows from
    # the partitions' indexes, whatever the table's age (there is no index on created_at of its own).
    ordering = ["-id"]
    list_select_related = ["company", "user"]
    # Also by personnummer and phone number as typed (get_search_results); shown masked.
    search_fields = ["=id", "=provider_id", "=event__external_id", "user__first_name", "user__last_name"]
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

    @admin.display(description=_("användare"), ordering="user__last_name")
    def recipient(self, obj: Delivery) -> str:
        if obj.user is None:
            return "–"
        return f"{obj.user.get_full_name()} ({obj.user.personnummer[:8]}-****)"

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        exact = Q()
        for parse, match in [(parse_personnummer, "user__personnummer"), (parse_mobile_number, "destination")]:
            with suppress(ValueError, ValidationError):  # not a personnummer (or phone number): not searched as one
                exact |= Q(**{match: parse(term)})
        if term and exact:
            queryset |= self.model.objects.filter(exact)
        return queryset, may_have_duplicates

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
