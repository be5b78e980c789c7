"""Sign-in with OpenID Connect in a real browser (Debian's chromium, Playwright) against the loopback provider.

The dashboard and the provider are two servers on 127.0.0.1; the browser follows every redirect itself.
"""
from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.dashboard_helpers import LiveServer
from tests.oidc_provider import Provider
from tests.test_dashboard_browser import browser, shot  # noqa: F401 - the shared chromium fixture


@pytest.fixture
def sso_site(tmp_path):
    from crm_app import create_app
    from crm_app.config import Config
    with Provider() as idp:
        idp.add_user("ana@corp.example", name="Ana Admin", groups=["pql-admins"])
        idp.add_user("eve@elsewhere.example", groups=[])
        config = Config.from_env({}, database_url=f"sqlite:///{tmp_path}/pql.db", specs_root=str(ROOT),
                                 secret_key="s" * 32, oidc_issuer=idp.issuer, oidc_client_id=idp.client_id,
                                 oidc_client_secret=idp.client_secret, oidc_provider_name="Loopback IdP",
                                 oidc_role_claim="groups", oidc_role_map="pql-admins=admin",
                                 oidc_allowed="@corp.example=viewer")
        app = create_app(config)
        with LiveServer(app) as server:
            idp.redirect_uris.add(server.url + "/dashboard/login/sso/callback")
            yield server, app, idp
        app.config["PQL_STORE"].dispose()


def sso_sign_in(page, server, login: str) -> None:
    page.goto(server.url + "/dashboard/audit")
    assert "/dashboard/login" in page.url
    page.click("#sso")
    page.wait_for_selector("#idp-submit")
    assert page.url.startswith(page.url.split("/authorize")[0]) and "/authorize?" in page.url
    page.fill("#login", login)
    page.click("#idp-submit")


def test_an_admin_signs_in_through_the_provider_and_lands_where_they_were_going(browser, sso_site):  # noqa: F811
    from crm_app.services.dashboard.users import audit_entries
    server, app, idp = sso_site
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/dashboard/login")
    shot(page, "20-login-with-sso")
    sso_sign_in(page, server, "ana@corp.example")
    row = page.wait_for_selector("#audit tr[data-action=sign_in]")
    assert page.url == server.url + "/dashboard/audit"  # the page asked for before signing in
    assert "ana@corp.example" in row.inner_text() and "oidc" in row.inner_text()
    assert "ana@corp.example" in page.inner_text("nav")
    shot(page, "21-signed-in-with-sso")
    entry = audit_entries(app.config["PQL_STORE"], 1, "sign_in")[0]
    assert (entry["actor"], entry["detail"]["role"]) == ("ana@corp.example", "admin")

    # The admin adds a manager on the Users page; the audit log names the admin.
    page.click("nav >> text=Users")
    page.fill("#new-user", "rita@corp.example")
    page.select_option("#new-role", "manager")
    page.click("#add-user button[type=submit]")
    page.wait_for_selector("#new-password")
    assert page.inner_text('#users tr[data-user="rita@corp.example"] select option:checked') == "manager"
    shot(page, "23-users")
    added = audit_entries(app.config["PQL_STORE"], 1, "user_added")[0]
    assert (added["actor"], added["target"]) == ("ana@corp.example", "rita@corp.example")
    assert not errors, errors


def test_a_stranger_is_turned_away_with_the_reason(browser, sso_site):  # noqa: F811
    server, app, idp = sso_site
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    sso_sign_in(page, server, "eve@elsewhere.example")
    page.wait_for_selector("text=Sign-in refused")
    assert "eve@elsewhere.example may not use this dashboard" in page.inner_text("body")
    shot(page, "22-sso-refused")
    page.goto(server.url + "/dashboard/")
    assert "/dashboard/login" in page.url
