"""The embeddable widget: /widget.js for host pages, the /widget chat page it frames, and the /demo host page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).with_name("static")
router = APIRouter(include_in_schema=False)


def _file(name: str, media_type: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/widget.js")
def widget_js() -> FileResponse:
    """The one script a host page adds: a chat bubble that opens /widget in an iframe."""
    return _file("widget.js", "text/javascript; charset=utf-8")


@router.get("/widget")
def widget_page() -> FileResponse:
    """The chat inside the iframe; it talks to /api/v1 on this server."""
    return _file("widget.html", "text/html; charset=utf-8")


@router.get("/widget/app.js")
def widget_app() -> FileResponse:
    return _file("widget-app.js", "text/javascript; charset=utf-8")


@router.get("/widget/app.css")
def widget_css() -> FileResponse:
    return _file("widget.css", "text/css; charset=utf-8")


@router.get("/demo")
def demo_page() -> FileResponse:
    """A sample host page with the widget on it."""
    return _file("demo.html", "text/html; charset=utf-8")
