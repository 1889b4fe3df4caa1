"""What a signatory asks the bank to agree to, in the two forms that matter: the canonical content whose
SHA-256 is signed, and the text shown to the signer. Both are made from the same fields, so what is
signed is what is seen."""

import datetime
import json
from dataclasses import asdict, dataclass

from django.utils.translation import gettext as _

from companies.identity import format_organisationsnummer

from .models import TERMS_VERSION, CaseType, InternetBank, content_digest

SERVICE_NAME = "Bevaka ärenden"


@dataclass(frozen=True)
class Proposal:
    company_id: int
    company_name: str
    org_number: str
    action: str  # AgreementVersion.Action
    case_type_codes: tuple[str, ...]
    internet_bank: str
    is_sole_proprietorship: bool
    base_version: int | None  # the version a change was made from; None for a connect
    terms_version: str = TERMS_VERSION
    date: str = ""
    pending_id: int | None = None  # set when a second signatory signs a pending change

    def __post_init__(self) -> None:
        object.__setattr__(self, "case_type_codes", tuple(sorted(self.case_type_codes)))
        if not self.date:
            object.__setattr__(self, "date", datetime.date.today().isoformat())

    @property
    def content(self) -> str:
        """The canonical content: sorted-key JSON of everything that is agreed."""
        return json.dumps(
            {
                "service": SERVICE_NAME,
                "action": self.action,
                "company": {"name": self.company_name, "org_number": self.org_number},
                "case_types": list(self.case_type_codes),
                "internet_bank": self.internet_bank,
                "base_version": self.base_version,
                "terms_version": self.terms_version,
                "date": self.date,
            },
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @property
    def content_sha256(self) -> str:
        return content_digest(self.content)

    def case_types(self) -> list[CaseType]:
        return list(CaseType.objects.filter(code__in=self.case_type_codes))

    def summary_lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs shown on the signing step and the confirmation, in this order."""
        lines = [
            (_("Företag"), f"{self.company_name} ({format_organisationsnummer(self.org_number)})"),
            (_("Tjänst"), _("Bevaka ärenden")),  # the signed content keeps SERVICE_NAME; this is what is read
            (_("Ärendetyper"), ", ".join(t.name for t in self.case_types())),
        ]
        if self.is_sole_proprietorship:
            lines.append((_("Ansluts via"), str(InternetBank(self.internet_bank).label)))
        lines += [(_("Villkor"), _("version %(v)s") % {"v": self.terms_version}), (_("Datum"), self.date)]
        return lines

    def visible_text(self) -> str:
        """The text the signer's BankID app or the signing page shows (simpleMarkdownV1-safe plain text)."""
        heading = {
            "connect": _("Anslut företaget till tjänsten Bevaka ärenden"),
            "change": _("Ändra avtalet för tjänsten Bevaka ärenden"),
        }[self.action]
        body = "\n".join(f"{label}: {value}" for label, value in self.summary_lines())
        return f"{heading}\n\n{body}"

    def as_session(self) -> dict:
        data = asdict(self)
        data["case_type_codes"] = list(self.case_type_codes)
        return data

    @classmethod
    def from_content(
        cls, content: str, *, company_id: int, is_sole_proprietorship: bool, pending_id: int | None = None
    ) -> "Proposal":
        """The proposal whose canonical content is ``content`` (a signed version's or a pending change's)."""
        data = json.loads(content)
        return cls(
            company_id=company_id,
            company_name=data["company"]["name"],
            org_number=data["company"]["org_number"],
            action=data["action"],
            case_type_codes=tuple(data["case_types"]),
            internet_bank=data["internet_bank"],
            is_sole_proprietorship=is_sole_proprietorship,
            base_version=data["base_version"],
            terms_version=data["terms_version"],
            date=data["date"],
            pending_id=pending_id,
        )

    @classmethod
    def from_session(cls, data: dict) -> "Proposal":
        return cls(**{**data, "case_type_codes": tuple(data["case_type_codes"])})
