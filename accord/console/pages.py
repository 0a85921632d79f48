"""Rendering: the Jinja2 environment (autoescaped, templates in ``accord/console/templates``)
and what every page gets — the UI strings in the viewer's language, the viewer, the page's
banner, the session's CSRF token."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from accord.console.i18n import LANGS, pick_lang, translator
from accord.console.view import BANNER_CLASS, page_marking
from accord.core.markings import Marking

HERE = Path(__file__).parent
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
env.filters["level"] = lambda m: BANNER_CLASS[m.classification]


def clock(td: timedelta) -> str:
    """``H:MM:SS`` (``-`` in front when negative): time since launch, time to impact."""
    total = int(td.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


env.globals["clock"] = clock


def banner(markings: Iterable[Marking]) -> dict[str, Any]:
    """The page banner and what ``console.js`` needs to combine live markings into it."""
    ms = list(markings)
    m = page_marking(ms)
    return {"text": str(m), "level": BANNER_CLASS[m.classification], "count": len(ms),
            "rel": ",".join(sorted(m.rel_to)), "tlp": m.tlp or "", "caveats": ",".join(m.caveats)}


def render(request: Request, template: str, *, status: int = 200, markings: Iterable[Marking] = (),
           session: Any = None, viewer: Any = None, **ctx: Any) -> HTMLResponse:
    lang = session.lang if session is not None else pick_lang(None, request.headers.get("accept-language"))
    html = env.get_template(template).render(
        t=translator(lang), lang=lang, langs=LANGS, banner=banner(markings), session=session,
        viewer=viewer, csrf=session.csrf if session is not None else "", path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, code=status, message=message)
