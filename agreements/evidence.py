"""The evidence bundle of an agreement version (signing/bundle.py): what was signed and every signature."""

from signing.bundle import build_bundle

from .models import AgreementVersion


def version_bundle(version: AgreementVersion) -> tuple[str, bytes]:
    """(file name, zip bytes) of the version's evidence bundle."""
    signatures = version.signatures.select_related("evidence__order").order_by("signed_at", "pk")
    company = version.agreement.company
    data = build_bundle(
        title=f"Bevaka ärenden, {company.name} ({company.org_number}), agreement version {version.number}",
        content=version.content,
        evidences=[signature.evidence for signature in signatures],
    )
    return f"bevaka-arenden-{company.org_number}-v{version.number}-evidence.zip", data
