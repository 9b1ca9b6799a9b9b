"""What keeps the local web app local: the bind address, the token, the Host and Origin checks,
paths inside the served folder, and the security headers of every answer.

- Bound to a loopback address (the default), requests must name a loopback host (``Host:
  127.0.0.1:PORT`` or ``localhost``), which stops DNS rebinding; no token is needed.
- Bound anywhere else, every request needs the token: ``?token=...`` once (the answer sets an
  HttpOnly, SameSite=Strict cookie and redirects to the same URL without it), the cookie, or
  ``Authorization: Bearer TOKEN``. Without it: 401.
- A POST whose ``Origin`` is another site is refused (403), so a page elsewhere cannot start work.
- Every page carries ``Content-Security-Policy: default-src 'self'`` (reports served from the folder
  keep their own, stricter one: no script at all).
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import InputError

__all__ = ["APP_CSP", "COOKIE", "Guard", "inside", "is_loopback", "new_token"]

APP_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
COOKIE = "unembed_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback interface."""
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def inside(root: Path, relative: str) -> Path:
    """``root / relative`` resolved, refused (InputError) unless it stays inside ``root``.

    Symbolic links are resolved first, so a link that leads out of the folder is refused too."""
    if "\x00" in relative or Path(relative).is_absolute() or relative.startswith(("/", "\\")):
        raise InputError(f"{relative!r} is not a path inside the served folder")
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise InputError(f"{relative!r} is not a path inside the served folder")
    return path


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


class Guard:
    """ASGI middleware: the checks above, then the security headers on every answer."""

    def __init__(self, app, token: str | None, loopback: bool):
        if not loopback and not token:
            raise InputError("serving off loopback needs a token: pass --token or let unembed serve generate one")
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.loopback and not is_loopback(_host_name(host)):
            return await self._refuse(send, 403, "this server answers only to a loopback host name (127.0.0.1 or localhost)")
        if self.token:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                rest = urlencode([(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                                  if k != "token"])
                location = scope.get("path", "/") + (f"?{rest}" if rest else "")
                cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                return await self._answer(send, 303, b"", [(b"location", location.encode()),
                                                           (b"set-cookie", cookie.encode())])
            if not self._authorised(headers):
                return await self._refuse(send, 401, "this server needs its token: open the URL unembed serve printed "
                                                     "(...?token=...) or send Authorization: Bearer TOKEN")
        if scope.get("method") == "POST" and "origin" in headers:
            origin = urlsplit(headers["origin"]).netloc
            if origin != host:
                return await self._refuse(send, 403, "a request from another site is refused")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [h for h in HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", APP_CSP.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        return await self.app(scope, receive, with_headers)

    def _authorised(self, headers: dict) -> bool:
        token = self.token.encode()
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token):
            return True
        if "cookie" in headers:
            jar = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:
                return False
            if COOKIE in jar and hmac.compare_digest(jar[COOKIE].value.encode(), token):
                return True
        return False

    async def _refuse(self, send, status: int, message: str):
        body = json.dumps({"error": "refused", "message": message}).encode()
        await self._answer(send, status, body, [(b"content-type", b"application/json")])

    async def _answer(self, send, status: int, body: bytes, headers: list):
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + HEADERS + [(b"content-security-policy", APP_CSP.encode()),
                                                    (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
