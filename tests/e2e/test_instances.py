"""Two latchkey processes on one PostgreSQL database are one service: a person may be sent to
either at every step, and one of them may die at any moment.

Both instances get the same server key (B is pointed at the key file A generated, as the
README asks of every instance behind one database; with another key B refuses to start): CSRF
tokens are MACs under it, and the forward-auth cookie, MFA seeds and queued mail are sealed
under it. Each instance has its own public URL (its own port), so a link composed by A names
A; behind a load balancer both would share one URL, so the tests open such links on B by
changing the origin. Browsers keep cookies per host, not per port, so one Playwright context
carries its cookies between http://127.0.0.1:A and http://127.0.0.1:B."""

import html
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import Server, answer_the_call, latchkey_binary, postgres_database
from test_journey import sign_up, verify_phone
from test_mfa import create_account, oathtool, sign_in_password
from test_recovery import activate_virtual

# An outbox message a worker claimed is another worker's only once its lease has run out
# (RetryPolicy::default in crates/delivery/src/worker.rs), and idle workers look for due
# messages every 2 s (crates/latchkey/src/cli/serve.rs).
OUTBOX_LEASE = 120
WORKER_POLL = 2


def shared_key(server):
    """The settings that give another instance `server`'s key file."""
    return {"LATCHKEY_SECRET_KEY_FILE": str(Path(server.dir) / "secret.key")}


def fresh_database():
    database = postgres_database()
    if database is None:
        pytest.skip("no PostgreSQL server configured (LATCHKEY_TEST_POSTGRES_URL)")
    return database


@contextmanager
def two_instances():
    """A and B on one fresh database with one key; both stopped afterwards."""
    database = fresh_database()
    a = Server(database_url=database)
    try:
        b = Server(database_url=database, extra_env=shared_key(a))
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(server, path, cookies, form=None, headers=None):
    """One request to `server` carrying `cookies`; redirects are answers, not followed."""
    headers = dict(headers or {})
    headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(server.base + path, data=data, headers=headers)
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def cookies_of(page):
    return {c["name"]: c["value"] for c in page.context.cookies()}


def assert_signed_in(server, cookies, email):
    """The console page and forward-auth both accept the session in `cookies`."""
    status, _, body = http(server, "/console/security-credentials", cookies)
    assert status == 200 and email in body, (server.base, status, body[:300])
    status, headers, _ = http(server, "/auth/verify", cookies)
    assert status == 200 and headers["Remote-Email"] == email, (server.base, status, dict(headers))


def submit_console_form(server, cookies, action):
    """Submits the form `action` of Security credentials as the browser would: with the CSRF
    token the page carries for these cookies, from the server's own origin. Returns the
    monotonic time at which the answer arrived."""
    status, _, body = http(server, "/console/security-credentials", cookies)
    assert status == 200, (status, body[:300])
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', body, re.S)
    assert form, f"no form posting to {action}"
    token = html.unescape(re.search(r'name="csrf_token" value="([^"]*)"', form.group(1)).group(1))
    status, headers, body = http(server, action, cookies, form={"csrf_token": token}, headers={"Origin": server.base})
    answered = time.monotonic()
    cleared = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("latchkey_session=;")]
    assert status == 303 and cleared, (status, dict(headers), body[:300])
    return answered


def seconds_until_refused(server, cookies, since, limit=3.0):
    """Seconds from `since` until `server` first refuses the session in `cookies`, at the
    console (sent to sign in) and at forward-auth (401). Asked back to back: this measures
    the guarantee itself. A refusal must last: accepting the session again fails."""
    refused = {}
    while True:
        status, headers, _ = http(server, "/console/security-credentials", cookies)
        if status == 303 and urllib.parse.urlsplit(headers["Location"]).path == "/signin":
            refused.setdefault("console", time.monotonic() - since)
        else:
            assert status == 200 and "console" not in refused, f"console answered {status} after refusing: {refused}"
        status, _, _ = http(server, "/auth/verify", cookies)
        if status == 401:
            refused.setdefault("forward-auth", time.monotonic() - since)
        else:
            assert status == 200 and "forward-auth" not in refused, f"/auth/verify answered {status} after refusing: {refused}"
        if len(refused) == 2:
            return max(refused.values())
        if time.monotonic() - since > limit:
            raise AssertionError(f"{server.base} still accepts the ended session {limit} s later (refused so far: {refused})")


def test_a_session_signed_out_on_one_instance_is_refused_by_the_other_within_a_second(browser, page):
    """An instance that has just served a session must stop honouring it within a second of
    its sign-out on the other instance (B may cache; the invalidation must cross over). The
    same for `Sign out everywhere`, which ends sessions B itself issued."""
    email = "ida@example.com"
    with two_instances() as (a, b):
        create_account(a, email)
        sign_in_password(page, a, email)
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
        first = cookies_of(page)
        other_context = browser.new_context()
        try:
            other = other_context.new_page()
            sign_in_password(other, b, email)
            expect(other.get_by_role("heading", name="Security credentials")).to_be_visible()
            on_b = cookies_of(other)
            for _ in range(5):  # B serves the session A issued, again and again: it is warm
                assert_signed_in(b, first, email)

            signed_out = submit_console_form(a, first, "/signout")
            elapsed = seconds_until_refused(b, first, signed_out)
            assert elapsed < 1.0, f"B accepted the session {elapsed:.3f} s after its sign-out on A"
            assert_signed_in(b, on_b, email)  # one session's sign-out ends no other
            assert_signed_in(a, on_b, email)

            sign_in_password(page, a, email)
            expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
            again = cookies_of(page)
            for _ in range(5):
                assert_signed_in(b, on_b, email)
                assert_signed_in(b, again, email)
            everywhere = submit_console_form(a, again, "/console/sessions/sign-out-everywhere")
            for cookies in (on_b, again):
                elapsed = seconds_until_refused(b, cookies, everywhere)
                assert elapsed < 1.0, f"B accepted a session {elapsed:.3f} s after Sign out everywhere on A"
        finally:
            other_context.close()


def test_sign_in_started_on_one_instance_finishes_mfa_on_the_other(page):
    """The password step on A, the MFA code on B: the attempt lives in the database, and the
    session B issues is honoured by A as the two-factor session it is."""
    email = "mia@example.com"
    with two_instances() as (a, b):
        create_account(a, email)
        sign_in_password(page, a, email)
        secret = activate_virtual(page, "Mia's phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page.get_by_text("You have signed out.")).to_be_visible()

        sign_in_password(page, a, email)
        expect(page).to_have_url(a.base + "/signin/mfa")
        # The attempt cookie A set goes to B's port too, and B knows the attempt.
        page.goto(b.base + "/signin/mfa")
        expect(page.get_by_role("heading", name="Multi-factor authentication")).to_be_visible()
        page.get_by_label("MFA code").fill(oathtool(secret, time.time() + 30))
        page.get_by_role("button", name="Submit").click()
        expect(page).to_have_url(b.base + "/console/security-credentials")
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()

        page.goto(a.base + "/console/security-credentials")
        expect(page).to_have_url(a.base + "/console/security-credentials")
        this = page.locator("#sessions").get_by_role("row").filter(has_text="This session")
        expect(this).to_contain_text(re.compile("Password and virtual MFA device", re.I))


def mail_rows(mailbox, server):
    """(recipient, subject, href) of every mail in the built-in mailbox, as `server` lists it."""
    mailbox.goto(server.base + "/dev/mailbox")
    rows = mailbox.locator("table tbody tr")
    found = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        link = cells.nth(2).locator("a")
        found.append((cells.nth(1).inner_text().strip(), link.inner_text().strip(), link.get_attribute("href")))
    return found


def wait_for_mails(mailbox, server, wanted, within):
    """The href of each (recipient, subject) in `wanted`, once all are in the mailbox, each
    exactly once. Polled: the built-in mailbox gives no signal when a worker delivers."""
    deadline = time.monotonic() + within
    while True:
        rows = mail_rows(mailbox, server)
        found = {(to, subject): [href for t, s, href in rows if (t, s) == (to, subject)] for to, subject in wanted}
        if all(found.values()):
            assert all(len(hrefs) == 1 for hrefs in found.values()), f"delivered more than once: {found}"
            return {key: hrefs[0] for key, hrefs in found.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered within {within} s: {[k for k, v in found.items() if not v]}; mailbox: {rows}")
        mailbox.wait_for_timeout(500)


def link_on(mailbox, server, href, path, composed_by):
    """The link containing `path` in one mail, moved from the instance that composed it to
    `server` (both serve the same links; each names its own public URL)."""
    mailbox.goto(server.base + href)
    for word in mailbox.locator("pre.mail").inner_text().split():
        if path in word:
            assert word.startswith(composed_by.base + path), word
            return server.base + word[len(composed_by.base):]
    raise AssertionError(f"no link containing {path} in the mail")


def test_recovery_started_on_one_instance_completes_on_the_other(browser, page):
    """`Sign in using alternative factors` begun on A; the emailed link opened on B, whose
    confirmation A's waiting page sees by itself; the call placed, answered and recognised on
    B; the recovery session issued by B lands on Security credentials."""
    email = "noa@example.com"
    with two_instances() as (a, b):
        create_account(a, email)
        sign_in_password(page, a, email)
        activate_virtual(page, "Lost phone")
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_password(page, a, email)
        page.get_by_role("link", name="Troubleshoot MFA").click()
        page.get_by_role("button", name="Sign in using alternative factors").click()
        page.get_by_role("button", name="Send verification email").click()
        expect(page.get_by_text("We sent a verification link")).to_be_visible()

        other = browser.new_context()
        try:
            mailbox = other.new_page()
            subject = "Verify your email address to sign in to latchkey"
            href = wait_for_mails(mailbox, b, [(email, subject)], within=15)[(email, subject)]
            mailbox.goto(link_on(mailbox, b, href, "/recovery/email?token=", composed_by=a))
            mailbox.get_by_role("button", name="Confirm email address").click()
            expect(mailbox.get_by_role("heading", name="Email address verified")).to_be_visible()
            # A's waiting page moves on by itself: it learns of B's confirmation.
            expect(page.get_by_role("button", name="Call me now")).to_be_enabled(timeout=15_000)
            expect(page).to_have_url(re.compile("^" + re.escape(a.base)))

            page.goto(b.base + "/signin/recovery")
            page.get_by_role("button", name="Call me now").click()
            code = page.locator("#phone-code").inner_text().strip()
            assert re.fullmatch(r"\d{6}", code), code
            answer_the_call(mailbox, b.base)
            mailbox.get_by_label("Keypad").fill(code)
            mailbox.get_by_role("button", name="Send digits").click()
            expect(mailbox.get_by_text("Your phone number is verified")).to_be_visible()
        finally:
            other.close()
        expect(page.get_by_role("button", name="Sign in to the console")).to_be_enabled(timeout=15_000)
        page.get_by_role("button", name="Sign in to the console").click()
        expect(page).to_have_url(b.base + "/console/security-credentials")
        expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
        expect(page.get_by_text("You signed in with alternative factors")).to_be_visible()


class SilentMailServer:
    """Accepts SMTP connections and never answers: the mail server an instance is waiting on
    when it dies. `connected` is set when the first connection arrives."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = []
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.connected.set()

    def close(self):
        self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        for connection in self.connections:
            connection.close()


def test_killing_one_instance_loses_nothing(browser, page):
    """A is killed (SIGKILL) holding: a session it issued; a sign-in waiting for its MFA code;
    a sign-up whose verification mail it queued but never sent; and a security notice its
    worker had claimed and was handing to a mail server that never answered. B carries on
    with all of it: the session works, the sign-in and the sign-up finish, the notice is
    delivered (once A's lease on it runs out) and the audit chain verifies."""
    kim, lee = "kim@example.com", "lee@example.com"
    database = fresh_database()
    with ExitStack() as cleanup:
        silent = SilentMailServer()
        cleanup.callback(silent.close)
        # B starts only once A's worker holds the notice, so that A, not B, claims it.
        a = Server(database_url=database, smtp_port=silent.port)
        cleanup.callback(a.stop)
        create_account(a, kim)
        sign_in_password(page, a, kim)
        secret = activate_virtual(page, "Kim's phone")
        assert silent.connected.wait(15), "A's worker never tried to send the device notice"
        session = cookies_of(page)

        contexts = [browser.new_context(), browser.new_context()]
        for context in contexts:
            cleanup.callback(context.close)
        signing_in, signing_up = (c.new_page() for c in contexts)
        sign_in_password(signing_in, a, kim)
        expect(signing_in.get_by_role("heading", name="Multi-factor authentication")).to_be_visible()
        sign_up(signing_up, a, lee)

        b = Server(database_url=database, extra_env=shared_key(a))
        cleanup.callback(b.stop)
        a.process.kill()
        a.process.wait(timeout=10)
        killed = time.monotonic()

        assert_signed_in(b, session, kim)
        signing_in.goto(b.base + "/signin/mfa")
        signing_in.get_by_label("MFA code").fill(oathtool(secret, time.time() + 30))
        signing_in.get_by_role("button", name="Submit").click()
        expect(signing_in).to_have_url(b.base + "/console/security-credentials")

        notice = (kim, "An MFA device was added to your latchkey account")
        verification = (lee, "Verify your email address for latchkey")
        mailbox = contexts[0].new_page()
        # A claimed the notice just before it died: B may take it once the lease runs out.
        within = OUTBOX_LEASE + WORKER_POLL + 15 - (time.monotonic() - killed)
        hrefs = wait_for_mails(mailbox, b, [notice, verification], within=within)
        signing_up.goto(link_on(mailbox, b, hrefs[verification], "/signup/verify?token=", composed_by=a))
        signing_up.get_by_role("button", name="Verify email address").click()
        verify_phone(signing_up, b)
        sign_in_password(signing_up, b, lee)
        expect(signing_up).to_have_url(b.base + "/console/security-credentials")

        env = {"LATCHKEY_DATA_DIR": b.dir, "LATCHKEY_DATABASE_URL": database, "PATH": "/usr/bin:/bin", **shared_key(a)}
        audit = subprocess.run([str(latchkey_binary()), "audit", "verify"], env=env, capture_output=True, text=True)
        assert audit.returncode == 0, audit.stdout + audit.stderr
