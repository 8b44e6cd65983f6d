"""A small Docker token server (the `auth: token` flow), standard library +
the openssl CLI (RS256 signatures).

    ts = TokenServer(workdir, users={"alice": "pw"}, anonymous_pull=True, ttl=300)
    ts.start()
    reg = Registry(dir, auth="token", token_server=ts).start()
    ...
    ts.requests   -> [TokenRequest(method, path, params, authorization, status)]
    ts.issued     -> number of tokens handed out
    ts.stop()

Grants: a known user gets every action asked for; anonymous gets `pull`
only, and only when anonymous_pull is true (else 401).  Bad credentials: 401.
The registry checks the token's signature against the self-signed
certificate written to ts.cert_path (key id in the JWT header, libtrust
style)."""
import base64
import hashlib
import json
import os
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .util import free_port


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def libtrust_kid(spki_der):
    """The key id Distribution derives from a public key (libtrust KeyID)."""
    h = hashlib.sha256(spki_der).digest()[:30]
    s = base64.b32encode(h).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


@dataclass
class TokenRequest:
    method: str
    path: str
    params: dict = field(default_factory=dict)   # name -> list of values
    authorization: str = None
    status: int = 0


class TokenServer:
    def __init__(self, workdir, users=None, anonymous_pull=True, ttl=300,
                 service="strata-test-registry", issuer="strata-test-issuer"):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.users = dict(users if users is not None else {"strata": "s3cret"})
        self.anonymous_pull = anonymous_pull
        self.ttl = ttl
        self.service = service
        self.issuer = issuer
        self.key_path = os.path.join(self.workdir, "token.key")
        self.cert_path = os.path.join(self.workdir, "token.crt")
        self.requests = []
        self.issued = 0
        self.fail_status = None      # set to e.g. 500 to make every request fail
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.port = None
        self._make_key()

    def _make_key(self):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", self.key_path, "-out", self.cert_path, "-days", "2",
                        "-subj", "/CN=strata-test-token"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(["openssl", "pkey", "-in", self.key_path, "-pubout",
                              "-outform", "DER"], check=True, stdout=subprocess.PIPE).stdout
        self.kid = libtrust_kid(der)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self):
        return self.url + "/token"

    @property
    def creds(self):
        if not self.users:
            return None
        u = next(iter(self.users))
        return (u, self.users[u])

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_path],
                             input=signing_input.encode(), stdout=subprocess.PIPE,
                             check=True).stdout
        return signing_input + "." + _b64url(sig)

    def make_token(self, subject, scopes):
        now = int(time.time())
        access = []
        for sc in scopes:
            parts = sc.split(":")
            if len(parts) < 3:
                continue
            typ, actions = parts[0], parts[-1]
            name = ":".join(parts[1:-1])
            acts = [a for a in actions.split(",") if a]
            if subject is None:
                acts = [a for a in acts if a == "pull"]
            access.append({"type": typ, "name": name, "actions": acts})
        claims = {"iss": self.issuer, "sub": subject or "", "aud": self.service,
                  "exp": now + self.ttl, "nbf": now - 10, "iat": now,
                  "jti": base64.b16encode(os.urandom(8)).decode(), "access": access}
        return self.sign(claims)

    # ------------------------------------------------------------ server
    def start(self):
        ts = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return status

            def _handle(self, params):
                auth = self.headers.get("Authorization")
                rec = TokenRequest(self.command, self.path, params, auth)
                with ts._lock:
                    ts.requests.append(rec)
                if ts.fail_status:
                    rec.status = self._reply(ts.fail_status, {"errors": [{"message": "failing on purpose"}]})
                    return
                user = None
                if params.get("grant_type", [""])[0] == "password":
                    u, p = params.get("username", [""])[0], params.get("password", [""])[0]
                    if ts.users.get(u) != p:
                        rec.status = self._reply(401, {"error": "bad credentials"})
                        return
                    user = u
                elif auth and auth.lower().startswith("basic "):
                    try:
                        u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    except Exception:
                        u, p = "", None
                    if ts.users.get(u) != p:
                        rec.status = self._reply(401, {"error": "bad credentials"})
                        return
                    user = u
                elif not ts.anonymous_pull:
                    rec.status = self._reply(401, {"error": "authentication required"})
                    return
                scopes = []
                for s in params.get("scope", []):
                    scopes += s.split(" ")
                tok = ts.make_token(user, scopes)
                with ts._lock:
                    ts.issued += 1
                rec.status = self._reply(200, {"token": tok, "access_token": tok,
                                               "expires_in": ts.ttl,
                                               "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

            def do_GET(self):
                q = urllib.parse.urlsplit(self.path).query
                self._handle(urllib.parse.parse_qs(q))

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode(errors="replace")
                self._handle(urllib.parse.parse_qs(body))

        for _ in range(5):
            self.port = free_port()
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                continue
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __repr__(self):
        return f"<TokenServer {self.url} issued={self.issued}>"
