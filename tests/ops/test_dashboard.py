"""The staff dashboard in the admin: alerts per hour by status for 7 days, an SVG chart and a table."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone, translation

from companies.staff import SUPPORT_GROUP
from notifications.dashboard import dashboard_context
from notifications.models import Delivery, DeliveryStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client.force_login(user)
    return user


def alerts(n: int, *, status=DeliveryStatus.DELIVERED, age=datetime.timedelta(hours=1), purpose="alert"):
    created = timezone.now() - age
    Delivery.objects.bulk_create(
        Delivery(
            channel="sms", destination="+46701234567", purpose=purpose, body="x", status=status, created_at=created
        )
        for _ in range(n)
    )


def test_staff_see_the_chart_and_the_table_from_the_admin_index(client, support):
    alerts(3)
    alerts(2, status=DeliveryStatus.FAILED)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin-dashboard") in index
    page = client.get(reverse("admin-dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    html = html[html.index('<div id="content-main">') : html.index("<!-- END Content -->")]
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in html and "<script" not in html
    assert len(re.findall(r"<rect x=", html)) == 2  # one bar of two stacked statuses
    assert "Levererad" in html and "Misslyckades" in html
    table = html[html.index('<table id="alerts-per-hour"') :]
    assert re.search(r"<tfoot><tr><th scope=\"row\">Totalt</th>(?:<td>\d+</td>)+<td>5</td>", table)


def test_the_chart_coordinates_are_numbers_in_every_language(client, support):
    """Swedish formats 12.5 as "12,5"; SVG would then draw nothing."""
    alerts(3, age=datetime.timedelta(hours=5))
    for language in ("sv", "en"):
        html = client.get(reverse("admin-dashboard"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        start = html.index('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
        chart = html[html.index(">", start) : html.index("</svg>", start)]
        coordinates = re.findall(r' (?:x|y|width|height|x1|x2|y1|y2)="([^"]*)"', chart)
        assert coordinates and all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in coordinates), coordinates


def test_it_counts_alerts_per_hour_and_status_for_seven_days_only(support):
    alerts(4, age=datetime.timedelta(hours=2))
    alerts(1, status=DeliveryStatus.QUEUED, age=datetime.timedelta(hours=2))
    alerts(7, age=datetime.timedelta(days=8))  # too old
    alerts(5, purpose="verification")  # not an alert
    with translation.override("sv"):  # an earlier request of the test client may have left English active
        context = dashboard_context()
        statuses = [str(s) for s in context["statuses"]]
    assert context["total"] == 5
    assert len(context["table"]) == 1
    row = context["table"][0]
    assert row["counts"][statuses.index("Levererad")] == 4
    assert row["counts"][statuses.index("I kö")] == 1
    assert context["first_hour"] < timezone.now() - datetime.timedelta(days=6, hours=22)


def test_its_query_count_does_not_grow_with_the_deliveries(client, support, django_assert_num_queries):
    alerts(1)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(reverse("admin-dashboard"))  # the session as a second visit finds it (its activity recorded)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin-dashboard"))
    for hours in range(0, 160, 7):
        alerts(
            5, age=datetime.timedelta(hours=hours), status=DeliveryStatus.FAILED if hours % 2 else DeliveryStatus.SENT
        )
    with django_assert_num_queries(len(few)):
        page = client.get(reverse("admin-dashboard"))
    assert page.context["total"] == 1 + 5 * len(range(0, 160, 7))
    delivery_queries = [q for q in few.captured_queries if "notifications_delivery" in q["sql"]]
    assert len(delivery_queries) == 1


def test_people_who_are_not_staff_are_sent_to_the_admin_login(client):
    client.force_login(UserFactory(is_staff=False))
    response = client.get(reverse("admin-dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
