"""gunicorn's settings for the web (gunicorn reads ./gunicorn.conf.py; the command line overrides them).

WEB_THREADS > 1 runs gthread workers with that many threads each. A single event's request mostly waits on
round trips to PostgreSQL and Redis (and on the client's close, which gunicorn waits for). With CPU to spare
threads overlap those waits: the web alone on the benchmark machine (2 workers, 16 clients sending single
events on new connections, no Celery worker) served 88–124 requests/s with sync workers and 234–303 with 4
threads, back to back. With the whole pipeline on the same two cores (`bench.run --only api`, paired runs
under a load of 9–14) the rate did not clearly change (51.7/87.5 sync, 43.9/96.0 gthread) and the p99 was
worse (638/249 ms sync, 1432/597 ms gthread), so the default stays the sync worker (issue 8).
"""

import os
import shutil
import tempfile
from pathlib import Path

threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# Whose X-Forwarded-Proto gunicorn believes (its wsgi.url_scheme, which Django reads without BEHIND_TLS_PROXY):
# exactly the proxies of TRUSTED_PROXIES, never "*" and not gunicorn's default of loopback, so a client that
# reaches the web directly cannot make its request look like HTTPS.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "")

# HTTP metrics in prometheus_client's multiprocess mode (bevaka/http_metrics.py): a folder of this server's
# own, set here, before any worker imports prometheus_client (it reads the variable on import), emptied
# at start (counts of an earlier server would be added to ours) and removed at exit when we made it.
_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bevaka-metrics-")
for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
    _stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _made_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
