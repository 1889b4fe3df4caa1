from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from companies.models import Company


class Agreement(models.Model):
    """A company's agreement for Bevaka ärenden. At most one is active per company at a time.

    Connect, change and end (with their signed versions) are built on top of this by the agreement
    lifecycle; the access rule only needs to know whether one is active.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Aktivt")
        ENDED = "ended", _("Avslutat")

    company = models.ForeignKey(
        Company, verbose_name=_("företag"), on_delete=models.PROTECT, related_name="agreements"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("anslutet"), auto_now_add=True)
    ended_at = models.DateTimeField(_("avslutat"), null=True, blank=True)

    class Meta:
        verbose_name = _("avtal")
        verbose_name_plural = _("avtal")
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=Q(status="active"),
                name="one_active_agreement_per_company",
                violation_error_message=_("Företaget har redan ett aktivt avtal."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} ({self.get_status_display()})"
