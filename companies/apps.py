from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompaniesConfig(AppConfig):
    name = "companies"
    verbose_name = _("Företag och användare")

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from .staff import sync_staff_groups

        # After every app's permissions exist: on the signal of the last app with models (migrate and a
        # test's flush send one per app, and running after each cost a transactional test over a second).
        # Each run sets the groups from the permissions that exist by then, so the last one decides.
        last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
        post_migrate.connect(sync_staff_groups, sender=last, dispatch_uid="companies.sync_staff_groups")
