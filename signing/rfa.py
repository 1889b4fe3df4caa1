"""BankID's recommended user messages (RFA codes) and which one to show for a status, hint or error.

Wording per BankID's current guidelines (../shared/docs/SIGNING.md 1.12); English through gettext.
"""

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "RFA1": _("Starta BankID-appen."),
    "RFA2": _("Du verkar inte ha BankID-appen. Installera den och skaffa ett BankID."),
    "RFA3": _("Åtgärden avbröts. Försök igen."),
    "RFA4": _("En identifiering eller underskrift pågår redan för ditt personnummer. Försök igen."),
    "RFA5": _("Något gick fel. Försök igen."),
    "RFA6": _("Åtgärden avbröts."),
    "RFA8": _(
        "BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. Försök sedan igen."
    ),
    "RFA9": _("Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under."),
    "RFA13": _("Försöker starta BankID-appen."),
    "RFA15A": _(
        "Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här datorn. Om du har ett "
        "BankID på kort, sätt in kortet i kortläsaren."
    ),
    "RFA15B": _("Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här enheten."),
    "RFA16": _("Ditt BankID är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett nytt hos din bank."),
    "RFA17A": _("Du verkar inte ha BankID-appen/programmet. Installera den och skaffa ett BankID hos din bank."),
    "RFA17B": _("Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden."),
    "RFA21": _("En identifiering eller underskrift pågår."),
    "RFA22": _("Något gick fel. Försök igen."),
    "RFA23": _("Fotografera och läs av din ID-handling med BankID-appen."),
    # Our own codes for the security token (no RFA equivalent).
    "TOKEN_AWAITING_RESPONSE": _(
        "Starta säkerhetsdosan med din PIN-kod, slå in kontrollkoden och skriv svarskoden nedan."
    ),
    "TOKEN_WRONG_RESPONSE": _("Svarskoden stämmer inte. Kontrollera kontrollkoden och försök igen."),
    "TOKEN_TOO_MANY_ATTEMPTS": _("Du har angett fel svarskod tre gånger. Börja om signeringen."),
    "TOKEN_LOCKED": _("Din säkerhetsdosa är spärrad efter för många felaktiga svar. Kontakta banken."),
    "TOKEN_CHALLENGE_EXPIRED": _("Kontrollkoden gäller inte längre. Börja om signeringen."),
    "SIGNED": _("Klart. Du har skrivit under."),
    "IDENTIFIED": _("Klart. Du är identifierad."),
    "WRONG_PERSON": _("Det var inte du som skrev under. Logga in som rätt person och försök igen."),
    "SIGNATURE_INVALID": _(
        "Underskriften kunde inte kontrolleras och har inte sparats. Försök igen. Kontakta banken om det händer igen."
    ),
}

_PENDING = {
    "noClient": "RFA1",
    "userMrtd": "RFA23",
    "userSign": "RFA9",
}
_FAILED = {
    "expiredTransaction": "RFA8",
    "certificateErr": "RFA16",
    "userCancel": "RFA6",
    "cancelled": "RFA3",
}
_ERRORS = {
    "alreadyInProgress": "RFA4",
    "internalError": "RFA5",
    "maintenance": "RFA5",
    "requestTimeout": "RFA5",
}


def code_for_pending(hint: str, *, launch: str) -> str:
    """``launch`` is "qr", "mobile" (autostart on a phone) or "desktop" (autostart, incl. card)."""
    if hint == "outstandingTransaction":
        return "RFA1" if launch == "qr" else "RFA13"
    if hint == "started":
        return "RFA15A" if launch == "desktop" else "RFA15B"
    return _PENDING.get(hint, "RFA21")


def code_for_failed(hint: str, *, launch: str) -> str:
    if hint == "startFailed":
        return "RFA17B" if launch == "qr" else "RFA17A"
    return _FAILED.get(hint, "RFA22")


def code_for_error(error_code: str) -> str:
    return _ERRORS.get(error_code, "RFA22")


def message(code: str) -> str:
    return str(MESSAGES.get(code, MESSAGES["RFA22"]))
