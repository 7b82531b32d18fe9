"""What the owner and admin API tests share: a valid business, requests, calls and error checks.

`request` builds a businesses API request with a bearer key, `call` runs a registered function and
decodes its JSON answer, `create` makes a business with the admin key and returns it with its
one-time owner key, and `assert_error` checks the shape of an error answer.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from tests.helpers import post

URL = "http://10.0.0.4:80/api/v1/businesses"

VALID = {
    "name": "Acme Plumbing",
    "phone_number": "(312) 555-0123",
    "owner_phone": "415.555.0100",
    "time_zone": "America/Chicago",
}


def request(
    method: str,
    *,
    key: str | None = None,
    business_id: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    authorization: str | None = None,
) -> func.HttpRequest:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return func.HttpRequest(
        method,
        URL + (f"/{business_id}" if business_id else ""),
        headers=headers,
        route_params={"business_id": business_id} if business_id else {},
        body=data,
    )


async def call(name: str, req: func.HttpRequest) -> tuple[int, dict[str, Any]]:
    response = await post(name, req)
    assert response.mimetype == "application/json"
    return response.status_code, json.loads(response.get_body())


async def create(stack, **overrides: Any) -> tuple[dict[str, Any], str]:
    status, payload = await call(
        "create_business", request("POST", key=stack.admin_key, body={**VALID, **overrides})
    )
    assert status == 201, payload
    return payload["business"], payload["owner_api_key"]


def assert_error(status: int, payload: dict[str, Any], expected_status: int, code: str) -> None:
    assert status == expected_status, payload
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["error"]["code"] == code
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
