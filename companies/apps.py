from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompaniesConfig(AppConfig):
    name = "companies"
    verbose_name = _("Företag och användare")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .staff import sync_staff_groups

        # After every app's permissions exist: connect without sender, so it runs for the last app too.
        post_migrate.connect(sync_staff_groups, dispatch_uid="companies.sync_staff_groups")
