from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.retention import anonymise_old_records


class Command(BaseCommand):
    help = (
        "Anonymise deliveries and events older than RETENTION_DAYS (or --days): destinations, texts, "
        "references, provider ids and errors. Audit entries are kept. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help=f"default: RETENTION_DAYS ({settings.RETENTION_DAYS})"
        )

    def handle(self, *args, days=None, **options):
        try:
            result = anonymise_old_records(older_than_days=days)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"anonymised {result.deliveries} deliveries and {result.events} events "
            f"from before {result.cutoff:%Y-%m-%d %H:%M %Z}"
        )
