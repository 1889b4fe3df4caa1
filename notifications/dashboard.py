"""The staff dashboard in the admin: alerts per hour by status over the last 7 days, as an inline SVG chart
drawn on the server (no JavaScript, no CDN) and the same figures as a table."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import DeliveryStatus
from .selectors import alerts_per_hour

HOURS = 7 * 24
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Colour-blind-safe (Okabe–Ito), each also named in the legend and the table.
STATUS_COLOURS = {
    DeliveryStatus.DELIVERED: "#009E73",
    DeliveryStatus.SENT: "#56B4E9",
    DeliveryStatus.SENDING: "#0072B2",
    DeliveryStatus.QUEUED: "#E69F00",
    DeliveryStatus.FAILED: "#D55E00",
    DeliveryStatus.CANCELLED: "#7F7F7F",
    DeliveryStatus.HELD: "#F0E442",  # quiet hours (issue 23)
    DeliveryStatus.SUMMARISED: "#CC79A7",
}
CHART = {"width": 840, "height": 220, "left": 44, "bottom": 28, "top": 10}


def _axis_maximum(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 … that is at least ``value``."""
    bound = 1
    while bound < value:
        for factor in (2, 2.5, 2):
            bound = int(bound * factor)
            if bound >= value:
                break
    return bound


def dashboard_context(*, now: datetime.datetime | None = None) -> dict:
    now = now or timezone.now()
    # Hours are counted in UTC and shown in Stockholm time (whole-hour offsets), so a DST change neither
    # repeats nor skips a bar.
    first_hour = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0) - datetime.timedelta(
        hours=HOURS - 1
    )
    counts = alerts_per_hour(since=first_hour)
    statuses = list(STATUS_COLOURS)
    hours = [(first_hour + datetime.timedelta(hours=i)).astimezone(STOCKHOLM) for i in range(HOURS)]
    by_hour = {hour: {status: 0 for status in statuses} for hour in hours}
    for (hour, status), n in counts.items():
        key = hour.astimezone(STOCKHOLM).replace(minute=0, second=0, microsecond=0)
        if key in by_hour and status in by_hour[key]:
            by_hour[key][status] += n

    totals = [sum(by_hour[hour].values()) for hour in hours]
    top = _axis_maximum(max(totals, default=0))
    plot_width = CHART["width"] - CHART["left"]
    plot_height = CHART["height"] - CHART["bottom"] - CHART["top"]
    bar_width = plot_width / HOURS
    baseline = CHART["top"] + plot_height
    bars, day_ticks = [], []
    for index, hour in enumerate(hours):
        x = CHART["left"] + index * bar_width
        y = baseline
        for status in statuses:
            n = by_hour[hour][status]
            if not n:
                continue
            height = n / top * plot_height
            y -= height
            bars.append(
                {
                    "x": round(x, 2),
                    "y": round(y, 2),
                    "width": round(max(bar_width - 0.6, 0.5), 2),
                    "height": round(height, 2),
                    "colour": STATUS_COLOURS[status],
                    "title": f"{hour:%Y-%m-%d %H}:00 {DeliveryStatus(status).label}: {n}",
                }
            )
        if hour.hour == 0:
            day_ticks.append({"x": round(x, 2), "label": f"{hour:%d/%m}"})
    table = [
        {"hour": hour, "counts": [by_hour[hour][status] for status in statuses], "total": total}
        for hour, total in zip(reversed(hours), reversed(totals), strict=True)
        if total
    ]
    return {
        "title": _("Driftöversikt"),
        "chart": CHART,
        "baseline": baseline,
        "plot_right": CHART["width"],
        "bars": bars,
        "day_ticks": day_ticks,
        "y_ticks": [
            {"value": value, "y": round(baseline - value / top * plot_height, 2)} for value in (0, top // 2, top)
        ],
        "legend": [{"label": DeliveryStatus(s).label, "colour": STATUS_COLOURS[s]} for s in statuses],
        "statuses": [DeliveryStatus(s).label for s in statuses],
        "table": table,
        "total": sum(totals),
        "column_totals": [sum(by_hour[hour][status] for hour in hours) for status in statuses],
        "first_hour": hours[0],
        "last_hour": hours[-1],
    }


def dashboard(request):
    """Staff only (wrapped in ``admin.site.admin_view``): the chart and its table."""
    context = {**admin.site.each_context(request), **dashboard_context()}
    return TemplateResponse(request, "admin/bevaka_dashboard.html", context)
