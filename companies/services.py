"""Changes to companies and memberships that carry a rule."""

from django.db import transaction

from .models import CompanyUserObjectPermission, Membership


@transaction.atomic
def remove_membership(*, membership: Membership) -> None:
    """End a user's engagement with a company, and with it every permission they held on the company.

    The access rule already requires a membership, so access ends with this transaction; the object
    permissions go too, so that a later membership starts without old grants.
    """
    CompanyUserObjectPermission.objects.filter(user=membership.user, content_object=membership.company).delete()
    membership.delete()
