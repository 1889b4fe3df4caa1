"""Every environment variable the code reads is in the README's configuration table."""

import ast
import re

from harness import BASE_DIR

PACKAGES = ["bevaka", "companies", "agreements", "audit", "signing", "subscriptions", "notifications", "events"]
ENV_METHODS = {"str", "bool", "int", "float", "list", "tuple", "dict", "json", "url", "db", "db_url", "cache", "path"}
# Set, not read, by the code itself: Django's own entry points and the test settings' defaults.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def _is_env(node: ast.AST) -> bool:
    """``env`` or ``environ.Env()`` (django-environ), as in bevaka/settings.py (``_env`` in the settings modules
    that settings.py takes in with ``import *``, so that theirs does not replace its ``env``)."""
    if isinstance(node, ast.Name):
        return node.id in {"env", "_env"}
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Env"


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", "") == "os"


def variables_read(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func, first = node.func, node.args[0].value
            if not isinstance(first, str) or not isinstance(func, ast.Attribute):
                continue
            if (
                (func.attr in ENV_METHODS and _is_env(func.value))
                or (func.attr == "get" and _is_os_environ(func.value))
                or (func.attr == "getenv" and getattr(func.value, "id", "") == "os")
            ):
                names.add(first)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_os_environ(node.value)
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names - NOT_SETTINGS


def modules():
    for package in PACKAGES:
        for path in sorted((BASE_DIR / package).rglob("*.py")):
            if "migrations" not in path.parts and path.name != "settings_test.py":
                yield path
    yield BASE_DIR / "manage.py"
    yield BASE_DIR / "gunicorn.conf.py"  # the web server's settings (WEB_THREADS)


def readme_table() -> set[str]:
    readme = (BASE_DIR / "README.md").read_text()
    section = readme[readme.index("\n## Settings\n") :]
    section = section[: section.index("\n## ", 1)]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_the_parser_finds_every_way_the_code_reads_a_variable():
    source = (
        'import os, environ\nenv = environ.Env()\nA = env.str("A", default="")\n'
        'B = env.bool(\n    "B", default=False\n)\n'
        'C = environ.Env().str("C")\nD = os.environ.get("D")\nE = os.environ["E"]\nF = os.getenv("F")\n'
        'os.environ.setdefault("G", "x")\nos.environ["H"] = "y"\n'
    )
    assert variables_read(source) == {"A", "B", "C", "D", "E", "F"}


def test_every_environment_variable_the_code_reads_is_in_the_readme_table():
    read = {name: path.relative_to(BASE_DIR) for path in modules() for name in variables_read(path.read_text())}
    assert len(read) > 60, read  # the settings read many; finding few would mean the parser broke
    missing = sorted(f"{name} ({path})" for name, path in read.items() if name not in readme_table())
    assert not missing, "add these to README.md's Settings table: " + ", ".join(missing)


def test_the_table_names_no_variable_the_code_does_not_read():
    read = set().union(*(variables_read(path.read_text()) for path in modules()))
    assert sorted(readme_table() - read) == []
