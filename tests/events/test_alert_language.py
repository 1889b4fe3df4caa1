"""Issue 18, defect 2: an alert is written in the user's *Språk för aviseringar*, whatever language the
screen shows (the header's *Språk*, kept in the cookie and in ``User.language``)."""

import pytest

from events import fanout
from notifications.models import Delivery

from .conftest import event
from .test_fanout import record

pytestmark = pytest.mark.django_db


def test_the_alert_follows_the_alert_language_not_the_screen_language(world, source):
    world.anna.language, world.anna.alert_language = "en", "sv"  # reads the pages in English
    world.anna.save(update_fields=["language", "alert_language"])
    world.david.language, world.david.alert_language = "sv", "en"  # wants his alerts in English
    world.david.save(update_fields=["language", "alert_language"])

    [row] = record(source, event("lang-1"))
    fanout.fan_out(event_id=row.pk)

    assert Delivery.objects.get(event=row, user=world.anna, channel="sms").body.startswith(
        "Bevaka ärenden: Inkommen e-faktura"
    )
    david = Delivery.objects.get(event=row, user=world.david, channel="email")
    assert david.subject == "E-invoice received" and "Log in to the internet bank" in david.body
