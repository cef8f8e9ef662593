"""Who may talk to the server: one ASGI middleware in front of every route,
HTTP and WebSocket alike.

A page of any other site open in the same browser can send requests to
127.0.0.1 (cross-site request forgery), and through DNS rebinding (its own
name resolved to 127.0.0.1) it can even read the answers. So:

* the Host header must be one of the server's own names (loopback ones, more
  by setting): a rebinding page's requests carry its own name and are refused;
* a request with an Origin header (browsers send one on every cross-origin
  request, every POST and every WebSocket) must come from a page of this
  server (same scheme, host and port as the request, the host allowed) or
  from an origin the settings list;
* a request that changes state (POST, PUT, PATCH, DELETE) must carry the
  header X-Requested-With. A browser sends a custom header cross-site only
  after a CORS preflight this server never approves, so "simple" requests
  (forms, text/plain, no body) of other sites cannot change anything, even
  where a browser leaves Origin out;
* bound to anything but loopback, every request but /api/health needs the
  access token: `?token=` in a URL (a page opened that way sets a cookie and
  drops it from the address bar), the cookie, or `Authorization: Bearer`.
"""
from __future__ import annotations

import html
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLIENT_HEADER = "X-Requested-With"
TOKEN_COOKIE = "bpn_token"
OPEN_PATHS = frozenset({"/api/health"})  # the container's health check has no token


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The names the server answers to, the foreign pages it trusts, its token."""
    hosts: frozenset[str]
    origins: frozenset[str]
    token: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Access":
        hosts = set(LOOPBACK_NAMES) | {h.lower().strip("[]") for h in settings.allowed_hosts}
        bound = settings.host.strip("[]")
        token = settings.token
        if not is_loopback(bound):
            # reachable from other machines: by the bound address, or (bound
            # to every interface) by this machine's name; a token guards it
            hosts.add(socket.gethostname().lower() if bound in WILDCARDS else bound.lower())
            token = token or secrets.token_urlsafe(18)
        return cls(frozenset(hosts), frozenset(o.lower().rstrip("/") for o in settings.allowed_origins), token)

    def urls(self, settings: Settings) -> list[str]:
        """Where to open the app, token included: printed at start."""
        bound = settings.host.strip("[]")
        names = ["127.0.0.1", socket.gethostname()] if bound in WILDCARDS else [bound]
        query = f"/?token={self.token}" if self.token else "/"
        return [f"http://{'[' + n + ']' if ':' in n else n}:{settings.port}{query}" for n in names]


def _hostname(netloc: str) -> str | None:
    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:  # a malformed port or bracket
        return None


class Guard:
    """The checks above, in that order; the first that fails answers."""

    def __init__(self, app: ASGIApp, access: Access):
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self.check(scope, headers)
        if refusal is None:  # let it through, or first drop a ?token= from the address
            return await (self.opened_with_token(scope) or self.app)(scope, receive, send)
        status, message = refusal
        if scope["type"] == "websocket":
            # closed before accept: the handshake is answered 403
            return await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        wants_page = scope["method"] == "GET" and "text/html" in headers.get("accept", "")
        if status == 401 and wants_page:
            response: Response = HTMLResponse(_LOGIN_PAGE, status_code=401)
        else:
            response = JSONResponse({"detail": message}, status_code=status)
        await response(scope, receive, send)

    def check(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        name = _hostname(host)
        if name not in self.access.hosts:
            return 400, (f"this server does not answer to the host name {host!r}: it answers to "
                         f"{', '.join(sorted(self.access.hosts))} (add a name with BPN_ALLOWED_HOSTS)")
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, host, scope.get("scheme", "http")):
            return 403, (f"requests from pages of {origin} are refused: only this server's own pages "
                         "may use it (add an origin with BPN_ALLOWED_ORIGINS)")
        method = scope.get("method", "GET")
        if method in STATE_CHANGING and CLIENT_HEADER.lower() not in headers:
            return 403, (f"{method} changes the server's state, so it needs the header {CLIENT_HEADER} "
                         "(any value), which other sites' pages cannot send: add it, e.g. "
                         f"curl -H '{CLIENT_HEADER}: curl'")
        if self.access.token is not None and scope["path"] not in OPEN_PATHS:
            given = self.token_of(scope, headers)
            if given is None:
                return 401, ("this server is shared on the network and needs its access token: open the "
                             "address it printed at start (it ends in ?token=...), or send "
                             "'Authorization: Bearer <token>'")
            if not secrets.compare_digest(given.encode(), self.access.token.encode()):
                return 403, "wrong access token: use the one the server printed at start"
        return None

    def origin_allowed(self, origin: str, host: str, scheme: str) -> bool:
        origin = origin.lower().rstrip("/")
        if origin in self.access.origins:
            return True
        # a page this server served: the request's own scheme, host and port
        own = "https" if scheme in ("https", "wss") else "http"
        return origin == f"{own}://{host.lower()}" and _hostname(host) in self.access.hosts

    @staticmethod
    def token_of(scope: Scope, headers: Headers) -> str | None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query:
            return query["token"]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return cookie_parser(headers.get("cookie", "")).get(TOKEN_COOKIE)  # (never raises: a bad header is no token)

    def opened_with_token(self, scope: Scope) -> Response | None:
        """A page opened with ?token= (already checked): keep the token in a
        cookie and show the same address without it."""
        if self.access.token is None or scope["type"] != "http" or scope["method"] != "GET":
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        if not any(k == "token" for k, _ in query):
            return None
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        response = RedirectResponse(scope["path"] + ("?" + rest if rest else ""), status_code=303)
        # Lax: sent when a link elsewhere opens the app, never on other sites'
        # POSTs; HttpOnly: page scripts never see it
        response.set_cookie(TOKEN_COOKIE, self.access.token, httponly=True, samesite="lax",
                            max_age=30 * 24 * 3600)
        return response


_LOGIN_PAGE = f"""<!doctype html><meta charset="utf-8"><title>backprop-ninja: access token needed</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:38em;margin:4em auto;padding:0 1em}}</style>
<h1>This backprop-ninja needs its access token</h1>
<p>Whoever started this server made it reachable from other machines, so it lets in only browsers that
bring its access token.</p>
<p>When it started, the server printed an address ending in <code>?token=&hellip;</code>. Open that
address (ask whoever runs the server for it). The token is then kept in a cookie for this site, so the
pages and the live stream work without typing it again.</p>
<p>Scripts send the header <code>{html.escape('Authorization: Bearer <token>')}</code> instead.</p>
"""
