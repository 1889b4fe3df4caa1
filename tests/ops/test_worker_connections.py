"""A worker keeps its PostgreSQL connection between tasks (as the web between requests); Celery's Django
fixup alone opened a new backend for every task, most of PostgreSQL's CPU per alert in `make bench`."""

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from bevaka.celery import app
from notifications.tasks import send_batch

pytestmark = pytest.mark.django_db(transaction=True)


def run_task_signals(fixup: DjangoWorkerFixup) -> None:
    """What a worker does around a task: the fixup's hooks and the task signals."""
    fixup.on_task_prerun(sender=send_batch)
    task_prerun.send(sender=send_batch, task_id="t", task=send_batch, args=(), kwargs={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    task_postrun.send(sender=send_batch, task_id="t", task=send_batch, args=(), kwargs={}, retval=None, state="SUCCESS")
    fixup.on_task_postrun(sender=send_batch)


def test_the_connection_lives_on_between_tasks():
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max == 1000
    connection.ensure_connection()
    first = connection.connection
    for _ in range(3):
        run_task_signals(fixup)
    assert connection.connection is first


def test_without_the_reuse_setting_celery_would_close_it_every_task():
    fixup = DjangoWorkerFixup(app)
    fixup.db_reuse_max = None
    connection.ensure_connection()
    first = connection.connection
    run_task_signals(fixup)
    assert connection.connection is not first


def test_a_broken_connection_is_replaced_before_the_next_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    broken = connection.connection
    broken.close()  # as a restart of PostgreSQL would leave it
    connection.errors_occurred = True
    run_task_signals(fixup)
    assert connection.connection is not broken and not connection.connection.closed
