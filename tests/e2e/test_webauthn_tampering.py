"""WebAuthn ceremony tampering, with a software authenticator (soft-webauthn) driving
latchkey's console endpoints from a browser context: wrong origin, wrong rpIdHash, a
replayed challenge, another user's credential, a missing user-presence flag and a signature
counter going backwards are all refused; only a clean assertion signs in."""

import base64
import json
from struct import pack

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.utils import sha256
from soft_webauthn import SoftWebauthnDevice

import pytest

from conftest import Server, postgres_database
from test_mfa import create_account, sign_in_password


def b64u(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def csrf(page):
    return page.locator("[name=csrf_token]").first.get_attribute("value")


def call(page, path, body):
    response = page.request.post(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + path,
                                 data=json.dumps(body), headers={"Content-Type": "application/json", "X-CSRF-Token": csrf(page)})
    return response.status, (response.json() if response.body() else {})


def register(page, server, device, name):
    page.goto(server.base + "/console/mfa/security-key")
    status, started = call(page, "/console/mfa/security-key/options", {"name": name})
    assert status == 200, started
    options = started["options"]
    options["publicKey"]["challenge"] = unb64u(options["publicKey"]["challenge"])
    options["publicKey"]["user"]["id"] = unb64u(options["publicKey"]["user"]["id"])
    created = device.create(options, server.base)
    credential = {
        "id": b64u(created["rawId"]), "rawId": b64u(created["rawId"]), "type": "public-key", "extensions": {},
        "response": {"attestationObject": b64u(created["response"]["attestationObject"]),
                     "clientDataJSON": b64u(created["response"]["clientDataJSON"])},
    }
    status, done = call(page, "/console/mfa/security-key/register", {"ceremony_id": started["ceremony_id"], "credential": credential})
    assert status == 200, done


def options_for_sign_in(page):
    status, started = call(page, "/signin/mfa/webauthn/options", {})
    assert status == 200, started
    return started["ceremony_id"], unb64u(started["options"]["publicKey"]["challenge"]), started["options"]["publicKey"]["rpId"]


def assertion(device, challenge, origin, rp_id, flags=0x01, count=None, credential_id=None):
    """An assertion signed by `device`'s key, with any field chosen by the test."""
    if count is None:
        device.sign_count += 1
        count = device.sign_count
    client_data = json.dumps({"type": "webauthn.get", "challenge": b64u(challenge), "origin": origin}).encode()
    auth_data = sha256(rp_id.encode()) + bytes([flags]) + pack(">I", count)
    signature = device.private_key.sign(auth_data + sha256(client_data), ec.ECDSA(hashes.SHA256()))
    cred = credential_id or device.credential_id
    return {
        "id": b64u(cred), "rawId": b64u(cred), "type": "public-key", "extensions": {},
        "response": {"authenticatorData": b64u(auth_data), "clientDataJSON": b64u(client_data),
                     "signature": b64u(signature), "userHandle": None},
    }


def verify(page, ceremony, credential):
    return call(page, "/signin/mfa/webauthn/verify", {"ceremony_id": ceremony, "credential": credential})


def test_tampered_ceremonies_are_refused(browser):
    server = Server(host="localhost")
    try:
        create_account(server, "ann@example.com")
        create_account(server, "bob@example.com")
        ann_key, bob_key = SoftWebauthnDevice(), SoftWebauthnDevice()

        bob = browser.new_context().new_page()
        sign_in_password(bob, server, "bob@example.com")
        register(bob, server, bob_key, "Bob's key")

        page = browser.new_context().new_page()
        sign_in_password(page, server, "ann@example.com")
        register(page, server, ann_key, "Ann's key")
        page.goto(server.base + "/console/security-credentials")
        page.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_password(page, server, "ann@example.com")

        refusals = {
            "wrong origin": lambda c, ch, rp: assertion(ann_key, ch, "http://evil.example", rp),
            "wrong rpIdHash": lambda c, ch, rp: assertion(ann_key, ch, server.base, "evil.example"),
            "no user presence": lambda c, ch, rp: assertion(ann_key, ch, server.base, rp, flags=0x00),
            "another user's credential": lambda c, ch, rp: assertion(bob_key, ch, server.base, rp),
        }
        for case, build in refusals.items():
            ceremony, challenge, rp_id = options_for_sign_in(page)
            status, body = verify(page, ceremony, build(ceremony, challenge, rp_id))
            assert status == 401, (case, status, body)
            assert body["error"]["code"] == "invalid_security_key", (case, body)

        # A clean assertion signs in.
        ceremony, challenge, rp_id = options_for_sign_in(page)
        status, body = verify(page, ceremony, assertion(ann_key, challenge, server.base, rp_id))
        assert status == 200 and body["redirect"] == "/console/security-credentials", body
        page.goto(server.base + "/console/security-credentials")
        page.get_by_role("button", name="Sign out", exact=True).click()

        # A challenge is single-use: a captured assertion replayed after the ceremony ended.
        sign_in_password(page, server, "ann@example.com")
        ceremony, challenge, rp_id = options_for_sign_in(page)
        captured = assertion(ann_key, challenge, server.base, rp_id)
        status, _ = verify(page, ceremony, assertion(ann_key, challenge, "http://evil.example", rp_id))
        assert status == 401
        status, body = verify(page, ceremony, captured)
        assert status in (410, 422), body

        # A counter that goes backwards (a cloned key) is refused.
        ceremony, challenge, rp_id = options_for_sign_in(page)
        status, body = verify(page, ceremony, assertion(ann_key, challenge, server.base, rp_id, count=1))
        assert status == 401, body
        ceremony, challenge, rp_id = options_for_sign_in(page)
        status, body = verify(page, ceremony, assertion(ann_key, challenge, server.base, rp_id))
        assert status == 200, body
        audit = server_audit(server)
        assert "webauthn" in audit, audit
    finally:
        server.stop()


def server_audit(server):
    import subprocess
    from conftest import latchkey_binary
    env = {"LATCHKEY_DATA_DIR": server.dir, "PATH": "/usr/bin:/bin"}
    if server.database_url:
        env["LATCHKEY_DATABASE_URL"] = server.database_url
    out = subprocess.run([str(latchkey_binary()), "audit", "--limit", "200"], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout


def api(server, path, body, bearer=None):
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(server.base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_security_keys_over_the_json_api():
    server = Server(host="localhost")
    try:
        create_account(server, "cy@example.com")
        key = SoftWebauthnDevice()
        status, session = api(server, "/api/v1/sessions", {"email": "cy@example.com", "password": "violet-anchor-tundra-42"})
        assert status == 201, session
        token = session["session_token"]
        status, started = api(server, "/api/v1/mfa/security-keys/options", {"name": "API key"}, token)
        assert status == 200, started
        options = started["options"]
        options["publicKey"]["challenge"] = unb64u(options["publicKey"]["challenge"])
        options["publicKey"]["user"]["id"] = unb64u(options["publicKey"]["user"]["id"])
        created = key.create(options, server.base)
        credential = {
            "id": b64u(created["rawId"]), "rawId": b64u(created["rawId"]), "type": "public-key", "extensions": {},
            "response": {"attestationObject": b64u(created["response"]["attestationObject"]),
                         "clientDataJSON": b64u(created["response"]["clientDataJSON"])},
        }
        status, device = api(server, "/api/v1/mfa/security-keys", {"ceremony_id": started["ceremony_id"], "credential": credential}, token)
        assert status == 201 and device["type"] == "security_key", device

        status, pending = api(server, "/api/v1/sessions", {"email": "cy@example.com", "password": "violet-anchor-tundra-42"})
        assert status == 202 and pending["status"] == "mfa_required", pending
        status, started = api(server, "/api/v1/sessions/webauthn/options", {"attempt_token": pending["attempt_token"]})
        assert status == 200, started
        challenge = unb64u(started["options"]["publicKey"]["challenge"])
        signed = assertion(key, challenge, server.base, started["options"]["publicKey"]["rpId"])
        status, session = api(server, "/api/v1/sessions/webauthn", {"attempt_token": pending["attempt_token"], "ceremony_id": started["ceremony_id"], "credential": signed})
        assert status == 201 and session["session_token"], session
    finally:
        server.stop()


def register_over_api(server, key, email):
    status, session = api(server, "/api/v1/sessions", {"email": email, "password": "violet-anchor-tundra-42"})
    assert status == 201, session
    token = session["session_token"]
    status, started = api(server, "/api/v1/mfa/security-keys/options", {"name": "API key"}, token)
    assert status == 200, started
    options = started["options"]
    options["publicKey"]["challenge"] = unb64u(options["publicKey"]["challenge"])
    options["publicKey"]["user"]["id"] = unb64u(options["publicKey"]["user"]["id"])
    created = key.create(options, server.base)
    credential = {
        "id": b64u(created["rawId"]), "rawId": b64u(created["rawId"]), "type": "public-key", "extensions": {},
        "response": {"attestationObject": b64u(created["response"]["attestationObject"]),
                     "clientDataJSON": b64u(created["response"]["clientDataJSON"])},
    }
    status, device = api(server, "/api/v1/mfa/security-keys", {"ceremony_id": started["ceremony_id"], "credential": credential}, token)
    assert status == 201, device


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_twenty_parallel_security_key_assertions_are_judged_one_after_the_other(backend):
    """Someone who knows the password sends twenty assertions at the same instant: each is
    reserved on the sign-in's failure counter before it is checked, so only the five free
    failures are checked and the rest are refused unchecked."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    database_url = postgres_database() if backend == "postgres" else None
    if backend == "postgres" and database_url is None:
        pytest.skip("no PostgreSQL server configured (LATCHKEY_TEST_POSTGRES_URL)")
    server = Server(host="localhost", database_url=database_url)
    try:
        create_account(server, "dot@example.com")
        key = SoftWebauthnDevice()
        register_over_api(server, key, "dot@example.com")
        status, pending = api(server, "/api/v1/sessions", {"email": "dot@example.com", "password": "violet-anchor-tundra-42"})
        assert status == 202, pending
        attempts = []
        for _ in range(20):
            status, started = api(server, "/api/v1/sessions/webauthn/options", {"attempt_token": pending["attempt_token"]})
            assert status == 200, started
            challenge = unb64u(started["options"]["publicKey"]["challenge"])
            # Signed by the right key, for another origin: checked, it is refused.
            forged = assertion(key, challenge, "http://evil.example", started["options"]["publicKey"]["rpId"])
            attempts.append({"attempt_token": pending["attempt_token"], "ceremony_id": started["ceremony_id"], "credential": forged})
        barrier = Barrier(len(attempts), timeout=30)

        def send(body):
            barrier.wait()
            return api(server, "/api/v1/sessions/webauthn", body)

        with ThreadPoolExecutor(len(attempts)) as pool:
            answers = list(pool.map(send, attempts))
        assert all(status == 401 for status, _ in answers), answers
        audit = [line for line in server_audit(server).splitlines() if " mfa_code " in line]
        checked = [line for line in audit if "webauthn" in line]
        throttled = [line for line in audit if "throttled" in line]
        assert (len(checked), len(throttled)) == (5, 15), audit
    finally:
        server.stop()
