"""A small OpenID provider on loopback, built from OpenID Connect Core 1.0 and Discovery 1.0, for the SSO tests.

- Discovery (Discovery §4): `/.well-known/openid-configuration` with issuer, endpoints, `jwks_uri`,
  `response_types_supported: [code]`, `id_token_signing_alg_values_supported: [RS256]`.
- JWKS (`/jwks`): the public RSA signing key, with its `kid`.
- Authorization endpoint (Core §3.1.2): `GET /authorize` checks client_id, the registered redirect_uri,
  `response_type=code`, the `openid` scope and a PKCE S256 `code_challenge` (RFC 7636), then shows a sign-in
  form (the browser test fills it); `POST /authorize` with `login` issues a one-time code and redirects to
  `redirect_uri?code=...&state=...` (Core §3.1.2.5). An unknown login is answered with `error=access_denied`.
- Token endpoint (Core §3.1.3): `POST /token` with client_secret_basic or client_secret_post, the code (once
  only, 60 s), the same redirect_uri and the PKCE verifier; answers access_token, token_type Bearer, expires_in
  and an ID token (Core §2: iss, sub, aud, exp, iat, nonce, plus the user's claims) signed with RS256.

Attacks are switched on per test: `tamper` overrides ID-token claims of the next tokens, `signing` chooses how
they are signed ("rs256", "none" for an unsigned token, "other-key" for a key not in the JWKS, "hs256-secret"
for an HMAC keyed with the client secret).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, request
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from markupsafe import escape
from werkzeug.serving import make_server


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    def __init__(self, client_id: str = "pql-dashboard", client_secret: str = "provider-secret-0123456789"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
        self.users: dict[str, dict] = {}
        self.redirect_uris: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.tamper: dict = {}
        self.signing = "rs256"
        self.token_requests = 0
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Provider":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def add_user(self, login: str, **claims) -> None:
        self.users[login] = {"sub": secrets.token_hex(8), "email": login, "email_verified": True, **claims}

    # --- tokens -------------------------------------------------------------------------------------------------

    def id_token(self, user: dict, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300, **user}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.tamper)
        claims = {k: v for k, v in claims.items() if v is not None}
        if self.signing == "none":
            return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}."
        if self.signing == "hs256-secret":
            return jwt.encode({"alg": "HS256", "kid": "key-1"}, claims, OctKey.import_key(self.client_secret))
        key = self.other_key if self.signing == "other-key" else self.key
        return jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, key)

    # --- endpoints ----------------------------------------------------------------------------------------------

    def _build(self) -> Flask:
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(issuer=self.issuer, authorization_endpoint=self.issuer + "/authorize",
                           token_endpoint=self.issuer + "/token", jwks_uri=self.issuer + "/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"],
                           scopes_supported=["openid", "email", "profile"],
                           token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                           code_challenge_methods_supported=["S256"])

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(private=False)])

        def checked_request(values) -> dict:
            if values.get("client_id") != self.client_id:
                abort(400, "unknown client_id")
            if values.get("redirect_uri") not in self.redirect_uris:
                abort(400, "redirect_uri is not registered for this client")  # never redirect to it (Core §3.1.2.6)
            if values.get("response_type") != "code" or "openid" not in values.get("scope", "").split():
                abort(400, "response_type must be code and scope must include openid")
            if values.get("code_challenge_method") != "S256" or not values.get("code_challenge"):
                abort(400, "PKCE S256 code_challenge required")
            keys = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
                    "code_challenge_method")
            return {k: values.get(k, "") for k in keys}

        @app.get("/authorize")
        def authorize_form():
            params = checked_request(request.args)
            hidden = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in params.items())
            return (f'<!doctype html><title>Loopback IdP</title><h1>Loopback identity provider</h1>'
                    f'<form method="post" action="/authorize">{hidden}<label for="login">Email</label>'
                    f'<input id="login" name="login"><button id="idp-submit" type="submit">Continue</button></form>')

        @app.post("/authorize")
        def authorize():
            params = checked_request(request.form)
            back = params["redirect_uri"]
            user = self.users.get(request.form.get("login", ""))
            if user is None:
                return "", 302, {"Location": back + "?" + urlencode({"error": "access_denied",
                                                                     "state": params["state"]})}
            code = secrets.token_urlsafe(16)
            self.codes[code] = {**params, "user": user, "at": time.time()}
            return "", 302, {"Location": back + "?" + urlencode({"code": code, "state": params["state"]})}

        @app.post("/token")
        def token():
            self.token_requests += 1
            auth = request.authorization
            client_id, secret = (auth.username, auth.password) if auth else \
                (request.form.get("client_id"), request.form.get("client_secret"))
            if client_id != self.client_id or secret != self.client_secret:
                return jsonify(error="invalid_client"), 401
            if request.form.get("grant_type") != "authorization_code":
                return jsonify(error="unsupported_grant_type"), 400
            grant = self.codes.pop(request.form.get("code", ""), None)  # a code works once (Core §3.1.3.2)
            if grant is None or time.time() - grant["at"] > 60 or grant["client_id"] != client_id \
                    or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE verification failed"), 400
            return jsonify(access_token=secrets.token_urlsafe(24), token_type="Bearer", expires_in=300,
                           id_token=self.id_token(grant["user"], grant["nonce"] or None))

        return app
