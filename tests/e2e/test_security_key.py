"""Security keys in a real browser: Chromium's virtual authenticator (DevTools protocol
`WebAuthn.addVirtualAuthenticator`) as a CTAP2 key and as a legacy U2F key — register it,
sign out, sign in with it, remove it."""

import pytest
from playwright.sync_api import expect

from conftest import Server
from test_mfa import create_account, sign_in_password


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
        page.get_by_role("button", name="Sign out").click()

        sign_in_password(page, server, "ann@example.com")
        expect(page.get_by_label("MFA code")).to_have_count(0)
        page.get_by_role("button", name="Use security key").click()
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()

        page.get_by_role("row", name=f"{protocol} key").get_by_role("link", name="Manage").click()
        expect(page.get_by_role("heading", name="Resync")).to_have_count(0)
        page.get_by_role("button", name="Remove").click()
        expect(page.get_by_role("status")).to_contain_text("The MFA device was removed")
        sign_in_password(page, server, "ann@example.com")
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    finally:
        server.stop()
