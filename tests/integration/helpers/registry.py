"""A real Distribution registry (Debian's docker-registry) on a free loopback
port, plus a tiny HTTP client for it (Basic and Bearer auth).

    reg = Registry(workdir)            # plain
    reg = Registry(workdir, auth="htpasswd", users={"alice": "secret"})
    reg = Registry(workdir, auth="token", token_server=ts)   # see tokenserver.py
    reg = Registry(workdir, proxy_remote="http://127.0.0.1:PORT")  # pull-through
    reg.start(); reg.host -> "127.0.0.1:PORT"; reg.stop(); reg.kill(); reg.restart()
"""
import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt for htpasswd; deprecated, removed in Python 3.13

from .util import free_port, kill_process, wait_until

REGISTRY_BIN_CANDIDATES = ("docker-registry", "registry", "distribution")

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def die_with_parent():
    """preexec_fn: SIGKILL the child when the thread that started it dies,
    so a killed pytest leaves no registry behind (PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass


def registry_bin():
    """Path of the Distribution binary, or None.  Env REGISTRY_BIN overrides."""
    if os.environ.get("REGISTRY_BIN"):
        return os.environ["REGISTRY_BIN"]
    for b in REGISTRY_BIN_CANDIDATES:
        p = shutil.which(b)
        if p:
            return p
    return None


def bcrypt_hash(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # cost 4 (rounds=16): the registry checks the hash on every request
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


class HTTPResult:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # email.message.Message (case-insensitive get)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTPResult {self.status} {len(self.body)} bytes>"


class RegistryClient:
    """Minimal registry API client.  Handles the Basic and Bearer challenges
    with @creds=(user, password) or anonymously.  Never follows redirects to
    other hosts with credentials (it does not follow redirects at all)."""

    def __init__(self, base_url, creds=None):
        self.base = base_url.rstrip("/")
        self.creds = creds
        self._tokens = {}   # scope -> token

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    def _raw(self, method, url, headers, data):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        opener = urllib.request.build_opener(self._NoRedirect)
        try:
            with opener.open(req, timeout=30) as r:
                return HTTPResult(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return HTTPResult(e.code, e.headers, e.read())

    def _fetch_token(self, challenge, scope):
        params = parse_challenge(challenge)
        q = {"service": params.get("service", "")}
        if scope:
            q["scope"] = scope
        url = params["realm"] + "?" + urllib.parse.urlencode(q)
        h = {}
        if self.creds:
            q["account"] = self.creds[0]
            url = params["realm"] + "?" + urllib.parse.urlencode(q)
            h["Authorization"] = basic_auth(*self.creds)
        r = self._raw("GET", url, h, None)
        if r.status != 200:
            return None      # the caller returns the registry's 401
        j = r.json()
        return j.get("token") or j.get("access_token")

    def request(self, method, path, headers=None, data=None, scope=None):
        """@path is relative to the registry root ("/v2/...") or absolute.
        @scope ("repository:NAME:pull,push") is used for the Bearer flow."""
        url = path if path.startswith("http") else self.base + path
        headers = dict(headers or {})
        tok = self._tokens.get(scope)
        if tok:
            headers["Authorization"] = "Bearer " + tok
        elif self.creds and getattr(self, "_basic", False):
            headers["Authorization"] = basic_auth(*self.creds)
        r = self._raw(method, url, headers, data)
        if r.status != 401:
            return r
        ch = r.headers.get("WWW-Authenticate", "")
        if ch.lower().startswith("basic"):
            if not self.creds:
                return r
            self._basic = True
            headers["Authorization"] = basic_auth(*self.creds)
        elif ch.lower().startswith("bearer"):
            tok = self._fetch_token(ch, scope)
            if not tok:
                return r
            self._tokens[scope] = tok
            headers["Authorization"] = "Bearer " + tok
        else:
            return r
        return self._raw(method, url, headers, data)

    # ------------------------------------------------------------ reads
    def get_manifest(self, repo, ref, accept=MANIFEST_ACCEPT):
        """HTTPResult; .headers['Docker-Content-Digest'] is the digest."""
        return self.request("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": accept},
                            scope=f"repository:{repo}:pull")

    def get_blob(self, repo, digest, headers=None):
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", headers,
                            scope=f"repository:{repo}:pull")

    # ------------------------------------------------------------ writes
    def push_blob(self, repo, data, digest=None):
        """Monolithic upload (POST then PUT ?digest=).  Returns the digest.
        The registry checks the digest; to serve bad bytes, tamper with the
        storage directory afterwards (Registry.blob_data_path)."""
        from .util import digest_of
        digest = digest or digest_of(data)
        scope = f"repository:{repo}:pull,push"
        h = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=scope)
        if h.status == 200:
            return digest
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "0"},
                         data=b"", scope=scope)
        if r.status != 202:
            raise RuntimeError(f"blob upload start: {r.status} {r.body[:300]!r}")
        loc = r.headers["Location"]
        if not loc.startswith("http"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        r = self.request("PUT", loc + sep + "digest=" + urllib.parse.quote(digest),
                         {"Content-Type": "application/octet-stream",
                          "Content-Length": str(len(data))}, data=data, scope=scope)
        if r.status != 201:
            raise RuntimeError(f"blob upload {digest}: {r.status} {r.body[:300]!r}")
        return digest

    def put_manifest(self, repo, ref, body, media_type):
        r = self.request("PUT", f"/v2/{repo}/manifests/{ref}",
                         {"Content-Type": media_type}, data=body,
                         scope=f"repository:{repo}:pull,push")
        if r.status != 201:
            raise RuntimeError(f"manifest PUT {repo}:{ref}: {r.status} {r.body[:500]!r}")
        return r.headers.get("Docker-Content-Digest")

    def delete_manifest(self, repo, digest):
        return self.request("DELETE", f"/v2/{repo}/manifests/{digest}",
                            scope=f"repository:{repo}:*")


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_challenge(header):
    """'Bearer realm="x",service="y",scope="z"' -> {'realm':..., ...}."""
    _, _, rest = header.partition(" ")
    out = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            j = i + 1
            val = []
            while j < len(rest) and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < len(rest):
                    j += 1
                val.append(rest[j])
                j += 1
            out[key] = "".join(val)
            i = j + 1
        else:
            j = rest.find(",", i)
            j = len(rest) if j < 0 else j
            out[key] = rest[i:j].strip()
            i = j
    return out


class Registry:
    """One docker-registry process.  All state lives under @workdir:
    config.yml, storage/, registry.log (and htpasswd).

    Attributes: port, host ("127.0.0.1:PORT", for image references),
    url ("http://127.0.0.1:PORT"), storage (the filesystem driver's root),
    creds ((user, password) or None: the first user, for pushes)."""

    def __init__(self, workdir, auth=None, users=None, token_server=None,
                 proxy_remote=None, proxy_username=None, proxy_password=None,
                 port=None, extra_config="", log_level="info"):
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', not {auth!r}")
        if auth == "token" and token_server is None:
            raise ValueError("auth='token' needs token_server=TokenServer(...)")
        self.bin = registry_bin()
        if not self.bin:
            raise RuntimeError("no Distribution registry binary (apt-get install docker-registry)")
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.storage = os.path.join(self.workdir, "storage")
        os.makedirs(self.storage, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "config.yml")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.auth = auth
        self.users = dict(users or ({"strata": "s3cret"} if auth else {}))
        self.token_server = token_server
        self.proxy_remote = proxy_remote
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.extra_config = extra_config
        self.log_level = log_level
        self.port = port
        self.proc = None
        self._fixed_port = port is not None

    # ------------------------------------------------------------ info
    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def creds(self):
        if not self.users:
            return None
        u = next(iter(self.users))
        return (u, self.users[u])

    def client(self, creds="default"):
        """A RegistryClient; creds default to the first user (None: anonymous)."""
        return RegistryClient(self.url, self.creds if creds == "default" else creds)

    def ref(self, name):
        """'repo:tag' -> '127.0.0.1:PORT/repo:tag'."""
        return f"{self.host}/{name}"

    def blob_data_path(self, digest):
        """The file holding a blob's bytes in the storage directory (tamper here)."""
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.storage, "docker/registry/v2/blobs", algo, hexd[:2], hexd, "data")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------ config
    def _write_config(self):
        lines = [
            "version: 0.1",
            "log:",
            f"  level: {self.log_level}",
            "  formatter: text",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: strata-tests-loopback-only",
        ]
        if self.auth == "htpasswd":
            hp = os.path.join(self.workdir, "htpasswd")
            with open(hp, "w") as f:
                for u, p in self.users.items():
                    f.write(f"{u}:{bcrypt_hash(p)}\n")
            lines += ["auth:", "  htpasswd:", "    realm: strata-test", f"    path: {hp}"]
        elif self.auth == "token":
            ts = self.token_server
            lines += ["auth:", "  token:",
                      f"    realm: {ts.realm}",
                      f"    service: {ts.service}",
                      f"    issuer: {ts.issuer}",
                      f"    rootcertbundle: {ts.cert_path}"]
        if self.proxy_remote:
            lines += ["proxy:", f"  remoteurl: {self.proxy_remote}"]
            if self.proxy_username:
                lines += [f"  username: {self.proxy_username}",
                          f"  password: {self.proxy_password or ''}"]
        text = "\n".join(lines) + "\n" + (self.extra_config or "")
        with open(self.config_path, "w") as f:
            f.write(text)

    # ------------------------------------------------------------ life
    def _answers(self):
        try:
            with urllib.request.urlopen(self.url + "/v2/", timeout=1) as r:
                return r.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout=20.0):
        """Start (or start again, on the same port) and wait for /v2/."""
        if self.running:
            return self
        for attempt in range(5):
            if self.port is None or (attempt and not self._fixed_port):
                self.port = free_port()
            self._write_config()
            logf = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([self.bin, "serve", self.config_path],
                                             stdin=subprocess.DEVNULL, stdout=logf,
                                             stderr=subprocess.STDOUT,
                                             start_new_session=True,
                                             preexec_fn=die_with_parent)
            finally:
                logf.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                kill_process(self.proc)
                raise RuntimeError(f"registry on {self.host} did not answer /v2/ in {timeout}s:\n"
                                   + self.log()[-2000:])
            log = self.log()
            self.proc = None
            if "address already in use" in log[-4000:] and not self._fixed_port:
                continue
            raise RuntimeError(f"registry on {self.host} exited at start:\n{log[-2000:]}")
        raise RuntimeError("registry: could not find a free port in 5 attempts")

    def stop(self):
        """SIGTERM (then SIGKILL); the port and the storage stay for restart()."""
        kill_process(self.proc)
        self.proc = None

    def kill(self):
        """SIGKILL at once, like a crash.  Use restart() to bring it back."""
        if self.running:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def wait_down(self, timeout=5.0):
        wait_until(lambda: not self._answers(), timeout, what=f"{self.host} to stop answering")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<Registry {self.host} auth={self.auth} running={self.running}>"
