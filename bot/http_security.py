"""HTTP hygiene for the web app (issue 9): security headers, no version banner, the
WebSocket's Origin check and the client's address behind a trusted proxy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from aiohttp import web
from yarl import URL

from bot.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as browsers send it in `Origin` (default ports left out)."""
    parsed = URL(url)
    if not parsed.scheme or not parsed.host:
        raise ValueError(f"not an absolute URL: {url!r}")
    port = "" if parsed.is_default_port() else f":{parsed.port}"
    return f"{parsed.scheme}://{parsed.host.lower()}{port}"


@dataclass(frozen=True)  # not slots: cached_property needs a __dict__
class WebSecurity:
    """The security settings the web app applies, parsed once at start-up."""

    public_origin: str | None = None  # from PUBLIC_URL
    https: bool = False
    allowed_origins: frozenset[str] = frozenset()
    frame_ancestors: str = "'self'"
    # The widget's pages (/widget/…) may be framed by the allowed origins too: that is its job.
    widget_frame_ancestors: str = "'self'"
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSecurity:
        public = settings.public_url
        allowed = frozenset(origin_of(o) for o in _split(settings.web_allowed_origins))
        framing = [] if settings.web_frame_ancestors.strip() in ("", "'none'") else [settings.web_frame_ancestors.strip()]
        return cls(
            public_origin=origin_of(public) if public else None,
            https=bool(public and URL(public).scheme == "https"),
            allowed_origins=allowed,
            frame_ancestors=settings.web_frame_ancestors.strip() or "'none'",
            widget_frame_ancestors=" ".join(dict.fromkeys(["'self'", *framing, *sorted(allowed)])),
            trusted_proxies=tuple(ipaddress.ip_network(p, strict=False) for p in _split(settings.trusted_proxies)),
        )

    # --- headers ------------------------------------------------------------------------

    def content_security_policy(self, frame_ancestors: str | None = None) -> str:
        # No inline script or style anywhere: the pages load their own scripts and styles only.
        # Forms may post to this origin only (the agents' console logs in with one).
        return "; ".join([
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            "connect-src 'self'", "base-uri 'none'", "form-action 'self'", f"frame-ancestors {frame_ancestors or self.frame_ancestors}",
        ])

    def headers(self, frame_ancestors: str | None = None) -> dict[str, str]:
        headers = {
            "Content-Security-Policy": self.content_security_policy(frame_ancestors),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Server": "aftersales",  # no product or version banner
        }
        if self.https:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        return headers

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(self._widget_headers if request.path.startswith("/widget/") else self._headers)

    @cached_property
    def _headers(self) -> dict[str, str]:
        return self.headers()

    @cached_property
    def _widget_headers(self) -> dict[str, str]:
        return self.headers(self.widget_frame_ancestors)

    # --- origin -------------------------------------------------------------------------

    def own_origin(self, request: web.Request) -> str:
        if self.public_origin:
            return self.public_origin
        scheme = request.scheme
        if self.trusted_proxies and self._trusted(request.remote or ""):  # TLS ended at the proxy
            scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",", 1)[0].strip() or scheme
        return origin_of(f"{scheme}://{request.host}")

    def origin_allowed(self, request: web.Request) -> bool:
        """The page that opens the socket must be ours (or a configured embedding site).

        No Origin header: not a browser (browsers always send one with a WebSocket),
        so no cross-site hijacking is possible; such a client still needs the cookie."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        try:
            origin = origin_of(origin)
        except ValueError:  # "null" (sandboxed frames, file://) and garbage
            return False
        return origin == self.own_origin(request) or origin in self.allowed_origins

    # --- the client's address -------------------------------------------------------------

    def client_ip(self, request: web.Request) -> str:
        """The peer's address; behind a trusted proxy, the right-most untrusted hop of
        X-Forwarded-For (the left part is whatever the client wrote)."""
        peer = request.remote or ""
        if not self.trusted_proxies or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)


