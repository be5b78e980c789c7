"""Sign-in with OpenID Connect (Google Workspace, Okta, Entra ID, any conforming provider) through Authlib.

Authlib runs the authorization-code flow with PKCE, keeps the state and nonce server-side (StoreStateCache),
and checks the ID token's signature against the provider's JWKS, its issuer, audience, expiry and nonce. What
the verified claims are worth (a verified email, a role) is decided by services.dashboard.sso.
"""
from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import abort, current_app, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from crm_app.services.dashboard import auth as service
from crm_app.services.dashboard.sso import SignInRefused, policy, sign_in_as
from crm_app.services.dashboard.sso_states import StoreStateCache
from crm_app.services.dashboard.users import record
from crm_app.web.dashboard.blueprint import bp, config, store
from crm_app.web.dashboard.redirects import local_path

log = logging.getLogger(__name__)
STATE_SECONDS = 600  # a sign-in started must come back from the provider within this


def install(app) -> None:
    """Register the provider when OIDC_ISSUER is set; a malformed role setting stops the app at start."""
    settings = app.config["PQL_CONFIG"]
    if not settings.oidc_issuer:
        return
    rules = policy(settings)
    oauth = OAuth(app, cache=StoreStateCache(app.config["PQL_STORE"]))
    client = oauth.register(
        "oidc", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10})
    client.framework.expires_in = STATE_SECONDS
    app.extensions["pql_sso"] = (client, rules)


def enabled() -> bool:
    return "pql_sso" in current_app.extensions


def _client():
    if not enabled():
        abort(404, description="Sign-in with OpenID Connect is not configured (OIDC_ISSUER is empty).")
    client, rules = current_app.extensions["pql_sso"]
    try:
        issuer = client.load_server_metadata().get("issuer")
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID provider discovery failed: %s", exc)
        abort(503, description="The sign-in provider cannot be reached; try again shortly, or sign in with a "
                               "password.")
    if issuer != config().oidc_issuer:
        abort(503, description=f"The sign-in provider calls itself {str(issuer)[:200]!r}, not OIDC_ISSUER "
                               f"{config().oidc_issuer!r}; set OIDC_ISSUER to the provider's exact issuer.")
    return client, rules


def _throttle_key() -> tuple[str, str]:
    """Refused SSO callbacks count as failed sign-ins of this address (per address, never one shared name, so
    nobody can lock SSO for everyone): they are throttled like wrong passwords and cannot flood the audit log."""
    address = request.remote_addr or "unknown"
    return f"(sso) {address}"[:255], address


def _refuse(code: int, reason: str, detail: dict | None = None):
    user, address = _throttle_key()
    service.record_failure(store(), user, address)
    record(store(), "anonymous", "sign_in_refused", None,
           {"method": "oidc", "reason": reason, "address": address, **(detail or {})})
    return render_template("dashboard/error.html", code=code, name="Sign-in refused", description=reason), code


@bp.route("/login/sso")
def sso_start():
    client, _ = _client()
    for key in [k for k in session if k.startswith("_state_oidc_")]:
        session.pop(key)  # one sign-in under way per browser: restarts must not grow the cookie
    session["sso_next"] = local_path(request.args.get("next"))
    try:
        return client.authorize_redirect(url_for("dashboard.sso_callback", _external=True))
    except requests.RequestException as exc:
        log.warning("OpenID provider unreachable: %s", exc)
        abort(503, description="The sign-in provider cannot be reached; try again shortly.")


@bp.route("/login/sso/callback")
def sso_callback():
    client, rules = _client()
    wait = service.locked_for(store(), *_throttle_key())
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return render_template("dashboard/error.html", code=429, name="Too many refused sign-ins",
                               description=f"Too many refused sign-ins from this address; try again in {minutes} "
                                           "minute(s)."), 429, {"Retry-After": str(wait)}
    if request.args.get("error"):
        said = f"{request.args.get('error', '')[:100]}: {request.args.get('error_description', '')[:300]}"
        return _refuse(401, f"The sign-in provider refused the sign-in ({said}).")
    iss = {"essential": True, "values": [config().oidc_issuer]}
    try:
        token = client.authorize_access_token(claims_options={"iss": iss}, leeway=60)
    except MismatchingStateError:
        return _refuse(400, "This sign-in link was already used, has expired or was started in another browser; "
                            "start again from the sign-in page.")
    except requests.RequestException as exc:
        log.warning("OpenID token endpoint unreachable: %s", exc)
        abort(503, description="The sign-in provider cannot be reached; try again shortly.")
    except OAuthError as exc:
        return _refuse(401, f"The sign-in provider refused the code ({exc.error}).")
    except (AuthlibBaseError, JoseError, ValueError) as exc:
        return _refuse(401, f"The sign-in provider's ID token is not valid ({type(exc).__name__}: "
                            f"{str(exc)[:200]}).")
    if token.get("userinfo") is None:
        return _refuse(401, "The sign-in provider sent no ID token.")
    try:
        user, role = sign_in_as(rules, dict(token["userinfo"]))
    except SignInRefused as exc:
        return _refuse(403, str(exc), {"sub": str(token["userinfo"].get("sub"))[:255]})
    next_path = local_path(session.get("sso_next"))
    session.clear()
    session.update(sid=service.open_session(store(), user, role), user=user, role=role)
    record(store(), user, "sign_in", user, {"role": role, "address": request.remote_addr or "unknown",
                                            "method": "oidc"})
    return redirect(next_path)
