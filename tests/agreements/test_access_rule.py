"""PRODUCT.md rule 4 as a table: both forms of the rule must give the same answer in every case."""

import pytest
from guardian.shortcuts import assign_perm, remove_perm

from agreements.access import has_service_access, memberships_with_service_access, users_with_service_access
from agreements.models import Agreement
from companies.models import MANAGE_CASE_WATCH_PERM, Authority, CompanyUserObjectPermission
from companies.services import remove_membership
from tests.factories import AgreementFactory, CompanyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

U, R = Authority.UNRESTRICTED, Authority.RESTRICTED

# agreement: "active" / "ended" / None; member: authority or None; perm: "here" / "elsewhere" / None
CASES = [
    ("active", U, None, True, True),
    ("active", R, "here", True, True),
    ("active", R, None, True, False),
    ("active", R, "elsewhere", True, False),
    ("active", U, "here", True, True),
    ("active", U, None, False, False),  # deactivated user
    ("active", None, "here", True, False),  # a grant left behind without a membership
    ("ended", U, None, True, False),
    ("ended", R, "here", True, False),
    (None, U, None, True, False),
    (None, R, "here", True, False),
]


@pytest.mark.parametrize(("agreement", "authority", "perm", "active", "expected"), CASES)
def test_the_access_rule(agreement, authority, perm, active, expected, django_assert_num_queries):
    company, other = CompanyFactory(), CompanyFactory()
    user = UserFactory(is_active=active)
    if agreement:
        status = Agreement.Status.ACTIVE if agreement == "active" else Agreement.Status.ENDED
        AgreementFactory(company=company, status=status)
    AgreementFactory(company=other)
    if authority:
        MembershipFactory(user=user, company=company, authority=authority)
        MembershipFactory(user=user, company=other, authority=R)
    if perm == "here":
        assign_perm(MANAGE_CASE_WATCH_PERM, user, company)
    elif perm == "elsewhere":
        assign_perm(MANAGE_CASE_WATCH_PERM, user, other)
    # Someone else with access, so that an empty answer can't pass by accident.
    MembershipFactory(company=company, authority=U)

    with django_assert_num_queries(1):
        single = has_service_access(user=user, company=company)
    with django_assert_num_queries(1):
        listed = user in list(users_with_service_access(company=company))

    assert single is expected
    assert listed is expected
    assert len(users_with_service_access(company=company)) == (2 if expected else 1) * (agreement == "active")


def test_guardian_stores_the_grant_in_the_direct_foreign_key_table_that_the_rule_joins():
    membership = MembershipFactory(authority=R)
    AgreementFactory(company=membership.company)
    assign_perm(MANAGE_CASE_WATCH_PERM, membership.user, membership.company)

    assert CompanyUserObjectPermission.objects.filter(user=membership.user, content_object=membership.company).exists()
    assert membership.user.has_perm(MANAGE_CASE_WATCH_PERM, membership.company)
    assert has_service_access(user=membership.user, company=membership.company)

    remove_perm(MANAGE_CASE_WATCH_PERM, membership.user, membership.company)
    assert not has_service_access(user=membership.user, company=membership.company)


def test_removing_a_membership_removes_all_access_and_the_grant_with_it():
    membership = MembershipFactory(authority=R)
    user, company = membership.user, membership.company
    AgreementFactory(company=company)
    assign_perm(MANAGE_CASE_WATCH_PERM, user, company)
    assert has_service_access(user=user, company=company)

    remove_membership(membership=membership)

    assert not has_service_access(user=user, company=company)
    assert not CompanyUserObjectPermission.objects.filter(user=user, content_object=company).exists()
    MembershipFactory(user=user, company=company, authority=R)
    assert not has_service_access(user=user, company=company)


def test_the_fan_out_form_is_one_query_however_many_users(django_assert_num_queries):
    company = CompanyFactory()
    AgreementFactory(company=company)
    for _ in range(30):
        membership = MembershipFactory(company=company, authority=R)
        assign_perm(MANAGE_CASE_WATCH_PERM, membership.user, company)
    MembershipFactory.create_batch(10, company=company, authority=U)
    MembershipFactory.create_batch(5, company=company, authority=R)

    with django_assert_num_queries(1):
        assert len(list(users_with_service_access(company=company))) == 40
    assert memberships_with_service_access().filter(company=company).count() == 40
