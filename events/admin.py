"""Back office: events with their fan-out summary and "why (not)?", source systems and their keys."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from bevaka.admin_paging import LargeTableAdmin
from companies.identity import parse_personnummer

from . import selectors, services
from .models import Event, SourceKey, SourceSystem

WHY_PAGE_SIZE = 100  # members a page of "why (not)?" (two rows each, one per channel)


class WhySearchForm(forms.Form):
    """ "Why (not)?"'s search (a GET form: the term is in the URL, which the request log leaves out; it is
    never logged): a name, or a personnummer — checked, so a mistyped one is an error, not "no match"."""

    q = forms.CharField(
        label=_("Sök användare"),
        help_text=_("Förnamn, efternamn eller personnummer (ÅÅÅÅMMDD-XXXX)."),
        max_length=100,
        required=False,
        strip=True,
    )

    def clean_q(self) -> str:
        term = self.cleaned_data["q"]
        if re.fullmatch(r"[\d\s+-]+", term):
            parse_personnummer(term)  # its ValidationError is the field's error
        return term


@admin.register(Event)
class EventAdmin(LargeTableAdmin):
    """Read-only: events are created by the API and ``ingest_events`` only."""

    list_display = ["received_at", "source", "external_id", "case_type", "company", "fanned_out_at", "recipient_count"]
    list_filter = [
        "case_type",
        "source",
        ("fanned_out_at", admin.EmptyFieldListFilter),
        ("received_at", admin.DateFieldListFilter),
    ]
    ordering = ["-id"]  # the primary key (id, received_at) of each monthly partition: see DeliveryAdmin
    list_select_related = ["source", "case_type", "company"]
    search_fields = ["=external_id", "=uuid", "company__org_number", "company__name"]
    fields = [
        "uuid",
        "source",
        "external_id",
        "case_type",
        "company",
        "occurred_at",
        "reference",
        "received_at",
        "fanout_published_at",
        "fanned_out_at",
        "recipient_count",
        "fan_out_summary",
        "why_link",
    ]
    readonly_fields = fields

    @admin.display(description=_("utskick per status"))
    def fan_out_summary(self, obj: Event) -> str:
        summary = selectors.fan_out_summary(obj)
        if not summary:
            return "–"
        return ", ".join(f"{status}: {count}" for status, count in sorted(summary.items()))

    @admin.display(description=_("varför (inte)?"))
    def why_link(self, obj: Event) -> str:
        url = reverse("admin:events_event_why", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Vem fick händelsen, och varför inte de andra?"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<int:event_id>/why/", self.admin_site.admin_view(self.why_view), name="events_event_why"),
            *super().get_urls(),
        ]

    def why_view(self, request, event_id: int):
        """The users of the event's company, a page of ``WHY_PAGE_SIZE`` at a time (or those the search
        finds), per channel: got it, or why not; the fan-out summary on top covers the whole event."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        event = get_object_or_404(Event.objects.select_related("company", "case_type", "source"), pk=event_id)
        form = WhySearchForm(request.GET)
        search = form.cleaned_data["q"] if form.is_valid() else ""
        members = selectors.why_members(event, search=search)
        if not form.is_valid():
            members = members.none()
        page = Paginator(members, WHY_PAGE_SIZE).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "event": event,
            "form": form,
            "search": search,
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "rows": selectors.explain_event(event, page.object_list),
            "summary": sorted(selectors.fan_out_summary(event).items()),
            "title": _("Varför (inte)? – händelse %(id)s") % {"id": event.external_id},
        }
        return render(request, "events/admin/why.html", context)


class SourceKeyInline(admin.TabularInline):
    model = SourceKey
    fields = ["slot", "label", "fingerprint", "is_active", "created_at", "deactivated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    """Source systems; keys are made by the action (the secret is shown once) and deactivated on the key."""

    list_display = ["name", "description", "is_active", "created_at"]
    fields = ["name", "description", "is_active"]
    inlines = [SourceKeyInline]
    actions = ["make_key"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_make_key_permission(self, request) -> bool:
        return request.user.has_perm("events.add_sourcekey")

    @admin.action(description=_("Skapa en ny nyckel (visas en gång)"), permissions=["make_key"])
    def make_key(self, request, queryset):
        for source in queryset:
            try:
                key, secret = services.create_source_key(source=source, label=f"by {request.user.pk}")
            except services.SourceKeyError as error:
                self.message_user(request, f"{source}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Ny nyckel för %(source)s på plats %(slot)s: %(secret)s – kopiera den nu, den visas inte igen.")
                    % {"source": source, "slot": key.slot, "secret": secret},
                    messages.WARNING,
                )


@admin.register(SourceKey)
class SourceKeyAdmin(admin.ModelAdmin):
    list_display = ["source", "slot", "label", "fingerprint", "is_active", "created_at", "deactivated_at"]
    list_filter = ["is_active", "source"]
    list_select_related = ["source"]
    fields = ["source", "slot", "label", "fingerprint", "is_active", "created_at", "deactivated_at"]
    readonly_fields = fields
    actions = ["deactivate"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Inaktivera valda nycklar"), permissions=["change"])
    def deactivate(self, request, queryset):
        count = sum(services.deactivate_source_key(key_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, _("%(count)d nycklar inaktiverades.") % {"count": count}, messages.SUCCESS)
