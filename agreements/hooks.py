"""What the apps above agreements do when an agreement or the permission changes under them.

Agreements sits below Mina bevakningar (subscriptions) and imports nothing from it. An app that must act on
such a change registers a listener here, explicitly, in its ``AppConfig.ready()``; the agreement services
call every listener inside their own transaction, so whatever a listener changes goes with the change or
not at all. Not Django signals: nothing important happens in signals (STYLE.md), and a reader finds every
listener by its one ``register`` call.
"""

from dataclasses import dataclass
from typing import Protocol

from companies.models import Company, User

from .models import Agreement


class CaseTypesChanged(Protocol):
    def __call__(self, *, agreement: Agreement, case_type_codes: list[str]) -> None: ...


class AgreementEnded(Protocol):
    def __call__(self, *, agreement: Agreement) -> None: ...


class PermissionChanged(Protocol):
    def __call__(self, *, company: Company, user: User, granted: bool) -> None: ...


@dataclass(frozen=True)
class AgreementListener:
    """An app's functions for the three changes: the agreement now includes exactly ``case_type_codes``
    (connect or change), the agreement ended, *Hantera Bevaka ärenden* was granted or revoked."""

    case_types_changed: CaseTypesChanged
    ended: AgreementEnded
    permission_changed: PermissionChanged


_listeners: list[AgreementListener] = []


def register(listener: AgreementListener) -> None:
    """Call ``listener`` on every change from now on. Registering the same listener again does nothing."""
    if listener not in _listeners:
        _listeners.append(listener)


def case_types_changed(*, agreement: Agreement, case_type_codes: list[str]) -> None:
    for listener in _listeners:
        listener.case_types_changed(agreement=agreement, case_type_codes=case_type_codes)


def agreement_ended(*, agreement: Agreement) -> None:
    for listener in _listeners:
        listener.ended(agreement=agreement)


def permission_changed(*, company: Company, user: User, granted: bool) -> None:
    for listener in _listeners:
        listener.permission_changed(company=company, user=user, granted=granted)
