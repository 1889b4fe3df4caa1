"""Ingest a JSON Lines file of events from one source system, as the API would (batch files)."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from events import services
from events.models import SourceSystem

CHUNK = 500


class Progress:
    """A one-line progress bar on stderr (only on a terminal), and nothing in logs."""

    def __init__(self, total: int, stream) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.shown = stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        if self.shown and self.total:
            width = 40
            filled = width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Ingest FILE.jsonl (one event per line, as in POST /api/v1/events) from source system NAME."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="JSON Lines file; '-' reads stdin")
        parser.add_argument("--source", required=True, help="the source system's name")

    def handle(self, *args, file: str, source: str, **options) -> None:
        system = SourceSystem.objects.filter(name=source, is_active=True).first()
        if system is None:
            raise CommandError(f"No active source system named {source!r}.")
        lines = (sys.stdin if file == "-" else open(file, encoding="utf-8")).read().splitlines()  # noqa: SIM115
        numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
        totals = {"accepted": 0, "duplicate": 0, "invalid": 0, "unknown company": 0, "conflict": 0}
        problems: list[str] = []
        progress = Progress(len(numbered), self.stderr._out)
        for start in range(0, len(numbered), CHUNK):
            chunk = numbered[start : start + CHUNK]
            self._ingest(system, chunk, totals, problems)
            progress.advance(len(chunk))
        progress.close()
        for problem in problems[:50]:
            self.stderr.write(problem)
        if len(problems) > 50:
            self.stderr.write(f"… and {len(problems) - 50} more")
        summary = ", ".join(f"{count} {what}" for what, count in totals.items())
        self.stdout.write(f"{len(numbered)} lines: {summary}")
        if problems:
            raise CommandError(f"{len(problems)} lines were not stored.", returncode=1)

    def _ingest(self, system, chunk, totals, problems) -> None:
        valid: list[tuple[int, services.CleanEvent]] = []
        for number, line in chunk:
            try:
                [clean] = services.clean_events([json.loads(line)], batch=False)
            except ValueError:
                totals["invalid"] += 1
                problems.append(f"line {number}: not valid JSON")
            except services.EventValidationError as error:
                totals["invalid"] += 1
                problems.append(f"line {number}: {error}")
            else:
                valid.append((number, clean))
        if not valid:
            return
        try:
            results = services.record_events(source=system, events=[c for _n, c in valid])
        except (services.UnknownCompany, services.EventConflict):
            # Rare: find the culprits one by one, storing the others.
            for number, clean in valid:
                self._one(system, number, clean, totals, problems)
            return
        for result in results:
            totals[result.status] += 1

    def _one(self, system, number, clean, totals, problems) -> None:
        try:
            [result] = services.record_events(source=system, events=[clean])
        except services.UnknownCompany:
            totals["unknown company"] += 1
            problems.append(f"line {number}: no customer with organisationsnummer {clean.org_number}")
        except services.EventConflict:
            totals["conflict"] += 1
            problems.append(f"line {number}: id {clean.source_id!r} was reported before with other content")
        else:
            totals[result.status] += 1
