"""Every secret setting also comes from a file, NAME_FILE (Docker's and Kubernetes' secrets)."""

import json
import os

from harness import MANAGE, run_command

SECRETS = {
    "SECRET_KEY": "a-secret-key-from-a-file-" + "x" * 40,
    "TWILIO_AUTH_TOKEN": "twilio-token-from-a-file",
    "EMAIL_HOST_PASSWORD": "smtp-password-from-a-file",
    "SIGNING_TOKEN_KEY": "c2lnbmluZy10b2tlbi1rZXktZnJvbS1hLWZpbGUtMzI=",
    "METRICS_TOKEN": "metrics-token-from-a-file",
    "DATABASE_PASSWORD": "postgres-password-from-a-file",
}
READ = (
    "import json; from django.conf import settings as s; print('SETTINGS=' + json.dumps({"
    "'SECRET_KEY': s.SECRET_KEY, 'TWILIO_AUTH_TOKEN': s.TWILIO_AUTH_TOKEN, "
    "'EMAIL_HOST_PASSWORD': s.EMAIL_HOST_PASSWORD, 'SIGNING_TOKEN_KEY': s.SIGNING_TOKEN_KEY, "
    "'METRICS_TOKEN': s.METRICS_TOKEN, 'DATABASE_PASSWORD': s.DATABASES['default']['PASSWORD'], "
    "'REDIS_URL': s.REDIS_URL}))"
)


def settings_with(env_changes: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bevaka.settings", "DEBUG": "false", **env_changes}
    result = run_command([*MANAGE, "shell", "-c", READ], env=env)
    assert result.returncode == 0, result.stdout[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("SETTINGS="))
    return json.loads(line.removeprefix("SETTINGS="))


def test_each_secret_is_read_from_its_file_without_the_files_last_newline(tmp_path):
    files = {}
    for name, value in {**SECRETS, "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")  # as `echo value > file` writes it
        files[f"{name}_FILE"] = str(path)
    plain = {name: "the-plain-value-loses" for name in SECRETS}
    values = settings_with({**plain, **files})
    assert values == {**SECRETS, "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}


def test_without_a_file_the_plain_variable_still_works():
    assert settings_with({"METRICS_TOKEN": "plain-token"})["METRICS_TOKEN"] == "plain-token"


def test_a_secret_file_that_is_missing_stops_the_start(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bevaka.settings", "SECRET_KEY_FILE": str(tmp_path / "none")}
    result = run_command([*MANAGE, "check"], env=env)
    assert result.returncode != 0
    assert "No such file or directory" in result.stdout
