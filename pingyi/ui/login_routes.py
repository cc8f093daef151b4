"""The app's own HTTP routes beside Streamlit's (served by `st.App` in app.py): the login
cookie is set and cleared here, because only an HTTP response can set an HttpOnly cookie.

POST /_pingyi/login with a tab's one-time ticket as the body: the cookie of its login session
(pingyi/logins.py), HttpOnly, SameSite=Strict, Secure when the page came over https.
POST /_pingyi/logout: the cookie's session ended, the cookie cleared.
Both refuse a request whose Origin is another site's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pingyi import db, logins

LOGIN_PATH = "/_pingyi/login"
LOGOUT_PATH = "/_pingyi/logout"
_MAX_BODY = 200


def _same_origin(request: Request) -> bool:
    """A browser names the page that sent a POST in Origin; it must be this app's page: the
    host the browser asked for. Hosts only: a proxy may pass Host on without its port
    (deploy/nginx.conf's `$host`)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request: those always carry Origin
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname
    return host is not None and urlsplit(origin).hostname == host


def _is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def _hand_over(ticket: str) -> str | None:
    with db.transaction() as s:
        return logins.hand_over(session=s, ticket=ticket)


def _end(cookie: str) -> None:
    with db.transaction() as s:
        logins.end_cookie(session=s, cookie=cookie)


async def set_login_cookie(request: Request) -> Response:
    if not _same_origin(request):
        return Response(status_code=403)
    body = (await request.body())[:_MAX_BODY].decode("ascii", errors="replace").strip()
    cookie = await run_in_threadpool(_hand_over, body)
    if cookie is None:
        return Response(status_code=403)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        logins.COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
        path="/",
    )
    return response


async def clear_login_cookie(request: Request) -> Response:
    if not _same_origin(request):
        return Response(status_code=403)
    cookie = request.cookies.get(logins.COOKIE)
    if cookie:
        await run_in_threadpool(_end, cookie)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(logins.COOKIE, path="/", httponly=True, samesite="strict")
    return response


ROUTES = [
    Route(LOGIN_PATH, set_login_cookie, methods=["POST"]),
    Route(LOGOUT_PATH, clear_login_cookie, methods=["POST"]),
]
