import datetime
import threading

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from agreements import services
from agreements.access import has_service_access
from agreements.models import Agreement, AgreementVersion, CaseType, PendingAgreementChange
from audit.models import AuditEntry
from companies.models import MANAGE_CASE_WATCH_PERM
from tests.agreements.conftest import make_evidence

pytestmark = pytest.mark.django_db

ALL = ["e_invoice", "personal_message", "rejected_payment"]


def connect(company, signer, codes, internet_bank=""):
    proposal = services.propose_connect(
        company=company, signer=signer, case_type_codes=codes, internet_bank=internet_bank
    )
    return services.apply_signed_proposal(
        proposal=proposal, signer=signer, evidence=make_evidence(signer, proposal.content)
    )


def test_the_catalogue_holds_the_three_case_types_of_the_help_page():
    names = {t.code: t.name_sv for t in CaseType.objects.all()}
    assert names == {
        "personal_message": "Mottaget personligt meddelande",
        "e_invoice": "Inkommen e-faktura",
        "rejected_payment": "Avvisad betalning",
    }
    assert all(t.name_en and t.description_sv and t.description_en for t in CaseType.objects.all())


def test_a_signatory_alone_connects_and_everyone_unrestricted_gets_access(demo):
    result = connect(demo.exempelbolaget, demo.anna, ["e_invoice", "rejected_payment"])
    version = result.version
    assert version.number == 1 and version.action == "connect"
    assert version.case_type_codes == ["e_invoice", "rejected_payment"]
    assert version.terms_version
    assert [s.signer for s in version.signatures.all()] == [demo.anna]
    agreement = version.agreement
    assert agreement.status == Agreement.Status.ACTIVE
    assert set(agreement.case_types.values_list("code", flat=True)) == {"e_invoice", "rejected_payment"}
    assert has_service_access(user=demo.bertil, company=demo.exempelbolaget)
    assert not has_service_access(user=demo.cecilia, company=demo.exempelbolaget)
    entry = AuditEntry.objects.get(action="agreement.connect")
    assert entry.actor == demo.anna and entry.company == demo.exempelbolaget
    assert entry.after["case_types"] == ["e_invoice", "rejected_payment"]


@pytest.mark.parametrize("person", ["bertil", "cecilia", "gustav"])
def test_only_a_signatory_may_connect_change_or_end(demo, person):
    user = getattr(demo, person)
    with pytest.raises(services.AgreementError, match="fullmakt att teckna avtal"):
        services.propose_connect(company=demo.exempelbolaget, signer=user, case_type_codes=ALL)
    connect(demo.exempelbolaget, demo.anna, ALL)
    with pytest.raises(services.AgreementError, match="fullmakt att teckna avtal"):
        services.propose_change(company=demo.exempelbolaget, signer=user, case_type_codes=["e_invoice"])
    with pytest.raises(services.AgreementError, match="fullmakt att teckna avtal"):
        services.end_agreement(company=demo.exempelbolaget, user=user)
    assert Agreement.objects.get(company=demo.exempelbolaget).is_active


def test_a_sole_proprietorship_must_choose_private_or_corporate_internet_bank(demo):
    with pytest.raises(services.AgreementError, match="internetbanken privat eller internetbanken företag"):
        services.propose_connect(company=demo.svenssons, signer=demo.gustav, case_type_codes=ALL)
    result = connect(demo.svenssons, demo.gustav, ALL, internet_bank="private")
    assert result.version.agreement.internet_bank == "private"
    assert result.version.internet_bank == "private"
    assert '"internet_bank":"private"' in result.version.content


def test_an_aktiebolag_is_always_connected_through_the_corporate_bank(demo):
    result = connect(demo.exempelbolaget, demo.anna, ALL, internet_bank="private")
    assert result.version.agreement.internet_bank == "corporate"


def test_no_types_or_the_same_types_is_refused_with_a_clear_message(demo):
    with pytest.raises(services.AgreementError, match="minst ett ärende"):
        services.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=[])
    connect(demo.exempelbolaget, demo.anna, ["e_invoice"])
    with pytest.raises(services.AgreementError, match="innehåller redan"):
        services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"])
    with pytest.raises(services.AgreementError, match="minst ett ärende"):
        services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=[])
    with pytest.raises(services.AgreementError, match="Okänd ärendetyp"):
        services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["loan"])


def test_a_change_makes_a_new_version_and_keeps_the_old_one_as_it_was(demo):
    first = connect(demo.exempelbolaget, demo.anna, ALL).version
    proposal = services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"])
    second = services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    ).version
    assert second.number == 2 and second.action == "change"
    first.refresh_from_db()
    assert first.case_type_codes == ALL
    assert list(second.agreement.case_types.values_list("code", flat=True)) == ["e_invoice"]
    assert AuditEntry.objects.filter(action="agreement.change").count() == 1


def test_a_change_made_from_an_old_version_is_refused_so_no_change_is_lost(demo):
    connect(demo.exempelbolaget, demo.anna, ALL)
    stale = services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"])
    fresh = services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["rejected_payment"])
    services.apply_signed_proposal(proposal=fresh, signer=demo.anna, evidence=make_evidence(demo.anna, fresh.content))
    with pytest.raises(services.AgreementError, match="ändrats av någon annan"):
        services.apply_signed_proposal(
            proposal=stale, signer=demo.anna, evidence=make_evidence(demo.anna, stale.content)
        )
    agreement = Agreement.objects.get(company=demo.exempelbolaget)
    assert list(agreement.case_types.values_list("code", flat=True)) == ["rejected_payment"]


def test_a_joint_connect_waits_for_a_second_signatory_who_signs_the_same_content(demo):
    proposal = services.propose_connect(company=demo.exempelbolaget, signer=demo.eva, case_type_codes=ALL)
    result = services.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    )
    assert result.version is None and result.pending is not None
    assert not Agreement.objects.filter(company=demo.exempelbolaget).exists()
    assert not has_service_access(user=demo.bertil, company=demo.exempelbolaget)

    pending = services.open_pending_change(company=demo.exempelbolaget)
    second = services.proposal_for_pending(pending)
    assert second.content == proposal.content
    with pytest.raises(services.AgreementError, match="en annan person"):
        services.cosign_pending(
            pending_id=pending.pk,
            proposal=second,
            signer=demo.eva,
            evidence=make_evidence(demo.eva, second.content),
        )
    version = services.cosign_pending(
        pending_id=pending.pk,
        proposal=second,
        signer=demo.fredrik,
        evidence=make_evidence(demo.fredrik, second.content),
    )
    assert {s.signer.first_name for s in version.signatures.all()} == {"Eva", "Fredrik"}
    assert has_service_access(user=demo.bertil, company=demo.exempelbolaget)
    pending.refresh_from_db()
    assert pending.status == PendingAgreementChange.Status.COMPLETED
    assert AuditEntry.objects.filter(action="agreement.connect.first_signature").count() == 1


def test_either_joint_signatory_may_withdraw_a_pending_change(demo):
    proposal = services.propose_connect(company=demo.exempelbolaget, signer=demo.eva, case_type_codes=ALL)
    pending = services.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    ).pending
    services.withdraw_pending(pending_id=pending.pk, user=demo.fredrik)
    assert services.open_pending_change(company=demo.exempelbolaget) is None
    with pytest.raises(services.AgreementError):
        services.cosign_pending(
            pending_id=pending.pk,
            proposal=proposal,
            signer=demo.anna,
            evidence=make_evidence(demo.anna, proposal.content),
        )


def test_a_pending_change_expires_after_30_days(demo):
    proposal = services.propose_connect(company=demo.exempelbolaget, signer=demo.eva, case_type_codes=ALL)
    pending = services.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    ).pending
    assert pending.expires_at - pending.created_at == datetime.timedelta(days=30)
    PendingAgreementChange.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert services.open_pending_change(company=demo.exempelbolaget) is None
    with pytest.raises(services.AgreementError, match="väntar inte längre"):
        services.cosign_pending(
            pending_id=pending.pk,
            proposal=proposal,
            signer=demo.fredrik,
            evidence=make_evidence(demo.fredrik, proposal.content),
        )
    # A new joint connect may start once the old one has expired.
    again = services.propose_connect(company=demo.exempelbolaget, signer=demo.fredrik, case_type_codes=["e_invoice"])
    assert services.apply_signed_proposal(
        proposal=again, signer=demo.fredrik, evidence=make_evidence(demo.fredrik, again.content)
    ).pending


def test_ending_stops_access_at_once_and_a_later_connect_starts_a_new_agreement(demo):
    first = connect(demo.exempelbolaget, demo.anna, ALL).version.agreement
    services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    first.refresh_from_db()
    assert first.status == Agreement.Status.ENDED and first.ended_by == demo.anna and first.ended_how == "customer"
    assert not has_service_access(user=demo.bertil, company=demo.exempelbolaget)
    with pytest.raises(services.AgreementError, match="inte anslutet"):
        services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    second = connect(demo.exempelbolaget, demo.anna, ["e_invoice"]).version.agreement
    assert second.pk != first.pk
    assert AuditEntry.objects.filter(action="agreement.end").count() == 1


def test_the_bank_ends_an_agreement_with_a_reason(demo):
    from companies.models import User

    agreement = connect(demo.exempelbolaget, demo.anna, ALL).version.agreement
    staff = User.objects.get(personnummer="197506159875")
    with pytest.raises(services.AgreementError, match="orsak"):
        services.end_agreement_by_bank(agreement_id=agreement.pk, staff_user=staff, reason=" ")
    services.end_agreement_by_bank(agreement_id=agreement.pk, staff_user=staff, reason="Kundens begäran per telefon")
    agreement.refresh_from_db()
    assert agreement.ended_how == "back_office" and agreement.end_reason == "Kundens begäran per telefon"
    assert AuditEntry.objects.get(action="agreement.end_by_bank").after["reason"] == "Kundens begäran per telefon"


def test_granting_and_revoking_the_permission_is_for_permission_admins_and_audited(demo):
    connect(demo.exempelbolaget, demo.anna, ALL)
    with pytest.raises(services.AgreementError, match="behörighetsadministratör"):
        services.grant_case_watch_permission(company=demo.exempelbolaget, admin=demo.bertil, user_id=demo.cecilia.pk)
    services.grant_case_watch_permission(company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk)
    assert has_service_access(user=demo.cecilia, company=demo.exempelbolaget)
    with pytest.raises(services.AgreementError, match="obegränsad"):
        services.grant_case_watch_permission(company=demo.exempelbolaget, admin=demo.anna, user_id=demo.bertil.pk)
    with pytest.raises(services.AgreementError, match="finns inte"):
        services.grant_case_watch_permission(company=demo.exempelbolaget, admin=demo.anna, user_id=demo.gustav.pk + 999)
    services.revoke_case_watch_permission(company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk)
    assert not has_service_access(user=demo.cecilia, company=demo.exempelbolaget)
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="permission").order_by("id")] == [
        "permission.grant",
        "permission.revoke",
    ]


def test_a_grant_through_a_group_is_no_grant_and_granting_then_gives_access(demo):
    """The grant is read one way, as the access rule reads it: guardian's direct row on the company. A
    group's object permission (which guardian's has_perm counts) neither gives access nor makes a grant a
    no-op."""
    connect(demo.exempelbolaget, demo.anna, ALL)
    group = Group.objects.create(name="Behörighetsgrupp")
    demo.cecilia.groups.add(group)
    assign_perm(MANAGE_CASE_WATCH_PERM, group, demo.exempelbolaget)
    assert not has_service_access(user=demo.cecilia, company=demo.exempelbolaget)
    services.grant_case_watch_permission(company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk)
    assert has_service_access(user=demo.cecilia, company=demo.exempelbolaget)
    assert AuditEntry.objects.filter(action="permission.grant").count() == 1


def test_versions_and_audit_entries_cannot_be_updated_or_deleted_even_with_raw_sql(demo):
    version = connect(demo.exempelbolaget, demo.anna, ALL).version
    entry = AuditEntry.objects.first()
    statements = [
        ("UPDATE agreements_agreementversion SET case_type_codes = '[]' WHERE id = %s", version.pk),
        ("DELETE FROM agreements_agreementversion WHERE id = %s", version.pk),
        ("UPDATE agreements_agreementsignature SET signed_at = now() WHERE version_id = %s", version.pk),
        ("UPDATE audit_auditentry SET action = 'forged' WHERE id = %s", entry.pk),
        ("DELETE FROM audit_auditentry WHERE id = %s", entry.pk),
    ]
    for sql, pk in statements:
        with (
            pytest.raises(DatabaseError, match=r"append-only|immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [pk])
    version.refresh_from_db()
    assert version.case_type_codes == ALL
    assert AuditEntry.objects.filter(pk=entry.pk, action="agreement.connect").exists()


@pytest.mark.django_db(transaction=True)
def test_two_signatories_connecting_at_once_make_one_agreement(demo):
    from companies.models import Membership

    Membership.objects.filter(user=demo.eva, company=demo.exempelbolaget).update(signing_mandate="alone")
    demo.eva.refresh_from_db()
    proposals = {
        person: services.propose_connect(company=demo.exempelbolaget, signer=person, case_type_codes=codes)
        for person, codes in [(demo.anna, ALL), (demo.eva, ["e_invoice"])]
    }
    evidences = {person: make_evidence(person, p.content) for person, p in proposals.items()}
    barrier = threading.Barrier(2)
    outcomes = []

    def sign(person):
        try:
            barrier.wait()
            services.apply_signed_proposal(proposal=proposals[person], signer=person, evidence=evidences[person])
            outcomes.append("connected")
        except services.AgreementError as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign, args=(p,)) for p in proposals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["Företaget är redan anslutet till tjänsten Bevaka ärenden.", "connected"]
    assert Agreement.objects.filter(company=demo.exempelbolaget, status="active").count() == 1
    assert AgreementVersion.objects.filter(agreement__company=demo.exempelbolaget).count() == 1


def test_access_after_revocation_is_gone_for_a_restricted_user(demo):
    connect(demo.exempelbolaget, demo.anna, ALL)
    assign_perm(MANAGE_CASE_WATCH_PERM, demo.david, demo.exempelbolaget)
    assert has_service_access(user=demo.david, company=demo.exempelbolaget)
