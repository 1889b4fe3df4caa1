"""The apps import each other in one direction only: an app may import the apps below it, never one above.

Read from the source (every import statement, also those inside functions, where a circle likes to hide),
so a new upward import fails here before it becomes a circle.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: throttling imports no app (companies' login view counts failures with it). bevaka
# (settings, urls, the Celery app, request helpers) sits outside the order: it wires the apps together, and
# the apps may use its helpers.
LAYERS = ["throttling", "companies", "audit", "signing", "agreements", "notifications", "subscriptions", "events"]


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(LAYERS)


def _modules(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_the_apps_below_it(app):
    above = set(LAYERS[LAYERS.index(app) + 1 :])
    upward = {
        str(path.relative_to(ROOT)): sorted(_imported_apps(path) & above)
        for path in _modules(app)
        if _imported_apps(path) & above
    }
    assert upward == {}


def test_no_module_of_the_apps_is_over_450_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for app in [*LAYERS, "bevaka"]
        for path in _modules(app)
        if (n := len(path.read_text().splitlines())) > 450
    }
    assert long == {}
