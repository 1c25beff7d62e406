"""A local server speaking Twilio's protocol, standing in for Twilio and for the phone.

It accepts the Calls REST request (`POST /2010-04-01/Accounts/{sid}/Calls.json`, HTTP basic
auth), then acts as the phone the way Twilio drives a call: it fetches the TwiML webhook
(`Url`), follows the `<Gather>` action when the person keys digits, and posts the status
callback when the call ends. Every webhook request is signed as Twilio signs it, by the
`twilio` package's own RequestValidator."""

import base64
import json
import secrets
import threading
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator


class Call:
    def __init__(self, phone, sid, form):
        self.phone = phone
        self.sid = sid
        self.to = form["To"]
        self.from_ = form["From"]
        self.url = form["Url"]
        self.status_callback = form.get("StatusCallback")
        self.gather_action = None
        self.spoken = []

    def _post(self, url, extra):
        params = {"CallSid": self.sid, "AccountSid": self.phone.account_sid, "From": self.from_, "To": self.to,
                  "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
        params.update(extra)
        signature = RequestValidator(self.phone.auth_token).compute_signature(url, params)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST",
                                         headers={"X-Twilio-Signature": signature,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    def _follow(self, twiml):
        root = ElementTree.fromstring(twiml)
        self.spoken += [say.text or "" for say in root.iter("Say")]
        gather = root.find("Gather")
        self.gather_action = gather.get("action") if gather is not None else None
        return twiml

    def answer(self):
        """The person picks up: Twilio fetches the TwiML for the call."""
        return self._follow(self._post(self.url, {"CallStatus": "in-progress"}))

    def key(self, digits):
        """The person keys digits: Twilio posts them to the <Gather> action."""
        assert self.gather_action, f"the call is not waiting for digits: {self.spoken}"
        return self._follow(self._post(self.gather_action, {"CallStatus": "in-progress", "Digits": digits}))

    def hang_up(self):
        if self.status_callback:
            self._post(self.status_callback, {"CallStatus": "completed"})


class TwilioPhone:
    """Start with `TwilioPhone()`, give latchkey `api_base`, `account_sid`, `auth_token`."""

    def __init__(self):
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_hex(16)
        self.calls = []
        self.rejected = []
        self.changed = threading.Condition()
        phone = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                expected_path = f"/2010-04-01/Accounts/{phone.account_sid}/Calls.json"
                expected_auth = "Basic " + base64.b64encode(f"{phone.account_sid}:{phone.auth_token}".encode()).decode()
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path != expected_path:
                    return self._reply(404, {"code": 20404, "message": "The requested resource was not found"})
                if self.headers.get("Authorization") != expected_auth:
                    phone.rejected.append(self.path)
                    return self._reply(401, {"code": 20003, "message": "Authenticate"})
                missing = [f for f in ("To", "From", "Url") if f not in form]
                if missing:
                    return self._reply(400, {"code": 21205, "message": f"missing {missing}"})
                call = Call(phone, "CA" + secrets.token_hex(16), form)
                with phone.changed:
                    phone.calls.append(call)
                    phone.changed.notify_all()
                self._reply(201, {"sid": call.sid, "status": "queued", "to": call.to, "from": call.from_})

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for_call(self, count=1, timeout=30):
        """Blocks until latchkey has created `count` calls; returns the newest."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"latchkey placed {len(self.calls)} calls, expected {count}")
            return self.calls[-1]

    def stop(self):
        self.server.shutdown()
