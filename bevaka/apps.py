from django.apps import AppConfig


class BevakaConfig(AppConfig):
    """The project package as an app, only so that its system checks are registered (bevaka/checks.py)."""

    name = "bevaka"
    verbose_name = "Bevaka ärenden"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the checks
