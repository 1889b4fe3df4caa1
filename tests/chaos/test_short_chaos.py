"""The short variant of ``make chaos``: scenarios 1, 3, 7 and 8 with a few hundred deliveries each.

One run of the real harness (``python -m chaos``) in a subprocess: its own private PostgreSQL and Redis,
two Celery workers, beat, the fake Twilio server, the SMTP sink and the web app, all on loopback and all
removed afterwards. Each test reads one scenario's figures from the harness's JSON."""

import json
import subprocess
import sys

import pytest

from harness import BASE_DIR

pytestmark = pytest.mark.slow

SCENARIOS = {1: "1 SIGKILL", 3: "3 Redis", 7: "7 ", 8: "8 access"}


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("chaos") / "short.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos",
            "--only",
            "1,3,7,8",
            "--deliveries",
            "300",
            "--copies",
            "1000",
            "--quiet",
            "--json",
            str(out),
        ],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.exists(), result.stdout[-5000:]
    print(result.stdout[-3000:])
    return {int(s["name"].split()[0]): s for s in json.loads(out.read_text())["scenarios"]}


def _check(scenario: dict) -> None:
    assert scenario["details"]["deliveries"] >= 250, scenario  # a few hundred alerts were at stake
    assert scenario["lost"] == 0, scenario
    assert scenario["delivered"] == scenario["expected"], scenario
    assert scenario["duplicates"] == 0, scenario
    # A provider may have accepted what a killed worker could not record: counted apart, bounded.
    assert scenario["ambiguous_duplicates"] <= scenario["details"]["ambiguous_bound"], scenario
    assert scenario["recovery_s"] is not None, scenario


def test_a_killed_worker_and_then_a_killed_pool_lose_no_alert_and_send_none_twice(chaos_run):
    _check(chaos_run[1])


def test_redis_restarted_without_persistence_under_a_backlog_loses_no_alert(chaos_run):
    _check(chaos_run[3])
    assert chaos_run[3]["details"]["queued_at_restart"] > 0, "the restart came too late to prove anything"


def test_thousands_of_copies_of_one_event_from_parallel_clients_make_one_event_and_one_alert_each(chaos_run):
    scenario = chaos_run[7]
    _check(scenario)
    assert scenario["details"]["events_stored"] == 1
    answers = scenario["details"]["answers"]
    assert (answers["202"], answers["200"]) == (1, 999), answers


def test_nothing_is_sent_whose_access_check_ran_after_the_revocation_or_the_ending_committed(chaos_run):
    scenario = chaos_run[8]
    _check(scenario)
    assert scenario["details"]["sent_after_change_committed"] == 0
    assert scenario["details"]["sent_yet_cancelled"] == 0
    assert scenario["details"]["cancelled_at_send_time"] > 0, "the change came too late to prove anything"
