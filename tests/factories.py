import datetime

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from agreements.models import Agreement
from companies.identity import luhn_check_digit
from companies.models import Authority, Company, LegalForm, Membership, SigningMandate, User


def _personnummer(n: int) -> str:
    # Made-up people with birth numbers 980–989, as in DEMO.md.
    birth = datetime.date(1980, 1, 1) + datetime.timedelta(days=n // 10)
    serial = f"98{n % 10}"
    return birth.strftime("%Y%m%d") + serial + luhn_check_digit(birth.strftime("%y%m%d") + serial)


def _org_number(n: int) -> str:
    body = f"556{n:06d}"
    return body + luhn_check_digit(body)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["personnummer"]

    personnummer = factory.Sequence(_personnummer)
    first_name = factory.Sequence(lambda n: f"Förnamn{n}")
    last_name = factory.Sequence(lambda n: f"Efternamn{n}")
    password = "!"


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company

    org_number = factory.Sequence(_org_number)
    name = factory.Sequence(lambda n: f"Testbolag {n} AB")
    legal_form = LegalForm.AKTIEBOLAG


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    authority = Authority.UNRESTRICTED
    signing_mandate = SigningMandate.NONE


class AgreementFactory(DjangoModelFactory):
    class Meta:
        model = Agreement

    company = factory.SubFactory(CompanyFactory)
    status = Agreement.Status.ACTIVE
    ended_at = factory.LazyAttribute(lambda o: timezone.now() if o.status == Agreement.Status.ENDED else None)
