"""Deliveries: one message to one destination through one channel, and what became of it.

A delivery moves queued → sending → sent → delivered, or ends failed or cancelled. ``next_attempt_at`` is
the one clock of the relay: for a queued row it is when it may be sent, for a sending row the deadline after
which the relay treats the send as lost (stuck worker) or unanswered (ambiguous outcome).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bevaka.partitions import PartitionKeyField

from .masking import mask_destination


class Channel(models.TextChoices):
    SMS = "sms", _("Sms")
    EMAIL = "email", _("E-post")


class Purpose(models.TextChoices):
    ALERT = "alert", _("Bevakning")
    VERIFICATION = "verification", _("Verifieringskod")
    NOTICE = "notice", _("Meddelande om tjänsten")
    # The notice to a user's previous destination that a mobile number or e-mail address was added,
    # changed or removed (issue 23): not an alert, routed like the other messages about the service.
    CONTACT_CHANGE = "contact_change", _("Ändrad kontaktuppgift")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("I kö")
    SENDING = "sending", _("Skickas")
    SENT = "sent", _("Skickad")
    DELIVERED = "delivered", _("Levererad")
    FAILED = "failed", _("Misslyckades")
    CANCELLED = "cancelled", _("Stoppad")


# How far along a delivery is; a status update never moves a delivery to a lower rank.
STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.CANCELLED: 3,
}
FINAL_STATUSES = [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED]


class Delivery(models.Model):
    """One message to one destination. Created by ``services.queue_delivery``, moved only by services."""

    # No index of their own on user and event: delivery_user_history_idx (user, created_at) and
    # one_alert_per_event_user_channel (event, …) lead with them and serve every lookup by either. Each
    # index is written for every row a fan-out stores and for every status change; the two gone made the
    # fan-out's INSERT 15 % faster (docs/PERFORMANCE.md, "Third round").
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("användare"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_index=False,
    )
    company = models.ForeignKey(
        "companies.Company",
        verbose_name=_("företag"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    # The case event an alert was made for (events.fanout); one alert per event, user and channel.
    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("händelse"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
        db_index=False,
        # No foreign key in PostgreSQL: events_event is partitioned and its primary key is (id, received_at).
        # filed_at is the event's received_at (PartitionKeyField), and retention drops an event's month of
        # deliveries before the event's month (bevaka.partitions.DROP_ORDER); tests/ops/test_partitions.py.
        db_constraint=False,
    )
    channel = models.CharField(_("kanal"), max_length=8, choices=Channel.choices)
    destination = models.CharField(_("mottagare"), max_length=254)
    purpose = models.CharField(_("syfte"), max_length=16, choices=Purpose.choices)
    subject = models.CharField(_("ämne"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    html_body = models.TextField(_("html"), blank=True)
    unsubscribe_url = models.URLField(_("avregistreringslänk"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(_("försök"), default=0)
    ambiguous_resends = models.PositiveIntegerField(_("omsändningar efter ovisst utfall"), default=0)
    # A Twilio sid (34 characters) or our e-mail Message-ID, whose length grows with the delivery id and
    # EMAIL_MESSAGE_ID_DOMAIN: up to RFC 5322's 998 characters a line.
    provider_id = models.CharField(_("leverantörens id"), max_length=998, blank=True)
    provider_status = models.CharField(_("leverantörens status"), max_length=32, blank=True)
    error_code = models.CharField(_("felkod"), max_length=32, blank=True)
    last_error = models.TextField(_("senaste fel"), blank=True)
    next_attempt_at = models.DateTimeField(_("nästa försök"), null=True, blank=True)
    relayed_at = models.DateTimeField(_("lagd på kön"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("påbörjad"), null=True, blank=True)
    sent_at = models.DateTimeField(_("skickad"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("levererad"), null=True, blank=True)
    created_at = models.DateTimeField(_("skapad"), default=timezone.now)
    updated_at = models.DateTimeField(_("ändrad"), auto_now=True)
    # The partition key in PostgreSQL (monthly partitions, bevaka.partitions): the event's received time for
    # an alert, so that (event, user, channel, filed_at) unique is (event, user, channel) unique across
    # partitions; the creation time for a delivery without an event.
    filed_at = PartitionKeyField(_("arkiverad under"), via="event", fallback="created_at")

    class Meta:
        verbose_name = _("utskick")
        verbose_name_plural = _("utskick")
        ordering = ["-created_at", "-id"]
        permissions = [("retry_delivery", _("Skicka misslyckade utskick igen"))]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user", "channel", "filed_at"],
                condition=Q(event__isnull=False),
                name="one_alert_per_event_user_channel",
            ),
        ]
        indexes = [
            # The relay's scan: only unfinished rows, in due order.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="delivery_due_idx",
            ),
            # Lookups by a provider's id (admin search); rows still without one are not in it. With them, the
            # callbacks' "… AND provider_id = ''" made PostgreSQL walk every queued row of a burst through
            # this index instead of taking the primary key (a stale estimate of one row for '').
            models.Index(fields=["provider_id"], condition=~Q(provider_id=""), name="delivery_provider_id_idx"),
            models.Index(fields=["user", "-created_at"], name="delivery_user_history_idx"),
            models.Index(fields=["status", "channel"], name="delivery_status_channel_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk} → {self.masked_destination}"

    @property
    def masked_destination(self) -> str:
        return mask_destination(self.destination)


class SuspensionReason(models.TextChoices):
    INVALID = "invalid", _("Ogiltigt nummer eller adress")
    OPTED_OUT = "opted_out", _("Mottagaren har avregistrerat sig (STOP)")
    NOT_MOBILE = "not_mobile", _("Inget mobilnummer")
    BOUNCED = "bounced", _("E-post studsar")


class SuspendedDestination(models.Model):
    """A destination we must not send to, and why. An opted-out number clears only when its owner opts in."""

    channel = models.CharField(_("kanal"), max_length=8, choices=Channel.choices)
    destination = models.CharField(_("mottagare"), max_length=254)
    reason = models.CharField(_("orsak"), max_length=16, choices=SuspensionReason.choices)
    error_code = models.CharField(_("felkod"), max_length=32, blank=True)
    detail = models.TextField(_("detalj"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("användare"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suspended_destinations",
    )
    delivery = models.ForeignKey(
        Delivery,
        verbose_name=_("utskick"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # notifications_delivery is partitioned in PostgreSQL: retention clears this before it drops a month.
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("skapad"), default=timezone.now)

    class Meta:
        verbose_name = _("spärrad mottagare")
        verbose_name_plural = _("spärrade mottagare")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "destination"], name="one_suspension_per_destination")
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {mask_destination(self.destination)} ({self.get_reason_display()})"
