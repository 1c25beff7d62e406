"""The seed's whole journey in a real browser: enrol a virtual device, lose it, sign in with
alternative factors — the email through a real SMTP server, the call through a server
speaking Twilio's protocol — land on Security credentials, replace the device, and sign in
with the new one while the old one's codes are refused."""

import re
import time

import pytest
from playwright.sync_api import expect

from conftest import Server, answer_the_call, postgres_database
from test_mfa import PASSWORD, create_account, oathtool, sign_in_password
from twilio_phone import TwilioPhone


def activate_virtual(page, name):
    page.get_by_role("link", name="Activate MFA").click()
    page.get_by_label("Virtual MFA device").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("Show secret key").click()
    secret = page.locator("#secret-key").inner_text().strip()
    now = time.time()
    page.get_by_label("Device name").fill(name)
    page.get_by_label("MFA code 1").fill(oathtool(secret, now - 30))
    page.get_by_label("MFA code 2").fill(oathtool(secret, now))
    page.get_by_role("button", name="Assign MFA").click()
    expect(page.get_by_role("status")).to_contain_text("MFA device assigned")
    return secret


@pytest.fixture
def twilio():
    phone = TwilioPhone()
    yield phone
    phone.stop()


def journey(browser, page, server, smtp, twilio, email):
    create_account(server, email)
    sign_in_password(page, server, email)
    lost = activate_virtual(page, "Lost phone")
    page.get_by_role("button", name="Sign out", exact=True).click()

    # The device is lost: sign in with alternative factors.
    sign_in_password(page, server, email)
    page.get_by_role("link", name="Troubleshoot MFA").click()
    page.get_by_role("button", name="Sign in using alternative factors").click()
    expect(page.get_by_role("heading", name="Sign in using alternative factors")).to_be_visible()
    expect(page.get_by_role("button", name="Call me now")).to_be_disabled()
    page.get_by_role("button", name="Send verification email").click()
    expect(page.get_by_text("We sent a verification link")).to_be_visible()

    # The link is opened in another browser; the first page moves on by itself.
    link = smtp.link(email, "Verify your email address to sign in", "/recovery/email?token=")
    other = browser.new_context()
    mail_tab = other.new_page()
    mail_tab.goto(link)
    mail_tab.get_by_role("button", name="Confirm email address").click()
    expect(mail_tab.get_by_role("heading", name="Email address verified")).to_be_visible()
    other.close()
    expect(page.get_by_role("button", name="Call me now")).to_be_enabled(timeout=15_000)
    expect(page.get_by_text("+**********58")).to_be_visible()

    page.get_by_role("button", name="Call me now").click()
    code = page.locator("#phone-code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code), code
    call = twilio.wait_for_call()
    assert call.to == "+442079460958"
    call.answer()
    assert "enter the 6 digit code" in " ".join(call.spoken)
    call.key(code)
    assert "Your phone number is verified" in call.spoken[-1], call.spoken
    call.hang_up()
    expect(page.get_by_role("button", name="Sign in to the console")).to_be_enabled(timeout=15_000)
    page.get_by_role("button", name="Sign in to the console").click()

    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    expect(page.get_by_text("You signed in with alternative factors")).to_be_visible()
    smtp.wait_for(email, "You signed in to latchkey with alternative factors")

    # Replace the lost device.
    page.get_by_role("row", name="Lost phone").get_by_role("link", name="Manage").click()
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("no longer protected by MFA")
    new = activate_virtual(page, "New phone")
    page.get_by_role("button", name="Sign out", exact=True).click()

    # The new device signs in; the old one's codes are refused.
    sign_in_password(page, server, email)
    page.get_by_label("MFA code").fill(oathtool(lost, time.time() + 30))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_have_text("The MFA code is not valid. Check the device and try again.")
    page.get_by_label("MFA code").fill(oathtool(new, time.time() + 30))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()


def test_the_seed_journey_with_smtp_and_twilio_on_sqlite(browser, page, smtp, twilio):
    server = Server(smtp.port, twilio=twilio)
    try:
        journey(browser, page, server, smtp, twilio, "ann@example.com")
        assert twilio.rejected == [], "latchkey always authenticated to Twilio"
    finally:
        server.stop()


def test_the_seed_journey_with_smtp_and_twilio_on_postgres(browser, page, smtp, twilio):
    url = postgres_database()
    if url is None:
        pytest.skip("no PostgreSQL server configured (LATCHKEY_TEST_POSTGRES_URL)")
    server = Server(smtp.port, database_url=url, twilio=twilio)
    try:
        journey(browser, page, server, smtp, twilio, "pat@example.com")
    finally:
        server.stop()


def test_on_the_embedded_defaults_the_call_rings_the_built_in_phone(browser, page):
    server = Server()
    try:
        create_account(server, "dee@example.com")
        sign_in_password(page, server, "dee@example.com")
        activate_virtual(page, "Phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_password(page, server, "dee@example.com")
        page.get_by_role("link", name="Troubleshoot MFA").click()
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
        expect(mail.get_by_text("enter the 6 digit code shown on your screen")).to_be_visible()
        mail.get_by_label("Keypad").fill(code)
        mail.get_by_role("button", name="Send digits").click()
        expect(mail.get_by_text("Your phone number is verified")).to_be_visible()
        expect(page.get_by_role("button", name="Sign in to the console")).to_be_enabled(timeout=15_000)
        page.get_by_role("button", name="Sign in to the console").click()
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    finally:
        server.stop()
