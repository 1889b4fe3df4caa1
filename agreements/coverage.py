"""Coverage a company can see (issue 23, part 4): per case type of the agreement, how many users with access
watch it by SMS and by e-mail, so that *Ingen bevakar Avvisad betalning* is seen before it matters.

Whether a user would get an alert is answered in one place, ``events.eligibility``, above this app. The
events app registers the function that counts with those same conditions here, in its ``AppConfig.ready()``
(as ``agreements.hooks`` and ``notifications.purposes``); the pages of this app only call ``coverage``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .models import Agreement, CaseType


@dataclass(frozen=True)
class CaseTypeCoverage:
    case_type: CaseType
    by_sms: int  # users who would get an alert of this type by SMS now
    by_email: int  # … by e-mail

    @property
    def nobody(self) -> bool:
        return self.by_sms == 0 and self.by_email == 0


@dataclass(frozen=True)
class Coverage:
    rows: list[CaseTypeCoverage]

    @property
    def uncovered(self) -> list[CaseTypeCoverage]:
        """The case types nobody watches (nobody would get an alert of them by any channel)."""
        return [row for row in self.rows if row.nobody]


# (agreement, its case types in order) -> {case type id: (by SMS, by e-mail)}
Counter = Callable[[Agreement, Sequence[CaseType]], dict[int, tuple[int, int]]]

_counter: Counter | None = None


def register(counter: Counter) -> None:
    """Count with ``counter`` from now on (a second registration replaces the first)."""
    global _counter
    _counter = counter


def coverage(*, agreement: Agreement | None, case_types: Sequence[CaseType] | None = None) -> Coverage | None:
    """One row per case type of ``agreement`` (in its order), with the counts; None without an agreement.
    One query for the counts, and one for the case types unless the caller has them already."""
    if agreement is None:
        return None
    if case_types is None:
        case_types = list(agreement.case_types.order_by("position"))
    if _counter is None:
        raise RuntimeError("no coverage counter registered (events is not installed?)")
    counts = _counter(agreement, case_types) if case_types else {}
    return Coverage([CaseTypeCoverage(t, *counts.get(t.pk, (0, 0))) for t in case_types])
