"""What every response of the app gets: security headers, Secure cookies over TLS, trusted reverse proxies."""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts only from this site's files (no inline script, no eval); style attributes stay allowed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class TlsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is `Secure` whenever the request came over TLS (directly or through a trusted proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def add_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def install(app: Flask, trusted_proxy_hops: int) -> None:
    """Headers on every response; with `trusted_proxy_hops` > 0, X-Forwarded-For/-Proto/-Host/-Port/-Prefix
    set by that many proxies give the client's address and scheme (never trust them without a proxy)."""
    if trusted_proxy_hops > 0:
        hops = trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    app.session_interface = TlsAwareSessions()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.after_request(add_headers)
