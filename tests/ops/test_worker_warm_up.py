"""A worker process builds the URL resolver's reverse map in every language before its first task."""

from django.conf import settings
from django.urls import clear_url_caches, get_resolver, reverse
from django.utils import translation

from bevaka.celery import warm_up_worker_process


def test_a_new_worker_process_has_the_reverse_map_of_every_language_before_its_first_task():
    clear_url_caches()
    resolver = get_resolver()
    assert not resolver._reverse_dict  # a fresh resolver: nothing built yet
    warm_up_worker_process()
    assert set(resolver._reverse_dict) == {code for code, _ in settings.LANGUAGES}
    with translation.override("en"):
        assert reverse("twilio-status-callback", kwargs={"delivery_id": 7}) == "/webhooks/twilio/status/7"


def test_it_is_connected_to_celerys_worker_process_init():
    from celery.signals import worker_process_init

    assert any(receiver() is warm_up_worker_process for _key, receiver in worker_process_init.receivers)
