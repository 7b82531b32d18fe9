"""HTTP triggers: Azure route templates on aiohttp, and request/response conversion.

The host serves each HTTP function at `/<routePrefix>/<route>` (prefix `api` unless host.json says
otherwise), hands the worker a `func.HttpRequest` with route parameters, and turns the returned
`func.HttpResponse` into the reply. The Content-Type rule is copied from the worker's converter
(an explicit header wins; else mimetype, with `; charset=` for text types) because Twilio treats
`text/plain` as a message to text back, so getting it wrong here would hide real bugs.

Auth levels are not enforced locally, as with Core Tools.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devhost.catalog import FunctionSpec
from devhost.invoke import invoke

log = logging.getLogger("devhost.http")

_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(?::([^}=?]+))?(=[^}]*)?(\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "alpha": r"[A-Za-z]+",
}
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _segment_variants(segment: str) -> tuple[list[str | None], int]:
    """aiohttp spellings of one route segment (None = omitted optional) and its sort rank."""
    match = _PARAM.match(segment)
    if not match:
        return [segment], 0  # literal segments win over parameters, as in ASP.NET routing
    catch_all, name, constraint, default, optional = match.groups()
    if catch_all:
        return [f"{{{name}:.*}}"], 3
    base = constraint.split(":")[0] if constraint else None
    pattern = _CONSTRAINTS.get(base or "")
    spelled = f"{{{name}:{pattern}}}" if pattern else f"{{{name}}}"
    rank = 1 if pattern else 2
    return ([spelled, None] if (optional or default) else [spelled]), rank


def aiohttp_paths(prefix: str, route: str) -> tuple[list[str], tuple[int, ...]]:
    """All aiohttp paths for an Azure route template, plus a specificity key (lower = first)."""
    segments = [s for s in route.strip("/").split("/") if s]
    variants, ranks = [], []
    for segment in segments:
        options, rank = _segment_variants(segment)
        variants.append(options)
        ranks.append(rank)
    paths = []
    for combo in itertools.product(*variants) if variants else [()]:
        parts = [p for p in combo if p is not None]
        path = "/" + "/".join(x for x in [prefix.strip("/"), *parts] if x)
        if path not in paths:
            paths.append(path)
    return paths, (*ranks, -len(segments))


async def to_http_request(request: web.Request) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        lower = key.lower()
        headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=dict(request.query),
        route_params=dict(request.match_info),
        body=await request.read(),
    )


def to_aiohttp_response(result: Any) -> web.Response:
    """The worker's HttpResponseConverter, producing an aiohttp response."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(
            body=result.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"}
        )
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"HTTP functions must return func.HttpResponse or str, not {type(result).__name__}"
        )
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in result.headers.items():
        if key.lower() not in _HOP_BY_HOP:
            headers.add(key, value)
    if "content-type" not in headers:
        mimetype = result.mimetype
        content_type = (
            f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        )
        headers["Content-Type"] = content_type
    return web.Response(
        status=int(result.status_code), body=result.get_body() or b"", headers=headers
    )


def make_handler(
    spec: FunctionSpec, function_directory: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            req = await to_http_request(request)
            result = await invoke(spec, req, function_directory)
            return to_aiohttp_response(result)
        except Exception:
            log.exception("function %s failed on %s %s", spec.name, request.method, request.path)
            return web.Response(status=500, text="Internal Server Error")

    return handle


def add_http_routes(
    router: web.UrlDispatcher, specs: list[FunctionSpec], route_prefix: str, function_directory: str
) -> list[str]:
    """Register every HTTP function, most specific first; returns 'METHODS /path' lines."""
    entries = []
    for spec in specs:
        route = spec.setting("route") or spec.name
        paths, key = aiohttp_paths(route_prefix, route)
        methods = [str(m).upper() for m in (spec.trigger.get("methods") or [])] or ["*"]
        entries.append((key, paths, methods, spec))
    entries.sort(key=lambda entry: entry[0])
    described = []
    for _, paths, methods, spec in entries:
        handler = make_handler(spec, function_directory)
        for path in paths:
            for method in methods:
                router.add_route(method, path, handler, name=None)
            described.append(
                f"{','.join(methods) if methods != ['*'] else 'ANY'} {path} -> {spec.name}"
            )
    return described
