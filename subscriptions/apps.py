from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Mina bevakningar")

    def ready(self) -> None:
        from agreements.hooks import AgreementListener, register

        from . import hooks

        # Watches follow the agreement and the permission, inside the agreement service's transaction.
        register(
            AgreementListener(
                case_types_changed=hooks.agreement_case_types_changed,
                ended=hooks.agreement_ended,
                permission_changed=hooks.permission_changed,
            )
        )
