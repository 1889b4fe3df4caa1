"""The bank's staff groups and what each may do in the admin. Staff work through these, never as superusers.

The groups are synchronised after every ``migrate`` (a post_migrate handler), so that a model added by a
later release gets its permissions in the same place, one list, and a test database flushed between
tests gets them back.
"""

from django.contrib.auth.models import Group, Permission

SUPPORT_GROUP = "Support (läsbehörighet)"
OPERATIONS_GROUP = "Drift"

_VIEW = [
    "companies.view_user",
    "companies.view_company",
    "companies.view_membership",
    "agreements.view_agreement",
    "agreements.view_agreementversion",
    "agreements.view_pendingagreementchange",
    "agreements.view_casetype",
    "audit.view_auditentry",
    "signing.view_securitytoken",
    "signing.view_signatureorder",
    "signing.view_signatureevidence",
    "notifications.view_delivery",
    "notifications.view_suspendeddestination",
    "events.view_event",
    "events.view_sourcesystem",
    "events.view_sourcekey",
    # Issue 18: support answers "why didn't I get it?" by seeing what the customer watches and where.
    "subscriptions.view_watch",
    "subscriptions.view_verifiedcontact",
]

STAFF_GROUPS: dict[str, list[str]] = {
    SUPPORT_GROUP: _VIEW,
    OPERATIONS_GROUP: [
        *_VIEW,
        "companies.change_user",
        "companies.add_company",
        "companies.change_company",
        "companies.add_membership",
        "companies.change_membership",
        "companies.delete_membership",
        "agreements.end_agreement_back_office",
        "signing.unlock_securitytoken",
        "agreements.change_casetype",
        "notifications.retry_delivery",
        "notifications.delete_suspendeddestination",
        "events.add_sourcesystem",
        "events.change_sourcesystem",
        "events.add_sourcekey",
        "events.change_sourcekey",
    ],
}


def sync_staff_groups(**kwargs) -> None:
    """Create the staff groups and give each exactly its listed permissions (those that exist yet)."""
    for name, perms in STAFF_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
