"""Every dashboard page at a desktop width and at a phone's 390 px, in Debian's chromium: no horizontal overflow.

Screenshots land in test-artifacts/dashboard/responsive-<page>-<width>.png for a human to look at.
"""
from __future__ import annotations

import pytest

from tests.test_dashboard_browser import ARTIFACTS, browser, login, site  # noqa: F401 - shared fixtures

WIDTHS = (1280, 390)
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    const box = el.getBoundingClientRect();
    if (box.right <= width + 1) return false;
    for (let up = el.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (['auto', 'scroll', 'hidden'].includes(style.overflowX)) return false;  // scrolls inside its box
    }
    return true;
  });
  return {scroll: document.documentElement.scrollWidth, width,
          culprits: wide.slice(0, 5).map(el => el.tagName + '.' + el.className + '#' + el.id)};
}"""


def pages(app) -> list[tuple[str, str]]:
    from sqlalchemy import select
    from crm_app.store import schema
    r = schema.results
    with app.config["PQL_STORE"].read() as conn:
        person = conn.execute(select(r.c.subject_id).where(r.c.model == "conversion", r.c.pql.is_(True))
                              .limit(1)).scalar()
        account = conn.execute(select(r.c.subject_id).where(r.c.model == "account")
                               .order_by(r.c.combined.desc()).limit(1)).scalar()
    return [("overview", "/dashboard/"), ("people", "/dashboard/people"),
            ("people-search", "/dashboard/people?q=a"), ("person", f"/dashboard/people/{person}"),
            ("accounts", "/dashboard/accounts"), ("account", f"/dashboard/accounts/{account}"),
            ("thresholds", "/dashboard/thresholds"), ("rules", "/dashboard/rules"), ("models", "/dashboard/models"),
            ("backtest", "/dashboard/backtest"), ("activity", "/dashboard/activity"),
            ("integrations", "/dashboard/integrations"), ("audit", "/dashboard/audit")]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen(browser, site, width):  # noqa: F811 - fixtures imported above
    server, app, _config, _password = site
    page = browser.new_page(viewport={"width": width, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server.url, "manager", "manager-pw")  # the admin's one-time password is used once
    page.wait_for_url("**/dashboard/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overflowing = {}
    for name, path in pages(app):
        response = page.goto(server.url + path)
        assert response.status == 200, (path, response.status)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(OVERFLOW)
        if found["scroll"] > found["width"] + 1 or found["culprits"]:
            overflowing[name] = found
        page.screenshot(path=str(ARTIFACTS / f"responsive-{name}-{width}.png"), full_page=True)
    page.close()
    assert not overflowing, overflowing
    assert not errors, errors
