"""A reverse proxy in front of an application, guarded by latchkey's forward-auth: Debian's
nginx with `auth_request` asking latchkey's `/auth/verify`, and a tiny upstream application
that shows which identity headers reached it.

Nothing here sleeps to synchronise: nginx's configuration is checked with `nginx -t` first,
and nginx is ready when its port accepts connections (polled as `Server` polls /healthz)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import free_port

# The headers latchkey answers a successful /auth/verify with, which nginx hands on.
IDENTITY_HEADERS = ("Remote-User", "Remote-Email", "Remote-Name", "Remote-Authentication-Methods",
                    "Remote-Authentication-Class")


def nginx_binary():
    """Debian installs nginx in /usr/sbin, which is not on every user's PATH."""
    configured = os.environ.get("LATCHKEY_NGINX")
    if configured:
        return configured
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if path is None:
        raise RuntimeError("nginx is required by the forward-auth browser test (scripts/test installs it: apt-get install nginx)")
    return path


class Upstream:
    """The protected application: every GET is answered with JSON naming the identity headers
    it received (repeated headers joined by ", ", absent ones null) and the path, and kept in
    `requests` (all but the browser's own /favicon.ico requests, answered 404)."""

    def __init__(self):
        self.requests = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/favicon.ico":
                    # Chromium asks for it on its own after every page: not a page request.
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                seen = {}
                for name in IDENTITY_HEADERS:
                    values = self.headers.get_all(name)
                    seen[name] = ", ".join(values) if values else None
                seen["path"] = self.path
                upstream.requests.append(seen)
                body = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self):
        return len(self.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


NGINX_CONF = """\
worker_processes 1;
{user}
events {{
    worker_connections 64;
}}

http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    server {{
        listen 127.0.0.1:{port};
        server_name {server_name};

        location / {{
            auth_request /latchkey-verify;
            auth_request_set $lk_user $upstream_http_remote_user;
            auth_request_set $lk_email $upstream_http_remote_email;
            auth_request_set $lk_name $upstream_http_remote_name;
            auth_request_set $lk_amr $upstream_http_remote_authentication_methods;
            auth_request_set $lk_acr $upstream_http_remote_authentication_class;
            auth_request_set $lk_signin $upstream_http_location;
            error_page 401 =302 $lk_signin;

            proxy_set_header Remote-User $lk_user;
            proxy_set_header Remote-Email $lk_email;
            proxy_set_header Remote-Name $lk_name;
            proxy_set_header Remote-Authentication-Methods $lk_amr;
            proxy_set_header Remote-Authentication-Class $lk_acr;
            proxy_pass http://127.0.0.1:{upstream};
        }}

        location = /latchkey-verify {{
            internal;
            proxy_pass http://127.0.0.1:{latchkey}/auth/verify?require=mfa;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }}
    }}
}}
"""


class Nginx:
    """nginx in the foreground, configured and logging in a directory of its own."""

    def __init__(self, upstream_port, latchkey_port, server_name="app.example.test"):
        self.binary = nginx_binary()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="latchkey-nginx-"))
        # As root nginx would hand its workers to `nobody`, who cannot use this private
        # directory; the workers stay root instead (the master is never anyone else's).
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(
            user=user, dir=self.dir, port=self.port, server_name=server_name,
            upstream=upstream_port, latchkey=latchkey_port,
        ))
        self.log_path = self.dir / "error.log"
        globals_ = f"daemon off; pid {self.dir}/nginx.pid;"
        self.command = [self.binary, "-p", str(self.dir), "-e", str(self.log_path), "-c", str(self.conf), "-g", globals_]
        check = subprocess.run(self.command + ["-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejects its configuration:\n{check.stderr}\n{self.conf.read_text()}")
        self.output = open(self.dir / "nginx.out", "w")
        self.process = subprocess.Popen(self.command, stdout=self.output, stderr=subprocess.STDOUT)
        self.base = f"http://{server_name}:{self.port}"
        self._wait_ready()

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return
            except OSError:
                pass
            # Polling the port: nginx in the foreground gives no other signal that it listens.
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start listening on {self.port}:\n{self.logs()}")

    def logs(self):
        parts = []
        for name in ("nginx.out", "error.log", "access.log"):
            path = self.dir / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text()}")
        return "\n".join(parts)

    def stop(self):
        # SIGTERM is nginx's fast shutdown: the master stops its workers, then exits.
        self.process.terminate()
        self.process.wait(timeout=30)
        self.output.close()
