"""The bank's staff groups. Staff work through these, never as superusers.

Later migrations add the permissions of later models (deliveries, the audit log) to the same groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = "Support (läsbehörighet)"
OPERATIONS = "Drift"

VIEW = [
    ("companies", "view_user"),
    ("companies", "view_company"),
    ("companies", "view_membership"),
    ("agreements", "view_agreement"),
]
OPERATIONS_EXTRA = [
    ("companies", "change_user"),
    ("companies", "add_company"),
    ("companies", "change_company"),
    ("companies", "add_membership"),
    ("companies", "change_membership"),
    ("companies", "delete_membership"),
]


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    return [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in pairs]


def create_groups(apps, schema_editor):
    # Permissions are normally made after all migrations; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(*_permissions(apps, VIEW))
    operations, _ = Group.objects.get_or_create(name=OPERATIONS)
    operations.permissions.add(*_permissions(apps, VIEW + OPERATIONS_EXTRA))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[SUPPORT, OPERATIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0001_initial"),
        ("agreements", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
