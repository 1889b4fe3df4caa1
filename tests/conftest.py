import os

import pytest

from tests.harness import RunningProcess, start_process


@pytest.fixture
def project_process():
    """Start project processes with tests.harness.start_process; every one is stopped after the test."""
    started: list[RunningProcess] = []

    def start(*args, **kwargs) -> RunningProcess:
        process = start_process(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    """The environment of `make run`: DEBUG on, SQLite and the filesystem broker in a private folder."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(
        DJANGO_SETTINGS_MODULE="bevaka.settings",
        DEBUG="true",
        BEVAKA_VAR_DIR=str(tmp_path / "var"),
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
    )
    for key in ("ALLOWED_HOSTS",):
        env.pop(key, None)
    return env


@pytest.fixture
def demo(db):
    """The demo world of DEMO.md, as seed_demo builds it: people by first name, companies by short name."""
    from django.core.management import call_command

    from companies import demo as demo_world
    from companies.models import Company, User

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    people = {p.first_name.lower(): User.objects.get(personnummer=p.personnummer) for p in demo_world.PEOPLE}
    people["exempelbolaget"] = Company.objects.get(org_number=demo_world.EXEMPELBOLAGET)
    people["svenssons"] = Company.objects.get(org_number=demo_world.SVENSSONS_BYGG)
    return type("Demo", (), people)
