"""HTTP requests and their latency, per web instance.

prometheus_client, in its multiprocess mode under gunicorn: gunicorn.conf.py gives every server a fresh
PROMETHEUS_MULTIPROC_DIR before its workers import anything, each worker writes its counts to its own files
there, and a scrape of /metrics reads all of them, so one scrape of an instance covers all its workers. No
network on the request's path (an increment is a write to a memory-mapped file), and nothing here depends on
Redis: the 5xx rate is counted also while Redis is down. Prometheus scrapes every web and webhooks instance
and sums them (``sum by (view) (rate(bevaka_http_requests_total[5m]))``). django-prometheus was not used: it
is this same multiprocess mode underneath, plus database and cache wrappers we do not want on the hot path
(a second database engine), and names we would not choose.

Without PROMETHEUS_MULTIPROC_DIR (``make run``, the test client) the figures are the process's own.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "bevaka_http_requests",
    "HTTP requests answered, by view (the URL pattern's name), method and status code.",
    ["view", "method", "status"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "bevaka_http_request_duration_seconds",
    "Time from a request's arrival in Django to its answer, by view and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # static files, redirects before routing, 404s: no URL pattern matched
# (view, method, status) → its counter and histogram: ``labels()`` cost two thirds of the 29 µs a request's
# counting took in multiprocess mode (7 µs without it). Bounded by the routes × methods × statuses.
_series: dict[tuple[str, str, int], tuple] = {}


def collect_into(registry: CollectorRegistry) -> None:
    """Add this instance's HTTP figures to a scrape: all of gunicorn's workers, or this process's own."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(REGISTRY)


class HttpMetricsMiddleware:
    """Counts every answer (the outermost middleware, so redirects and errors too), then writes the
    cluster-wide counts the request made, if any (``bevaka.metrics.flush``)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        series = _series.get((view, method, response.status_code))
        if series is None:
            series = _series[view, method, response.status_code] = (
                REQUESTS.labels(view, method, str(response.status_code)),
                DURATION.labels(view, method),
            )
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
        from bevaka import metrics

        if metrics.has_pending():
            metrics.flush()
        return response
