from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from .identity import (
    format_organisationsnummer,
    format_personnummer,
    parse_personnummer,
    validate_organisationsnummer,
    validate_personnummer,
)
from .phone import validate_mobile_number

MANAGE_CASE_WATCH = "manage_case_watch"
MANAGE_CASE_WATCH_PERM = f"companies.{MANAGE_CASE_WATCH}"


class Language(models.TextChoices):
    SWEDISH = "sv", _("Svenska")
    ENGLISH = "en", _("Engelska")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, personnummer: str, password: str | None = None, **fields) -> "User":
        """Create a bank user; the personnummer may be given in any accepted form."""
        user = self.model(personnummer=parse_personnummer(personnummer), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean()
        user.save(using=self._db)
        return user

    def create_superuser(self, personnummer: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(personnummer, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who uses the internet bank, identified by their personnummer."""

    personnummer = models.CharField(_("personnummer"), max_length=12, unique=True, validators=[validate_personnummer])
    first_name = models.CharField(_("förnamn"), max_length=100)
    last_name = models.CharField(_("efternamn"), max_length=100)
    # Two settings (issue 18): the screen's language (the header's Språk; also the cookie) and the language
    # alerts and codes are written in (Språk för aviseringar on Mina bevakningar).
    language = models.CharField(_("språk"), max_length=2, choices=Language.choices, default=Language.SWEDISH)
    alert_language = models.CharField(
        _("språk för aviseringar"), max_length=2, choices=Language.choices, default=Language.SWEDISH
    )
    mobile_number = models.CharField(
        _("mobilnummer"),
        max_length=16,
        blank=True,
        validators=[validate_mobile_number],
        help_text=_("Ett mobilnummer för alla företag, i formatet +46701234567."),
    )
    email = models.EmailField(_("e-postadress"), blank=True, help_text=_("En e-postadress för alla företag."))
    is_staff = models.BooleanField(_("bankpersonal"), default=False)
    is_active = models.BooleanField(_("aktiv"), default=True)
    date_joined = models.DateTimeField(_("skapad"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "personnummer"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = _("användare")
        verbose_name_plural = _("användare")
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.get_full_name()

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def personnummer_display(self) -> str:
        return format_personnummer(self.personnummer)


class LegalForm(models.TextChoices):
    AKTIEBOLAG = "aktiebolag", _("Aktiebolag")
    HANDELSBOLAG = "handelsbolag", _("Handelsbolag")
    KOMMANDITBOLAG = "kommanditbolag", _("Kommanditbolag")
    ENSKILD_FIRMA = "enskild_firma", _("Enskild firma")
    EKONOMISK_FORENING = "ekonomisk_forening", _("Ekonomisk förening")
    IDEELL_FORENING = "ideell_forening", _("Ideell förening")
    STIFTELSE = "stiftelse", _("Stiftelse")


class Company(models.Model):
    """A corporate customer of the bank."""

    org_number = models.CharField(
        _("organisationsnummer"), max_length=10, unique=True, validators=[validate_organisationsnummer]
    )
    name = models.CharField(_("namn"), max_length=200)
    legal_form = models.CharField(_("företagsform"), max_length=32, choices=LegalForm.choices)
    owner = models.ForeignKey(
        User,
        verbose_name=_("innehavare"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sole_proprietorships",
        help_text=_("Innehavaren av en enskild firma."),
    )
    created_at = models.DateTimeField(_("skapat"), auto_now_add=True)

    class Meta:
        verbose_name = _("företag")
        verbose_name_plural = _("företag")
        ordering = ["name"]
        permissions = [(MANAGE_CASE_WATCH, _("Hantera Bevaka ärenden"))]
        constraints = [
            models.CheckConstraint(
                condition=~Q(legal_form="enskild_firma") | Q(owner__isnull=False),
                name="sole_proprietorship_has_owner",
                violation_error_message=_("En enskild firma måste ha en innehavare."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def org_number_display(self) -> str:
        return format_organisationsnummer(self.org_number)

    @property
    def is_sole_proprietorship(self) -> bool:
        return self.legal_form == LegalForm.ENSKILD_FIRMA


class Authority(models.TextChoices):
    UNRESTRICTED = "unrestricted", _("Obegränsad behörighet")
    RESTRICTED = "restricted", _("Begränsad behörighet")


class SigningMandate(models.TextChoices):
    NONE = "none", _("Ingen fullmakt att teckna avtal")
    ALONE = "alone", _("Tecknar avtal ensam")
    JOINTLY = "jointly", _("Tecknar avtal i förening")


class Membership(models.Model):
    """A user's engagement with a company: authority, mandate to sign agreements, admin role."""

    user = models.ForeignKey(User, verbose_name=_("användare"), on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(
        Company, verbose_name=_("företag"), on_delete=models.CASCADE, related_name="memberships"
    )
    authority = models.CharField(_("behörighet"), max_length=16, choices=Authority.choices)
    signing_mandate = models.CharField(
        _("fullmakt att teckna avtal"),
        max_length=16,
        choices=SigningMandate.choices,
        default=SigningMandate.NONE,
    )
    is_permission_admin = models.BooleanField(_("behörighetsadministratör"), default=False)
    created_at = models.DateTimeField(_("skapad"), auto_now_add=True)

    class Meta:
        verbose_name = _("engagemang")
        verbose_name_plural = _("engagemang")
        ordering = ["company__name", "user__last_name", "user__first_name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="one_membership_per_user_and_company"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.company}"

    @property
    def is_signatory(self) -> bool:
        return self.signing_mandate != SigningMandate.NONE

    @property
    def is_unrestricted(self) -> bool:
        return self.authority == Authority.UNRESTRICTED


class CompanyUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct foreign key from a user's object permission to the company, so SQL can join it."""

    content_object = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="user_permissions")

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("behörighet på företag")
        verbose_name_plural = _("behörigheter på företag")
