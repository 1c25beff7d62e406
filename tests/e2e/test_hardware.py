"""Hardware OATH tokens end to end: a PSKC file written by python-pskc (an independent
implementation), encrypted with a pre-shared AES key, imported with `latchkey tokens import`,
activated in a real browser with codes from oathtool, used to sign in, and removed."""

import base64
import os
import subprocess
import time

import pskc
from playwright.sync_api import expect

from conftest import latchkey_binary
from test_mfa import PASSWORD, create_account, oathtool, sign_in_password


def latchkey(server, *args):
    env = {"LATCHKEY_DATA_DIR": server.dir, "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(latchkey_binary()), *args], env=env, capture_output=True, text=True)


def test_a_vendor_token_is_imported_activated_used_and_returned(page, server, tmp_path):
    secret = os.urandom(20)
    key = os.urandom(16)
    container = pskc.PSKC()
    container.add_key(secret=secret, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp", serial="TOKEN-42",
                      manufacturer="Example Tokens", time_interval=30, response_length=6)
    container.encryption.setup_preshared_key(key=key)
    file = tmp_path / "tokens.pskc"
    container.write(str(file))
    key_file = tmp_path / "tokens.key"
    key_file.write_text(key.hex())

    refused = latchkey(server, "tokens", "import", str(file))
    assert refused.returncode != 0 and "--key-file" in refused.stderr, refused.stderr
    imported = latchkey(server, "tokens", "import", str(file), "--key-file", str(key_file))
    assert imported.returncode == 0, imported.stderr
    assert "imported TOKEN-42" in imported.stdout
    assert "free" in latchkey(server, "tokens", "list").stdout

    base32 = base64.b32encode(secret).decode().rstrip("=")
    create_account(server, "ann@example.com")
    sign_in_password(page, server, "ann@example.com")
    page.get_by_role("link", name="Activate MFA").click()
    page.get_by_label("Other hardware MFA device").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Set up hardware MFA device")).to_be_visible()
    now = time.time()
    page.get_by_label("Serial number").fill("TOKEN-42")
    page.get_by_label("MFA code 1").fill(oathtool(base32, now - 30))
    page.get_by_label("MFA code 2").fill(oathtool(base32, now))
    page.get_by_role("button", name="Assign MFA").click()
    expect(page.get_by_role("status")).to_contain_text("MFA device assigned")
    expect(page.get_by_role("row", name="Hardware token TOKEN-42")).to_contain_text("serial TOKEN-42")
    listing = latchkey(server, "tokens", "list").stdout
    assert "TOKEN-42" in listing and "free" not in listing, listing
    page.get_by_role("button", name="Sign out", exact=True).click()

    sign_in_password(page, server, "ann@example.com")
    page.get_by_label("MFA code").fill(oathtool(base32, now + 30))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()

    page.get_by_role("row", name="Hardware token TOKEN-42").get_by_role("link", name="Manage").click()
    page.get_by_role("button", name="Remove").click()
    # The session had signed in with the removed token, so it ends with it.
    expect(page.get_by_role("status")).to_contain_text("The MFA device was removed")
    assert "free" in latchkey(server, "tokens", "list").stdout
