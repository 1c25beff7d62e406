"""Security keys in a real browser: Chromium's virtual authenticator (DevTools protocol
`WebAuthn.addVirtualAuthenticator`) as a CTAP2 key and as a legacy U2F key — register it,
sign out, sign in with it, remove it."""

import pytest
from playwright.sync_api import expect

from conftest import Server, answer_the_call
from test_mfa import PASSWORD, create_account, sign_in_password


def add_authenticator(page, protocol):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {"protocol": protocol, "transport": "usb", "hasResidentKey": False, "hasUserVerification": False,
               "isUserConsenting": True, "automaticPresenceSimulation": True}
    if protocol == "ctap2":
        options["ctap2Version"] = "ctap2_1"
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp


@pytest.mark.parametrize("protocol", ["ctap2", "u2f"])
def test_register_sign_in_and_remove_a_security_key(page, protocol):
    server = Server(host="localhost")
    try:
        add_authenticator(page, protocol)
        create_account(server, "ann@example.com")
        sign_in_password(page, server, "ann@example.com")
        page.get_by_role("link", name="Activate MFA").click()
        page.get_by_label("Security key").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Set up security key")).to_be_visible()
        page.get_by_label("Device name").fill(f"{protocol} key")
        page.get_by_role("button", name="Register security key").click()
        expect(page.get_by_role("status").first).to_contain_text("MFA device assigned")
        row = page.get_by_role("row", name=f"{protocol} key")
        expect(row).to_contain_text("Security key")
        page.get_by_role("button", name="Sign out", exact=True).click()

        # A page opened without a session sends the browser to sign in, and the sign-in
        # finished with the security key comes back to it.
        page.goto(server.base + "/console/mfa/activate")
        expect(page).to_have_url(server.base + "/signin?return_to=%2Fconsole%2Fmfa%2Factivate")
        page.get_by_label("Root user email address").fill("ann@example.com")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_label("MFA code")).to_have_count(0)
        page.get_by_role("button", name="Use security key").click()
        expect(page).to_have_url(server.base + "/console/mfa/activate")
        page.goto(server.base + "/console/security-credentials")
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()

        page.get_by_role("row", name=f"{protocol} key").get_by_role("link", name="Manage").click()
        expect(page.get_by_role("heading", name="Resync")).to_have_count(0)
        page.get_by_role("button", name="Remove").click()
        expect(page.get_by_role("status")).to_contain_text("The MFA device was removed")
        sign_in_password(page, server, "ann@example.com")
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    finally:
        server.stop()


def test_an_account_whose_only_device_was_a_security_key_recovers(browser, page):
    """The key is lost: alternative factors on the embedded defaults (built-in mailbox and
    phone) lead back to Security credentials, where the lost key is removed."""
    server = Server(host="localhost")
    try:
        cdp = add_authenticator(page, "ctap2")
        create_account(server, "kim@example.com")
        sign_in_password(page, server, "kim@example.com")
        page.get_by_role("link", name="Activate MFA").click()
        page.get_by_label("Security key").check()
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Device name").fill("Lost key")
        page.get_by_role("button", name="Register security key").click()
        expect(page.get_by_role("status").first).to_contain_text("MFA device assigned")
        page.get_by_role("button", name="Sign out", exact=True).click()
        cdp.send("WebAuthn.disable")

        sign_in_password(page, server, "kim@example.com")
        page.get_by_role("link", name="Troubleshoot MFA").click()
        expect(page.get_by_role("heading", name="Resync")).to_have_count(0)
        page.get_by_role("button", name="Sign in using alternative factors").click()
        page.get_by_role("button", name="Send verification email").click()
        mail = browser.new_context().new_page()
        mail.goto(server.base + "/dev/mailbox")
        mail.get_by_role("link", name="Verify your email address to sign in").first.click()
        mail.get_by_role("link", name="Open link 1").click()
        mail.get_by_role("button", name="Confirm email address").click()
        expect(page.get_by_role("button", name="Call me now")).to_be_enabled(timeout=15_000)
        page.get_by_role("button", name="Call me now").click()
        code = page.locator("#phone-code").inner_text().strip()
        answer_the_call(mail, server.base)
        mail.get_by_label("Keypad").fill(code)
        mail.get_by_role("button", name="Send digits").click()
        expect(page.get_by_role("button", name="Sign in to the console")).to_be_enabled(timeout=15_000)
        page.get_by_role("button", name="Sign in to the console").click()
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
        page.get_by_role("row", name="Lost key").get_by_role("link", name="Manage").click()
        page.get_by_role("button", name="Remove").click()
        expect(page.get_by_role("status")).to_contain_text("no longer protected by MFA")
    finally:
        server.stop()
