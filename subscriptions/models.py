"""Mina bevakningar: which case types each user watches in each company, and through which channels;
the user's verified contact details; and notices shown on the next visit."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Watch(models.Model):
    """User U watches case type T in company C, by SMS and/or e-mail. Changed only through services.

    A watch stays while the agreement includes T; whether alerts go out is decided when they are sent,
    by the access rule, so a user who loses Hantera Bevaka ärenden keeps the watch, stopped.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    company = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="watches")
    case_type = models.ForeignKey("agreements.CaseType", on_delete=models.PROTECT, related_name="watches")
    by_sms = models.BooleanField(_("sms"), default=False)
    by_email = models.BooleanField(_("e-post"), default=False)
    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)
    updated_at = models.DateTimeField(_("ändrad"), auto_now=True)

    class Meta:
        verbose_name = _("bevakning")
        verbose_name_plural = _("bevakningar")
        ordering = ["company", "user", "case_type__position"]
        constraints = [
            models.UniqueConstraint(fields=["user", "company", "case_type"], name="one_watch_per_type"),
            models.CheckConstraint(condition=Q(by_sms=True) | Q(by_email=True), name="watch_has_a_channel"),
        ]
        indexes = [models.Index(fields=["company", "case_type"], name="watch_fan_out_idx")]

    def __str__(self) -> str:
        return f"{self.user} – {self.company} – {self.case_type}"


class VerifiedContact(models.Model):
    """A destination the user has proven they receive: the one alerts go to on that channel."""

    class Channel(models.TextChoices):
        SMS = "sms", _("Sms")
        EMAIL = "email", _("E-post")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verified_contacts")
    channel = models.CharField(_("kanal"), max_length=8, choices=Channel.choices)
    destination = models.CharField(_("mottagare"), max_length=254)
    verified_at = models.DateTimeField(_("verifierad"))

    class Meta:
        verbose_name = _("verifierad kontaktuppgift")
        verbose_name_plural = _("verifierade kontaktuppgifter")
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="one_verified_contact_per_channel")]

    def __str__(self) -> str:
        return f"{self.user} {self.get_channel_display()}"


class ContactVerification(models.Model):
    """A one-time code sent to a new or changed destination. Single use, 10 minutes, at most 5 tries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("kanal"), max_length=8, choices=VerifiedContact.Channel.choices)
    destination = models.CharField(_("mottagare"), max_length=254)
    code_hash = models.CharField(max_length=128)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    delivery_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("verifieringskod")
        verbose_name_plural = _("verifieringskoder")
        indexes = [models.Index(fields=["user", "channel", "-created_at"], name="verification_latest_idx")]

    def __str__(self) -> str:
        return f"{self.user} {self.channel} {self.created_at:%Y-%m-%d %H:%M}"


class UserNotice(models.Model):
    """Something the user must be told on their next visit (alerts stopped, watches removed)."""

    class Kind(models.TextChoices):
        TYPES_REMOVED = "types_removed", _("Ärendetyper togs bort ur avtalet")
        AGREEMENT_ENDED = "agreement_ended", _("Avtalet avslutades")
        ACCESS_LOST = "access_lost", _("Behörigheten togs bort")
        ACCESS_RESTORED = "access_restored", _("Behörigheten återfick")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    company = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    case_type_codes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "company"], condition=Q(seen_at__isnull=True), name="notice_unseen_idx")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}"


def _default_quiet_start() -> datetime.time:
    return datetime.time(22, 0)


def _default_quiet_end() -> datetime.time:
    return datetime.time(7, 0)


class AlertPreferences(models.Model):
    """A user's choices for when and how alerts reach them: quiet hours (*Tysta timmar*, off by default)
    and the fallback to e-mail of an SMS that could not be delivered (on by default). Changed only through
    ``services.save_quiet_hours`` / ``services.set_sms_fallback`` (audited)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="alert_preferences"
    )
    quiet_hours = models.BooleanField(_("tysta timmar"), default=False)
    quiet_start = models.TimeField(_("tyst från"), default=_default_quiet_start)
    quiet_end = models.TimeField(_("tyst till"), default=_default_quiet_end)
    quiet_days_off = models.BooleanField(_("tyst hela lördagar, söndagar och helgdagar"), default=False)
    # The case types whose alerts go at once even in quiet hours (*Skicka alltid direkt*).
    always_direct = models.ManyToManyField(
        "agreements.CaseType", verbose_name=_("skicka alltid direkt"), blank=True, related_name="+"
    )
    time_zone = models.CharField(_("tidszon"), max_length=64, default="Europe/Stockholm")
    sms_fallback = models.BooleanField(_("e-post när sms inte går fram"), default=True)
    updated_at = models.DateTimeField(_("ändrad"), auto_now=True)

    class Meta:
        verbose_name = _("inställningar för aviseringar")
        verbose_name_plural = _("inställningar för aviseringar")

    def __str__(self) -> str:
        return f"{self.user}"


class QuietWindow(models.Model):
    """One quiet period of a user, as instants: the schedule of ``AlertPreferences`` laid out for the next
    days (``services.refresh_quiet_windows``, daily and on every change), so that the fan-out's SQL decides
    *held until* with one index lookup per recipient instead of Python per row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "ends_at"], name="quiet_window_lookup_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="quiet_window_ends_after")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"
