"""The one-click login route on Chainlit's app (see :mod:`assistant.login_link`).

``GET /mlchat/login?token=...`` with the token ``mlchat serve`` printed sets
Chainlit's login cookie for the local user, exactly as a password login
would, and redirects to the chat. A used, expired or wrong token gets 401 and
a short page pointing at the password login; a browser that is already
logged in is simply sent to the chat.
"""

from __future__ import annotations

import html
import logging

from chainlit.auth import create_jwt, get_current_user
from chainlit.auth.cookie import set_auth_cookie
from chainlit.data import get_data_layer
from chainlit.server import app
from chainlit.user import User
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from assistant.login_link import LOGIN_LINK_PATH, OneTimeLogin

log = logging.getLogger(__name__)

_NO_TRACE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_REASONS = {
    "used": "This login link has already been used.",
    "expired": "This login link has expired.",
    "wrong": "This login link is not valid.",
}


def mount_login_link(link: OneTimeLogin | None, *, username: str) -> None:
    """Serve :data:`~assistant.login_link.LOGIN_LINK_PATH`; every token is refused when
    ``link`` is ``None`` (the app was started without ``mlchat serve``)."""

    async def open_link(request: Request, token: str = "") -> Response:
        outcome = link.redeem(token) if link is not None and token else "wrong"
        if outcome == "ok":
            user = User(identifier=username, metadata={"provider": "local"})
            if data_layer := get_data_layer():
                await data_layer.create_user(user)
            response = RedirectResponse("/", status_code=303, headers=_NO_TRACE)
            set_auth_cookie(request, response, create_jwt(user))
            return response
        if await _is_logged_in(request):
            return RedirectResponse("/", status_code=303, headers=_NO_TRACE)
        return HTMLResponse(_refusal_page(_REASONS[outcome]), status_code=401, headers=_NO_TRACE)

    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path == LOGIN_LINK_PATH)
    ]
    app.add_api_route(LOGIN_LINK_PATH, open_link, methods=["GET"], include_in_schema=False)
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of Chainlit's catch-all page


async def _is_logged_in(request: Request) -> bool:
    from chainlit.auth.cookie import get_token_from_cookies

    token = get_token_from_cookies(request.cookies)
    if not token:
        return False
    try:
        return await get_current_user(token) is not None
    except HTTPException:  # an invalid or expired cookie: not logged in
        return False


def _refusal_page(reason: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mlchat: log in</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto'>"
        f"<h1>mlchat</h1><p>{html.escape(reason)} A link logs in once and works for ten "
        "minutes; restart <code>mlchat serve</code> for a new one.</p>"
        "<p><a href='/login'>Log in with the user name and password</a> instead.</p>"
        "</body></html>"
    )
