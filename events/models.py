"""Case events reported by the bank's core systems, and the systems allowed to report them.

An event is stored once per (source, source id); its fan-out into deliveries is recorded in
``fanned_out_at``, so that an event whose fan-out task was lost is found and fanned out again.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bevaka.partitions import PartitionKeyField


class SourceSystem(models.Model):
    """A core system allowed to report events, identified by ``X-Bevaka-Source: <name>``."""

    name = models.SlugField(_("namn"), max_length=64, unique=True)
    description = models.CharField(_("beskrivning"), max_length=200, blank=True)
    is_active = models.BooleanField(_("aktiv"), default=True)
    created_at = models.DateTimeField(_("skapad"), default=timezone.now)

    class Meta:
        verbose_name = _("källsystem")
        verbose_name_plural = _("källsystem")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceKey(models.Model):
    """A shared HMAC key of a source system. At most two are active at once (slot 1 and 2), so that a key
    can be rotated: add the new one, move the system over, deactivate the old one. The secret is stored
    encrypted (Fernet) and shown once, when it is made."""

    class Slot(models.IntegerChoices):
        FIRST = 1, _("1")
        SECOND = 2, _("2")

    source = models.ForeignKey(
        SourceSystem, verbose_name=_("källsystem"), on_delete=models.CASCADE, related_name="keys"
    )
    slot = models.PositiveSmallIntegerField(_("plats"), choices=Slot.choices)
    label = models.CharField(_("etikett"), max_length=100, blank=True)
    secret_encrypted = models.TextField(editable=False)
    fingerprint = models.CharField(_("fingeravtryck"), max_length=16, editable=False)
    is_active = models.BooleanField(_("aktiv"), default=True)
    created_at = models.DateTimeField(_("skapad"), default=timezone.now)
    deactivated_at = models.DateTimeField(_("inaktiverad"), null=True, blank=True)

    class Meta:
        verbose_name = _("nyckel")
        verbose_name_plural = _("nycklar")
        ordering = ["source", "-is_active", "slot", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "slot"],
                condition=Q(is_active=True),
                name="at_most_two_active_keys_per_source",
                violation_error_message=_("Källsystemet har redan en aktiv nyckel på den platsen."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} #{self.slot} ({self.fingerprint})"


class Event(models.Model):
    """One case event, stored once per source id (``external_id``, the API's ``id``).

    Created only by ``services.record_events``."""

    # Unique by construction (uuid4); an index, not a unique one: a partitioned table's unique index must
    # include the partition key.
    uuid = models.UUIDField(_("id"), default=uuid.uuid4, db_index=True, editable=False)
    source = models.ForeignKey(SourceSystem, verbose_name=_("källsystem"), on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(_("källsystemets id"), max_length=128)
    case_type = models.ForeignKey(
        "agreements.CaseType", verbose_name=_("ärendetyp"), on_delete=models.PROTECT, related_name="+"
    )
    company = models.ForeignKey(
        "companies.Company", verbose_name=_("företag"), on_delete=models.PROTECT, related_name="events"
    )
    occurred_at = models.DateTimeField(_("inträffade"))
    reference = models.CharField(_("referens"), max_length=64, blank=True)
    content_sha256 = models.CharField(max_length=64, editable=False)
    received_at = models.DateTimeField(_("mottagen"), default=timezone.now)
    fanout_published_at = models.DateTimeField(_("fördelning lagd på kön"), null=True, blank=True)
    fanned_out_at = models.DateTimeField(_("fördelad"), null=True, blank=True)
    recipient_count = models.PositiveIntegerField(_("utskick skapade"), null=True, blank=True)

    class Meta:
        verbose_name = _("händelse")
        verbose_name_plural = _("händelser")
        ordering = ["-received_at", "-id"]
        # One event per (source, source id): EventKey's unique constraint (events_event is partitioned by
        # received_at in PostgreSQL, and a unique index there must include it).
        indexes = [
            models.Index(fields=["source", "external_id"], name="event_source_id_idx"),
            # The fan-out relay's scan: only events not yet fanned out.
            models.Index(fields=["received_at"], condition=Q(fanned_out_at__isnull=True), name="event_unfanned_idx"),
            models.Index(fields=["company", "-received_at"], name="event_company_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class EventKey(models.Model):
    """The (source, source id) of every stored event, unique: what refuses a repeated event in any month.

    A narrow table that is not partitioned; ``services.record_events`` inserts the key first and the event
    only where the key was new. ``received_at`` is the event's, so that the event is found in its partition
    and the key leaves with its month (``events.retention``)."""

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=128)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="one_event_per_source_id"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"


class FanoutDecision(models.Model):
    """Why a member of the event's company was not sent its alert, as decided at the fan-out: per channel,
    the name of the first of ``eligibility.CONDITIONS`` that failed, or "" where the alert was sent.

    Written by the fan-out in the transaction of its deliveries, one row per member who missed it on at
    least one channel; read by "why (not)?" so that a past event is explained as it was decided, not with
    today's state. Deleted by retention with the rest of what identifies a person."""

    # No foreign key in PostgreSQL (events_event is partitioned, see Delivery.event); the row is filed under
    # its event's received time, in the event's month, and leaves with it.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="decisions", db_constraint=False)
    user = models.ForeignKey("companies.User", on_delete=models.CASCADE, related_name="+")
    event_received_at = PartitionKeyField(via="event")
    sms_reason = models.CharField(_("sms: villkor som inte uppfylldes"), max_length=16, blank=True)
    email_reason = models.CharField(_("e-post: villkor som inte uppfylldes"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("beslut vid fördelning")
        verbose_name_plural = _("beslut vid fördelning")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user", "event_received_at"], name="one_decision_per_event_and_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.user_id}: {self.sms_reason or '-'}/{self.email_reason or '-'}"

    def reason(self, channel: str) -> str:
        return self.sms_reason if channel == "sms" else self.email_reason
