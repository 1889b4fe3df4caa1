"""Check that the audit log is whole: sequence numbers 1…N with no gap, and N is the last number given."""

from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditEntry, AuditSequence


def _ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] → "3–5, 9"."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}–{n}")
            start = None
    return ", ".join(parts)


class Command(BaseCommand):
    help = "Verify that the append-only audit log has no gaps in its sequence numbers (exit 1 if it has)."

    def handle(self, *args, **options) -> None:
        last_given = AuditSequence.objects.values_list("last", flat=True).filter(pk=1).first() or 0
        missing: list[int] = []
        expected = 1
        count = 0
        for seq in AuditEntry.objects.order_by("seq").values_list("seq", flat=True).iterator(chunk_size=10_000):
            count += 1
            if seq > expected:
                missing.extend(range(expected, seq))
            expected = seq + 1
        if last_given >= expected:
            missing.extend(range(expected, last_given + 1))  # the newest entries are gone
        if expected - 1 > last_given:
            raise CommandError(
                f"The audit log has entries numbered up to {expected - 1}, beyond the last number given "
                f"({last_given}): they were not written by audit.services.record."
            )
        if missing:
            shown = _ranges(missing[:1000]) + (" …" if len(missing) > 1000 else "")
            raise CommandError(
                f"The audit log has gaps: {len(missing)} entries missing (sequence numbers {shown}); "
                f"{count} entries present, the last number given was {last_given}."
            )
        self.stdout.write(f"The audit log is whole: {count} entries, sequence numbers 1–{count} without gaps.")
