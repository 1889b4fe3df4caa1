import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bevaka.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Import now what a process's first requests would otherwise import: the URLconf with every view, the
    broker's transport (kombu's Redis transport and redis-py, asyncio client included) and the SMS client of the
    providers' status callbacks. On a busy machine that was seconds of each gunicorn worker's first
    requests (issue 8's profiles). Nothing is connected here: gunicorn may load this before it forks."""
    from django.urls import get_resolver

    from bevaka.celery import app

    get_resolver().url_patterns  # noqa: B018 - imports bevaka.urls and every view
    app.connection_for_write().release()  # resolves (imports) the transport class; lazy, it opens nothing
    import notifications.channels.sms  # noqa: F401


_warm_up()
