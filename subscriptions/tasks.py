"""Celery tasks of Mina bevakningar: beat's daily lay-out of quiet hours (``preferences``)."""

from celery import shared_task

from . import preferences


@shared_task(name="subscriptions.refresh_quiet_windows", acks_late=True, ignore_result=True)
def refresh_quiet_windows() -> int:
    """Lay every user's quiet periods out ahead again (the horizon moves a day a day). Returns how many."""
    return preferences.refresh_quiet_windows()
