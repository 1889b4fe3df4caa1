"""Signature orders, their evidence, and security tokens (säkerhetsdosor).

A ``SignatureOrder`` is one attempt to sign (or, for login, to identify) with one method. When it
completes, its ``SignatureEvidence`` is written first — immutable — and only then is the order marked
complete. The caller that started the order consumes the evidence once (``services.consume_signature``).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SigningMethod(models.TextChoices):
    SECURITY_TOKEN = "security_token", _("Säkerhetsdosa")
    BANKID_CARD = "bankid_card", _("BankID på kort")
    BANKID_MOBILE = "bankid_mobile", _("BankID i mobil")


BANKID_METHODS = {SigningMethod.BANKID_CARD, SigningMethod.BANKID_MOBILE}


class SecurityToken(models.Model):
    """A user's säkerhetsdosa: serial, OCRA suite and secret (encrypted at rest), lock state."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Aktiv")
        LOCKED = "locked", _("Spärrad")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("användare"),
        on_delete=models.CASCADE,
        related_name="security_token",
    )
    serial = models.CharField(_("serienummer"), max_length=20, unique=True)
    suite = models.CharField(_("OCRA-svit"), max_length=64, default="OCRA-1:HOTP-SHA256-8:QN08")
    secret_encrypted = models.TextField(_("hemlighet (krypterad)"), editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    consecutive_failures = models.PositiveSmallIntegerField(_("felaktiga svar i rad"), default=0)
    locked_at = models.DateTimeField(_("spärrad"), null=True, blank=True)
    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)

    class Meta:
        verbose_name = _("säkerhetsdosa")
        verbose_name_plural = _("säkerhetsdosor")
        ordering = ["serial"]
        permissions = [("unlock_securitytoken", _("Kan låsa upp säkerhetsdosor"))]

    def __str__(self) -> str:
        return self.serial


class SignatureOrder(models.Model):
    """One attempt to sign (``kind=sign``) or identify for login (``kind=auth``) with one method."""

    class Kind(models.TextChoices):
        SIGN = "sign", _("Underskrift")
        AUTH = "auth", _("Inloggning")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pågår")
        COMPLETE = "complete", _("Klar")
        FAILED = "failed", _("Misslyckades")
        CANCELLED = "cancelled", _("Avbruten")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("typ"), max_length=8, choices=Kind.choices, default=Kind.SIGN)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("användare"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="signature_orders",
        help_text=_("Den som ska signera. Tom för en inloggning, där personen är okänd tills BankID svarat."),
    )
    method = models.CharField(_("metod"), max_length=20, choices=SigningMethod.choices)
    purpose = models.CharField(_("syfte"), max_length=100)
    visible_text = models.TextField(_("text som visas"))
    content_sha256 = models.CharField(_("SHA-256 av innehållet"), max_length=64)
    object_ref = models.CharField(_("objekt"), max_length=200, blank=True)
    return_url = models.CharField(_("återvänd till"), max_length=500)
    end_user_ip = models.GenericIPAddressField(_("användarens IP-adress"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    hint_code = models.CharField(_("hintCode"), max_length=40, blank=True)
    message_code = models.CharField(_("meddelandekod"), max_length=40, blank=True)
    nonce = models.CharField(_("nonce"), max_length=64)
    user_visible_data = models.TextField(_("userVisibleData (base64)"), blank=True)
    user_non_visible_data = models.TextField(_("userNonVisibleData (base64)"), blank=True)
    # BankID
    order_ref = models.CharField(_("orderRef"), max_length=64, blank=True)
    auto_start_token = models.CharField(max_length=64, blank=True)
    qr_start_token = models.CharField(max_length=64, blank=True)
    qr_start_secret = models.CharField(max_length=64, blank=True)
    order_time = models.DateTimeField(null=True, blank=True, help_text="when BankID answered the start")
    last_collect_at = models.DateTimeField(null=True, blank=True)
    # Security token
    token = models.ForeignKey(SecurityToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    challenge = models.CharField(_("kontrollkod"), max_length=16, blank=True)
    attempts = models.PositiveSmallIntegerField(_("felaktiga svar"), default=0)
    request = models.JSONField(_("begäran som skickades"), default=dict, blank=True, editable=False)

    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)
    expires_at = models.DateTimeField(_("giltig till"))
    finished_at = models.DateTimeField(_("avslutad"), null=True, blank=True)

    class Meta:
        verbose_name = _("signeringsorder")
        verbose_name_plural = _("signeringsordrar")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["order_ref"], condition=~Q(order_ref=""), name="signing_order_ref_unique"),
            models.CheckConstraint(
                condition=Q(kind="auth") | Q(user__isnull=False), name="signing_sign_order_has_user"
            ),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.id}"

    @property
    def is_bankid(self) -> bool:
        return self.method in BANKID_METHODS

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class SignatureEvidence(models.Model):
    """What proves a completed signature or identification. Written once, never changed.

    ``used_at`` is the only field that changes, once, through ``services.consume_signature`` (an
    UPDATE ... WHERE used_at IS NULL), never through ``save()``.
    """

    order = models.OneToOneField(
        SignatureOrder, verbose_name=_("order"), on_delete=models.PROTECT, related_name="evidence"
    )
    provider = models.CharField(_("leverantör"), max_length=20)  # "bankid" | "ocra"
    environment = models.CharField(_("miljö"), max_length=100)  # BankID base URL, or "token"
    method = models.CharField(_("metod"), max_length=20, choices=SigningMethod.choices)
    order_ref = models.CharField(_("orderRef"), max_length=64)
    signer_personnummer = models.CharField(_("personnummer"), max_length=12)
    signer_name = models.CharField(_("namn"), max_length=200)
    user_visible_data = models.TextField(_("userVisibleData (base64, som skickat)"))
    user_non_visible_data = models.TextField(_("userNonVisibleData (base64, som skickat)"))
    content_sha256 = models.CharField(_("SHA-256 av innehållet"), max_length=64)
    completion_data = models.JSONField(_("completionData"))
    request = models.JSONField(_("begäran som skickades"), default=dict, blank=True)
    verification = models.JSONField(_("kontrollrapport"), default=dict, blank=True)
    started_at = models.DateTimeField(_("startad"))
    signed_at = models.DateTimeField(_("signerad"))
    created_at = models.DateTimeField(_("sparad"), auto_now_add=True)
    used_at = models.DateTimeField(_("använd"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("signeringsbevis")
        verbose_name_plural = _("signeringsbevis")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.order_ref}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("signature evidence is immutable")
        super().save(*args, **kwargs)
