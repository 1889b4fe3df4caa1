"""make restore-drill: prove that a backup of the database can be restored and is whole (docs/OPERATIONS.md).

1. ``pg_dump -Fc`` of DATABASE_URL's database (a consistent snapshot, taken while the app runs);
2. ``pg_restore`` into a fresh database of its own on the same server (``<name>_restore_drill_<pid>``);
3. on the copy: each check command of RESTORE_DRILL_CHECKS (``verify_audit_log``: the audit log has no
   gap; ``verify_evidence``: every signed version's evidence, verified from its stored bytes) and, always,
   that every signed agreement version still hashes to what its signatories signed;
4. drops the copy and the dump, also after a failure; prints how long each step took (the restore time is
   the part of the recovery time a bank can measure here).

Exit 0 when every check passed. A check command that this installation does not have is reported and
skipped; ``--require`` names ones that must exist.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from harness import ScratchDatabase  # noqa: E402

MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
# The signed content of every agreement version and of every signature's evidence hashes to what was signed.
SIGNED_CONTENT_CHECK = """
from agreements.models import AgreementSignature, AgreementVersion
from signing.services import content_hash
bad = [v.pk for v in AgreementVersion.objects.iterator() if content_hash(v.content) != v.content_sha256]
bad += [s.version_id for s in AgreementSignature.objects.select_related("evidence", "version").iterator()
        if s.evidence.content_sha256 != s.version.content_sha256]
versions, signatures = AgreementVersion.objects.count(), AgreementSignature.objects.count()
if bad:
    raise SystemExit(f"signed content does not match its hash in agreement versions {sorted(set(bad))}")
print(f"signed content whole: {versions} agreement versions, {signatures} signatures")
"""


def run(args: list[str], *, env: dict[str, str] | None = None, what: str, quiet: bool = False) -> str:
    started = time.monotonic()
    result = subprocess.run(args, env=env, cwd=BASE_DIR, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise SystemExit(f"restore-drill: {what} failed (exit {result.returncode}):\n{output}")
    if quiet:
        return output
    print(f"restore-drill: {what}: ok in {time.monotonic() - started:.1f}s")
    for line in output.splitlines()[-5:]:
        print(f"    {line}")
    return output


def available_commands(env: dict[str, str]) -> set[str]:
    script = "from django.core.management import get_commands; print(' '.join(get_commands()))"
    return set(run([*MANAGE, "shell", "--no-imports", "-c", script], env=env, what="listing", quiet=True).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checks",
        default=os.environ.get("RESTORE_DRILL_CHECKS", "verify_audit_log verify_evidence"),
        help="manage.py commands to run on the restored copy (space-separated)",
    )
    parser.add_argument(
        "--require", default="verify_audit_log verify_evidence", help="of those, the ones that must exist"
    )
    options = parser.parse_args()
    source = os.environ.get("DATABASE_URL", "")
    if not source.startswith(("postgres://", "postgresql://")):
        raise SystemExit("restore-drill: DATABASE_URL must name the PostgreSQL database to back up")
    password_file = os.environ.get("DATABASE_PASSWORD_FILE")
    password = Path(password_file).read_text().rstrip("\n") if password_file else os.environ.get("DATABASE_PASSWORD")
    if password:  # libpq's (pg_dump, pg_restore, psycopg) way to take the password kept apart from the URL
        os.environ["PGPASSWORD"] = password
    parts = urlsplit(source)
    copy = ScratchDatabase(
        urlunsplit((parts.scheme, parts.netloc, "", "", "")), f"{parts.path.lstrip('/')}_restore_drill_{os.getpid()}"
    )
    with tempfile.TemporaryDirectory(prefix="bevaka-restore-drill-") as folder:
        dump = Path(folder) / "bevaka.dump"
        run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), "--dbname", source], what="pg_dump -Fc")
        print(f"restore-drill: the dump is {dump.stat().st_size / 1e6:.1f} MB")
        copy.create()
        try:
            run(
                ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", copy.url, str(dump)],
                what=f"pg_restore into {copy.name}",
            )
            env = {**os.environ, "DATABASE_URL": copy.url, "DJANGO_SETTINGS_MODULE": "bevaka.settings"}
            installed = available_commands(env)
            for name in options.checks.split():
                if name in installed:
                    run([*MANAGE, name], env=env, what=f"{name} on the copy")
                elif name in options.require.split():
                    raise SystemExit(f"restore-drill: the check {name} does not exist in this installation")
                else:
                    print(f"restore-drill: {name} is not installed here; skipped (RESTORE_DRILL_CHECKS)")
            run(
                [*MANAGE, "shell", "--no-imports", "-c", SIGNED_CONTENT_CHECK],
                env=env,
                what="signed content on the copy",
            )
        finally:
            copy.drop()
            print(f"restore-drill: dropped {copy.name}")
    print("restore-drill: passed")


if __name__ == "__main__":
    main()
