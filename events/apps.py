from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Ärendehändelser")

    def ready(self) -> None:
        from agreements import coverage
        from agreements.models import CaseType
        from notifications import purposes
        from notifications.models import Purpose

        from .coverage import count_coverage
        from .fanout import alert_stop_reasons, observe_alerts_sent
        from .models import SourceKey, SourceSystem
        from .services import forget_cached_sources

        # An alert is checked again just before it is sent (PRODUCT.md rule 6), and its event → provider
        # latency observed once sent: the sending engine knows nothing of events and asks its purposes.
        purposes.register(Purpose.ALERT, stop_reasons=alert_stop_reasons, on_sent=observe_alerts_sent)
        # Bevaka ärenden and Administrera behörigheter show who would get each case type: the same rule.
        coverage.register(count_coverage)

        # A change saved in this process is seen by its next request (other processes: within
        # EVENTS_SOURCE_CACHE_SECONDS). Queryset updates send no signal: deactivate_source_key clears it itself.
        for model in (SourceSystem, SourceKey, CaseType):
            post_save.connect(forget_cached_sources, sender=model, dispatch_uid=f"events-forget-{model.__name__}")
            post_delete.connect(forget_cached_sources, sender=model, dispatch_uid=f"events-forget-{model.__name__}-del")
