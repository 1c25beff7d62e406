"""Forward-auth in a real browser behind a real reverse proxy: Debian's nginx guards an
application at app.example.test with `auth_request` against latchkey's /auth/verify, latchkey
serves at login.example.test and sets its proxy cookie for example.test. A person opening the
application is sent to latchkey's sign-in, comes back to the page they asked for with their
identity in headers only the proxy can set, and is refused again once they sign out."""

import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect

from conftest import Server
from proxy import Nginx, Upstream
from test_mfa import PASSWORD, create_account, oathtool, sign_in_password
from test_recovery import activate_virtual
from twilio_phone import TwilioPhone

COOKIE_DOMAIN = "example.test"
# RFC 8176's registry of Authentication Method Reference values.
AMR_VALUES = {"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba",
              "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia"}


@pytest.fixture
def phone():
    # latchkey's public URL names a host other than loopback, so it insists on real SMTP and
    # Twilio: this stands in for Twilio (no call is placed in these tests).
    twilio = TwilioPhone()
    yield twilio
    twilio.stop()


@pytest.fixture
def login(smtp, phone):
    """latchkey at http://login.example.test:PORT, its proxy cookie set for example.test."""
    srv = Server(smtp.port, twilio=phone, host="login." + COOKIE_DOMAIN,
                 extra_env={"LATCHKEY_COOKIE_DOMAIN": COOKIE_DOMAIN})
    yield srv
    srv.stop()


@pytest.fixture
def upstream():
    app = Upstream()
    yield app
    app.stop()


@pytest.fixture
def nginx(upstream, login):
    proxy = Nginx(upstream.port, login.port, server_name="app." + COOKIE_DOMAIN)
    yield proxy
    proxy.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def verify(server, headers, method="GET", query=""):
    """Asks latchkey's /auth/verify directly, as a proxy would: (status, headers, body)."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/auth/verify{query}", method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def return_to_of(server, location):
    """The destination a sign-in link carries; asserts the link is latchkey's sign-in page."""
    link = urllib.parse.urlsplit(location)
    assert f"{link.scheme}://{link.netloc}" == server.base and link.path == "/signin", location
    query = urllib.parse.parse_qs(link.query, strict_parsing=True)
    assert list(query) == ["return_to"] and len(query["return_to"]) == 1, location
    return query["return_to"][0]


def proxy_cookie(page):
    cookies = [c for c in page.context.cookies() if c["name"] == "latchkey_proxy"]
    assert len(cookies) <= 1, cookies
    return cookies[0] if cookies else None


def assert_identity(seen, account_id, email, amr):
    assert seen["Remote-User"] == account_id, seen
    assert seen["Remote-Email"] == email, seen
    assert seen["Remote-Name"] == "Acme", seen
    methods = seen["Remote-Authentication-Methods"].split(" ")
    assert set(methods) <= AMR_VALUES and len(set(methods)) == len(methods), seen
    assert amr <= set(methods), seen


def test_the_proxy_sends_a_stranger_to_sign_in_and_back_and_refuses_them_after_sign_out(page, login, nginx, upstream):
    email = "fay@example.com"
    account_id = create_account(login, email)
    assert re.fullmatch(r"\d{12}", account_id), account_id

    # A password sign-in on latchkey itself sets the proxy cookie for the whole domain, bound
    # to the session; the proxy learns the identity from it (asked directly, as nginx asks).
    sign_in_password(page, login, email)
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    cookie = proxy_cookie(page)
    assert cookie is not None, page.context.cookies()
    assert cookie["domain"] in (COOKIE_DOMAIN, "." + COOKIE_DOMAIN), cookie
    assert cookie["path"] == "/" and cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
    status, headers, body = verify(login, {"X-Original-URL": nginx.base + "/", "Cookie": f"latchkey_proxy={cookie['value']}"})
    assert (status, body) == (200, b""), (status, dict(headers), body, login.logs()[-3000:])
    assert headers["Remote-Authentication-Methods"] == "pwd", dict(headers)
    assert_identity(headers, account_id, email, {"pwd"})

    # With a virtual MFA device the next sign-in takes two factors. Signing out clears the
    # cookie in the browser and ends it at latchkey.
    secret = activate_virtual(page, "Fay's phone")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert proxy_cookie(page) is None, page.context.cookies()
    status, headers, _ = verify(login, {"X-Original-URL": nginx.base + "/", "Cookie": f"latchkey_proxy={cookie['value']}"})
    assert status == 401, (status, dict(headers))

    # A stranger opens a page of the application: nginx sends them to latchkey's sign-in,
    # which knows where they were going.
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    target = nginx.base + "/some/page?x=1&y=2"
    page.goto(target)
    expect(page).to_have_url(re.compile("^" + re.escape(login.base + "/signin?")))
    assert urllib.parse.urlsplit(page.url).hostname == "login." + COOKIE_DOMAIN, page.url
    assert return_to_of(login, page.url) == target
    assert upstream.hits == 0, upstream.requests

    page.get_by_label("Root user email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Multi-factor authentication")).to_be_visible()
    page.get_by_label("MFA code").fill(oathtool(secret, time.time() + 30))
    page.get_by_role("button", name="Submit").click()

    # Back on exactly the page asked for, which the application served with the identity
    # nginx took from latchkey's answer.
    try:
        expect(page).to_have_url(target)
    except AssertionError as error:
        # Chromium explains a redirect it refused (e.g. by CSP) only on the console.
        raise AssertionError(f"{error}\nbrowser console errors: {console_errors}") from None
    assert upstream.hits == 1, upstream.requests
    seen = upstream.requests[-1]
    assert seen["path"] == "/some/page?x=1&y=2", seen
    assert_identity(seen, account_id, email, {"pwd", "otp"})
    expect(page.locator("body")).to_contain_text(account_id)

    # Identity headers a client sends never reach the application: nginx sets them.
    page.set_extra_http_headers({"Remote-User": "000000000001", "Remote-Email": "mallory@example.test",
                                 "Remote-Name": "Mallory", "Remote-Authentication-Methods": "hwk",
                                 "Remote-Authentication-Class": "urn:latchkey:acr:forged"})
    page.goto(nginx.base + "/spoofed")
    expect(page).to_have_url(nginx.base + "/spoofed")
    assert upstream.hits == 2, upstream.requests
    assert upstream.requests[-1]["path"] == "/spoofed"
    assert_identity(upstream.requests[-1], account_id, email, {"pwd", "otp"})
    assert upstream.requests[-1]["Remote-Authentication-Class"] == "urn:latchkey:acr:mfa", upstream.requests[-1]
    page.set_extra_http_headers({})

    # Signed in, a sign-in link with a destination goes straight there.
    elsewhere = nginx.base + "/elsewhere?z=3"
    page.goto(login.base + "/signin?return_to=" + urllib.parse.quote(elsewhere, safe=""))
    expect(page).to_have_url(elsewhere)
    assert upstream.hits == 3 and upstream.requests[-1]["path"] == "/elsewhere?z=3", upstream.requests

    # Sign out in latchkey's console: the application refuses the browser again.
    signed_in_cookie = proxy_cookie(page)
    assert signed_in_cookie is not None, page.context.cookies()
    page.goto(login.base + "/console/security-credentials")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert proxy_cookie(page) is None, page.context.cookies()
    page.goto(target)
    expect(page).to_have_url(re.compile("^" + re.escape(login.base + "/signin?")))
    assert return_to_of(login, page.url) == target
    assert upstream.hits == 3, upstream.requests
    # A copy of the cookie kept from before is worthless too: the session it was bound to ended.
    status, headers, _ = verify(login, {"X-Original-URL": target, "Cookie": f"latchkey_proxy={signed_in_cookie['value']}"})
    assert status == 401, (status, dict(headers))


def test_verify_offers_sign_in_only_for_destinations_under_the_cookie_domain(login):
    app = "http://app.example.test:8080"
    original = app + "/x?a=1&b=2"

    # No cookie, a destination under the cookie domain: 401 with a sign-in link carrying it.
    for method in ("GET", "HEAD", "POST"):
        status, headers, _ = verify(login, {"X-Original-URL": original}, method=method)
        assert status == 401, (method, status, dict(headers))
        assert headers["Location"] is not None, (method, dict(headers))
        assert urllib.parse.urlsplit(headers["Location"]).hostname == "login." + COOKIE_DOMAIN, headers["Location"]
        assert return_to_of(login, headers["Location"]) == original
        assert headers["Remote-User"] is None, dict(headers)

    # The same original URL given as X-Forwarded-* headers.
    status, headers, _ = verify(login, {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.example.test:8080",
                                        "X-Forwarded-Uri": "/x?a=1&b=2"})
    assert status == 401 and headers["Location"] is not None, (status, dict(headers))
    assert return_to_of(login, headers["Location"]) == original

    # The cookie domain itself is an acceptable destination.
    status, headers, _ = verify(login, {"X-Original-URL": "https://example.test/"})
    assert status == 401 and return_to_of(login, headers["Location"]) == "https://example.test/", dict(headers)

    # For Caddy and Traefik: a redirect instead.
    status, headers, _ = verify(login, {"X-Original-URL": original}, query="?redirect=true")
    assert status == 302, (status, dict(headers))
    assert return_to_of(login, headers["Location"]) == original

    # Never a sign-in link that would send the person elsewhere afterwards.
    for elsewhere in ("https://evil.example/", "https://example.test.evil.example/", "http://notexample.test/",
                      "http://fay@app.example.test:8080/x", "javascript:alert(1)//app.example.test",
                      "ftp://app.example.test/"):
        status, headers, _ = verify(login, {"X-Original-URL": elsewhere})
        assert status == 401, (elsewhere, status, dict(headers))
        assert headers["Location"] is None, (elsewhere, dict(headers))
        status, headers, _ = verify(login, {"X-Original-URL": elsewhere}, query="?redirect=true")
        assert headers["Location"] is None, (elsewhere, status, dict(headers))

    # A cookie that is not latchkey's is no proof of anything.
    status, headers, _ = verify(login, {"X-Original-URL": original, "Cookie": "latchkey_proxy=forged"})
    assert status == 401 and headers["Remote-User"] is None, (status, dict(headers))
