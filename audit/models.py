from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    """One change to an agreement, a permission or a watch. Append-only: the database refuses UPDATE and
    DELETE on this table (a trigger, see the migration), and nothing in the code tries.

    Who and which company are kept twice: as keys for filtering and as text, so that an entry still says
    who acted after a user or company is gone from the bank's registers.
    """

    # 1, 2, 3, … without gaps: taken from AuditSequence in the writing transaction (see services.record), so
    # a rolled-back change leaves no hole and a missing entry shows (manage.py verify_audit_log).
    seq = models.BigIntegerField(_("löpnummer"), unique=True)
    created_at = models.DateTimeField(_("tidpunkt"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("utförd av"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(_("utförd av (namn)"), max_length=200)
    company = models.ForeignKey(
        "companies.Company",
        verbose_name=_("företag"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    company_label = models.CharField(_("företag (namn)"), max_length=220, blank=True)
    action = models.CharField(_("händelse"), max_length=64, db_index=True)
    before = models.JSONField(_("före"), null=True, blank=True)
    after = models.JSONField(_("efter"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("IP-adress"), null=True, blank=True)

    class Meta:
        verbose_name = _("loggpost")
        verbose_name_plural = _("granskningslogg")
        ordering = ["-id"]
        indexes = [models.Index(fields=["company", "-created_at"], name="audit_company_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.actor_label}"


class AuditSequence(models.Model):
    """The last sequence number given to an audit entry: one row, incremented under its row lock.

    An UPDATE … SET last = last + 1 locks the row until the writing transaction ends, so concurrent writers
    take numbers one after the other, and a rollback gives the number back.
    """

    last = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("löpnummer i granskningsloggen")
        verbose_name_plural = _("löpnummer i granskningsloggen")

    def __str__(self) -> str:
        return str(self.last)
