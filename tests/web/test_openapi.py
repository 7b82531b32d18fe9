"""The OpenAPI 3.1 document at /api/v1/openapi.json: it describes every route under /api/v1,
and schemathesis, fuzzing each operation from the served document with an owner key, finds no
5xx and no answer that breaks the document (status, content type, schema)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.web.conftest import create_business, customer_texts

OWNER, CUSTOMER, BUSINESS_NUMBER = "+14155550100", "+14155550142", "+13125550123"
EXAMPLES = 12  # per operation: bounded so the whole fuzz stays well under a minute


async def test_document_describes_every_v1_route(stack, host):
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{host.url}/api/v1/openapi.json")
        document = await response.json()
    assert response.status == 200 and document["openapi"] == "3.1.0"
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    served = set()
    for line in host.routes:  # "GET,PATCH /api/v1/businesses/{business_id} -> read_business"
        methods, path, _, name = line.split(" ")
        if path.startswith("/api/v1/") and name != "openapi_document":
            served |= {(method, path) for method in methods.split(",")}
    assert served and served <= documented, served - documented
    body = document["paths"]["/api/v1/businesses/{business_id}"]["patch"]["requestBody"]
    patch = document["components"]["schemas"]["BusinessPatch"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BusinessPatch"
    }
    assert "weekly_hours" in patch["properties"] and patch["additionalProperties"] is False


def fuzz(base_url: str, key: str, known: dict[str, str]) -> list[str]:
    """Every operation, EXAMPLES generated requests each; returns what failed. Path parameters
    named in `known` take those values (ids that exist), so answers beyond 404 are checked."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    checks = [
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_schema_conformance,
    ]  # fmt: skip
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            for name, value in known.items():
                if case.path_parameters and name in case.path_parameters:
                    case.path_parameters[name] = value
            case.call_and_validate(
                base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=checks
            )

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}"[:2000])
    print("FUZZ CALLS", calls, len(failures))
    assert calls >= EXAMPLES, calls
    return failures


async def test_schemathesis_finds_no_server_errors_and_no_schema_breaks(stack, host):
    business, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "My kitchen sink is leaking")
    async with aiohttp.ClientSession() as http:
        listed = await http.get(
            f"{host.url}/api/v1/conversations", headers={"Authorization": f"Bearer {key}"}
        )
        conversation_id = (await listed.json())["conversations"][0]["id"]
    known = {"business_id": business["id"], "conversation_id": conversation_id}
    # The fuzzer is synchronous: it runs in a thread while this loop serves its requests.
    failures = await asyncio.wait_for(asyncio.to_thread(fuzz, host.url, key, known), timeout=120)
    assert not failures, "\n\n".join(failures)
