"""The project's own system checks (``manage.py check --deploy``)."""

from pathlib import Path

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


@register(Tags.security, deploy=True)
def check_bankid_signature_roots(app_configs, **kwargs) -> list[Warning]:
    """With BankID's production environment, BANKID_SIGNATURE_ROOTS must name its roots: without them every
    signature is refused (signing/verification.py trusts the mock's root only outside production)."""
    paths = [path for path in settings.BANKID_SIGNATURE_ROOTS if path]
    missing = [path for path in paths if not Path(path).is_file()]
    if missing:
        return [
            Warning(
                f"BANKID_SIGNATURE_ROOTS names files that do not exist: {', '.join(missing)}.",
                hint="Every BankID signature is refused until the roots can be read.",
                id="bevaka.W002",
            )
        ]
    if settings.BANKID_PRODUCTION and not paths:
        return [
            Warning(
                "BANKID_PRODUCTION is on but BANKID_SIGNATURE_ROOTS is empty: every BankID signature is refused.",
                hint="Set BANKID_SIGNATURE_ROOTS to the PEM file(s) of BankID's production signature roots "
                "(README, 'Leaving the mocks').",
                id="bevaka.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_no_test_clock(app_configs, **kwargs) -> list[Warning]:
    """BEVAKA_CLOCK_FILE lets a file decide what time quiet hours and the SMS fallback see (bevaka/clock.py):
    for the browser tests only. In production whoever can write that file could hold or release alerts."""
    if not getattr(settings, "BEVAKA_CLOCK_FILE", ""):
        return []
    return [
        Warning(
            "BEVAKA_CLOCK_FILE is set: quiet hours and the SMS fallback read the time from that file.",
            hint="Unset BEVAKA_CLOCK_FILE outside the tests; the clock is then the system's.",
            id="bevaka.W003",
        )
    ]
