"""Signing's settings: BankID's RP API, the roots its signatures must chain to, the security token's keys.

A part of bevaka/settings.py (which takes them in with ``from bevaka.settings_signing import *``), kept apart
so that each settings module stays short enough to read; read from the environment in the same way (every
NAME also as NAME_FILE, bevaka/env.py).
"""

from bevaka.env import VAR_DIR, settings_env

_env = settings_env()
_DEBUG = _env.bool("DEBUG", default=False)

# BankID RP API v6.0. In development the mock (`manage.py mock_bankid --port 8001`); BankID's public test
# environment is https://appapi2.test.bankid.com/rp/v6.0/ with its test client certificate (README).
BANKID_API_URL = _env.str(
    "BANKID_API_URL",
    default="http://127.0.0.1:8001/rp/v6.0/" if _DEBUG else "https://appapi2.bankid.com/rp/v6.0/",
)
BANKID_CLIENT_CERT = _env.str("BANKID_CLIENT_CERT", default="")  # PEM file of the RP certificate
BANKID_CLIENT_KEY = _env.str("BANKID_CLIENT_KEY", default="")  # PEM file of its private key
BANKID_CA_BUNDLE = _env.str("BANKID_CA_BUNDLE", default="")  # PEM of BankID's SSL root CA (test or prod)
BANKID_TIMEOUT = _env.float("BANKID_TIMEOUT", default=5.0)
# Test OIDs (mock and BankID's test environment) unless BankID production is configured.
BANKID_PRODUCTION = _env.bool("BANKID_PRODUCTION", default=BANKID_API_URL.startswith("https://appapi2.bankid.com"))
# Where "BankID on this device" links lead. Empty: the real BankID app (bankid:/// and app.bankid.com);
# in development the mock's simulated app.
BANKID_APP_URL = _env.str("BANKID_APP_URL", default="http://127.0.0.1:8001/app/" if _DEBUG else "")
# Roots a BankID signature and its OCSP response must chain to (PEM files, comma-separated): BankID's test
# or production signature roots, obtained from BankID. Empty outside production: the mock BankID's root,
# whose PKI is made once under MOCK_BANKID_PKI_DIR. Empty in production: every signature is refused.
BANKID_SIGNATURE_ROOTS = _env.list("BANKID_SIGNATURE_ROOTS", default=[])
MOCK_BANKID_PKI_DIR = _env.str("MOCK_BANKID_PKI_DIR", default=str(VAR_DIR / "mock-bankid-pki"))
# Keys that seal security-token evidence (HMAC-SHA256), "id=secret,id2=secret2"; new records are sealed
# with SIGNING_SEAL_KEY_ID, older ones stay verifiable while their key is listed (rotation). Unset: one key
# "dev" derived from SECRET_KEY (development, tests).
SIGNING_SEAL_KEYS = _env.dict("SIGNING_SEAL_KEYS", default={})
SIGNING_SEAL_KEY_ID = _env.str("SIGNING_SEAL_KEY_ID", default="")
# Fernet key (urlsafe base64 of 32 bytes) for security-token secrets at rest. Production sets it; when it
# is unset a key is derived from SECRET_KEY (development, tests), which ties the secrets to SECRET_KEY.
SIGNING_TOKEN_KEY = _env.str("SIGNING_TOKEN_KEY", default="")
# Demo tokens' secrets are HMAC-SHA256(seed, serial), so that the mock's simulated token can compute them.
SIGNING_DEMO_TOKEN_SEED = _env.str("SIGNING_DEMO_TOKEN_SEED", default="bevaka-arenden-demo-tokens-v1")
