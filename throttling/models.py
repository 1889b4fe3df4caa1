"""Failed attempts, counted in the database so that every web process and machine sees the same count."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AttemptCounter(models.Model):
    """Failed attempts of one kind (``scope``) by one key: a user, a personnummer, an address.

    ``key`` is an HMAC of the real key, so this table holds no personnummer or address. Changed only
    through ``throttling.services``.
    """

    scope = models.CharField(_("slag"), max_length=32)
    key = models.CharField(_("nyckel (HMAC)"), max_length=64)
    failures = models.PositiveIntegerField(_("misslyckade försök"), default=0)
    window_started_at = models.DateTimeField(_("räknas sedan"))
    blocked_until = models.DateTimeField(_("spärrad till"), null=True, blank=True)
    updated_at = models.DateTimeField(_("ändrad"), auto_now=True)

    class Meta:
        verbose_name = _("räknare av misslyckade försök")
        verbose_name_plural = _("räknare av misslyckade försök")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_counter_per_scope_and_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:8]}"
