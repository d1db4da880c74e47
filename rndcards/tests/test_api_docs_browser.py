"""/api/docs/ in a real browser under the CSP the app is getting (script-src 'self'; style-src 'self')."""

import pytest

from rndcards.tests.test_browser import browser, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"


def test_swagger_ui_renders_every_operation_under_a_strict_csp_with_nothing_from_outside(page, live_server, db):  # noqa: F811
    violations: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    page.route("**/*", with_csp)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() == 13
    assert page.get_by_text("/api/projects/{id}/sections/{key}/regenerate/").count() == 1
    assert violations == []
    assert outside == []
