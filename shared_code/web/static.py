"""The page's files, shipped in the package (no build step, nothing from a CDN).

Only names listed in this folder with a known type are served; anything else is "not found",
so a path can't reach outside `static/`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+$")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


@lru_cache(maxsize=32)
def static_file(name: str) -> StaticFile | None:
    """The file `name` in static/ (read once per process), or None."""
    if not _NAME.fullmatch(name) or Path(name).suffix not in TYPES:
        return None
    path = STATIC_DIR / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return StaticFile(body, TYPES[path.suffix], etag)
