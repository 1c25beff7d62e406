"""latchkey as an OpenID Connect provider, seen from a relying party written as an application
would write one (oidc_rp/rp.mjs): openid-client runs discovery and the code flow with PKCE,
state and nonce, and jose verifies the ID token against the published keys on its own. The
browser signs in on latchkey's own pages — with a virtual MFA device, with the password alone,
or with alternative factors (the email through a real SMTP server, the call through a server
speaking Twilio's protocol) — and the RP reports what it got as JSON."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import Server, free_port, latchkey_binary
from test_mfa import PASSWORD, create_account, oathtool, sign_in_password
from test_recovery import activate_virtual
from twilio_phone import TwilioPhone

RP_DIR = Path(__file__).resolve().parent / "oidc_rp"
ACR_MFA = "urn:latchkey:acr:mfa"
ACR_PASSWORD = "urn:latchkey:acr:password"
ACR_ALTERNATIVE = "urn:latchkey:acr:alternative-factors"


def cli(server, *args):
    """The latchkey command line on the server's data (as an operator runs it beside it)."""
    env = {"LATCHKEY_DATA_DIR": server.dir, "PATH": "/usr/bin:/bin"}
    if server.database_url:
        env["LATCHKEY_DATABASE_URL"] = server.database_url
    out = subprocess.run([str(latchkey_binary()), *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"latchkey {' '.join(args)} exited {out.returncode}:\n{out.stderr}{out.stdout}")
    return out.stdout


def account_id(server, email):
    return json.loads(cli(server, "account", "show", email, "--json"))["id"]


class RelyingParty:
    """`node rp.mjs` for one client registered with `latchkey oidc client add`."""

    def __init__(self, server, name, flags, scope="openid email profile", acr_values=None, client_auth="basic"):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is required by the OpenID Connect test (scripts/test installs it)")
        if not (RP_DIR / "node_modules" / "openid-client").is_dir():
            raise RuntimeError(f"openid-client is not installed: run `npm ci` in {RP_DIR} (scripts/test does)")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = json.loads(cli(
            server, "oidc", "client", "add", "--name", name,
            "--redirect-uri", self.base + "/callback", "--post-logout-redirect-uri", self.base + "/logged-out",
            *flags, "--json",
        ))
        env = {k: v for k, v in os.environ.items() if k not in ("CLIENT_SECRET", "ACR_VALUES")}
        env.update({
            "ISSUER": server.base,
            "CLIENT_ID": self.client["client_id"],
            "CLIENT_AUTH": client_auth,
            "REDIRECT_URI": self.base + "/callback",
            "POST_LOGOUT_URI": self.base + "/logged-out",
            "PORT": str(self.port),
            "SCOPE": scope,
        })
        if self.client.get("client_secret"):
            env["CLIENT_SECRET"] = self.client["client_secret"]
        if acr_values:
            env["ACR_VALUES"] = acr_values
        # Beside the server's own log, in its directory.
        self.log_path = Path(server.dir) / f"rp-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([node, "rp.mjs"], cwd=RP_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=30):
        # The RP opens its port only once discovery succeeded; it gives no other signal.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the relying party exited {self.process.returncode}:\n{self.logs()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the relying party did not start:\n{self.logs()}")

    def get(self, path):
        """A JSON route of the RP, from outside the browser: (status, body)."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def logs(self):
        return self.log_path.read_text()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def start_rp():
    started = []

    def start(server, name, *flags, **settings):
        rp = RelyingParty(server, name, flags, **settings)
        started.append(rp)
        return rp

    yield start
    for rp in started:
        rp.stop()


@pytest.fixture
def twilio():
    phone = TwilioPhone()
    yield phone
    phone.stop()


def answer_at(page, url_prefix, action):
    """Runs `action`, which ends on the RP at `url_prefix`, and returns the RP's JSON there."""
    with page.expect_response(lambda response: response.url.startswith(url_prefix)) as answer:
        action()
    return answer.value.json()


def straight_back(page, rp):
    """/login with latchkey's session already there: back at the RP's callback, nothing asked."""
    response = page.goto(rp.base + "/login")
    assert response.url.startswith(rp.base + "/callback"), f"stopped at {page.url}"
    return response.json()


def sign_in_on_the_way(page, server, email, secret=None):
    """latchkey's sign-in, reached from the authorization endpoint."""
    expect(page).to_have_url(re.compile("^" + re.escape(server.base + "/signin?return_to=")))
    page.get_by_label("Root user email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if secret is not None:
        page.get_by_label("MFA code").fill(oathtool(secret, time.time() + 30))
        page.get_by_role("button", name="Submit").click()


def sign_in_with_alternative_factors(browser, page, server, smtp, twilio, email):
    sign_in_password(page, server, email)
    page.get_by_role("link", name="Troubleshoot MFA").click()
    page.get_by_role("button", name="Sign in using alternative factors").click()
    page.get_by_role("button", name="Send verification email").click()
    link = smtp.link(email, "Verify your email address to sign in", "/recovery/email?token=")
    other = browser.new_context()
    mail_tab = other.new_page()
    mail_tab.goto(link)
    mail_tab.get_by_role("button", name="Confirm email address").click()
    expect(mail_tab.get_by_role("heading", name="Email address verified")).to_be_visible()
    other.close()
    expect(page.get_by_role("button", name="Call me now")).to_be_enabled(timeout=15_000)
    page.get_by_role("button", name="Call me now").click()
    code = page.locator("#phone-code").inner_text().strip()
    call = twilio.wait_for_call()
    call.answer()
    call.key(code)
    call.hang_up()
    expect(page.get_by_role("button", name="Sign in to the console")).to_be_enabled(timeout=15_000)
    page.get_by_role("button", name="Sign in to the console").click()
    expect(page.get_by_text("You signed in with alternative factors")).to_be_visible()


def test_an_application_signs_in_with_mfa_refreshes_and_signs_out(page, smtp, start_rp):
    server = Server(smtp.port, host="localhost")
    try:
        email = "olga@example.com"
        create_account(server, email)
        sub = account_id(server, email)
        sign_in_password(page, server, email)
        secret = activate_virtual(page, "Phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        rp = start_rp(server, "Acme Books", "--refresh-tokens", scope="openid email profile offline_access")

        # Signed out: latchkey's sign-in with the device, then consent, then back at the RP.
        page.goto(rp.base + "/login")
        sign_in_on_the_way(page, server, email, secret)
        expect(page.get_by_role("heading", name="Allow Acme Books to sign you in?")).to_be_visible()
        first = answer_at(page, rp.base + "/callback", page.get_by_role("button", name="Allow").click)
        assert first.get("joseVerified") is True and first["alg"] == "RS256", first
        claims = first["claims"]
        assert claims["sub"] == sub, first
        assert claims["email"] == email and claims["email_verified"] is True, first
        assert claims["name"] == "Acme", first
        assert claims["acr"] == ACR_MFA and first["acr"] == ACR_MFA, first
        assert "pwd" in claims["amr"] and "otp" in claims["amr"], first
        assert isinstance(claims["auth_time"], int) and claims["nonce"], first
        assert first["userinfo"] == {"sub": sub, "email": email, "email_verified": True, "name": "Acme"}, first
        assert first["hasRefreshToken"] is True, first

        # The consent is kept: the second login goes straight through, on the same sign-in.
        second = straight_back(page, rp)
        assert second.get("joseVerified") is True, second
        assert second["claims"]["sub"] == sub and second["acr"] == ACR_MFA, second
        assert second["claims"]["auth_time"] == claims["auth_time"], (claims, second)

        # Refresh tokens rotate; a used one presented again revokes the whole family.
        status, refreshed = rp.get("/refresh")
        assert status == 200 and refreshed["rotated"] is True and refreshed["newAccessToken"] is True, refreshed
        status, info = rp.get("/userinfo")
        assert status == 200 and info["userinfo"]["sub"] == sub, info
        status, replay = rp.get("/refresh-old")
        assert replay.get("error") == "invalid_grant", (status, replay)
        status, newest = rp.get("/refresh")
        assert newest.get("error") == "invalid_grant", (status, newest)

        # RP-initiated logout signs the browser out of latchkey and revokes the access token.
        third = straight_back(page, rp)
        assert third["claims"]["sub"] == sub, third
        status, info = rp.get("/userinfo")
        assert status == 200 and info["userinfo"]["sub"] == sub, info

        def log_out():
            page.goto(rp.base + "/logout")
            if not page.url.startswith(rp.base + "/logged-out"):
                page.get_by_role("button", name="Sign out", exact=True).click()

        assert answer_at(page, rp.base + "/logged-out", log_out) == {"state_ok": True}
        status, info = rp.get("/userinfo")
        assert info.get("status") == 401, (status, info)
        page.goto(rp.base + "/login")
        expect(page).to_have_url(re.compile("^" + re.escape(server.base + "/signin?return_to=")))
    finally:
        server.stop()


def test_first_party_clients_skip_consent_and_a_denial_reaches_the_application(page, smtp, start_rp):
    server = Server(smtp.port, host="localhost")
    try:
        email = "paz@example.com"
        create_account(server, email)
        sub = account_id(server, email)
        own = start_rp(server, "Acme Console", "--first-party", "--id-token-alg", "ES256", client_auth="post")
        other = start_rp(server, "Elsewhere", client_auth="basic")

        # A first-party client is not asked about; the password alone is `pwd`; ES256 on request.
        page.goto(own.base + "/login")
        got = answer_at(page, own.base + "/callback", lambda: sign_in_on_the_way(page, server, email))
        assert got.get("joseVerified") is True and got["alg"] == "ES256", got
        assert got["claims"]["sub"] == sub and got["acr"] == ACR_PASSWORD, got
        assert got["claims"]["amr"] == ["pwd"], got

        # Another client is asked about; `Deny` is `access_denied` at the application.
        page.goto(other.base + "/login")
        expect(page.get_by_role("heading", name="Allow Elsewhere to sign you in?")).to_be_visible()
        denied = answer_at(page, other.base + "/callback", page.get_by_role("button", name="Deny").click)
        assert denied.get("error") == "access_denied" and denied.get("codeIssued") is False, denied
    finally:
        server.stop()


def test_a_session_from_alternative_factors_is_refused_where_mfa_is_required(browser, page, smtp, twilio, start_rp):
    server = Server(smtp.port, twilio=twilio, host="localhost")
    try:
        email = "rita@example.com"
        create_account(server, email)
        sign_in_password(page, server, email)
        activate_virtual(page, "Lost phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_with_alternative_factors(browser, page, server, smtp, twilio, email)

        strict = start_rp(server, "Acme Books", "--first-party", "--allow-recovery", acr_values=ACR_MFA)
        answer = straight_back(page, strict)
        assert answer.get("error") == "unmet_authentication_requirements", answer
        assert answer.get("codeIssued") is False and "claims" not in answer, answer

        closed = start_rp(server, "Acme Shop", "--first-party")
        answer = straight_back(page, closed)
        assert answer.get("error") == "access_denied", answer
        assert answer.get("codeIssued") is False and "claims" not in answer, answer

        # A client that allows recovery and asks for nothing more gets the session as it is.
        lenient = start_rp(server, "Acme Help", "--first-party", "--allow-recovery")
        answer = straight_back(page, lenient)
        assert answer.get("joseVerified") is True, answer
        assert answer["claims"]["sub"] == account_id(server, email), answer
        assert answer["acr"] == ACR_ALTERNATIVE, answer
    finally:
        server.stop()
