"""CPU per request of the three busy pages, for working on them (issue 8): the same pages, users and
history as the benchmark's pages scenario, in a scratch database of your own, without the rest of the run.

    python -m bench.pages_profile --database postgres://postgres@127.0.0.1:5432/my_scratch --seed
    python -m bench.pages_profile --database postgres://postgres@127.0.0.1:5432/my_scratch [--profile]

``--seed`` migrates the database (it must exist) and seeds a pages company with bench.seed (2,000 users, 90
days of history, as ``--size full``), then exits; it remembers the company in var/bench/pages_profile.json.
Without it, each page is fetched through Django's test client (force_login, 3 warm-ups, then --requests
timed GETs, as bench.scenarios._page does) and the process CPU time per request is printed with the wall
time and the part spent rendering templates. CPU time stays meaningful while other processes load the
machine; wall time does not. ``--profile`` adds a cProfile listing per page (or pyinstrument's, with
``--pyinstrument``, if it is installed). Nothing here is part of the benchmark's JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STATE = BASE_DIR / "var" / "bench" / "pages_profile.json"
PAGES = ("bevaka", "mina_bevakningar", "behorigheter", "bevaka_signatory", "utskick")


def setup(database: str, redis: str, settings_module: str = "bevaka.settings") -> None:
    """Django, on the scratch database and Redis given (both in-process profilers start here)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=database,
        REDIS_URL=redis,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def _seed(users: int, days: int) -> None:
    from django.core.management import call_command

    from . import seed

    call_command("migrate", "--noinput", verbosity=0)
    system, _secret = seed.source()
    pages = seed.company("Sidbolaget AB")
    seed.recipients(pages, users, channels=("sms",))
    seed.grant_some(pages, 40)
    rows = seed.history(pages, system, days=days, events_per_day=10, per_event=20)
    seed.analyze()
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(
        json.dumps({"company": pages.company.pk, "viewer": pages.users[0].pk, "admin": pages.signer.pk}) + "\n"
    )
    print(f"seeded {users} users and {rows} history deliveries; company {pages.company.pk}", file=sys.stderr)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))], 1)


def _queries(client, url: str, requests: int = 20) -> None:
    """Each statement of the page with its median wall time over ``requests`` GETs, slowest first."""
    from django.db import connection

    times: dict[int, list[float]] = {}
    texts: dict[int, str] = {}

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            position = timed.position
            times.setdefault(position, []).append((time.perf_counter() - started) * 1000)
            texts[position] = " ".join(sql.split())[:160]
            timed.position += 1

    for _ in range(requests):
        timed.position = 0
        with connection.execute_wrapper(timed):
            client.get(url)
    ranked = sorted(times, key=lambda position: -_percentile(times[position], 0.5))
    total = sum(_percentile(values, 0.5) for values in times.values())
    print(f"  {len(times)} statements, {total:.1f} ms (sum of medians)", file=sys.stderr)
    for position in ranked:
        print(f"  {_percentile(times[position], 0.5):6.1f} ms  #{position:<2} {texts[position]}", file=sys.stderr)


def _measure(requests: int, only: set[str], profile: bool, pyinstrument: bool, queries: bool = False) -> dict:
    import django.template.backends.django as template_backend
    from django.test import Client
    from django.urls import reverse

    from companies.models import User

    state = json.loads(STATE.read_text())
    rendering: list[float] = []
    render = template_backend.Template.render

    def timed_render(self, *args, **kwargs):
        started = time.process_time()
        try:
            return render(self, *args, **kwargs)
        finally:
            rendering.append((time.process_time() - started) * 1000)

    template_backend.Template.render = timed_render
    viewer, admin = Client(), Client()
    viewer.force_login(User.objects.get(pk=state["viewer"]))
    admin.force_login(User.objects.get(pk=state["admin"]))
    company = state["company"]
    urls = {
        "bevaka": (viewer, reverse("service", args=[company])),
        "mina_bevakningar": (viewer, reverse("my-watches", args=[company])),
        "behorigheter": (admin, reverse("permissions", args=[company])),
        # Issue 23: the signatory's Bevaka ärenden (with the coverage) and the delivery ledger.
        "bevaka_signatory": (admin, reverse("service", args=[company])),
        "utskick": (admin, reverse("delivery-ledger", args=[company])),
    }
    result = {}
    for name, (client, url) in urls.items():
        if only and name not in only:
            continue
        for _ in range(3):
            if client.get(url).status_code != 200:
                raise RuntimeError(f"{url} did not answer 200")
        cpu, wall = [], []
        rendering.clear()
        for _ in range(requests):
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            client.get(url)
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started_wall) * 1000)
        result[name] = {
            "cpu_ms_p50": _percentile(cpu, 0.5),
            "cpu_ms_p95": _percentile(cpu, 0.95),
            "cpu_ms_min": round(min(cpu), 1),
            "render_cpu_ms_p50": _percentile(rendering, 0.5),
            "wall_ms_p50": _percentile(wall, 0.5),
            "wall_ms_p95": _percentile(wall, 0.95),
        }
        print(f"{name:18} {json.dumps(result[name])}", file=sys.stderr)
        if queries:
            _queries(client, url)
        if profile:
            _profile(client, url, pyinstrument)
    return result


def _profile(client, url: str, pyinstrument: bool) -> None:
    if pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(30):
            client.get(url)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False), file=sys.stderr)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        client.get(url)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(50)
    print(out.getvalue(), file=sys.stderr)


def scratch_parser(description: str) -> argparse.ArgumentParser:
    """The command line both in-process profilers share: a scratch database of your own, and a Redis."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL database of your own (it must exist)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = scratch_parser(__doc__)
    parser.add_argument("--seed", action="store_true", help="migrate, seed a pages company, and exit")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--only", default="", help=f"comma-separated pages of {', '.join(PAGES)}")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--queries", action="store_true", help="each statement's median time, slowest first")
    args = parser.parse_args(argv)
    setup(args.database, args.redis)
    if args.seed:
        _seed(args.users, args.days)
        return 0
    only = set(filter(None, (name.strip() for name in args.only.split(","))))
    result = _measure(args.requests, only, args.profile or args.pyinstrument, args.pyinstrument, args.queries)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
