"""Mina bevakningar: saving watches and verifying contact details (PRODUCT.md rules 5, 9).

Each function is atomic, checks access itself, writes the audit log, and raises WatchError with a
message safe to show the user.
"""

import datetime
import hashlib
import hmac
import secrets
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from agreements.access import has_service_access
from agreements.models import CaseType
from agreements.selectors import active_agreement
from audit.services import record
from companies.models import Company, Language, User
from companies.phone import parse_mobile_number
from notifications.models import Channel, Purpose
from notifications.services import clear_suspension, is_suspended, queue_delivery
from notifications.sms import render_sms
from throttling import services as throttling

from .models import ContactVerification, VerifiedContact, Watch

CODE_LIFETIME = datetime.timedelta(minutes=10)
CODE_MAX_TRIES = 5
RESEND_COOLDOWN = datetime.timedelta(seconds=60)
CODES_PER_HOUR = 5


class WatchError(Exception):
    """A refused change to Mina bevakningar; ``str(error)`` says why."""


def _agreement_codes(company: Company) -> set[str]:
    agreement = active_agreement(company=company)
    if agreement is None:
        return set()
    return set(agreement.case_types.values_list("code", flat=True))


def verified_destination(*, user: User, channel: str) -> str | None:
    contact = VerifiedContact.objects.filter(user=user, channel=channel).first()
    return contact.destination if contact else None


@transaction.atomic
def save_watches(
    *, user: User, company: Company, selections: dict[str, set[str]], ip_address: str | None = None
) -> bool:
    """Store which case types ``user`` watches in ``company`` and by which channels ("sms", "email").

    A type missing from ``selections`` or with no channel is not watched. Refuses a type the agreement
    does not include, and a channel whose contact detail is not verified. Returns whether anything changed.
    """
    if not has_service_access(user=user, company=company):
        raise WatchError(_("Du har inte tillgång till tjänsten Bevaka ärenden för företaget."))
    selections = {code: set(channels) for code, channels in selections.items() if channels}
    allowed = _agreement_codes(company)
    if outside := set(selections) - allowed:
        raise WatchError(
            _("Avtalet omfattar inte %(types)s. Bara ärenden som ingår i avtalet kan bevakas.")
            % {"types": ", ".join(sorted(outside))}
        )
    for channel in {c for channels in selections.values() for c in channels}:
        if channel not in Channel.values:
            raise WatchError(_("Okänt sätt att få aviseringar."))
        if verified_destination(user=user, channel=channel) is None:
            raise WatchError(
                _("Verifiera ditt mobilnummer innan du väljer sms.")
                if channel == Channel.SMS
                else _("Verifiera din e-postadress innan du väljer e-post.")
            )

    current = {
        w.case_type.code: w
        for w in Watch.objects.select_for_update().filter(user=user, company=company).select_related("case_type")
    }
    before = {code: sorted(_channels(w)) for code, w in current.items()}
    after = {code: sorted(channels) for code, channels in selections.items()}
    if before == after:
        return False
    types = {t.code: t for t in CaseType.objects.filter(code__in=selections)}
    for code, watch in current.items():
        if code not in selections:
            watch.delete()
    for code, channels in selections.items():
        Watch.objects.update_or_create(
            user=user,
            company=company,
            case_type=types[code],
            defaults={"by_sms": Channel.SMS in channels, "by_email": Channel.EMAIL in channels},
        )
    record(action="watch.change", actor=user, company=company, before=before, after=after, ip_address=ip_address)
    return True


def set_alert_language(*, user: User, language: str) -> None:
    """Write ``user``'s alerts and codes in ``language`` from now on; the screen's language is not touched."""
    if language not in Language.values:
        raise WatchError(_("Välj ett språk."))
    user.alert_language = language
    user.save(update_fields=["alert_language"])


def _channels(watch: Watch) -> set[str]:
    return {c for c, on in ((Channel.SMS, watch.by_sms), (Channel.EMAIL, watch.by_email)) if on}


def _code_hash(verification_id: int, code: str) -> str:
    key = hashlib.sha256(f"contact-verification:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _clean_destination(channel: str, destination: str) -> str:
    if channel == Channel.SMS:
        return parse_mobile_number(destination)
    destination = (destination or "").strip().lower()
    try:
        validate_email(destination)
    except ValidationError:
        raise ValidationError(_("Ange en e-postadress, till exempel namn@foretag.se."), code="invalid") from None
    return destination


@transaction.atomic
def start_verification(*, user: User, channel: str, destination: str) -> ContactVerification:
    """Send a 6-digit code to ``destination`` through the channel layer. Nothing changes until it is
    entered (confirm_verification). Throttled: one code a minute per destination, five an hour per user and
    channel.

    Raises ValidationError for a malformed destination, WatchError when throttled.
    """
    if channel not in Channel.values:
        raise WatchError(_("Okänt sätt att få aviseringar."))
    _refuse_if_blocked(user)
    destination = _clean_destination(channel, destination)
    User.objects.select_for_update().filter(pk=user.pk).first()  # one code at a time per user
    now = timezone.now()
    recent = ContactVerification.objects.filter(
        user=user, channel=channel, created_at__gt=now - datetime.timedelta(hours=1)
    )
    # The minute's wait is per destination: a mistyped number can be corrected at once (issue 18); the
    # hour's limit below still counts every code the user asks for on the channel.
    latest = recent.filter(destination=destination).order_by("-created_at").first()
    if latest and latest.created_at > now - RESEND_COOLDOWN:
        raise WatchError(_("Vänta en minut innan du begär en ny kod."))
    if recent.count() >= CODES_PER_HOUR:
        raise WatchError(_("Du har begärt för många koder. Försök igen om en timme."))
    recent.filter(used_at__isnull=True).update(used_at=now)  # a new code replaces the old one
    code = f"{secrets.randbelow(10**6):06d}"
    verification = ContactVerification.objects.create(
        user=user, channel=channel, destination=destination, code_hash="", expires_at=now + CODE_LIFETIME
    )
    verification.code_hash = _code_hash(verification.pk, code)
    with translation.override(user.alert_language):
        body = render_to_string("notifications/sms/verification_code.txt", {"code": code}).strip()
        subject = _("Din kod till Bevaka ärenden")
    delivery = queue_delivery(
        channel=channel,
        destination=destination,
        purpose=Purpose.VERIFICATION,
        body=body,
        subject=subject if channel == Channel.EMAIL else "",
        user=user,
    )
    verification.delivery_id = delivery.pk
    verification.save(update_fields=["code_hash", "delivery_id"])
    return verification


def confirm_verification(*, user: User, channel: str, code: str, ip_address: str | None = None) -> VerifiedContact:
    """Check the code the user typed. Right: the destination becomes the user's verified contact for the
    channel (and a suspension for opting out is lifted: they just proved they receive it). Wrong: one try
    used — and kept, so the refusal is raised after the transaction commits; after five tries, or after
    ten minutes, the code is dead. A code works once.
    """
    _refuse_if_blocked(user)
    with transaction.atomic():
        verification = (
            ContactVerification.objects.select_for_update()
            .filter(user=user, channel=channel, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        now = timezone.now()
        if verification is None:
            raise WatchError(_("Det finns ingen kod att verifiera. Begär en ny kod."))
        if verification.expires_at <= now:
            raise WatchError(_("Koden har gått ut. Begär en ny kod."))
        if verification.attempts >= CODE_MAX_TRIES:
            raise WatchError(_("För många felaktiga försök. Begär en ny kod."))
        given = "".join(ch for ch in (code or "") if ch in string.digits)  # not "²" or "３"
        if hmac.compare_digest(_code_hash(verification.pk, given), verification.code_hash):
            throttling.record_success(limit=throttling.CONTACT_CODE, key=user.pk)
            return _mark_verified(user=user, verification=verification, now=now, ip_address=ip_address)
        verification.attempts += 1
        verification.save(update_fields=["attempts"])
    # Wrong codes in a row count across codes (a new code does not start the count again): PSD2's five.
    left = min(
        CODE_MAX_TRIES - verification.attempts, throttling.record_failure(limit=throttling.CONTACT_CODE, key=user.pk)
    )
    if left <= 0:
        ContactVerification.objects.filter(pk=verification.pk, used_at__isnull=True).update(used_at=timezone.now())
        _refuse_if_blocked(user)
        raise WatchError(_("För många felaktiga försök. Begär en ny kod."))
    raise WatchError(_("Fel kod. Du har %(left)d försök kvar.") % {"left": left})


def _refuse_if_blocked(user: User) -> None:
    """WatchError (saying until when) while the user is blocked after five wrong codes in a row."""
    try:
        throttling.check(limit=throttling.CONTACT_CODE, key=user.pk)
    except throttling.Blocked as blocked:
        raise WatchError(str(blocked)) from None


def _mark_verified(*, user: User, verification: ContactVerification, now, ip_address: str | None) -> VerifiedContact:
    channel = verification.channel
    verification.used_at = now
    verification.save(update_fields=["used_at"])
    before = verified_destination(user=user, channel=channel)
    contact, _created = VerifiedContact.objects.update_or_create(
        user=user, channel=channel, defaults={"destination": verification.destination, "verified_at": now}
    )
    field = "mobile_number" if channel == Channel.SMS else "email"
    setattr(user, field, verification.destination)
    user.save(update_fields=[field])
    clear_suspension(channel=channel, destination=verification.destination, opted_in=True)
    changed = before is not None and before != verification.destination
    kind = "changed" if changed else "added" if before is None else None  # None: the same one again
    told = _tell_of_contact_change(user=user, channel=channel, kind=kind, previous=before, now=now) if kind else []
    record(
        action="contact.verified",
        actor=user,
        company=None,
        before={"channel": channel, "changed": changed},
        after={"channel": channel, "kind": kind or "reverified", "notice_to": told},
        ip_address=ip_address,
    )
    return contact


def remove_contact(*, user: User, channel: str, ip_address: str | None = None) -> int:
    """Remove the user's verified mobile number or e-mail address: no alert goes there any more, the
    channel is taken off every watch (a watch left with no channel is deleted), the previous destination
    is told, and the removal is audited with the session's address. Returns how many watches changed.

    Raises WatchError when there is nothing verified on the channel.
    """
    if channel not in Channel.values:
        raise WatchError(_("Okänt sätt att få aviseringar."))
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one contact change at a time per user
        contact = VerifiedContact.objects.select_for_update().filter(user=user, channel=channel).first()
        if contact is None:
            raise WatchError(
                _("Du har inget verifierat mobilnummer att ta bort.")
                if channel == Channel.SMS
                else _("Du har ingen verifierad e-postadress att ta bort.")
            )
        previous = contact.destination
        contact.delete()
        field, flag, other_flag = (
            ("mobile_number", "by_sms", "by_email") if channel == Channel.SMS else ("email", "by_email", "by_sms")
        )
        setattr(user, field, "")
        user.save(update_fields=[field])
        ContactVerification.objects.filter(user=user, channel=channel, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        watches = Watch.objects.filter(user=user, **{flag: True})
        # The check constraint wants a channel on every watch: one left without any is deleted.
        removed, _by_model = watches.filter(**{other_flag: False}).delete()
        changed = watches.update(**{flag: False})
        told = _tell_of_contact_change(
            user=user, channel=channel, kind="removed", previous=previous, now=timezone.now()
        )
        record(
            action="contact.removed",
            actor=user,
            company=None,
            before={"channel": channel},
            after={"channel": channel, "watches_removed": removed, "watches_changed": changed, "notice_to": told},
            ip_address=ip_address,
        )
    return removed + changed


def _tell_of_contact_change(*, user: User, channel: str, kind: str, previous: str | None, now) -> list[str]:
    """Tell the user, at the destination they had before, that their contact detail on ``channel`` was
    ``kind`` ("added", "changed", "removed") at ``now``; the new destination is never in the text. With no
    previous destination (added), or one the bank may not send to, the other channel's verified one is
    told instead. Sent as a delivery of its own purpose through the normal send path. Returns the channels
    told (for the audit log)."""
    targets = []
    if previous and not is_suspended(channel=channel, destination=previous):
        targets.append((channel, previous))
    else:
        other = Channel.EMAIL if channel == Channel.SMS else Channel.SMS
        if (destination := verified_destination(user=user, channel=other)) and not is_suspended(
            channel=other, destination=destination
        ):
            targets.append((other, destination))
    for to_channel, destination in targets:
        with translation.override(user.alert_language):
            local = timezone.localtime(now)
            when = _("%(date)s kl. %(time)s") % {
                "date": formats.date_format(local, "j F Y"),
                "time": local.strftime("%H:%M"),
            }
            context = {"what": channel, "kind": kind, "when": when}
            subject = _("Ändrad kontaktuppgift")
            if to_channel == Channel.SMS:
                body = render_sms("contact_changed", context)
            else:
                body = render_to_string("subscriptions/email/contact_changed.txt", context)
                subject = _("Dina kontaktuppgifter för Bevaka ärenden har ändrats")
        queue_delivery(
            channel=to_channel,
            destination=destination,
            purpose=Purpose.CONTACT_CHANGE,
            subject=subject,
            body=body,
            user=user,
        )
    return [to_channel for to_channel, _destination in targets]
