"""The mock BankID server's orders and rules (RP API v6.0 as in ../shared/docs/SIGNING.md), no HTTP.

Time runs on a clock that can go ``time_factor`` times faster than real time, so tests can reach the
30-second pick-up window (``startFailed``) and the 3-minute lifetime (``expiredTransaction``) quickly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import pki
from .completion import identity, ocsp_response, signature_xml

PICKUP_WINDOW = 30.0
ORDER_LIFETIME = 180.0
RETAIN_COMPLETE = 180.0
RETAIN_FAILED = 300.0
QR_TOLERANCE = 2.0

FAIL_HINTS = {"userCancel", "expiredTransaction", "certificateErr", "startFailed"}
PENDING_HINTS = {"started", "userSign"}
CARD_READERS = {"class1", "class2"}
FORMATS = {"simpleMarkdownV1", "plaintext"}
_PERSONAL_NUMBER = re.compile(r"^\d{12}$")


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, details: str):
        super().__init__(details)
        self.status = status
        self.error_code = error_code
        self.details = details

    def body(self) -> dict[str, str]:
        return {"errorCode": self.error_code, "details": self.details}


def invalid(details: str) -> ApiError:
    return ApiError(400, "invalidParameters", details)


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def valid_personal_number(value: Any) -> bool:
    return isinstance(value, str) and bool(_PERSONAL_NUMBER.match(value)) and luhn_ok(value[2:])


class Clock:
    def __init__(self, time_factor: float = 1.0):
        self.factor = time_factor
        self._start = time.monotonic()

    def now(self) -> float:
        """Mock seconds since the server started."""
        return (time.monotonic() - self._start) * self.factor


@dataclass
class Order:
    order_ref: str
    kind: str  # "auth" | "sign"
    phone: bool
    end_user_ip: str
    user_visible_data: str | None
    user_non_visible_data: str | None
    visible_format: str | None
    requirement: dict[str, Any]
    return_url: str | None
    return_risk: bool
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str
    created: float
    created_real: float
    status: str = "pending"
    hint: str = "outstandingTransaction"
    picked_up: bool = False
    terminal_at: float | None = None
    collected: bool = False
    completion: dict[str, Any] | None = None
    signer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def required_person(self) -> str | None:
        return self.requirement.get("personalNumber")

    def visible_text(self) -> str:
        if not self.user_visible_data:
            return ""
        return base64.b64decode(self.user_visible_data).decode("utf-8", "replace")


def _b64_field(body: dict, name: str, limit: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"Invalid {name}")
    if len(value) > limit:
        raise invalid(f"{name} is too long")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{name} is not valid base64") from None
    return value


def _requirement(body: dict) -> dict[str, Any]:
    requirement = body.get("requirement", {})
    if not isinstance(requirement, dict):
        raise invalid("Invalid requirement")
    if "personalNumber" in requirement and not valid_personal_number(requirement["personalNumber"]):
        raise invalid("Invalid requirement.personalNumber")
    if "cardReader" in requirement and requirement["cardReader"] not in CARD_READERS:
        raise invalid("Invalid requirement.cardReader")
    policies = requirement.get("certificatePolicies", [])
    if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
        raise invalid("Invalid requirement.certificatePolicies")
    for flag in ("pinCode", "mrtd"):
        if flag in requirement and not isinstance(requirement[flag], bool):
            raise invalid(f"Invalid requirement.{flag}")
    if "risk" in requirement and requirement["risk"] not in {"low", "moderate"}:
        raise invalid("Invalid requirement.risk")
    return requirement


class MockBankID:
    """All orders of one mock server process; every method is thread-safe."""

    def __init__(self, time_factor: float = 1.0, display_name: str = "Bevaka ärenden (mock)"):
        self.clock = Clock(time_factor)
        self.display_name = display_name
        self._orders: dict[str, Order] = {}
        self._lock = threading.RLock()

    # --- timers ---------------------------------------------------------------------------------------
    def _advance(self, order: Order) -> None:
        now = self.clock.now()
        if order.status == "pending":
            age = now - order.created
            if not order.picked_up and age > PICKUP_WINDOW:
                self._terminate(order, "failed", "startFailed", at=order.created + PICKUP_WINDOW)
            elif age > ORDER_LIFETIME:
                self._terminate(order, "failed", "expiredTransaction", at=order.created + ORDER_LIFETIME)

    def _terminate(self, order: Order, status: str, hint: str | None, *, at: float | None = None) -> None:
        order.status = status
        order.hint = hint or ""
        order.terminal_at = self.clock.now() if at is None else at

    def _live(self, order: Order) -> bool:
        if order.status == "pending":
            return True
        if order.collected:
            return False
        keep = RETAIN_COMPLETE if order.status == "complete" else RETAIN_FAILED
        return self.clock.now() - (order.terminal_at or 0) <= keep

    def _get(self, order_ref: Any) -> Order | None:
        order = self._orders.get(order_ref) if isinstance(order_ref, str) else None
        if order is None:
            return None
        self._advance(order)
        if not self._live(order):
            self._orders.pop(order.order_ref, None)
            return None
        return order

    # --- RP API ---------------------------------------------------------------------------------------
    def start(self, endpoint: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise invalid("Invalid JSON body")
        phone = endpoint.startswith("phone/")
        kind = "sign" if endpoint.endswith("sign") else "auth"
        end_user_ip = None
        if phone:
            if not valid_personal_number(body.get("personalNumber")):
                raise invalid("Invalid personalNumber")
            if body.get("callInitiator") not in {"user", "RP"}:
                raise invalid("Invalid callInitiator")
        else:
            if "personalNumber" in body:
                raise invalid("personalNumber is not a top-level field in v6.0; use requirement.personalNumber")
            end_user_ip = body.get("endUserIp")
            try:
                ipaddress.ip_address(end_user_ip if isinstance(end_user_ip, str) else "")
            except ValueError:
                raise invalid("Invalid endUserIp") from None
        visible_limit, hidden_limit = (40_000, 200_000) if kind == "sign" else (1_500, 1_500)
        visible = _b64_field(body, "userVisibleData", visible_limit, required=kind == "sign")
        hidden = _b64_field(body, "userNonVisibleData", hidden_limit, required=False)
        fmt = body.get("userVisibleDataFormat")
        if fmt is not None and fmt not in FORMATS:
            raise invalid("Invalid userVisibleDataFormat")
        return_url = body.get("returnUrl")
        if return_url is not None and (not isinstance(return_url, str) or not 1 <= len(return_url) <= 512):
            raise invalid("Invalid returnUrl")
        return_risk = body.get("returnRisk", False)
        if not isinstance(return_risk, bool):
            raise invalid("Invalid returnRisk")
        requirement = _requirement(body)
        if phone:
            requirement = {**requirement, "personalNumber": body["personalNumber"]}
        with self._lock:
            person = requirement.get("personalNumber")
            if person:
                for other in list(self._orders.values()):
                    self._advance(other)
                    if other.status == "pending" and other.required_person == person:
                        # BankID refuses the new order and cancels the one in progress.
                        self._terminate(other, "failed", "cancelled")
                        raise ApiError(400, "alreadyInProgress", "Order already in progress for pno")
            order = Order(
                order_ref=str(uuid.uuid4()),
                kind=kind,
                phone=phone,
                end_user_ip=end_user_ip or "127.0.0.1",
                user_visible_data=visible,
                user_non_visible_data=hidden,
                visible_format=fmt,
                requirement=requirement,
                return_url=return_url,
                return_risk=return_risk,
                auto_start_token=str(uuid.uuid4()),
                qr_start_token=str(uuid.uuid4()),
                qr_start_secret=str(uuid.uuid4()),
                created=self.clock.now(),
                created_real=time.monotonic(),
            )
            if phone:
                order.picked_up = True
            self._orders[order.order_ref] = order
        if phone:
            return {"orderRef": order.order_ref}
        return {
            "orderRef": order.order_ref,
            "autoStartToken": order.auto_start_token,
            "qrStartToken": order.qr_start_token,
            "qrStartSecret": order.qr_start_secret,
        }

    def collect(self, body: Any) -> dict[str, Any]:
        order_ref = body.get("orderRef") if isinstance(body, dict) else None
        with self._lock:
            order = self._get(order_ref)
            if order is None:
                raise invalid("No such order")
            answer: dict[str, Any] = {"orderRef": order.order_ref, "status": order.status}
            if order.status == "pending":
                answer["hintCode"] = order.hint
                return answer
            order.collected = True  # a terminal result is collectable once
            if order.status == "failed":
                answer["hintCode"] = order.hint
            else:
                answer["completionData"] = order.completion
            return answer

    def cancel(self, body: Any) -> dict[str, Any]:
        order_ref = body.get("orderRef") if isinstance(body, dict) else None
        with self._lock:
            order = self._get(order_ref)
            if order is None:
                raise invalid("No such order")
            self._orders.pop(order.order_ref, None)
        return {}

    # --- the simulated app and the control API --------------------------------------------------------
    def orders(self, personal_number: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = []
            for order in list(self._orders.values()):
                if self._get(order.order_ref) is None:
                    continue
                if personal_number and personal_number not in {order.required_person, order.signer}:
                    continue
                result.append(
                    {
                        "orderRef": order.order_ref,
                        "status": order.status,
                        "hintCode": order.hint or None,
                        "personalNumber": order.required_person or order.signer,
                        "userVisibleData": order.visible_text(),
                        "kind": order.kind,
                    }
                )
            return result

    def find(self, *, order_ref: str | None = None, auto_start_token: str | None = None) -> Order | None:
        with self._lock:
            if order_ref:
                return self._get(order_ref)
            for order in list(self._orders.values()):
                if auto_start_token and order.auto_start_token == auto_start_token:
                    return self._get(order.order_ref)
            return None

    def find_by_qr(self, payload: str) -> Order:
        """The order a scanned QR payload belongs to; checks the HMAC and that the code is current."""
        parts = (payload or "").strip().split(".")
        if len(parts) != 4 or parts[0] != "bankid" or not parts[2].isdigit():
            raise ValueError("Det där är ingen BankID-QR-kod.")
        _, token, t, code = parts
        with self._lock:
            order = next((o for o in self._orders.values() if o.qr_start_token == token), None)
            order = self._get(order.order_ref) if order else None
            if order is None or order.status != "pending":
                raise ValueError("QR-koden hör inte till någon pågående order.")
            expected = hmac.new(order.qr_start_secret.encode(), t.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, code):
                raise ValueError("QR-koden är inte äkta.")
            elapsed = time.monotonic() - order.created_real
            if abs(int(t) - elapsed) > QR_TOLERANCE:
                raise ValueError("QR-koden är för gammal. Läs av den igen.")
            return order

    def set_hint(self, order_ref: str, hint: str) -> Order:
        with self._lock:
            order = self._require(order_ref)
            if order.status != "pending":
                raise ApiError(409, "conflict", "Order is no longer pending")
            order.picked_up = True
            order.hint = hint
            return order

    def complete(self, order_ref: str, personal_number: str) -> Order:
        with self._lock:
            order = self._require(order_ref)
            if order.status != "pending":
                raise ApiError(409, "conflict", "Order is no longer pending")
            if not valid_personal_number(personal_number):
                raise invalid("Invalid personalNumber")
            if order.required_person and order.required_person != personal_number:
                raise ApiError(409, "conflict", "The order requires another person")
            order.picked_up = True
            order.signer = personal_number
            order.completion = self._completion(order, personal_number)
            self._terminate(order, "complete", None)
            return order

    def fail(self, order_ref: str, hint: str) -> Order:
        with self._lock:
            order = self._require(order_ref)
            if order.status != "pending":
                raise ApiError(409, "conflict", "Order is no longer pending")
            self._terminate(order, "failed", hint)
            return order

    def _require(self, order_ref: str) -> Order:
        order = self._get(order_ref)
        if order is None:
            raise ApiError(404, "notFound", "No such order")
        return order

    def _completion(self, order: Order, personal_number: str) -> dict[str, Any]:
        uhi = base64.b64encode(hashlib.sha1(personal_number.encode()).digest()).decode()  # noqa: S324
        signature = base64.b64encode(signature_xml(order, personal_number, uhi, self.display_name).encode()).decode()
        card = pki.uses_card(order.requirement.get("certificatePolicies", []))
        completion: dict[str, Any] = {
            "user": identity(personal_number),
            "device": {"ipAddress": order.end_user_ip, "uhi": uhi},
            "bankIdIssueDate": "2024-01-15",
            "signature": signature,
            "ocspResponse": base64.b64encode(ocsp_response(signature, personal_number, card=card)).decode(),
        }
        if order.requirement.get("mrtd"):
            completion["stepUp"] = {"mrtd": True}
        if order.return_risk:
            completion["risk"] = "low"
        return completion
