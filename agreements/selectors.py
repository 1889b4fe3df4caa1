"""Reads of agreements: the agreement in force, and the rows of the permission page."""

from companies.models import Company

from .models import Agreement


def active_agreement(*, company: Company) -> Agreement | None:
    """The company's agreement in force, or None (at most one: a constraint)."""
    return Agreement.objects.active().filter(company=company).first()
