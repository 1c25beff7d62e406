"""Changing the root user email address and the phone number in a real browser: the new
address proven through a real SMTP server, the new number by a call through a server
speaking Twilio's protocol, the old address told, and alternative factors refused while the
changed contacts cool off."""

import time

import pytest
from playwright.sync_api import expect

from conftest import Server
from test_mfa import create_account, oathtool, sign_in_password
from test_recovery import activate_virtual
from twilio_phone import TwilioPhone


@pytest.fixture
def twilio():
    phone = TwilioPhone()
    yield phone
    phone.stop()


def sign_in_with_mfa(page, server, email, secret):
    sign_in_password(page, server, email)
    page.get_by_label("MFA code").fill(oathtool(secret, time.time() + 30))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()


def test_the_owner_changes_the_email_address_and_the_phone_number(browser, page, smtp, twilio):
    server = Server(smtp.port, twilio=twilio)
    try:
        email = "kim@example.com"
        create_account(server, email)
        sign_in_password(page, server, email)
        secret = activate_virtual(page, "Phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_with_mfa(page, server, email, secret)

        # The email address: a link to the new one, opened in another browser.
        page.get_by_role("link", name="Edit root user email address").click()
        page.get_by_label("New root user email address").fill("kim.new@example.com")
        page.get_by_role("button", name="Send verification link").click()
        expect(page.get_by_role("heading", name="Check your new inbox")).to_be_visible()
        link = smtp.link("kim.new@example.com", "Confirm your new email address", "/account/email/confirm?token=")
        inbox = browser.new_context()
        tab = inbox.new_page()
        tab.goto(link)
        expect(tab.get_by_text("Use kim.new@example.com as the root user email address")).to_be_visible()
        tab.get_by_role("button", name="Confirm new email address").click()
        expect(tab.get_by_role("heading", name="Email address changed")).to_be_visible()
        inbox.close()
        told = smtp.wait_for(email, "The email address of your latchkey account was changed")
        assert "/account/contact/revert?token=" in smtp.text(told)
        page.goto(server.base + "/console/security-credentials")
        expect(page.get_by_text("kim.new@example.com", exact=True)).to_be_visible()

        # The phone number: the verification call goes to the new number.
        page.get_by_role("link", name="Edit phone number").click()
        page.get_by_label("New phone number").fill("+1 415 555 2671")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Verify your new phone number")).to_be_visible()
        page.get_by_role("button", name="Call me now").click()
        code = page.locator("#phone-code").inner_text().strip()
        call = twilio.wait_for_call()
        assert call.to == "+14155552671"
        call.answer()
        call.key(code)
        call.hang_up()
        page.get_by_role("button", name="Use this number").click(timeout=15_000)
        expect(page.get_by_role("status")).to_contain_text("Phone number changed")
        expect(page.get_by_text("+*********71")).to_be_visible()
        smtp.wait_for("kim.new@example.com", "The phone number of your latchkey account was changed")

        # Alternative factors wait while the new contacts cool off, and the page says so.
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_password(page, server, "kim.new@example.com")
        page.get_by_role("link", name="Troubleshoot MFA").click()
        page.get_by_role("button", name="Sign in using alternative factors").click()
        expect(page.get_by_text("sign-in with alternative factors is not available until")).to_be_visible()
        assert twilio.rejected == []
    finally:
        server.stop()
