"""HTTP: the owner and admin JSON API under /api/v1."""

from __future__ import annotations

import azure.functions as func

from functions.http_shapes import api_call
from shared_code import api

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS  # our own bearer keys, checked per business in shared_code.api


@bp.route(route="v1/businesses", methods=["POST"], auth_level=ANON)
async def create_business(req: func.HttpRequest) -> func.HttpResponse:
    return await api_call(req, lambda who: api.create_business(who, req.get_body()))


@bp.route(route="v1/businesses/{business_id}", methods=["GET"], auth_level=ANON)
async def read_business(req: func.HttpRequest) -> func.HttpResponse:
    business_id = req.route_params["business_id"]
    return await api_call(req, lambda who: api.read_business(who, business_id))


@bp.route(route="v1/businesses/{business_id}", methods=["PATCH"], auth_level=ANON)
async def patch_business(req: func.HttpRequest) -> func.HttpResponse:
    business_id = req.route_params["business_id"]
    return await api_call(req, lambda who: api.patch_business(who, business_id, req.get_body()))
