"""Re-verify an agreement version's signing evidence from its stored bytes, or an evidence bundle (zip).

``python manage.py verify_evidence VERSION_ID`` or ``python manage.py verify_evidence BUNDLE.zip``: prints
every check and exits non-zero, naming the failed checks, when any fails (for audits years later). Without an
argument: every signed version, one line each (the restore drill runs it so on the restored copy).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agreements.evidence import version_bundle
from agreements.models import AgreementVersion
from signing.bundle import verify_bundle


class Command(BaseCommand):
    help = "Verify the signing evidence of an agreement version (its id) or of an evidence bundle (a .zip file)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "target", nargs="?", help="an agreement version id, or the path of an evidence bundle zip; none: all"
        )

    def handle(self, *args, target: str | None, **options) -> None:
        if target is None:
            return self._verify_every_signed_version()
        if target.isdigit():
            version = AgreementVersion.objects.select_related("agreement__company").filter(pk=int(target)).first()
            if version is None:
                raise CommandError(f"No agreement version {target}.")
            _, data = version_bundle(version)
        else:
            path = Path(target)
            if not path.is_file():
                raise CommandError(f"No such file: {target}")
            data = path.read_bytes()
        report = verify_bundle(data)
        self.stdout.write(report.as_text())
        if not report.ok:
            raise CommandError("Verification FAILED: " + ", ".join(report.failed))
        self.stdout.write(self.style.SUCCESS("Verification passed."))

    def _verify_every_signed_version(self) -> None:
        versions = AgreementVersion.objects.filter(signatures__isnull=False).distinct().order_by("pk")
        failed = []
        for version in versions.select_related("agreement__company").iterator():
            report = verify_bundle(version_bundle(version)[1])
            self.stdout.write(f"version {version.pk}: " + ("passed" if report.ok else ", ".join(report.failed)))
            if not report.ok:
                failed.append(version.pk)
        if failed:
            raise CommandError(f"Verification FAILED for agreement versions {failed}.")
        self.stdout.write(self.style.SUCCESS("Verification passed for every signed version."))
