import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from companies import demo as demo_world
from companies.models import Authority, Company, Membership, SigningMandate, User

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_demo_world_and_is_idempotent(demo):
    counts = (User.objects.count(), Company.objects.count(), Membership.objects.count())
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (User.objects.count(), Company.objects.count(), Membership.objects.count()) == counts
    memberships = sum(len(person.roles) for person in demo_world.PEOPLE)  # 9: Gustav is in both companies
    assert counts == (len(demo_world.PEOPLE) + len(demo_world.STAFF), 2, memberships) and memberships == 9

    anna = Membership.objects.get(user=demo.anna, company=demo.exempelbolaget)
    assert (anna.authority, anna.signing_mandate, anna.is_permission_admin) == (
        Authority.UNRESTRICTED,
        SigningMandate.ALONE,
        True,
    )
    joint = Membership.objects.filter(company=demo.exempelbolaget, signing_mandate=SigningMandate.JOINTLY)
    assert {m.user.first_name for m in joint} == {"Eva", "Fredrik"}
    assert demo.svenssons.legal_form == "enskild_firma"
    assert demo.svenssons.owner == demo.gustav
    assert demo.gustav.memberships.count() == 2
    assert not demo.anna.has_usable_password()


def test_staff_are_in_groups_and_never_superusers(demo):
    for member in demo_world.STAFF:
        user = User.objects.get(personnummer=member.personnummer)
        assert user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [member.group]
    support = Group.objects.get(name=demo_world.SUPPORT_GROUP)
    assert {p.codename for p in support.permissions.all()} >= {"view_company", "view_membership", "view_user"}
    assert not support.permissions.filter(codename__startswith="change_").exists()
    operations = Group.objects.get(name=demo_world.OPERATIONS_GROUP)
    assert operations.permissions.filter(codename="change_membership").exists()


def _staff(group: str) -> User:
    member = next(s for s in demo_world.STAFF if s.group == group)
    return User.objects.get(personnummer=member.personnummer)


def test_support_staff_find_a_user_by_personnummer_as_printed(client, demo):
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    response = client.get(reverse("admin:companies_user_changelist"), {"q": "19780412-9802"})
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert [u.personnummer for u in rows] == ["197804129802"]


def test_staff_find_a_company_by_org_number_as_printed(client, demo):
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    response = client.get(reverse("admin:companies_company_changelist"), {"q": "580227-9892"})
    assert [c.name for c in response.context["cl"].result_list] == ["Svenssons Bygg"]


def test_support_staff_can_look_but_not_change(client, demo):
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    url = reverse("admin:companies_company_change", args=[demo.exempelbolaget.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Ändrat AB"})
    assert response.status_code == 403
    demo.exempelbolaget.refresh_from_db()
    assert demo.exempelbolaget.name == "Exempelbolaget i Sverige AB"


def test_bank_customers_cannot_enter_the_admin(client, demo):
    client.force_login(demo.anna)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_sole_proprietorship_without_owner_is_refused_by_the_database(demo):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Company.objects.create(org_number="5802279892", name="Utan ägare", legal_form="enskild_firma")
