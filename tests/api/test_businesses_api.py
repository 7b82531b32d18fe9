"""The businesses API through the registered functions: auth, validation, isolation, effects.

Admin and owner keys create, read and patch businesses: numbers are normalised and the owner key
is shown once and stored hashed; missing or garbage credentials are 401, bodies that are not a
JSON object 400, invalid fields 422 naming the field, and nothing is written on any of them; an
owner sees only its own business, and a patch reaches the webhooks at once. The conversations API
is in test_conversations_api.py; the request helpers both use are in helpers.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shared_code.platform.db import get_pool
from tests.api.helpers import VALID, assert_error, call, create, request
from tests.helpers import call_sid, post, twilio_request


async def business_rows() -> list[dict[str, Any]]:
    pool = await get_pool()
    return [dict(r) for r in await pool.fetch("SELECT * FROM businesses ORDER BY created_at, id")]


async def api_key_count() -> int:
    pool = await get_pool()
    return int(await pool.fetchval("SELECT count(*) FROM api_keys"))


def error_fields(payload: dict[str, Any]) -> set[str]:
    return {d["field"] for d in payload["error"]["details"] if isinstance(d, dict)}


# --- create ---------------------------------------------------------------------------------


async def test_admin_creates_a_business_with_normalised_numbers_and_one_time_key(stack):
    status, payload = await call(
        "create_business",
        request(
            "POST",
            key=stack.admin_key,
            body={**VALID, "blocked_numbers": ["312 555 0199", "+1 (312) 555-0199"]},
        ),
    )
    assert status == 201
    business, key = payload["business"], payload["owner_api_key"]
    assert business["phone_number"] == "+13125550123"
    assert business["owner_phone"] == "+14155550100"
    assert business["blocked_numbers"] == ["+13125550199"]
    assert business["name"] == "Acme Plumbing" and business["time_zone"] == "America/Chicago"
    assert business["ring_timeout_seconds"] == 18
    assert isinstance(key, str) and len(key) >= 32

    [row] = await business_rows()
    assert str(row["id"]) == business["id"] and row["phone_number"] == "+13125550123"
    pool = await get_pool()
    keys = await pool.fetch("SELECT key_hash, business_id FROM api_keys")
    assert len(keys) == 1
    assert bytes(keys[0]["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert str(keys[0]["business_id"]) == business["id"]
    assert key.encode() not in bytes(keys[0]["key_hash"])

    # The key works, and it is not shown again.
    status, read = await call("read_business", request("GET", key=key, business_id=business["id"]))
    assert status == 200 and read == {"business": business}
    assert "owner_api_key" not in read


async def test_duplicate_twilio_number_is_409_and_leaves_one_row(stack):
    await create(stack)
    status, payload = await call(
        "create_business",
        request(
            "POST",
            key=stack.admin_key,
            body={**VALID, "name": "Copycat", "phone_number": "+1 312-555-0123"},
        ),
    )
    assert_error(status, payload, 409, "number_taken")
    rows = await business_rows()
    assert len(rows) == 1 and rows[0]["name"] == "Acme Plumbing"
    assert await api_key_count() == 1


async def test_owner_key_cannot_create_businesses(stack):
    _, key = await create(stack)
    before = await business_rows()
    status, payload = await call(
        "create_business",
        request("POST", key=key, body={**VALID, "phone_number": "+13125550111"}),
    )
    assert_error(status, payload, 403, "forbidden")
    assert await business_rows() == before
    assert await api_key_count() == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Bearer not-a-key", "nm_garbage"],
    ids=["missing", "empty", "no-key", "blank-key", "basic", "unknown-key", "no-scheme"],
)
async def test_missing_or_garbage_authorization_is_401(stack, authorization):
    business, _ = await create(stack)
    before = await business_rows()
    auth = authorization  # None: no header at all
    req = request("POST", authorization=auth, body={**VALID, "phone_number": "+13125550111"})
    assert_error(*await call("create_business", req), 401, "unauthorized")
    req = request("GET", authorization=auth, business_id=business["id"])
    assert_error(*await call("read_business", req), 401, "unauthorized")
    req = request("PATCH", authorization=auth, business_id=business["id"], body={"name": "Hacked"})
    assert_error(*await call("patch_business", req), 401, "unauthorized")
    assert await business_rows() == before


async def test_admin_key_with_lowercase_bearer_scheme_is_accepted(stack):
    status, _ = await call(
        "create_business",
        request("POST", key=None, authorization=f"bearer {stack.admin_key}", body=VALID),
    )
    assert status == 201
    assert len(await business_rows()) == 1


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"\xff\xfe", b'{"name": "x",}', b"[]", b"[{}]", b'"text"', b"null", b"42"],
    ids=[
        "garbage",
        "empty",
        "not-utf8",
        "trailing-comma",
        "array",
        "array-of-object",
        "string",
        "null",
        "number",
    ],
)
async def test_create_with_a_body_that_is_not_a_json_object_is_400(stack, raw):
    status, payload = await call("create_business", request("POST", key=stack.admin_key, raw=raw))
    assert_error(status, payload, 400, "invalid_json")
    assert await business_rows() == []
    assert await api_key_count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone_number": "555-0123"}, "phone_number"),
        ({"phone_number": "not a phone"}, "phone_number"),
        ({"owner_phone": "+1 555 555 5555"}, "owner_phone"),
        ({"blocked_numbers": ["+13125550199", "nope"]}, "blocked_numbers"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "CST"}, "time_zone"),
        ({"color": "blue"}, "color"),
        ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"funday": [["09:00", "17:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"mon": [["9am", "5pm"]]}}, "weekly_hours"),
        ({"templates": {"text_back": "Hi {customer_name}"}}, "templates"),
        ({"templates": {"text_back": "Hi {business_name:{oops}}"}}, "templates"),
        ({"templates": {"no_such_template": "Hi"}}, "templates"),
        ({"ring_timeout_seconds": 4}, "ring_timeout_seconds"),
        ({"ring_timeout_seconds": 601}, "ring_timeout_seconds"),
        ({"ring_timeout_seconds": "soon"}, "ring_timeout_seconds"),
        ({"name": ""}, "name"),
    ],
)
async def test_create_with_invalid_field_is_422_naming_it(stack, change, field):
    status, payload = await call(
        "create_business", request("POST", key=stack.admin_key, body={**VALID, **change})
    )
    assert_error(status, payload, 422, "validation_failed")
    assert field in error_fields(payload), payload
    assert await business_rows() == []
    assert await api_key_count() == 0


@pytest.mark.parametrize("missing", ["name", "phone_number", "time_zone"])
async def test_create_without_a_required_field_is_422(stack, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    status, payload = await call("create_business", request("POST", key=stack.admin_key, body=body))
    assert_error(status, payload, 422, "validation_failed")
    assert missing in error_fields(payload)
    assert await business_rows() == []


@pytest.mark.parametrize("seconds", [5, 600])
async def test_ring_timeout_bounds_are_inclusive(stack, seconds):
    business, _ = await create(stack, ring_timeout_seconds=seconds)
    assert business["ring_timeout_seconds"] == seconds


# --- read -----------------------------------------------------------------------------------


async def test_owner_reads_its_own_business(stack):
    business, key = await create(stack, weekly_hours={"mon": [["09:00", "17:00"]]})
    status, payload = await call(
        "read_business", request("GET", key=key, business_id=business["id"])
    )
    assert status == 200
    assert payload["business"]["id"] == business["id"]
    assert payload["business"]["weekly_hours"] == {"mon": [["09:00", "17:00"]]}
    # Defaults fill in the templates the owner has not written.
    assert "{business_name}" in payload["business"]["templates"]["text_back"]


async def test_admin_reads_any_business(stack):
    business, _ = await create(stack)
    status, payload = await call(
        "read_business", request("GET", key=stack.admin_key, business_id=business["id"])
    )
    assert status == 200 and payload["business"] == business


@pytest.mark.parametrize("business_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "1"])
async def test_unknown_or_malformed_business_id_is_404(stack, business_id):
    await create(stack)
    req = request("GET", key=stack.admin_key, business_id=business_id)
    assert_error(*await call("read_business", req), 404, "not_found")


async def test_owner_of_a_cannot_read_or_patch_b(stack):
    _, key_a = await create(stack)
    b, key_b = await create(stack, name="Bravo Bakery", phone_number="+13125550177")
    before = await business_rows()

    status, payload = await call("read_business", request("GET", key=key_a, business_id=b["id"]))
    assert_error(status, payload, 404, "not_found")
    # Same answer as for an id that does not exist: a key cannot learn which ids are real.
    _, missing = await call(
        "read_business",
        request("GET", key=key_a, business_id="00000000-0000-0000-0000-000000000000"),
    )
    assert payload == missing

    req = request(
        "PATCH", key=key_a, business_id=b["id"], body={"name": "Pwned", "owner_phone": None}
    )
    assert_error(*await call("patch_business", req), 404, "not_found")
    req = request("PATCH", key=key_a, business_id=b["id"], body={})
    assert_error(*await call("patch_business", req), 404, "not_found")
    assert await business_rows() == before

    # B's own key still sees B as it was.
    status, payload = await call("read_business", request("GET", key=key_b, business_id=b["id"]))
    assert status == 200 and payload["business"] == b


# --- patch ----------------------------------------------------------------------------------


async def test_patch_changes_only_given_fields_and_get_reflects_them(stack):
    business, key = await create(
        stack, owner_name="Ann", weekly_hours={"mon": [["09:00", "17:00"]]}
    )
    [before] = await business_rows()
    status, payload = await call(
        "patch_business",
        request(
            "PATCH",
            key=key,
            business_id=business["id"],
            body={"owner_phone": "(415) 555-0199", "ring_timeout_seconds": 30},
        ),
    )
    assert status == 200
    expected = {**business, "owner_phone": "+14155550199", "ring_timeout_seconds": 30}
    assert payload["business"] == expected
    _, read = await call("read_business", request("GET", key=key, business_id=business["id"]))
    assert read["business"] == expected
    [after] = await business_rows()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"owner_phone", "ring_timeout_seconds", "updated_at"}


async def test_patch_can_clear_owner_phone_but_not_required_fields(stack):
    business, key = await create(stack)
    status, payload = await call(
        "patch_business",
        request("PATCH", key=key, business_id=business["id"], body={"owner_phone": None}),
    )
    assert status == 200 and payload["business"]["owner_phone"] is None
    [before] = await business_rows()
    for body in ({"name": None}, {"time_zone": None}, {"ring_timeout_seconds": None}):
        req = request("PATCH", key=key, business_id=business["id"], body=body)
        status, payload = await call("patch_business", req)
        assert_error(status, payload, 422, "validation_failed")
    assert await business_rows() == [before]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{oops", 400, "invalid_json"),
        (b'[{"name": "x"}]', 400, "invalid_json"),
        (json.dumps({"owner_phone": "12"}).encode(), 422, "validation_failed"),
        (json.dumps({"time_zone": "Mars/Olympus"}).encode(), 422, "validation_failed"),
        (json.dumps({"phone_number": "+13125550100"}).encode(), 422, "validation_failed"),
        (json.dumps({"name": "Ok", "unknown": 1}).encode(), 422, "validation_failed"),
        (
            json.dumps({"weekly_hours": {"mon": [["12:00", "11:00"]]}}).encode(),
            422,
            "validation_failed",
        ),
        (json.dumps({"templates": {"text_back": "{nope}"}}).encode(), 422, "validation_failed"),
        (json.dumps({"ring_timeout_seconds": 1000}).encode(), 422, "validation_failed"),
    ],
    ids=[
        "bad-json",
        "array",
        "phone",
        "zone",
        "twilio-number",
        "unknown-field",
        "hours",
        "template",
        "ring-timeout",
    ],
)
async def test_invalid_patch_changes_nothing(stack, raw, status, code):
    business, key = await create(stack)
    before = await business_rows()
    req = request("PATCH", key=key, business_id=business["id"], raw=raw)
    assert_error(*await call("patch_business", req), status, code)
    assert await business_rows() == before


async def test_patch_takes_effect_on_webhooks_at_once(stack, configure):
    """The webhook path caches businesses by number; a PATCH must drop that entry."""
    configure(BUSINESS_CACHE_SECONDS="600")
    business, key = await create(stack)

    async def incoming():
        params = {
            "CallSid": call_sid(),
            "From": "+13125550188",
            "To": business["phone_number"],
            "CallStatus": "ringing",
        }
        response = await post("voice_incoming", twilio_request("/api/voice/incoming", params))
        assert response.status_code == 200
        return response.get_body().decode()

    assert ">+14155550100</Number>" in await incoming()  # now cached

    status, _ = await call(
        "patch_business",
        request("PATCH", key=key, business_id=business["id"], body={"owner_phone": "+14155550142"}),
    )
    assert status == 200
    assert ">+14155550142</Number>" in await incoming()

    status, _ = await call(
        "patch_business",
        request(
            "PATCH", key=key, business_id=business["id"], body={"blocked_numbers": ["+13125550188"]}
        ),
    )
    assert status == 200
    assert "<Reject" in await incoming()
