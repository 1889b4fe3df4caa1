"""The shipped alert rules and dashboard: promtool accepts the rules and their unit tests pass, and every
metric a rule or a panel names is one the app exports."""

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness import BASE_DIR

RULES = BASE_DIR / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = BASE_DIR / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = BASE_DIR / "deploy" / "grafana" / "bevaka-arenden.json"
# PromQL's own words, which look like metric names to the pattern below.
PROMQL = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "delta", "deriv", "by", "without", "and", "or",
    "unless", "on", "ignoring", "time", "absent", "histogram_quantile", "le", "bool", "offset",
}  # fmt: skip
SUFFIXES = ("_bucket", "_count", "_sum")


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("promtool"), "promtool is missing: `make test` installs it (scripts/ensure-promtool.sh)"
    return subprocess.run(
        ["promtool", *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_unit_tests_pass_on_synthetic_series():
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    }
    assert len(tested) >= 3, tested


def test_a_broken_rule_unit_test_fails(tmp_path):
    """The unit tests can fail: the same tests with a threshold moved make promtool say so."""
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("> 0.01", "> 0.5"))
    result = subprocess.run(
        ["promtool", "test", "rules", RULE_TESTS.name], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "BevakaHttp5xxRate" in result.stdout + result.stderr


def _names(expression: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expression)
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_strings)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", without_labels))
    return {word for word in words if word not in PROMQL and not word.isdigit() and "_" in word}


def names_used() -> dict[str, set[str]]:
    used = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            used[f"rule {rule['alert']}"] = _names(rule["expr"])
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        used[f"panel {panel['title']}"] = {name for target in panel["targets"] for name in _names(target["expr"])}
    return used


def exported(client) -> set[str]:
    """Every sample name /metrics can export (families without samples yet count by their name)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.content.decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in SUFFIXES)
    return names


@pytest.mark.django_db
def test_every_metric_a_rule_or_a_panel_names_is_exported(client, settings):
    from notifications.liveness import record_task_consumed

    settings.METRICS_ALLOWED = ["127.0.0.1"]
    record_task_consumed()
    client.get("/livez")  # the HTTP series exist once a request was answered
    available = exported(client)
    missing = {where: sorted(names - available) for where, names in names_used().items() if names - available}
    assert missing == {}
    assert sum(len(names) for names in names_used().values()) > 20  # the pattern found the names at all


def test_the_name_pattern_finds_metric_names_and_not_promql():
    expression = 'sum by (le, channel) (rate(bevaka_x_bucket{status=~"5.."}[5m])) / time() - max(bevaka_y_total)'
    assert _names(expression) == {"bevaka_x_bucket", "bevaka_y_total"}
