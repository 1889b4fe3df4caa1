"""The client's own address (bevaka.http.client_ip): X-Forwarded-For is believed only as far as the proxies of
TRUSTED_PROXIES wrote it. The same rules through a real nginx: tests/proxy/."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from bevaka.http import client_ip, trusted_networks


def _request(remote_addr: str, forwarded_for: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)


def test_without_trusted_proxies_the_client_is_remote_addr_whatever_the_headers_say(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


def test_a_trusted_proxy_gives_the_address_it_saw(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.10"]
    assert client_ip(_request("10.0.0.10", "198.51.100.7")) == "198.51.100.7"


def test_a_forged_x_forwarded_for_from_a_client_changes_nothing(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.10"]
    # The client sent "X-Forwarded-For: 203.0.113.9"; the proxy appended the address it saw.
    assert client_ip(_request("10.0.0.10", "203.0.113.9, 198.51.100.7")) == "198.51.100.7"
    # A client that reaches the web directly is not a proxy: its header is ignored.
    assert client_ip(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "2001:db8::/32"]
    assert client_ip(_request("10.0.0.10", "203.0.113.9, 198.51.100.7, 10.0.0.11")) == "198.51.100.7"
    assert client_ip(_request("2001:db8::1", "198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request("10.0.0.10", "::ffff:10.0.0.12, 10.0.0.11")) == "10.0.0.12"  # all ours


def test_garbage_in_x_forwarded_for_is_not_believed(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.10"]
    assert client_ip(_request("10.0.0.10", "not-an-address")) == "10.0.0.10"
    assert client_ip(_request("10.0.0.10", "")) == "10.0.0.10"
    assert client_ip(_request("10.0.0.10", "198.51.100.7, bogus, 10.0.0.10")) == "10.0.0.10"


def test_a_trusted_proxy_setting_that_is_no_address_is_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example"):
        trusted_networks(("10.0.0.10", "proxy.example"))


@pytest.mark.django_db
def test_a_forwarded_proto_from_a_client_is_forgotten_and_from_the_proxy_believed(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = ["10.0.0.10"]
    forged = client.get("/logga-in/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="198.51.100.7")
    assert forged.status_code == 301 and forged["Location"].startswith("https://")
    proxied = client.get("/logga-in/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.0.0.10")
    assert proxied.status_code == 200 and "Strict-Transport-Security" in proxied.headers


def test_behind_a_tls_proxy_without_naming_it_the_settings_refuse_to_load():
    import subprocess
    import sys

    from harness import BASE_DIR

    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "bevaka.settings", "DEBUG": "true"}
    code = "import django; django.setup()"
    refused = subprocess.run(
        [sys.executable, "-c", code], env={**env, "BEHIND_TLS_PROXY": "true"}, cwd=BASE_DIR, capture_output=True
    )
    assert refused.returncode != 0 and b"BEHIND_TLS_PROXY needs TRUSTED_PROXIES" in refused.stderr
    named = {**env, "BEHIND_TLS_PROXY": "true", "TRUSTED_PROXIES": "10.0.0.10"}
    assert subprocess.run([sys.executable, "-c", code], env=named, cwd=BASE_DIR).returncode == 0
