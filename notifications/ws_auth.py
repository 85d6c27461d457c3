"""Who is on the other end of a WebSocket.

Pages are signed in by the session cookie (Channels' ``AuthMiddlewareStack``).
Third-party apps use the same session token the REST API accepts
(``X-Session-Token``, from allauth's headless app API). A socket may carry it as
``X-Session-Token: <token>``, ``Authorization: Token <token>`` / ``Bearer <token>``,
or, for browsers that cannot set headers on a WebSocket, ``?token=<token>``.
A token, when present, decides alone: an invalid one leaves the socket anonymous
even if a cookie came along.
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from allauth.headless import app_settings as headless_settings
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase

TOKEN_SCHEMES = ("token", "bearer")


def token_from_scope(scope: dict[str, Any]) -> str | None:
    """The API token a socket presents, if any: header first, then the query string."""
    headers = dict(scope.get("headers", []))
    if raw := headers.get(b"x-session-token"):
        return raw.decode("latin-1").strip() or None
    if raw := headers.get(b"authorization"):
        scheme, _, value = raw.decode("latin-1").partition(" ")
        if scheme.lower() in TOKEN_SCHEMES and value.strip():
            return value.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if values := query.get("token"):
        return values[0].strip() or None
    return None


def _user_of(session: SessionBase | None) -> Any:
    """The signed-in user of a session, verified as Django verifies it for HTTP
    (backend still configured, password hash unchanged, account active)."""
    if session is None:
        return AnonymousUser()
    return auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]


@database_sync_to_async
def authenticate_token(token: str) -> tuple[Any, SessionBase | None]:
    session = headless_settings.TOKEN_STRATEGY.lookup_session(token)
    user = _user_of(session)
    return user, (session if user.is_authenticated else None)


def signed_in_user_id(session_key: str | None) -> int | None:
    """Whether a session still signs someone in (not expired, not logged out)."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    session.get(auth.SESSION_KEY)  # loads it; a missing or expired session drops its key
    if session.session_key is None:
        return None
    user = _user_of(session)
    return int(user.pk) if user.is_authenticated else None


class TokenAuthMiddleware(BaseMiddleware):
    """Replaces the cookie's user with the token's when the socket presents a token."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = token_from_scope(scope)
        if token is not None:
            user, session = await authenticate_token(token)
            scope = {**scope, "user": user, "session": session}
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddlewareStack(inner: Any) -> Any:
    """Cookie session (pages) or API token (third-party apps)."""
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
