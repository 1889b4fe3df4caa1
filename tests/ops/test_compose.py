"""docker-compose.yml validates with Debian's docker-compose (no engine runs here, so nothing starts it)."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import yaml

from harness import BASE_DIR

REQUIRED = {"SECRET_KEY": "dummy-secret", "POSTGRES_PASSWORD": "dummy-password", "TWILIO_AUTH_TOKEN": "dummy-token"}

SENDERS = {"send-codes": "codes", "send-sms": "sms", "send-email": "email"}


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    assert shutil.which("docker-compose"), (
        "docker-compose is missing: `make test` installs it (scripts/ensure-docker-compose.sh)"
    )
    base = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    return subprocess.run(
        ["docker-compose", "-f", str(BASE_DIR / "docker-compose.yml"), *args],
        env={**base, **(env if env is not None else REQUIRED)},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def resolved() -> dict:
    result = compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_validates_with_the_required_variables_set():
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_secrets_come_from_files_made_by_make_secrets_never_from_plain_environment_values(tmp_path):
    folder = tmp_path / "secrets"
    made = subprocess.run(
        ["bash", str(BASE_DIR / "scripts" / "make-secrets.sh")],
        env={**os.environ, "BEVAKA_SECRETS": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    result = compose("config", env={"BEVAKA_SECRETS": str(folder)})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    for name, secret in config["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == folder and path.exists(), name
        assert path.stat().st_size > 1 or name == "email_host_password", name  # mailpit needs no password
    for name in ("web", "webhooks", "worker", *SENDERS, "beat", "migrate", "twilio"):
        environment = config["services"][name]["environment"]
        plain = {"SECRET_KEY", "TWILIO_AUTH_TOKEN", "METRICS_TOKEN", "SIGNING_TOKEN_KEY", "EMAIL_HOST_PASSWORD"}
        assert plain & set(environment) == set(), name
        assert "@" not in environment["DATABASE_URL"].replace("bevaka@postgres", ""), name  # no password in it
        for key, value in environment.items():
            if key.endswith("_FILE"):
                secret = Path(value).name
                assert value == f"/run/secrets/{secret}" and secret in _secret_names(config["services"][name]), (
                    name,
                    key,
                )
    postgres = config["services"]["postgres"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    # Run again, the files stay as they are.
    before = {path.name: path.read_text() for path in folder.iterdir()}
    subprocess.run(
        ["bash", str(BASE_DIR / "scripts" / "make-secrets.sh")],
        env={**os.environ, "BEVAKA_SECRETS": str(folder)},
        check=True,
        capture_output=True,
    )
    assert {path.name: path.read_text() for path in folder.iterdir()} == before


def _secret_names(service: dict) -> set[str]:
    return {entry["source"] if isinstance(entry, dict) else entry for entry in service.get("secrets", [])}


def test_it_has_every_part_of_the_deployment_each_with_a_healthcheck():
    services = resolved()["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "bankid", "twilio", "mailpit"} <= set(services)
    for name, service in services.items():
        if name != "migrate":  # a one-shot job, which the others wait for
            assert "test" in service.get("healthcheck", {}), name


def test_the_worker_can_be_scaled_it_has_no_container_name_and_no_host_port():
    worker = resolved()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"][-1].startswith("exec celery -A bevaka worker")


def test_a_worker_per_lane_together_consume_every_queue_with_the_lanes_processes():
    # Fan-outs must not wait behind sends that hold a process while the provider answers, a code not behind
    # a burst of alerts, SMS not behind a stalled SMTP server (PERFORMANCE.md, ARCHITECTURE.md "Queues").
    from django.conf import settings

    from notifications.lanes import LANES

    services = resolved()["services"]
    consumed, processes = {}, {}
    for name in ("worker", *SENDERS):
        command = services[name]["command"][-1].split()
        consumed[name] = command[command.index("--queues") + 1]
        processes[consumed[name]] = int(services[name]["environment"]["WORKER_CONCURRENCY"])
        assert "container_name" not in services[name] and "ports" not in services[name]
    assert consumed == {"worker": "celery", **SENDERS}
    assert set(consumed.values()) == {queue.name for queue in settings.CELERY_TASK_QUEUES} == set(LANES)
    assert processes == {name: lane.processes for name, lane in LANES.items()}
    assert "sender" not in services and "send" not in LANES  # the old one queue for every send is gone


def test_status_callbacks_go_to_web_workers_of_their_own():
    # Three callbacks come for every SMS; on the API's workers, the batch API waited behind them.
    services = resolved()["services"]
    webhooks = services["webhooks"]
    assert webhooks["image"] == services["web"]["image"]
    assert "ports" not in webhooks
    assert webhooks["environment"]["PUBLIC_BASE_URL"] == "http://webhooks:8000"
    assert webhooks["environment"]["DJANGO_SETTINGS_MODULE"] == "bevaka.settings_webhooks"
    assert "DJANGO_SETTINGS_MODULE" not in services["web"]["environment"]
    for sender in SENDERS:
        assert services[sender]["environment"]["PUBLIC_BASE_URL"] == "http://webhooks:8000"


def test_on_a_shared_host_the_web_comes_before_the_workers():
    # On two shared cores the batch API accepted a third fewer events/s while the drain had equal shares.
    services = resolved()["services"]
    web = int(services["web"].get("cpu_shares", 1024))
    shares = {name: int(services[name].get("cpu_shares", 1024)) < web for name in ("worker", *SENDERS, "beat")}
    assert shares == dict.fromkeys(("worker", *SENDERS, "beat"), True)


def test_redis_keeps_an_append_only_file_and_web_runs_gunicorn():
    services = resolved()["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == "yes"
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert '"gunicorn", "bevaka.wsgi:application"' in dockerfile
    assert "collectstatic" in dockerfile


def test_settings_come_from_the_environment_only_and_the_web_uses_the_real_smtp_backend():
    services = resolved()["services"]
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DEBUG"] == "false"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["EMAIL_HOST"] == "mailpit"
        assert environment["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
        assert "env_file" not in services[name]


def test_the_web_containers_are_healthy_only_when_readyz_answers_200():
    """/readyz, not /statusz (a stopped worker must not take the web out); urlopen raises on a 503."""
    services = resolved()["services"]
    for name in ("web", "webhooks"):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "/readyz" in check and "503" not in check and "HTTPError" not in check, name


def test_a_pinned_tls_proxy_is_the_only_way_in_and_the_app_trusts_exactly_it():
    # Issue 19: every address-based decision saw the proxy; now the app knows which address is the proxy.
    services = resolved()["services"]
    proxy = services["proxy"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?(@sha256:[0-9a-f]{64})?", proxy["image"]), proxy["image"]
    assert {port["target"] for port in proxy["ports"]} == {443, 80}
    assert {"web", "webhooks"} <= set(proxy["depends_on"])
    address = proxy["networks"]["default"]["ipv4_address"]
    for name in ("web", "webhooks"):
        assert "ports" not in services[name], f"{name} must be reached through the proxy only"
    for name, service in services.items():
        if service.get("image") == "bevaka:latest":
            assert service["environment"]["TRUSTED_PROXIES"] == address, name
            assert service["environment"]["BEHIND_TLS_PROXY"] == "true", name
    mounted = {target: source for source, target, *_mode in (volume.split(":") for volume in proxy["volumes"])}
    config = Path(mounted["/etc/nginx/nginx.conf"]).read_text()
    assert re.search(r"location /webhooks/ \{ proxy_pass http://webhooks;", config)
    assert re.search(r"location / \{ proxy_pass http://web;", config)
    assert "listen 443 ssl" in config
    assert Path(mounted["/etc/nginx/bevaka/proxy_headers.conf"]) == BASE_DIR / "deploy/nginx/proxy_headers.conf"


def test_gunicorn_believes_x_forwarded_proto_from_the_trusted_proxies_only_never_from_everyone(tmp_path):
    assert "forwarded-allow-ips" not in (BASE_DIR / "Dockerfile").read_text()
    assert "forwarded-allow-ips" not in (BASE_DIR / "docker-compose.yml").read_text()
    namespace: dict = {}
    # The metrics folder given, so that reading the config makes no folder of its own.
    metrics = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with mock.patch.dict(os.environ, {"TRUSTED_PROXIES": "172.30.0.10", **metrics}):
        exec((BASE_DIR / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own config file
    assert namespace["forwarded_allow_ips"] == "172.30.0.10"
    with mock.patch.dict(os.environ, metrics, clear=True):
        exec((BASE_DIR / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102
    assert namespace["forwarded_allow_ips"] == ""  # gunicorn's own default would trust loopback
