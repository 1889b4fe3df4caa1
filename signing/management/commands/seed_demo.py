from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from companies import demo
from companies.models import Company, Membership, User
from signing.tokens import issue_demo_token


class Command(BaseCommand):
    """The demo world of companies/demo.py. It lives in signing, the lowest app that can build all of it:
    the people and companies (companies) and each signatory's säkerhetsdosa (signing)."""

    help = "Create the demo companies, people and staff of DEMO.md. Safe to run again: it only fills in."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        users: dict[str, User] = {}
        for person in demo.PEOPLE:
            user, _ = User.objects.get_or_create(
                personnummer=person.personnummer,
                defaults={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "mobile_number": person.mobile_number,
                    "email": person.email,
                    "password": "!",  # unusable: bank users log in with BankID, never a password
                },
            )
            users[person.personnummer] = user

        companies: dict[str, Company] = {}
        for spec in demo.COMPANIES:
            company, _ = Company.objects.get_or_create(
                org_number=spec.org_number,
                defaults={
                    "name": spec.name,
                    "legal_form": spec.legal_form,
                    "owner": users[spec.owner] if spec.owner else None,
                },
            )
            companies[spec.org_number] = company

        for person in demo.PEOPLE:
            for org_number, role in person.roles.items():
                Membership.objects.get_or_create(
                    user=users[person.personnummer],
                    company=companies[org_number],
                    defaults={
                        "authority": role.authority,
                        "signing_mandate": role.signing_mandate,
                        "is_permission_admin": role.is_permission_admin,
                    },
                )

        for person in demo.PEOPLE:  # each signatory gets a säkerhetsdosa (DEMO.md)
            if any(role.signing_mandate != "none" for role in person.roles.values()):
                issue_demo_token(user=users[person.personnummer])

        for member in demo.STAFF:
            staff, _ = User.objects.get_or_create(
                personnummer=member.personnummer,
                defaults={
                    "first_name": member.first_name,
                    "last_name": member.last_name,
                    "is_staff": True,
                    "password": "!",
                },
            )
            staff.groups.add(Group.objects.get(name=member.group))

        self.stdout.write(f"Demo ready: {len(companies)} companies, {len(users)} people, {len(demo.STAFF)} staff.")
