"""A small client of BankID's Relying Party API v6.0 over httpx (auth, sign, collect, cancel).

The base URL, client certificate and CA come from settings (``BANKID_*``), so the same code talks to the
mock, BankID's test environment or production. Text arguments are sent exactly as given: callers pass
the base64 strings they keep as evidence. Errors become ``BankIDError`` carrying BankID's ``errorCode``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

CERTIFICATE_POLICIES = {
    # (test/mock, production) OIDs per BankID type.
    "mobile": ("1.2.3.4.25", "1.2.752.78.1.5"),
    "card": ("1.2.3.4.10", "1.2.752.78.1.2"),
}


class BankIDError(Exception):
    """An error answer from the RP API (or no answer: ``error_code`` "requestTimeout"/"internalError")."""

    def __init__(self, error_code: str, details: str = "", status: int | None = None):
        super().__init__(f"{error_code}: {details}" if details else error_code)
        self.error_code = error_code
        self.details = details
        self.status = status


@dataclass(frozen=True)
class StartResponse:
    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def certificate_policy(kind: str) -> str:
    test, production = CERTIFICATE_POLICIES[kind]
    return production if settings.BANKID_PRODUCTION else test


def qr_data(qr_start_token: str, qr_start_secret: str, seconds: float) -> str:
    """The animated QR code's content ``seconds`` after the order response (SIGNING.md 1.10)."""
    t = str(max(0, math.floor(seconds)))
    code = hmac.new(qr_start_secret.encode("ascii"), t.encode("ascii"), hashlib.sha256).hexdigest()
    return f"bankid.{qr_start_token}.{t}.{code}"


class BankIDClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        client_cert: str | None = None,
        client_key: str | None = None,
        ca_bundle: str | None = None,
        timeout: float | None = None,
    ):
        base = base_url or settings.BANKID_API_URL
        self.base_url = base if base.endswith("/") else base + "/"
        cert = client_cert if client_cert is not None else settings.BANKID_CLIENT_CERT
        key = client_key if client_key is not None else settings.BANKID_CLIENT_KEY
        ca = ca_bundle if ca_bundle is not None else settings.BANKID_CA_BUNDLE
        self.last_request: dict[str, Any] | None = None  # the last start body sent, kept as evidence
        self._client_kwargs: dict[str, Any] = {
            "timeout": timeout or settings.BANKID_TIMEOUT,
            "verify": ca or True,
        }
        if cert:
            self._client_kwargs["cert"] = (cert, key) if key else cert

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with httpx.Client(**self._client_kwargs) as client:
                response = client.post(
                    self.base_url + endpoint,
                    content=json.dumps(body).encode("utf-8"),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                )
        except httpx.TimeoutException as exc:
            raise BankIDError("requestTimeout", type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise BankIDError("internalError", type(exc).__name__) from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200:
            raise BankIDError(
                str(data.get("errorCode") or "internalError"),
                str(data.get("details") or ""),
                response.status_code,
            )
        return data

    def _start(self, endpoint: str, *, end_user_ip: str, **fields: Any) -> StartResponse:
        body = {"endUserIp": end_user_ip, **{k: v for k, v in fields.items() if v not in (None, "", {})}}
        self.last_request = {"endpoint": endpoint, "url": self.base_url + endpoint, "body": body}
        data = self._post(endpoint, body)
        return StartResponse(
            order_ref=data["orderRef"],
            auto_start_token=data["autoStartToken"],
            qr_start_token=data["qrStartToken"],
            qr_start_secret=data["qrStartSecret"],
        )

    def auth(
        self,
        *,
        end_user_ip: str,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = None,
        requirement: dict | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
    ) -> StartResponse:
        """POST /auth. ``user_visible_data``/``user_non_visible_data`` are base64 strings, sent as given."""
        return self._start(
            "auth",
            end_user_ip=end_user_ip,
            userVisibleData=user_visible_data,
            userNonVisibleData=user_non_visible_data,
            userVisibleDataFormat=user_visible_data_format,
            requirement=requirement,
            returnUrl=return_url,
            returnRisk=return_risk,
        )

    def sign(
        self,
        *,
        end_user_ip: str,
        user_visible_data: str,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = None,
        requirement: dict | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
    ) -> StartResponse:
        """POST /sign. ``user_visible_data`` (required) and ``user_non_visible_data`` are base64 strings."""
        return self._start(
            "sign",
            end_user_ip=end_user_ip,
            userVisibleData=user_visible_data,
            userNonVisibleData=user_non_visible_data,
            userVisibleDataFormat=user_visible_data_format,
            requirement=requirement,
            returnUrl=return_url,
            returnRisk=return_risk,
        )

    def collect(self, order_ref: str) -> dict[str, Any]:
        """POST /collect: ``{orderRef, status, hintCode?, completionData?}`` as BankID sent it."""
        return self._post("collect", {"orderRef": order_ref})

    def cancel(self, order_ref: str) -> None:
        self._post("cancel", {"orderRef": order_ref})


def signed_data_from_signature(signature_b64: str) -> dict[str, str]:
    """The ``usrVisibleData``, ``usrNonVisibleData`` and ``funcId`` inside completionData.signature."""
    from .xmlsig import parse

    root = parse(base64.b64decode(signature_b64))  # no DTD, no entities, no network
    found: dict[str, str] = {}
    for element in root.iter():
        local = str(element.tag).rsplit("}", 1)[-1]
        if local in {"usrVisibleData", "usrNonVisibleData", "funcId"}:
            found[local] = (element.text or "").strip()
    return found
