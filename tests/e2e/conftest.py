"""Fixtures for latchkey's end-to-end tests: a real SMTP server (aiosmtpd), the latchkey
binary started as a person would start it, and headless Chromium driven by Playwright.

Nothing here sleeps to synchronise: the SMTP sink signals a condition when mail arrives,
the server is ready when /healthz answers, and Playwright waits on the page itself."""

import email
import email.policy
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "target" / "e2e-artifacts"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message and wakes waiters when one arrives."""

    def __init__(self):
        self.messages = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.changed:
            self.messages.append((list(envelope.rcpt_tos), message))
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to, subject, timeout=30):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for rcpts, message in reversed(self.messages):
                    if to in rcpts and subject in message["subject"]:
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no mail to {to} with {subject!r}; got {[m['subject'] for _, m in self.messages]}")
                self.changed.wait(remaining)

    @staticmethod
    def text(message):
        return message.get_body(preferencelist=("plain",)).get_content()

    def link(self, to, subject, path_prefix):
        text = self.text(self.wait_for(to, subject))
        for word in text.split():
            if path_prefix in word:
                return word
        raise AssertionError(f"no link containing {path_prefix} in:\n{text}")


@pytest.fixture
def smtp():
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


def latchkey_binary():
    path = Path(os.environ.get("LATCHKEY_BIN", ROOT / "target" / "debug" / "latchkey"))
    if not path.exists():
        raise RuntimeError(f"latchkey binary not found at {path}; build it with cargo build --bin latchkey")
    return path


class Server:
    def __init__(self, smtp_port=None, database_url=None, twilio=None, host="127.0.0.1", extra_env=None):
        self.port = free_port()
        self.database_url = database_url
        # WebAuthn needs a domain name: security-key tests serve on http://localhost.
        self.base = f"http://{host}:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="latchkey-e2e-")
        # Only the settings below: nothing from the caller's environment leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
        env.update({
            "LATCHKEY_LISTEN": f"127.0.0.1:{self.port}",
            "LATCHKEY_PUBLIC_URL": self.base,
            "LATCHKEY_DATA_DIR": self.dir,
            "RUST_LOG": "info,sqlx=warn",
        })
        # Without an SMTP server latchkey uses its built-in mailbox, as on a fresh machine.
        if smtp_port is not None:
            env["LATCHKEY_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
            env["LATCHKEY_MAIL_FROM"] = "latchkey <latchkey@example.test>"
        if database_url:
            env["LATCHKEY_DATABASE_URL"] = database_url
        if twilio is not None:
            env["LATCHKEY_TWILIO_ACCOUNT_SID"] = twilio.account_sid
            env["LATCHKEY_TWILIO_AUTH_TOKEN"] = twilio.auth_token
            env["LATCHKEY_TWILIO_FROM"] = "+14155550100"
            env["LATCHKEY_TWILIO_API_BASE"] = twilio.api_base
            # The Twilio number is American and the test accounts' phones British: calls to
            # the UK must be allowed explicitly (the default is the Twilio number's country).
            env["LATCHKEY_CALL_COUNTRIES"] = "US,GB"
        # Further settings a test needs (e.g. LATCHKEY_COOKIE_DOMAIN), after all of the above.
        env.update(extra_env or {})
        self.log_path = Path(self.dir) / "latchkey.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(latchkey_binary()), "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"latchkey exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            # Polling a readiness endpoint: the server gives no other signal that it listens.
            time.sleep(0.05)
        raise RuntimeError(f"latchkey did not become ready:\n{self.log_path.read_text()}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def logs(self):
        return self.log_path.read_text()


def answer_the_call(phone, base, timeout=15):
    """Answers the call latchkey just placed on the built-in phone (`phone` is a page).

    The delivery worker places the call moments after `Call me now`, and the phone's page
    lists the calls as they are when it loads: it is loaded again until the call rings,
    within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        phone.goto(base + "/dev/phone")
        answer = phone.get_by_role("button", name="Answer")
        if answer.count() > 0:
            answer.first.click()
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no call rang on the built-in phone within {timeout} s")
        # Polling the page: it gives no other signal that a call arrived.
        phone.wait_for_timeout(100)


@pytest.fixture
def server(smtp):
    srv = Server(smtp.port)
    yield srv
    srv.stop()


def postgres_database():
    """A fresh database on the test PostgreSQL server, or None when none is configured."""
    admin = os.environ.get("LATCHKEY_TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("LATCHKEY_TEST_REQUIRE_POSTGRES") == "1":
            raise RuntimeError("LATCHKEY_TEST_REQUIRE_POSTGRES=1 but LATCHKEY_TEST_POSTGRES_URL is not set")
        return None
    name = "latchkey_e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=os.environ.get("LATCHKEY_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # The forward-auth test serves latchkey and an application under example.test.
                "--host-resolver-rules=MAP *.example.test 127.0.0.1",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
