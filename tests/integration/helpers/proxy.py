"""A logging HTTP proxy in front of a registry, and a server that never answers.

    px = LoggingProxy(registry.url).start()
    strata pull {px.host}/repo:tag           # pulls through the proxy
    px.requests                              # [ProxyRequest(...)], in arrival order
    px.blob_gets()                           # GETs of /v2/.../blobs/sha256:...
    px.cut_after("/blobs/sha256:ab", 1 << 20)   # next matching response stops after 1 MiB
    px.stall("/blobs/", times=1)             # next matching request never gets an answer
    px.fail("/manifests/", 503, times=2)     # next two matching requests get a 503
    px.redirect("/blobs/", other.url)        # 307 to another host (Authorization check)
    px.throttle(4 << 20)                     # 4 MiB/s per response, to act mid-blob
    px.throttle_uploads(1 << 20)             # read request bodies (pushes) at 1 MiB/s
    px.add_header("/blobs/uploads/", "OCI-Chunk-Min-Length", "65536")   # on forwarded answers
    px.rewrite_location("/blobs/uploads/", other.url)   # upload URLs on another host
    registry.kill(); px.drop_connections()   # a registry dying mid-blob
    px.respond("/manifests/1", body, headers={"Content-Type": "..."})  # canned answer
    px.stop()

Rules match a substring of the path (or a callable(ProxyRequest) -> bool),
apply @times times (None: forever), and are checked in the order added.
Location headers from the upstream are rewritten to point at the proxy."""
import http.client
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailers", "transfer-encoding", "upgrade", "host"}


@dataclass
class ProxyRequest:
    method: str
    path: str
    headers: dict                 # request headers (last value wins)
    range: str = None             # the Range header, if any
    authorization: str = None     # the Authorization header, if any
    status: int = 0               # status sent back (0: none, e.g. stalled)
    bytes_sent: int = 0           # body bytes sent back
    bytes_received: int = 0       # request body bytes read so far
    action: str = "forward"       # forward | cut | stall | stall_body | fail | redirect | respond
    time: float = field(default_factory=time.monotonic)


@dataclass
class _Rule:
    match: object
    action: str
    times: object
    arg: object = None
    arg2: object = None

    def matches(self, req):
        if self.times is not None and self.times <= 0:
            return False
        if callable(self.match):
            return self.match(req)
        return self.match in req.path


class LoggingProxy:
    def __init__(self, upstream_url, chunk=64 * 1024, bind="127.0.0.1"):
        self.bind = bind
        u = urllib.parse.urlsplit(upstream_url)
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self.upstream_url = upstream_url.rstrip("/")
        self.chunk = chunk
        self.requests = []
        self.rules = []
        self.rate = None          # bytes per second per response (throttle())
        self.upload_rate = None   # bytes per second per request body (throttle_uploads())
        self._generation = 0      # bumped by drop_connections()
        self.port = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = None

    @property
    def host(self):
        return f"{self.bind}:{self.port}"

    @property
    def url(self):
        return f"http://{self.bind}:{self.port}"

    # ------------------------------------------------------------ rules
    def _add(self, match, action, times, arg=None, arg2=None):
        with self._lock:
            self.rules.append(_Rule(match, action, times, arg, arg2))
        return self

    def cut_after(self, match, nbytes, times=1):
        """Forward status and headers, send @nbytes of the body, then close."""
        return self._add(match, "cut", times, nbytes)

    def stall(self, match, times=1, seconds=None):
        """Read the request, answer nothing for @seconds (None: until stop())."""
        return self._add(match, "stall", times, seconds)

    def stall_body(self, match, nbytes, times=1, seconds=None):
        """Send headers and @nbytes of the body, then hang (a slow/stuck blob)."""
        return self._add(match, "stall_body", times, nbytes, seconds)

    def fail(self, match, status=500, times=1, body=b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}'):
        return self._add(match, "fail", times, status, body)

    def respond(self, match, body=b"", status=200, headers=None, times=None, method=None):
        """Answer matching requests (of @method, if given) with a canned
        response instead of forwarding: a schema1 manifest, a huge or lying
        body, a wrong Docker-Content-Digest.  @headers: {name: value};
        Content-Length is set from @body unless given."""
        m = match
        if method:
            m = (lambda r, _m=match: r.method == method and
                 (_m(r) if callable(_m) else _m in r.path))
        return self._add(m, "respond", times, (status, dict(headers or {})), body)

    def rewrite_location(self, match, base_url, times=None):
        """Forward matching requests; point the answer's Location at
        @base_url (same path and query): an upload URL on another host."""
        return self._add(match, "location", times, base_url.rstrip("/"))

    def add_header(self, match, name, value, times=None):
        """Forward matching requests and add @name: @value to the answer."""
        return self._add(match, "header", times, name, value)

    def redirect(self, match, base_url, times=None, status=307):
        """Answer with @status and Location: @base_url + path."""
        return self._add(match, "redirect", times, base_url.rstrip("/"), status)

    def throttle(self, bytes_per_second):
        """Send every response body at most this fast (None: full speed), so a
        test can act (kill the registry, kill strata) while a blob streams."""
        self.rate = bytes_per_second
        return self

    def throttle_uploads(self, bytes_per_second):
        """Read every request body at most this fast (None: full speed), so a
        test can act (kill strata) while a blob is being pushed."""
        self.upload_rate = bytes_per_second
        return self

    def drop_connections(self):
        """Cut every response that is streaming right now (the client sees
        the connection close mid-body).  With registry.kill(): a registry
        that dies mid-blob, whatever the socket buffers already hold."""
        with self._lock:
            self._generation += 1

    def clear_rules(self):
        with self._lock:
            self.rules.clear()

    def _take_rule(self, req):
        with self._lock:
            for r in self.rules:
                if r.matches(req):
                    if r.times is not None:
                        r.times -= 1
                    return r
        return None

    # ------------------------------------------------------------ queries
    def find(self, method=None, contains=None):
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (contains is None or contains in r.path)]

    def blob_gets(self, digest=None):
        """GET requests for blobs (optionally of one digest)."""
        return [r for r in self.find("GET", "/blobs/")
                if digest is None or r.path.split("?")[0].endswith(digest)]

    def clear(self):
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------ server
    def start(self):
        px = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self, req):
                n = self.headers.get("Content-Length")
                if n and px.upload_rate:
                    out, t0 = [], time.monotonic()
                    while req.bytes_received < int(n):
                        piece = self.rfile.read(min(int(n) - req.bytes_received,
                                                    max(1, px.upload_rate // 20)))
                        if not piece:
                            break
                        out.append(piece)
                        req.bytes_received += len(piece)
                        ahead = req.bytes_received / px.upload_rate - (time.monotonic() - t0)
                        if ahead > 0 and px._closing.wait(ahead):
                            break
                    return b"".join(out)
                if n:
                    data = self.rfile.read(int(n))
                    req.bytes_received = len(data)
                    return data
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return None

            def _handle(self):
                hdrs = {k: v for k, v in self.headers.items()}
                req = ProxyRequest(self.command, self.path, hdrs, self.headers.get("Range"),
                                   self.headers.get("Authorization"))
                with px._lock:
                    px.requests.append(req)
                body = self._body(req)
                if body is not None and self.headers.get("Content-Length") and \
                        len(body) < int(self.headers["Content-Length"]):
                    self.close_connection = True    # the client went away mid-body
                    return
                rule = px._take_rule(req)
                if rule and rule.action == "stall":
                    req.action = "stall"
                    px._closing.wait(rule.arg)
                    self.close_connection = True
                    return
                if rule and rule.action == "fail":
                    req.action = "fail"
                    self.send_response(rule.arg)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(rule.arg2)))
                    self.end_headers()
                    self.wfile.write(rule.arg2)
                    req.status, req.bytes_sent = rule.arg, len(rule.arg2)
                    return
                if rule and rule.action == "respond":
                    req.action = "respond"
                    status, extra = rule.arg
                    payload = rule.arg2 if isinstance(rule.arg2, bytes) else str(rule.arg2).encode()
                    self.send_response(status)
                    if not any(k.lower() == "content-length" for k in extra):
                        self.send_header("Content-Length", str(len(payload)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                        req.bytes_sent = len(payload)
                    req.status = status
                    return
                if rule and rule.action == "redirect":
                    req.action = "redirect"
                    self.send_response(rule.arg2)
                    self.send_header("Location", rule.arg + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    req.status = rule.arg2
                    return
                conn = http.client.HTTPConnection(px.upstream_host, px.upstream_port, timeout=60)
                try:
                    fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    fwd["Host"] = f"{px.upstream_host}:{px.upstream_port}"
                    if body is not None:
                        fwd["Content-Length"] = str(len(body))
                    try:
                        conn.request(self.command, self.path, body=body, headers=fwd)
                        resp = conn.getresponse()
                    except (OSError, http.client.HTTPException) as e:
                        # upstream down (killed registry): a gateway error
                        msg = f"upstream: {e}".encode()
                        self.send_response(502)
                        self.send_header("Content-Length", str(len(msg)))
                        self.end_headers()
                        self.wfile.write(msg)
                        req.status, req.action = 502, "upstream-down"
                        return
                    t0 = time.monotonic()
                    gen = px._generation
                    self.send_response(resp.status, resp.reason)
                    length = resp.getheader("Content-Length")
                    for k, v in resp.getheaders():
                        if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                            continue
                        if k.lower() == "location" and v.startswith(px.upstream_url):
                            v = px.url + v[len(px.upstream_url):]
                        if k.lower() == "location" and rule and rule.action == "location":
                            u = urllib.parse.urlsplit(v)
                            v = rule.arg + u.path + ("?" + u.query if u.query else "")
                        self.send_header(k, v)
                    if rule and rule.action == "header":
                        self.send_header(rule.arg, rule.arg2)
                    chunked = False
                    if length is not None:
                        self.send_header("Content-Length", length)
                    elif self.command != "HEAD" and resp.status not in (204, 304):
                        chunked = True
                        self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    req.status = resp.status
                    limit = None
                    if rule and rule.action in ("cut", "stall_body"):
                        req.action = rule.action
                        limit = rule.arg
                    if self.command == "HEAD":
                        return
                    while True:
                        want = px.chunk if limit is None else min(px.chunk, limit - req.bytes_sent)
                        if want <= 0:
                            break
                        if px._generation != gen:
                            req.action = "dropped"
                            self.close_connection = True
                            try:
                                self.connection.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                            return
                        if px.rate:
                            want = min(want, max(1, px.rate // 20))
                        try:
                            data = resp.read(want)
                        except (OSError, http.client.HTTPException):
                            data = b""
                        if not data:
                            if length is not None and req.bytes_sent < int(length):
                                # upstream died mid-body: cut the client off too
                                req.action = "upstream-cut"
                                self.close_connection = True
                                return
                            break
                        if px.rate:
                            ahead = (req.bytes_sent + len(data)) / px.rate - (time.monotonic() - t0)
                            if ahead > 0 and px._closing.wait(ahead):
                                self.close_connection = True
                                return
                        if chunked:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        else:
                            self.wfile.write(data)
                        req.bytes_sent += len(data)
                    if limit is not None and req.bytes_sent >= limit:
                        self.wfile.flush()
                        if rule.action == "stall_body":
                            px._closing.wait(rule.arg2)
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, socket.timeout):
                    self.close_connection = True
                finally:
                    conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer((self.bind, 0), Handler)
        self.port = self._server.server_address[1]
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        self._closing.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<LoggingProxy {self.host} -> {self.upstream_url} ({len(self.requests)} requests)>"


class SilentServer:
    """Accepts TCP connections and never answers (a registry that hangs).
    .host is '127.0.0.1:PORT'; .accepted counts connections."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns = []
        self._stop = threading.Event()

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.sock.listen(64)
        self.sock.settimeout(0.2)

        def loop():
            while not self._stop.is_set():
                try:
                    c, _ = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.accepted += 1
                self._conns.append(c)
        threading.Thread(target=loop, daemon=True).start()
        return self

    def stop(self):
        self._stop.set()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BlobStore:
    """Stands in for the object storage a registry redirects blob GETs to:
    serves any path ending in a digest from a Registry's storage directory,
    with Range support, and records requests (ProxyRequest) -- e.g. to check
    that no Authorization header follows a redirect to another host:

        store = BlobStore(registry, bind="127.0.0.2").start()
        px.redirect("/blobs/sha256:", store.url)
    """

    def __init__(self, registry, bind="127.0.0.2"):
        self.registry = registry
        self.bind = bind
        self.requests = []
        self._lock = threading.Lock()
        self._server = None
        self.port = None

    @property
    def host(self):
        return f"{self.bind}:{self.port}"

    @property
    def url(self):
        return f"http://{self.bind}:{self.port}"

    def start(self):
        bs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                req = ProxyRequest(self.command, self.path, dict(self.headers.items()),
                                   self.headers.get("Range"), self.headers.get("Authorization"))
                with bs._lock:
                    bs.requests.append(req)
                path = self.path.split("?")[0]
                dg = path[path.rfind("sha256:"):] if "sha256:" in path else ""
                try:
                    with open(bs.registry.blob_data_path(dg), "rb") as f:
                        data = f.read()
                except (OSError, ValueError):
                    req.status = 404
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, start, end = 200, 0, len(data)
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    start = int(a or 0)
                    end = int(b) + 1 if b else len(data)
                    status = 206
                body = data[start:end]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                req.status, req.bytes_sent = status, len(body)

            do_HEAD = do_GET

        self._server = ThreadingHTTPServer((self.bind, 0), Handler)
        self.port = self._server.server_address[1]
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
