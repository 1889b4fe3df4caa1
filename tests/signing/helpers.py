"""Talking to the mock BankID server's RP API and test control API from tests."""

import httpx


def rp(mock, endpoint: str, body, *, content_type: str = "application/json") -> httpx.Response:
    import json

    return httpx.post(
        f"{mock.url}/rp/v6.0/{endpoint}",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Content-Type": content_type},
    )


def control(mock, order_ref: str, action: str, body: dict) -> httpx.Response:
    return httpx.post(f"{mock.url}/mock/v1/orders/{order_ref}/{action}", json=body)


def orders(mock, personal_number: str) -> list[dict]:
    return httpx.get(f"{mock.url}/mock/v1/orders", params={"personalNumber": personal_number}).json()
