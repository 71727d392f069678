"""Serves the browser peer (``rlnc_testbed/web/``) as static files under ``/web/`` of the
signaling server's aiohttp app.

Only regular files inside that folder, named by plain path segments (letters, digits, ``_``,
``-``, ``.``; no segment starting with a dot), with a known type: ``.js`` as
``text/javascript`` (module scripts need a JavaScript MIME type), ``.html``, ``.json``,
``.css``. No directory listing, nothing outside the folder (symlinks resolving elsewhere
included), ``GET``/``HEAD`` only. Files are read per request (they are small), so a page
always gets what is on disk.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

__all__ = ["CONTENT_TYPES", "WEB_DIR", "WEB_PREFIX", "add_web_routes", "web_file"]

#: The folder served: the browser peer's pages and ES modules.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
#: Where they are served.
WEB_PREFIX = "/web/"
#: The file types served, by suffix.
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".html": "text/html",
    ".json": "application/json",
    ".css": "text/css",
}
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MAX_DEPTH = 4


def web_file(name: str, root: Path = WEB_DIR) -> Path | None:
    """The file ``/web/<name>`` serves, or None when there is none to serve."""
    segments = name.split("/")
    if not 1 <= len(segments) <= _MAX_DEPTH:
        return None
    if not all(_SEGMENT.fullmatch(s) and ".." not in s for s in segments):
        return None
    if Path(segments[-1]).suffix not in CONTENT_TYPES:
        return None
    base = root.resolve()
    try:
        path = base.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


async def _serve(request: web.Request) -> web.Response:
    path = web_file(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    try:
        body = path.read_bytes()
    except OSError:
        raise web.HTTPNotFound() from None
    return web.Response(
        body=body,
        content_type=CONTENT_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def add_web_routes(app: web.Application) -> None:
    """Serve :data:`WEB_DIR` under :data:`WEB_PREFIX` of ``app`` (GET and HEAD)."""
    app.router.add_get(WEB_PREFIX + "{name:.+}", _serve)
