"""A real proxy in front of a real web: Debian's nginx (scripts/ensure-nginx.sh) on free loopback ports, with
a config generated here around deploy/nginx/proxy_headers.conf (the lines docker-compose's proxy uses), in
front of gunicorn as the Dockerfile runs it, on the test database, with the mock BankID server.

nginx listens on 127.0.0.1 with TLS (a self-signed certificate made here) and without; clients connect from
other loopback addresses (127.0.0.2, 127.0.0.3, …: all of 127/8 is this machine), so each is a different
client to nginx, and the app trusts exactly nginx's address (TRUSTED_PROXIES=127.0.0.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import BASE_DIR, ProcessGroup, commands, free_port
from harness.processes import RunningProcess

PROXY_HEADERS = BASE_DIR / "deploy" / "nginx" / "proxy_headers.conf"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "tls.crt", folder / "tls.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, private


def nginx_config(*, folder: Path, http_port: int, https_port: int, upstream_port: int) -> Path:
    """An nginx.conf whose every path is in ``folder``: root or not, nothing of the machine's nginx is used."""
    cert, key = _self_signed(folder)
    # As root the master hands its workers to nobody; the folder is theirs to read (0755, no secrets but a
    # throwaway key). No response is buffered to a temp file (proxy_max_temp_file_size 0).
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    location = f"location / {{ proxy_pass http://127.0.0.1:{upstream_port}; include {PROXY_HEADERS}; }}"
    config = f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    proxy_max_temp_file_size 0;
    server {{ listen 127.0.0.1:{http_port}; {location} }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {location}
    }}
}}
"""
    path = folder / "nginx.conf"
    path.write_text(config)
    return path


@dataclass
class Proxied:
    """The running stack: ``http``/``https`` are nginx's URLs, ``direct`` gunicorn's own (no proxy)."""

    http: str
    https: str
    direct: str
    web: RunningProcess
    mock_bankid: RunningProcess
    certificate: Path

    def client(self, source: str, **options) -> httpx.Client:
        """An HTTP client connecting from the loopback address ``source`` (a different client to nginx),
        trusting the proxy's self-signed certificate."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        transport = httpx.HTTPTransport(local_address=source, verify=context)
        return httpx.Client(transport=transport, verify=context, timeout=20, **options)


def _web_env(db: dict, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TRUSTED_PROXIES", "BEHIND_TLS_PROXY"}}
    env.update(
        DJANGO_SETTINGS_MODULE="bevaka.settings_test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        DEBUG="false",
        LOG_FORMAT="json",
        SECURE_SSL_REDIRECT="true",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        **values,
    )
    return env


@pytest.fixture(scope="module")
def proxied(django_db_setup, django_db_blocker):
    """mock BankID, gunicorn behind nginx (trusting it) and nginx; see the module's docstring."""
    from django.db import connection

    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is missing: run scripts/ensure-nginx.sh (make services does)")
    with django_db_blocker.unblock():
        db = dict(connection.settings_dict)
    folder = Path(tempfile.mkdtemp(prefix="bevaka-nginx-"))
    folder.chmod(0o755)
    web_port, http_port, https_port = free_port(), free_port(), free_port()
    try:
        with ProcessGroup() as group:
            bankid = group.mock_bankid(env={**os.environ, "BANKID_PRODUCTION": "false"})
            env = _web_env(
                db,
                BEHIND_TLS_PROXY="true",
                TRUSTED_PROXIES="127.0.0.1",
                BANKID_API_URL=f"{bankid.url}/rp/v6.0/",
                BANKID_APP_URL=f"{bankid.url}/app/",
                BANKID_PRODUCTION="false",
                # The bound of the attack as it was found (100 starts): it must not matter through the proxy.
                THROTTLE_BANKID_STARTS_PER_ADDRESS="100",
            )
            web = group.start(
                commands.gunicorn(port=web_port, workers=2),
                name="gunicorn",
                env=env,
                wait_url=f"http://127.0.0.1:{web_port}/healthz",
                timeout=60,
            )
            config = nginx_config(folder=folder, http_port=http_port, https_port=https_port, upstream_port=web_port)
            group.start(commands.nginx(prefix=folder, config=config), name="nginx", wait_port=https_port)
            yield Proxied(
                http=f"http://127.0.0.1:{http_port}",
                https=f"https://127.0.0.1:{https_port}",
                direct=f"http://127.0.0.1:{web_port}",
                web=web,
                mock_bankid=bankid,
                certificate=folder / "tls.crt",
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def unproxied_web(django_db_setup, django_db_blocker):
    """gunicorn as the Dockerfile runs it with neither BEHIND_TLS_PROXY nor TRUSTED_PROXIES set."""
    from django.db import connection

    with django_db_blocker.unblock():
        db = dict(connection.settings_dict)
    port = free_port()
    with ProcessGroup() as group:
        group.start(
            commands.gunicorn(port=port, workers=1),
            name="gunicorn-unproxied",
            env=_web_env(db),
            wait_url=f"http://127.0.0.1:{port}/healthz",
            timeout=60,
        )
        yield f"http://127.0.0.1:{port}"
