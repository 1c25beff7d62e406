"""The foundation journey in a real browser: create an account (verification mail through a
real SMTP server), sign in, see Security credentials, sign out; and the failures a person
meets on the way."""

import re

import pytest
from playwright.sync_api import expect

from conftest import Server, answer_the_call, postgres_database

PASSWORD = "violet-anchor-tundra-42"


def sign_up(page, server, email, name="Acme Robotics", phone="+44 20 7946 0958"):
    page.goto(server.base + "/signin")
    page.get_by_role("link", name="Create a new account").click()
    expect(page.get_by_role("heading", name="Create a new account")).to_be_visible()
    page.get_by_label("Root user email address").fill(email)
    page.get_by_label("Account name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Phone number").fill(phone)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def verify_phone(page, server):
    """The last sign-up step: the built-in phone rings, the code on screen is keyed in."""
    expect(page.get_by_role("heading", name="Verify your phone number")).to_be_visible()
    page.get_by_role("button", name="Call me now").click()
    code = page.locator("#phone-code").inner_text().strip()
    phone = page.context.new_page()
    answer_the_call(phone, server.base)
    phone.get_by_label("Keypad").fill(code)
    phone.get_by_role("button", name="Send digits").click()
    expect(phone.get_by_text("Your phone number is verified")).to_be_visible()
    phone.close()
    expect(page.get_by_text("Your account is ready")).to_be_visible(timeout=15_000)


def verify(page, smtp, email, server):
    link = smtp.link(email, "Verify your email address", "/signup/verify?token=")
    page.goto(link)
    page.get_by_role("button", name="Verify email address").click()
    verify_phone(page, server)


def sign_in(page, server, email, password):
    page.goto(server.base + "/signin")
    expect(page.get_by_role("radio", name=re.compile("^Root user"))).to_be_checked()
    page.get_by_label("Root user email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def journey(page, server, smtp, email):
    sign_up(page, server, email)
    verify(page, smtp, email, server)
    sign_in(page, server, email, PASSWORD)
    expect(page).to_have_url(server.base + "/console/security-credentials")
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    expect(page.get_by_text("Multi-factor authentication (MFA)")).to_be_visible()
    expect(page.get_by_text(email, exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d{12}$"))).to_be_visible()
    expect(page.get_by_text("+**********58")).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(server.base + "/console/security-credentials")
    expect(page).to_have_url(server.base + "/signin")


def test_sign_up_sign_in_and_sign_out_on_sqlite(page, server, smtp):
    journey(page, server, smtp, "ann@example.com")
    assert 'backend="sqlite"' in server.logs()


def test_sign_up_sign_in_and_sign_out_on_postgres(page, smtp):
    url = postgres_database()
    if url is None:
        pytest.skip("no PostgreSQL server configured (LATCHKEY_TEST_POSTGRES_URL)")
    server = Server(smtp.port, database_url=url)
    try:
        journey(page, server, smtp, "pat@example.com")
        assert 'backend="postgres"' in server.logs()
    finally:
        server.stop()


def test_a_wrong_password_is_refused_with_a_generic_message(page, server, smtp):
    sign_up(page, server, "bo@example.com")
    verify(page, smtp, "bo@example.com", server)
    sign_in(page, server, "bo@example.com", "not-my-password")
    expect(page.get_by_role("alert")).to_have_text("Your authentication information is incorrect. Please try again.")
    sign_in(page, server, "nobody@example.com", "not-my-password")
    expect(page.get_by_role("alert")).to_have_text("Your authentication information is incorrect. Please try again.")


def test_bad_sign_up_input_is_explained_next_to_each_field(page, server):
    page.goto(server.base + "/signup")
    page.get_by_label("Root user email address").fill("not-an-email")
    page.get_by_label("Account name").fill("Acme")
    page.get_by_label("Password").fill("short")
    page.get_by_label("Phone number").fill("020 7946 0958")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Enter a valid email address")).to_be_visible()
    expect(page.get_by_text("Use at least 12 characters.")).to_be_visible()
    expect(page.get_by_text("international form", exact=False).first).to_be_visible()
    expect(page.get_by_label("Root user email address")).to_have_value("not-an-email")
    expect(page.get_by_label("Password")).to_have_value("")


def test_forgot_password_resets_by_emailed_link(page, server, smtp):
    sign_up(page, server, "cy@example.com")
    verify(page, smtp, "cy@example.com", server)
    page.goto(server.base + "/signin")
    page.get_by_label("Root user email address").fill("cy@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Root user email address").fill("cy@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = smtp.link("cy@example.com", "Reset your latchkey password", "/password/reset?token=")
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("amber-lighthouse-route-9")
    page.get_by_label("Confirm new password").fill("amber-lighthouse-route-9")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    smtp.wait_for("cy@example.com", "Your latchkey password was changed")
    sign_in(page, server, "cy@example.com", "amber-lighthouse-route-9")
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    # The link was single-use.
    page.goto(link)
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()


def test_on_the_embedded_defaults_mail_is_read_in_the_built_in_mailbox(page):
    server = Server()
    try:
        sign_up(page, server, "dee@example.com")
        expect(page.get_by_role("note")).to_contain_text("built-in mailbox")
        page.get_by_role("link", name="built-in mailbox").click()
        page.get_by_role("link", name="Verify your email address for latchkey").click()
        expect(page.get_by_text("dee@example.com", exact=True)).to_be_visible()
        page.get_by_role("link", name="Open link 1").click()
        page.get_by_role("button", name="Verify email address").click()
        verify_phone(page, server)
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Root user email address").fill("dee@example.com")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page.get_by_text("You have signed out.")).to_be_visible()
    finally:
        server.stop()
