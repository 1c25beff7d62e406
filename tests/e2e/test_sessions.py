"""Sessions and event history in a real browser: the owner, signed in on two browsers, sees
both on Security credentials, signs the other one out, and finds it in the event history."""

from playwright.sync_api import expect

from test_journey import PASSWORD, sign_in, sign_up, verify


def test_signing_out_another_session_ends_it_there(page, browser, server, smtp):
    email = "hal@example.com"
    sign_up(page, server, email)
    verify(page, smtp, email, server)
    sign_in(page, server, email, PASSWORD)
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()

    other_context = browser.new_context(user_agent="Other browser/1.0")
    other = other_context.new_page()
    try:
        sign_in(other, server, email, PASSWORD)
        expect(other.get_by_role("heading", name="Security credentials")).to_be_visible()

        page.reload()
        sessions = page.locator("#sessions")
        expect(sessions.get_by_role("row")).to_have_count(3)  # the header and two sessions
        expect(sessions.get_by_role("cell", name="This session")).to_have_count(1)
        row = sessions.get_by_role("row").filter(has_text="Other browser/1.0")
        expect(row.get_by_role("cell", name="Password only")).to_be_visible()
        row.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("That session is signed out.")).to_be_visible()
        expect(sessions.get_by_role("row").filter(has_text="Other browser/1.0")).to_have_count(0)

        # The other browser is signed out on its next page.
        other.goto(server.base + "/console/security-credentials")
        expect(other).to_have_url(server.base + "/signin")

        # And the event history shows what happened, newest first.
        page.get_by_role("link", name="Event history").click()
        expect(page.get_by_role("heading", name="Event history")).to_be_visible()
        first = page.locator("#events tbody tr").first
        expect(first).to_contain_text("Signed out")
        expect(first).to_contain_text("one_session")
        page.get_by_label("Event").select_option(label="Signed in")
        page.get_by_role("button", name="Show events").click()
        expect(page.locator("#events tbody tr")).to_have_count(2)
        expect(page.locator("#events tbody")).to_contain_text("Other browser/1.0")
    finally:
        other_context.close()
