"""``python -m chaos`` (``make chaos``): break the real stack on purpose and print what was lost.

Starts a private stack (chaos/stack.py, on the harness), runs the scenarios (chaos/scenarios.py), prints one table and
writes ``var/chaos/latest.json`` as ``{"scenarios": [{"name", "expected", "delivered", "lost",
"duplicates", "ambiguous_duplicates", "recovery_s", "details"}, …]}``. Exits 1 when a target is missed:
lost = 0 everywhere, duplicates = 0 (ambiguous ones at most the sends in flight), nothing sent after a
revocation committed, every backlog emptied.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from harness import BASE_DIR

from .stack import Stack

COLUMNS = ("scenario", "expected", "delivered", "lost", "duplicates", "ambiguous", "recovery")


def table(results) -> str:
    rows = [COLUMNS] + [
        (
            r.name,
            str(r.expected),
            str(r.delivered),
            str(r.lost),
            str(r.duplicates),
            str(r.ambiguous_duplicates),
            "—" if r.recovery_s is None else f"{r.recovery_s:.1f} s",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row) -> str:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "| " + " | ".join(cells) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), separator, *[line(row) for row in rows[1:]]])


def update_doc(path: Path, results, missed: list[str], generated_at: str, deliveries: int) -> None:
    """Put the table between the ``<!-- chaos-table -->`` markers of ``path`` (docs/RELIABILITY.md)."""
    text = path.read_text()
    start, end = "<!-- chaos-table -->", "<!-- /chaos-table -->"
    if start not in text or end not in text:
        return
    verdict = "all targets met" if not missed else "targets missed: " + "; ".join(missed)
    block = (
        f"{start}\n`make chaos` of {generated_at}, {deliveries} deliveries a scenario: {verdict}.\n\n"
        f"{table(results)}\n{end}"
    )
    path.write_text(text[: text.index(start)] + block + text[text.index(end) + len(end) :])


def misses(results) -> list[str]:
    """The targets a run missed, in words."""
    missed = []
    for r in results:
        if r.lost:
            missed.append(f"{r.name}: {r.lost} lost")
        if r.duplicates:
            missed.append(f"{r.name}: {r.duplicates} duplicates")
        if r.ambiguous_duplicates > r.details.get("ambiguous_bound", 0):
            missed.append(f"{r.name}: {r.ambiguous_duplicates} ambiguous duplicates beyond those in doubt")
        if r.recovery_s is None:
            missed.append(f"{r.name}: the backlog never emptied")
        if r.details.get("sent_after_change_committed") or r.details.get("sent_yet_cancelled"):
            missed.append(f"{r.name}: sent after the change committed")
        if r.details.get("events_stored_twice"):
            missed.append(f"{r.name}: an event stored twice")
        if "events_stored" in r.details and r.details["events_stored"] != r.details.get("events_posted", 1):
            missed.append(f"{r.name}: {r.details['events_stored']} events stored")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8", help="scenario numbers, e.g. 1,3,7,8")
    parser.add_argument("--deliveries", type=int, default=1000, help="deliveries per scenario")
    parser.add_argument("--copies", type=int, default=10_000, help="copies of the event in scenario 7")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds PostgreSQL is down in scenario 4")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (≥ 2)")
    parser.add_argument("--json", default=str(BASE_DIR / "var" / "chaos" / "latest.json"), help="where to write")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--doc", default="", help="also put the table into this file (docs/RELIABILITY.md)")
    parser.add_argument("--doc-from", default="", help="only render this JSON's table into --doc; run nothing")
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.only.split(",") if n.strip()]
    if args.doc_from:
        from .scenarios import Result

        saved = json.loads(Path(args.doc_from).read_text())
        results = [Result(**s) for s in saved["scenarios"]]
        update_doc(Path(args.doc), results, misses(results), saved["generated_at"], saved["deliveries_per_scenario"])
        return 0

    with Stack(workers=max(2, args.workers), quiet=args.quiet) as stack:
        import django

        django.setup()
        from .scenarios import SCENARIOS, run

        results = run(stack, numbers, deliveries=args.deliveries, copies=args.copies, outage=args.outage)

    print(table(results))
    missed = misses(results)
    print("targets met" if not missed else "targets MISSED: " + "; ".join(missed))
    generated_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if args.doc and sorted(numbers) == sorted(SCENARIOS) and args.deliveries >= 1000:
        # Only a full run replaces the documented table (a partial one with CHAOS_ARGS does not).
        update_doc(Path(args.doc), results, missed, generated_at, args.deliveries)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "generated_at": generated_at,
                "deliveries_per_scenario": args.deliveries,
                "targets_met": not missed,
                "scenarios": [r.as_json() for r in results],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
