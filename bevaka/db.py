"""Database helpers shared by the apps."""

from django.db import connection


def skip_connection_health_check() -> None:
    """No ``SELECT 1`` before this request's first query (CONN_HEALTH_CHECKS).

    For the requests that machines send many of, a single event and a status callback, it was a round trip
    beside the one statement they need, a fifth of the request's time. A connection the database has
    dropped fails that request (503 for an event, 500 for a callback), which the sender retries (the API's
    contract; Twilio retries a callback that got no 2xx), and Django closes that connection when the request
    ends, so the next request connects anew.
    """
    connection.health_check_done = True
