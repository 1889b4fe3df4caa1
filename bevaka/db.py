"""Database helpers shared by the apps."""

from django.db import connection


def skip_connection_health_check() -> None:
    """No ``SELECT 1`` before this request's first query (CONN_HEALTH_CHECKS).

    For the requests that machines send many of, a single event and a status callback, it is a round trip
    beside the one statement they need (a fifth of a single event's time; a tenth of a callback's CPU). A
    connection the database has dropped then fails that one request, and Django closes that connection when
    the request ends, so the next request connects anew: an event's source retries with the same ids (503,
    the API's contract); a callback answered 500 is lost as one that meets a database outage is (the
    delivery keeps its earlier status; an ambiguous send whose callback is lost gets the bounded resend of
    the relay, as one whose callback never came).
    """
    connection.health_check_done = True
