"""HTTP: the owner web inbox. `GET /api/app` is the page (static files shipped in the package);
`/api/web/...` signs in with a texted code and out again. The page then calls /api/v1 with the
session cookie (shared_code.api.auth). Logic lives in shared_code.web; this only adapts HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared_code.web.doors import WebAnswer
    from shared_code.web.guard import RequestFacts

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS  # the session cookie and CSRF token are checked in shared_code.web


def _facts(req: func.HttpRequest) -> RequestFacts:
    from shared_code.web.guard import RequestFacts

    return RequestFacts(req.method, req.url, req.headers)


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    from shared_code.web.guard import SECURITY_HEADERS

    return {**SECURITY_HEADERS, "Cache-Control": "no-store", **(extra or {})}


def _answer(answer: WebAnswer) -> func.HttpResponse:
    headers = _headers(answer.headers)
    if answer.set_cookie:
        headers["Set-Cookie"] = answer.set_cookie
    return func.HttpResponse(
        json.dumps(answer.payload, default=str),
        status_code=answer.status,
        mimetype="application/json",
        headers=headers,
    )


def _file(req: func.HttpRequest, name: str) -> func.HttpResponse:
    from shared_code.web.static import static_file

    found = static_file(name)
    if found is None:
        return func.HttpResponse(
            "not found", status_code=404, mimetype="text/plain", headers=_headers()
        )
    headers = _headers({"Cache-Control": "no-cache", "ETag": found.etag})
    if req.headers.get("If-None-Match") == found.etag:
        return func.HttpResponse(status_code=304, headers=headers)
    headers["Content-Type"] = found.content_type
    return func.HttpResponse(found.body, status_code=200, headers=headers)


@bp.route(route="app", methods=["GET"], auth_level=ANON)
async def web_app_page(req: func.HttpRequest) -> func.HttpResponse:
    return _file(req, "index.html")


@bp.route(route="app/static/{name}", methods=["GET"], auth_level=ANON)
async def web_app_static(req: func.HttpRequest) -> func.HttpResponse:
    return _file(req, req.route_params.get("name", ""))


@bp.route(route="web/login/code", methods=["POST"], auth_level=ANON)
async def web_login_code(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.web import doors

    return _answer(await doors.ask_for_code(_facts(req), req.get_body()))


@bp.route(route="web/login/verify", methods=["POST"], auth_level=ANON)
async def web_login_verify(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.web import doors

    return _answer(await doors.verify(_facts(req), req.get_body()))


@bp.route(route="web/session", methods=["GET"], auth_level=ANON)
async def web_session(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.web import doors

    return _answer(await doors.read_session(_facts(req)))


@bp.route(route="web/logout", methods=["POST"], auth_level=ANON)
async def web_logout(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.web import doors

    return _answer(await doors.log_out(_facts(req)))


@bp.route(route="web/logout-everywhere", methods=["POST"], auth_level=ANON)
async def web_logout_everywhere(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.web import doors

    return _answer(await doors.log_out(_facts(req), everywhere=True))
