"""Who may sign in with OpenID Connect, and with which role: the checks on a verified ID token's claims.

The signature, issuer, audience, expiry and nonce are checked by Authlib before these claims get here; this
module decides what the claims are worth: the user's name (an email), whether it is verified, and a role from
the role claim (OIDC_ROLE_MAP) or from the allow-list (OIDC_ALLOWED).
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.config import Config
from crm_app.errors import ConfigError
from crm_app.services.dashboard.auth import ROLES

RANK = {"viewer": 0, "manager": 1, "admin": 2}  # several mapped groups: the highest role wins


class SignInRefused(Exception):
    """An ID token that was genuine but does not let its holder in, with the reason shown to them."""


@dataclass(frozen=True)
class SsoPolicy:
    email_claim: str
    require_verified_email: bool
    hosted_domain: str
    role_claim: str
    role_map: dict[str, str]
    allowed: dict[str, str]  # "ana@corp.example" or "@corp.example" -> role


def _pairs(setting: str, raw: str) -> dict[str, str]:
    pairs = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, role = entry.rpartition("=")
        if not sep or not key.strip() or role.strip() not in ROLES:
            raise ConfigError(f"{setting}: {entry!r} is not NAME=ROLE with ROLE one of {', '.join(ROLES)}; "
                              f"e.g. {setting}=pql-admins=admin,@corp.example=viewer")
        pairs[key.strip().lower() if setting == "OIDC_ALLOWED" else key.strip()] = role.strip()
    return pairs


def policy(config: Config) -> SsoPolicy:
    """The sign-in policy from the settings; a malformed OIDC_ROLE_MAP or OIDC_ALLOWED is a ConfigError."""
    if "openid" not in config.oidc_scopes.split():
        raise ConfigError(f"OIDC_SCOPES={config.oidc_scopes!r} lacks openid; e.g. OIDC_SCOPES=openid email profile")
    if not (config.oidc_client_id and config.oidc_client_secret):
        raise ConfigError("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too")
    role_map, allowed = _pairs("OIDC_ROLE_MAP", config.oidc_role_map), _pairs("OIDC_ALLOWED", config.oidc_allowed)
    if not (config.oidc_role_claim and role_map) and not allowed:
        raise ConfigError("OIDC_ISSUER is set but nobody could sign in: set OIDC_ROLE_CLAIM with OIDC_ROLE_MAP, "
                          "or OIDC_ALLOWED (e.g. OIDC_ALLOWED=@corp.example=viewer)")
    return SsoPolicy(config.oidc_email_claim, bool(config.oidc_require_verified_email), config.oidc_hosted_domain,
                     config.oidc_role_claim, role_map, allowed)


def _claim_values(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def sign_in_as(rules: SsoPolicy, claims: dict) -> tuple[str, str]:
    """(user, role) for the holder of a verified ID token, or SignInRefused with the reason."""
    email = claims.get(rules.email_claim)
    if not isinstance(email, str) or "@" not in email or len(email) > 255:
        raise SignInRefused(f"The sign-in provider sent no usable {rules.email_claim!r} claim.")
    email = email.strip().lower()
    if rules.require_verified_email and claims.get("email_verified") is not True:
        raise SignInRefused(f"The sign-in provider has not verified {email}; verify it there and try again.")
    if rules.hosted_domain and claims.get("hd") != rules.hosted_domain:
        raise SignInRefused(f"{email} is not an account of {rules.hosted_domain}.")
    roles = [rules.role_map[v] for v in _claim_values(claims.get(rules.role_claim)) if v in rules.role_map] \
        if rules.role_claim else []
    if not roles:
        role = rules.allowed.get(email) or rules.allowed.get("@" + email.rpartition("@")[2])
        roles = [role] if role else []
    if not roles:
        raise SignInRefused(f"{email} may not use this dashboard; ask an admin to add you.")
    return email, max(roles, key=RANK.__getitem__)
