"""HTTP: the owner and admin JSON API under /api/v1 (one shared_code.api module per resource).

Each route imports its resource module on first use: the worker imports every blueprint at
start, and the webhooks Twilio waits on must not pay for the API's models (bench/cold_start)."""

from __future__ import annotations

import azure.functions as func

from functions.http_shapes import api_call, json_response

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS  # our own bearer keys, checked per business in shared_code.api.auth


@bp.route(route="v1/businesses", methods=["POST"], auth_level=ANON)
async def create_business(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import businesses as businesses_api

    return await api_call(req, lambda who: businesses_api.create_business(who, req.get_body()))


@bp.route(route="v1/businesses/{business_id}", methods=["GET"], auth_level=ANON)
async def read_business(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import businesses as businesses_api

    business_id = req.route_params["business_id"]
    return await api_call(req, lambda who: businesses_api.read_business(who, business_id))


@bp.route(route="v1/businesses/{business_id}", methods=["PATCH"], auth_level=ANON)
async def patch_business(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import businesses as businesses_api

    business_id = req.route_params["business_id"]
    body = req.get_body()
    return await api_call(req, lambda who: businesses_api.patch_business(who, business_id, body))


@bp.route(route="v1/conversations", methods=["GET"], auth_level=ANON)
async def list_conversations(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    params = dict(req.params)
    return await api_call(req, lambda who: conversations_api.list_conversations(who, params))


@bp.route(route="v1/conversations/{conversation_id}", methods=["GET"], auth_level=ANON)
async def read_conversation(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(
        req, lambda who: conversations_api.read_conversation(who, conversation_id)
    )


@bp.route(route="v1/conversations/{conversation_id}/takeover", methods=["POST"], auth_level=ANON)
async def take_over_conversation(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(req, lambda who: conversations_api.take_over(who, conversation_id))


@bp.route(route="v1/conversations/{conversation_id}/release", methods=["POST"], auth_level=ANON)
async def release_conversation(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(req, lambda who: conversations_api.release(who, conversation_id))


@bp.route(route="v1/conversations/{conversation_id}/close", methods=["POST"], auth_level=ANON)
async def close_conversation(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(req, lambda who: conversations_api.close(who, conversation_id))


@bp.route(route="v1/conversations/{conversation_id}/messages", methods=["POST"], auth_level=ANON)
async def send_owner_message(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import conversations as conversations_api

    conversation_id = req.route_params["conversation_id"]
    body = req.get_body()
    return await api_call(
        req, lambda who: conversations_api.send_message(who, conversation_id, body)
    )


@bp.route(route="v1/calls", methods=["GET"], auth_level=ANON)
async def list_calls(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import calls as calls_api

    params = dict(req.params)
    return await api_call(req, lambda who: calls_api.list_calls(who, params))


@bp.route(route="v1/account", methods=["GET"], auth_level=ANON)
async def read_account(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import account as account_api

    params = dict(req.params)
    return await api_call(req, lambda who: account_api.read_account(who, params))


@bp.route(route="v1/usage", methods=["GET"], auth_level=ANON)
async def read_usage(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import account as account_api

    params = dict(req.params)
    return await api_call(req, lambda who: account_api.read_usage(who, params))


@bp.route(route="v1/businesses/{business_id}/credits", methods=["POST"], auth_level=ANON)
async def top_up(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import account as account_api

    business_id = req.route_params["business_id"]
    body = req.get_body()
    return await api_call(req, lambda who: account_api.top_up(who, business_id, body))


@bp.route(route="v1/activity", methods=["POST"], auth_level=ANON)
async def record_activity(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import account as account_api

    params = dict(req.params)
    body = req.get_body()
    return await api_call(req, lambda who: account_api.record_activity(who, params, body))


@bp.route(route="v1/openapi.json", methods=["GET"], auth_level=ANON)
async def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    """The API's OpenAPI 3.1 document (public: it describes the API, it holds no data)."""
    from shared_code.api.openapi import openapi_document as document
    from shared_code.platform.settings import get_settings

    return json_response(200, document(get_settings().public_base_url))
