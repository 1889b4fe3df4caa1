"""The lock files (requirements/base.txt for production, requirements/dev.txt for development and tests) agree
with pyproject.toml, carry a hash for every pin, and production installs no development tool."""

import os
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness import BASE_DIR

PYPROJECT = BASE_DIR / "pyproject.toml"
BASE = BASE_DIR / "requirements" / "base.txt"
DEV = BASE_DIR / "requirements" / "dev.txt"
TOP_LEVEL = "bevaka (pyproject.toml)"  # how uv's "# via" comments name a requirement of ours
DEVELOPMENT_ONLY = {"honcho", "aiosmtpd", "pytest", "ruff", "uv", "playwright", "py-spy", "factory-boy"}


def requirements(*, extras: bool) -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    if extras:
        found += [Requirement(line) for lines in project["optional-dependencies"].values() for line in lines]
    return found


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, set[str]], dict[str, int]]:
    """(name → pinned version, name → what it is there for, name → number of hashes), from uv's output."""
    pins: dict[str, str] = {}
    via: dict[str, set[str]] = {}
    hashes: dict[str, int] = {}
    current = None
    for line in text.splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            pins[current], via[current], hashes[current] = pin.group(2), set(), 0
        elif current and "--hash=sha256:" in line:
            hashes[current] += 1
        elif current and (reason := re.match(r"^\s+#\s+(?:via\s+)?(\S.*)$", line)) and reason.group(1) != "via":
            via[current].add(reason.group(1).strip())
    return pins, via, hashes


def disagreements(wanted: list[Requirement], lock_text: str) -> list[str]:
    """What is wrong between these requirements and a lock file, in words; empty when they agree."""
    pins, via, _hashes = parse_lock(lock_text)
    problems = []
    names = set()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        names.add(name)
        if name not in pins:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement} is not satisfied by the lock's {name}=={pins[name]}")
    extra = sorted(name for name, reasons in via.items() if TOP_LEVEL in reasons and name not in names)
    problems += [f"{name} is a top-level requirement of the lock but not of pyproject.toml" for name in extra]
    return problems


@pytest.mark.parametrize(("lock", "extras"), [(BASE, False), (DEV, True)], ids=["base", "dev"])
def test_the_lock_pins_exactly_what_pyproject_requires(lock, extras):
    assert disagreements(requirements(extras=extras), lock.read_text()) == []


def test_a_requirement_added_to_pyproject_without_renewing_the_lock_is_caught():
    wanted = [*requirements(extras=False), Requirement("signxml>=4")]
    assert disagreements(wanted, BASE.read_text()) == ["signxml>=4 is not in the lock"]
    narrowed = [Requirement("Django>=99") if r.name == "Django" else r for r in requirements(extras=False)]
    assert any("Django>=99 is not satisfied" in problem for problem in disagreements(narrowed, BASE.read_text()))
    dropped = [r for r in requirements(extras=False) if r.name != "segno"]
    assert disagreements(dropped, BASE.read_text()) == [
        "segno is a top-level requirement of the lock but not of pyproject.toml"
    ]


def test_every_pin_has_a_hash_and_development_pins_the_same_versions_as_production():
    base_pins, _, base_hashes = parse_lock(BASE.read_text())
    dev_pins, _, dev_hashes = parse_lock(DEV.read_text())
    assert [name for name, count in {**base_hashes, **dev_hashes}.items() if count == 0] == []
    assert {
        name: (version, dev_pins.get(name)) for name, version in base_pins.items() if dev_pins.get(name) != version
    } == {}


def test_production_installs_no_development_tool():
    base_pins, _, _ = parse_lock(BASE.read_text())
    assert DEVELOPMENT_ONLY & set(base_pins) == set()
    runtime = {canonicalize_name(r.name) for r in requirements(extras=False)}
    assert DEVELOPMENT_ONLY & runtime == set()


def test_the_fakes_docker_compose_runs_start_without_the_development_tools():
    """compose runs fake_twilio and mock_bankid from the production image: no development module may be needed."""
    blocked = sorted(name.replace("-", "_") for name in DEVELOPMENT_ONLY)
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import django; django.setup()\n"
        "import notifications.management.commands.fake_twilio, signing.management.commands.mock_bankid\n"
        "import bevaka.wsgi, bevaka.celery\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=os.environ.copy(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_make_install_installs_the_locks_with_hashes_and_reinstalls_when_they_change():
    makefile = (BASE_DIR / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(LOCKS\)$", makefile, re.MULTILINE)
    assert "--require-hashes -r requirements/dev.txt" in makefile
    assert "--no-deps -e ." in makefile


def test_the_image_installs_the_production_lock_with_hashes_on_a_pinned_base_as_a_user_of_its_own():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_BASE=(\S+)$", dockerfile, re.MULTILINE)
    assert base, "the base image is named once, in ARG PYTHON_BASE"
    # An exact release (3.11.N), and a digest when one was pinned (scripts/pin-base-image.sh).
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base.group(1))
    assert "--require-hashes -r requirements/base.txt" in dockerfile
    assert "requirements/dev.txt" not in dockerfile and "[dev]" not in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_the_secrets_folder_stays_out_of_the_image_and_the_repository():
    ignored = (BASE_DIR / ".dockerignore").read_text().splitlines()
    assert "secrets" in ignored
    assert "/secrets/" in (BASE_DIR / ".gitignore").read_text().splitlines()
