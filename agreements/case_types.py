"""The catalogue of case types (ärendetyper) that an agreement can include.

Adding a type is one entry here plus its alert texts; the rows are synchronised after every ``migrate``,
and every page, form and query reads the table, never this list.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CaseTypeEntry:
    code: str
    name_sv: str
    name_en: str
    description_sv: str
    description_en: str


CATALOGUE: list[CaseTypeEntry] = [
    CaseTypeEntry(
        "personal_message",
        "Mottaget personligt meddelande",
        "Personal message received",
        "Banken har skickat ett personligt meddelande till företaget i internetbanken.",
        "The bank has sent the company a personal message in the internet bank.",
    ),
    CaseTypeEntry(
        "e_invoice",
        "Inkommen e-faktura",
        "E-invoice received",
        "En ny e-faktura har kommit till företaget och väntar på att godkännas.",
        "A new e-invoice has arrived for the company and is waiting to be approved.",
    ),
    CaseTypeEntry(
        "rejected_payment",
        "Avvisad betalning",
        "Payment rejected",
        "En betalning från företaget har avvisats och behöver åtgärdas.",
        "A payment from the company has been rejected and needs attention.",
    ),
]


def sync_case_types(**kwargs) -> None:
    """Create or update a row for every catalogue entry, in catalogue order. Never deletes a type."""
    from .models import CaseType

    for position, entry in enumerate(CATALOGUE):
        CaseType.objects.update_or_create(
            code=entry.code,
            defaults={
                "name_sv": entry.name_sv,
                "name_en": entry.name_en,
                "description_sv": entry.description_sv,
                "description_en": entry.description_en,
                "position": position,
            },
        )
