"""gunicorn's settings for the web (gunicorn reads ./gunicorn.conf.py; the command line overrides them).

Threads: a request of the API spends most of its time waiting on PostgreSQL and Redis round trips (and on the
client's close, which gunicorn waits for); with one thread per worker those waits were idle time. Measured
on the benchmark machine (2 cores shared, 2 workers, 16 clients sending single events on new connections):
sync 88–124 requests/s, gthread with 4 threads 234–303 (issue 8). WEB_THREADS=1 is the sync worker again.
"""

import os

threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
