from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgreementsConfig(AppConfig):
    name = "agreements"
    verbose_name = _("Avtal")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .case_types import sync_case_types

        post_migrate.connect(sync_case_types, sender=self, dispatch_uid="agreements.sync_case_types")
