"""The project's own system checks (``manage.py check --deploy``)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_metrics_protected(app_configs, **kwargs) -> list[Warning]:
    """/metrics and /statusz answer no one in production unless METRICS_TOKEN or METRICS_ALLOWED is set."""
    if settings.DEBUG or settings.METRICS_TOKEN or settings.METRICS_ALLOWED:
        return []
    return [
        Warning(
            "Neither METRICS_TOKEN nor METRICS_ALLOWED is set: /metrics and /statusz refuse every scrape.",
            hint="Set METRICS_TOKEN (Prometheus sends it as a bearer token) or METRICS_ALLOWED (the "
            "Prometheus servers' addresses or CIDRs).",
            id="bevaka.W001",
        )
    ]
