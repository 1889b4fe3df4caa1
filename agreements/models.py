import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from companies.models import Company

TERMS_VERSION = "2026:1"
PENDING_LIFETIME_DAYS = 30


class CaseType(models.Model):
    """A kind of case a company can be alerted about (see case_types.CATALOGUE)."""

    code = models.SlugField(_("kod"), max_length=40, unique=True)
    name_sv = models.CharField(_("namn (svenska)"), max_length=100)
    name_en = models.CharField(_("namn (engelska)"), max_length=100)
    description_sv = models.CharField(_("beskrivning (svenska)"), max_length=300)
    description_en = models.CharField(_("beskrivning (engelska)"), max_length=300)
    position = models.PositiveSmallIntegerField(_("ordning"), default=0)

    class Meta:
        verbose_name = _("ärendetyp")
        verbose_name_plural = _("ärendetyper")
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "sv").startswith("en") else self.name_sv

    @property
    def description(self) -> str:
        return self.description_en if (get_language() or "sv").startswith("en") else self.description_sv


class InternetBank(models.TextChoices):
    CORPORATE = "corporate", _("Internetbanken företag")
    PRIVATE = "private", _("Internetbanken privat")


class AgreementQuerySet(models.QuerySet):
    def active(self) -> "AgreementQuerySet":
        """The agreements in force: at most one per company (a constraint). Every "active agreement" read
        starts here — agreements.selectors.active_agreement, the access rule's subquery, the locks of the
        agreement services."""
        return self.filter(status=Agreement.Status.ACTIVE)


class Agreement(models.Model):
    """A company's agreement for Bevaka ärenden: connect → (change)* → end. At most one active per company.

    Its case types are those of its latest version; every connect and change is an immutable, signed
    ``AgreementVersion``. Changed only through agreements.services.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Aktivt")
        ENDED = "ended", _("Avslutat")

    class EndedBy(models.TextChoices):
        CUSTOMER = "customer", _("Kunden")
        BACK_OFFICE = "back_office", _("Banken")

    class EndCategory(models.TextChoices):
        """Why the bank ended an agreement, as the customer is told (the free-text reason stays internal)."""

        CUSTOMER_REQUEST = "customer_request", _("På företagets begäran")
        TERMS = "terms", _("Villkoren för tjänsten har inte följts")
        COMPANY_CLOSED = "company_closed", _("Företaget har upphört eller lämnat banken")
        OTHER = "other", _("Annan orsak")

    company = models.ForeignKey(Company, verbose_name=_("företag"), on_delete=models.PROTECT, related_name="agreements")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    internet_bank = models.CharField(
        _("internetbank"), max_length=16, choices=InternetBank.choices, default=InternetBank.CORPORATE
    )
    case_types = models.ManyToManyField(CaseType, verbose_name=_("ärendetyper"), related_name="agreements")
    created_at = models.DateTimeField(_("anslutet"), default=timezone.now)
    ended_at = models.DateTimeField(_("avslutat"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("avslutat av"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ended_how = models.CharField(_("avslutat av part"), max_length=16, choices=EndedBy.choices, blank=True)
    end_category = models.CharField(
        _("orsak (visas för kunden)"), max_length=20, choices=EndCategory.choices, blank=True
    )
    end_reason = models.CharField(_("orsak"), max_length=300, blank=True)

    objects = AgreementQuerySet.as_manager()

    class Meta:
        verbose_name = _("avtal")
        verbose_name_plural = _("avtal")
        permissions = [("end_agreement_back_office", _("Kan avsluta avtal från banken"))]
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=Q(status="active"),
                name="one_active_agreement_per_company",
                violation_error_message=_("Företaget har redan ett aktivt avtal."),
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True) | Q(status="ended", ended_at__isnull=False),
                name="ended_agreement_has_end_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


def content_digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


class AgreementVersion(models.Model):
    """What one connect or change made the agreement say, exactly as signed. Never updated or deleted
    (a database trigger refuses both)."""

    class Action(models.TextChoices):
        CONNECT = "connect", _("Anslutning")
        CHANGE = "change", _("Ändring")

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    action = models.CharField(_("åtgärd"), max_length=16, choices=Action.choices)
    case_type_codes = models.JSONField(_("ärendetyper"))
    internet_bank = models.CharField(_("internetbank"), max_length=16, choices=InternetBank.choices)
    terms_version = models.CharField(_("villkorsversion"), max_length=20)
    content = models.TextField(_("signerat innehåll"))
    content_sha256 = models.CharField(_("SHA-256"), max_length=64)
    created_at = models.DateTimeField(_("gäller från"), default=timezone.now)

    class Meta:
        verbose_name = _("avtalsversion")
        verbose_name_plural = _("avtalsversioner")
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="one_version_number_per_agreement"),
        ]

    def __str__(self) -> str:
        return f"{self.agreement.company} v{self.number}"


class AgreementSignature(models.Model):
    """One signatory's signature on a version (two for a joint mandate), with its evidence."""

    version = models.ForeignKey(AgreementVersion, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    evidence = models.OneToOneField(
        "signing.SignatureEvidence", on_delete=models.PROTECT, related_name="agreement_signature"
    )
    signed_at = models.DateTimeField(_("signerat"))

    class Meta:
        verbose_name = _("signatur")
        verbose_name_plural = _("signaturer")
        ordering = ["signed_at"]
        constraints = [models.UniqueConstraint(fields=["version", "signer"], name="one_signature_per_signer")]

    def __str__(self) -> str:
        return f"{self.signer} {self.signed_at:%Y-%m-%d %H:%M}"


class PendingAgreementChange(models.Model):
    """A connect or change signed by one signatory with a joint mandate, waiting for a second signatory."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Väntar på signatur")
        COMPLETED = "completed", _("Genomförd")
        WITHDRAWN = "withdrawn", _("Återkallad")
        EXPIRED = "expired", _("Förfallen")

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="pending_agreement_changes")
    action = models.CharField(_("åtgärd"), max_length=16, choices=AgreementVersion.Action.choices)
    agreement = models.ForeignKey(Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    base_version_number = models.PositiveIntegerField(null=True, blank=True)
    case_type_codes = models.JSONField(_("ärendetyper"))
    internet_bank = models.CharField(_("internetbank"), max_length=16, choices=InternetBank.choices)
    terms_version = models.CharField(_("villkorsversion"), max_length=20)
    content = models.TextField(_("signerat innehåll"))
    content_sha256 = models.CharField(_("SHA-256"), max_length=64)
    initiated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    first_evidence = models.OneToOneField(
        "signing.SignatureEvidence", on_delete=models.PROTECT, related_name="pending_agreement_change"
    )
    created_at = models.DateTimeField(_("skapad"), default=timezone.now)
    expires_at = models.DateTimeField(_("förfaller"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("ändring som väntar på signatur")
        verbose_name_plural = _("ändringar som väntar på signatur")
        constraints = [
            models.UniqueConstraint(
                fields=["company"], condition=Q(status="pending"), name="one_pending_change_per_company"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()
