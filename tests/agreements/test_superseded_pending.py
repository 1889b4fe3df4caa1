"""Issue 19, defect 5: a pending joint change (i förening) is withdrawn when a sole signatory puts a newer
version in force — audited, and shown to both joint signatories — and a joint signatory who proposes while a
change is pending is told so before signing, not after."""

import pytest

from agreements import services
from agreements.models import PendingAgreementChange
from audit.models import AuditEntry
from tests.agreements.conftest import make_evidence

pytestmark = pytest.mark.django_db


def _sign(proposal, signer):
    return services.apply_signed_proposal(
        proposal=proposal, signer=signer, evidence=make_evidence(signer, proposal.content)
    )


@pytest.fixture
def pending_change(demo):
    """Exempelbolaget connected by Anna (alone); Eva (jointly) has signed a change that waits for Fredrik."""
    company = demo.exempelbolaget
    _sign(services.propose_connect(company=company, signer=demo.anna, case_type_codes=["e_invoice"]), demo.anna)
    proposal = services.propose_change(company=company, signer=demo.eva, case_type_codes=["personal_message"])
    return _sign(proposal, demo.eva).pending


def test_a_newer_version_put_in_force_by_a_sole_signatory_withdraws_the_pending_change(demo, pending_change):
    company = demo.exempelbolaget
    newer = services.propose_change(company=company, signer=demo.anna, case_type_codes=["rejected_payment"])
    version = _sign(newer, demo.anna).version
    pending_change.refresh_from_db()
    assert pending_change.status == PendingAgreementChange.Status.WITHDRAWN
    assert pending_change.resolved_by == demo.anna
    assert services.open_pending_change(company=company) is None  # Fredrik is no longer offered "Signera"
    entry = AuditEntry.objects.get(action="agreement.pending_superseded")
    assert entry.actor == demo.anna and entry.company == company
    assert entry.before["pending"] == pending_change.pk and entry.after["version"] == version.number
    # Eva may propose again at once, not after 30 days.
    again = services.propose_change(company=company, signer=demo.eva, case_type_codes=["e_invoice"])
    assert _sign(again, demo.eva).pending is not None


def test_both_joint_signatories_see_that_the_pending_change_was_withdrawn(client, demo, pending_change):
    newer = services.propose_change(
        company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice", "personal_message"]
    )
    _sign(newer, demo.anna)
    for signatory in (demo.eva, demo.fredrik):
        client.force_login(signatory)
        page = client.get(f"/foretag/{demo.exempelbolaget.pk}/bevaka-arenden/", secure=True).content.decode()
        assert "Ändringen som Eva Ek signerade" in page and "drogs tillbaka" in page
        assert "Signera</button>" not in page


def test_a_joint_signatory_proposing_while_a_change_is_pending_is_told_before_signing(demo, pending_change):
    with pytest.raises(services.AgreementError, match="väntar redan på signatur"):
        services.propose_change(company=demo.exempelbolaget, signer=demo.fredrik, case_type_codes=["rejected_payment"])


def test_the_change_page_says_before_signing_what_happens_to_the_waiting_change(client, demo, pending_change):
    url = f"/foretag/{demo.exempelbolaget.pk}/bevaka-arenden/andra-avtal/"
    client.force_login(demo.anna)  # signs alone: her change would withdraw Eva's
    page = client.get(url, secure=True).content.decode()
    assert "Eva Ek har signerat en ändring som väntar på en andra signatur" in page
    assert "Ändrar du avtalet nu dras den ändringen tillbaka." in page
    client.force_login(demo.fredrik)  # signs jointly: told to sign or withdraw it first
    assert "väntar redan på signatur" in client.get(url, secure=True).content.decode()
