"""The API kernel's shared rules on plain values (no servers): which business a request may
touch (`business_for`) and what a request body must be (`parse_model`). Through the registered
functions and the database, tests/api/test_owner_api.py checks the same answers end to end."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared_code.api.auth import ApiError, Principal, business_for, parse_model

OWNER_A = Principal(is_admin=False, business_id=uuid.UUID(int=1))
ADMIN = Principal(is_admin=True)


def test_business_for_a_route_id_is_404_unless_the_caller_may_touch_it():
    other = uuid.UUID(int=2)
    assert business_for(OWNER_A, str(OWNER_A.business_id)) == OWNER_A.business_id
    assert business_for(ADMIN, str(other)) == other
    for raw in (str(other), "not-a-uuid", ""):
        with pytest.raises(ApiError) as caught:
            business_for(OWNER_A, raw)
        assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(ApiError) as caught:
        business_for(ADMIN, "not-a-uuid")
    assert caught.value.status == 404


def test_business_for_query_parameters_is_the_owners_own_and_the_admins_named_one():
    other = uuid.UUID(int=2)
    assert business_for(OWNER_A, {"business_id": str(other)}) == OWNER_A.business_id
    assert business_for(OWNER_A, {}) == OWNER_A.business_id
    assert business_for(ADMIN, {"business_id": str(other)}) == other
    for params in ({}, {"business_id": "nope"}):
        with pytest.raises(ApiError) as caught:
            business_for(ADMIN, params)
        assert (caught.value.status, caught.value.code) == (422, "validation_failed")


class _Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1)


def test_parse_model_is_400_for_anything_but_a_json_object_and_422_per_invalid_field():
    assert parse_model(_Probe, b'{"count": 3}') == _Probe(count=3)
    for raw in (b"", b"{", b"[]", b"null", b"\xff"):
        with pytest.raises(ApiError) as caught:
            parse_model(_Probe, raw)
        assert (caught.value.status, caught.value.code) == (400, "invalid_json")
    with pytest.raises(ApiError) as caught:
        parse_model(_Probe, b'{"count": 0, "extra": 1}')
    assert (caught.value.status, caught.value.code) == (422, "validation_failed")
    assert {d["field"] for d in caught.value.details} == {"count", "extra"}
