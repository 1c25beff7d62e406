"""Virtual MFA in a real browser: the QR code is decoded by an independent decoder
(zbarimg) and codes come from an independent TOTP implementation (oathtool)."""

import shutil
import subprocess
import time
import urllib.parse

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, latchkey_binary

PASSWORD = "violet-anchor-tundra-42"


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is required by the MFA browser test (scripts/test installs it)")
    return path


def oathtool(secret, at):
    """The TOTP code for `secret` (base32) at Unix time `at`, by oathtool."""
    out = subprocess.run([tool("oathtool"), "--totp", "-b", "-N", f"@{int(at)}", secret], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def create_account(server, email):
    env = {"LATCHKEY_DATA_DIR": server.dir, "PATH": "/usr/bin:/bin"}
    if server.database_url:
        env["LATCHKEY_DATABASE_URL"] = server.database_url
    out = subprocess.run(
        [str(latchkey_binary()), "account", "create", "--email", email, "--phone", "+442079460958", "--name", "Acme", "--password-stdin"],
        input=PASSWORD + "\n", env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def sign_in_password(page, server, email):
    page.goto(server.base + "/signin")
    page.get_by_label("Root user email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_activate_from_the_qr_code_then_sign_in_with_an_independent_code(page, server):
    create_account(server, "ann@example.com")
    sign_in_password(page, server, "ann@example.com")
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    page.get_by_role("link", name="Activate MFA").click()
    page.get_by_label("Virtual MFA device").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Set up virtual MFA device")).to_be_visible()

    page.get_by_text("Show QR code").click()
    qr = page.get_by_role("img", name="QR code")
    expect(qr).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "virtual-mfa-qr.png"
    qr.screenshot(path=str(png))
    decoded = subprocess.run([tool("zbarimg"), "--raw", "-q", str(png)], check=True, capture_output=True, text=True).stdout.strip()
    uri = urllib.parse.urlparse(decoded)
    assert uri.scheme == "otpauth" and uri.netloc == "totp", decoded
    assert urllib.parse.unquote(uri.path) == "/latchkey:ann@example.com", decoded
    query = urllib.parse.parse_qs(uri.query)
    assert query["issuer"] == ["latchkey"] and query["digits"] == ["6"] and query["period"] == ["30"]
    secret = query["secret"][0]
    assert len(secret) == 32, "160-bit secret"
    page.get_by_text("Show secret key").click()
    expect(page.locator("#secret-key")).to_have_text(secret)

    now = time.time()
    page.get_by_label("Device name").fill("Ann's phone")
    page.get_by_label("MFA code 1").fill(oathtool(secret, now - 30))
    page.get_by_label("MFA code 2").fill(oathtool(secret, now))
    page.get_by_role("button", name="Assign MFA").click()
    expect(page.get_by_role("status")).to_contain_text("MFA device assigned")
    row = page.get_by_role("row", name="Ann's phone")
    expect(row).to_contain_text("Virtual MFA device")
    expect(row.get_by_role("link", name="Manage")).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()

    sign_in_password(page, server, "ann@example.com")
    expect(page.get_by_role("heading", name="Multi-factor authentication")).to_be_visible()
    expect(page.get_by_role("link", name="Troubleshoot MFA")).to_be_visible()
    code = oathtool(secret, now + 30)
    page.get_by_label("MFA code").fill(code)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()

    # The same code a second time is refused.
    sign_in_password(page, server, "ann@example.com")
    page.get_by_label("MFA code").fill(code)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_have_text("The MFA code is not valid. Check the device and try again.")


def test_malformed_codes_are_explained(page, server):
    create_account(server, "bo@example.com")
    sign_in_password(page, server, "bo@example.com")
    page.get_by_role("link", name="Activate MFA").click()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Device name").fill("Phone")
    page.get_by_label("MFA code 1").fill("12345")
    page.get_by_label("MFA code 2").fill("abcdef")
    page.get_by_role("button", name="Assign MFA").click()
    expect(page.get_by_text("Enter the 6-digit code shown by your MFA device, digits only.").first).to_be_visible()
    page.goto(server.base + "/console/security-credentials")
    expect(page.get_by_text("No MFA devices.")).to_be_visible()
