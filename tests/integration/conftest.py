"""Shared pytest fixtures for strata's integration tests.  See README.md here.

Everything a test starts (registries, token servers, proxies, background
strata processes, FUSE mounts) is stopped by the fixture that made it, also
when the test fails."""
import collections
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import (BlobStore, ImageBuilder, LoggingProxy, MountTracker, Registry,  # noqa: E402
                     SilentServer, TokenServer, fuse_available)
from helpers.registry import registry_bin  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_TIMEOUT = float(os.environ.get("STRATA_TEST_TIMEOUT", "120"))


def pytest_configure(config):
    config.addinivalue_line("markers", "fuse: needs a working /dev/fuse (skipped otherwise)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_runtest_setup(item):
    if item.get_closest_marker("fuse"):
        why = fuse_available()
        if why:
            pytest.skip(why)


# ================================================================ the binary
class Result(collections.namedtuple("Result", "rc out err")):
    """What a strata run gave: unpacks as (rc, stdout, stderr)."""
    __slots__ = ()

    @property
    def ok(self):
        return self.rc == 0

    @property
    def lines(self):
        return self.out.splitlines()

    @property
    def err_lines(self):
        return [l for l in self.err.splitlines() if l.strip()]

    def check(self):
        """Assert exit 0; the failure message shows both streams."""
        assert self.rc == 0, f"exit {self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"
        return self

    def __str__(self):
        return f"exit {self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: MemorySanitizer")


def check_sanitizer(argv, stderr):
    """Fail the test when a sanitizer reported anything, even if the test
    expected strata to fail (a crash must not pass as a clean error)."""
    for m in SANITIZER_MARKS:
        if m in stderr:
            pytest.fail(f"sanitizer report from {' '.join(map(str, argv))}:\n{stderr[-6000:]}")


@pytest.fixture(scope="session")
def strata_bin():
    """Absolute path of the strata binary: $STRATA_BIN, else build/strata."""
    p = os.environ.get("STRATA_BIN") or os.path.join(REPO, "build", "strata")
    p = os.path.abspath(p)
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} is missing: run `make` first (or set STRATA_BIN)")
    return p


@pytest.fixture
def store_root(tmp_path):
    """A fresh store directory for this test (not created: strata does that)."""
    return str(tmp_path / "store")


@pytest.fixture
def strata_env(tmp_path):
    """Environment for strata runs: an empty HOME (no ~/.docker/config.json
    of the machine leaks in), none of the caller's STRATA_* settings
    (STRATA_ROOT, STRATA_CONFIG, STRATA_DOCKER_DAEMON_JSON, ...).  Tests may
    edit it; set STRATA_DOCKER_DAEMON_JSON='' to ignore /etc/docker/daemon.json."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("STRATA_ROOT", "DOCKER_CONFIG", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                        "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE", "STRATA_CONFIG",
                        "STRATA_DOCKER_DAEMON_JSON", "STRATA_CERTS_DIRS",
                        "STRATA_REGISTRY_MIRRORS", "STRATA_CONNECT_TIMEOUT",
                        "STRATA_STALL_TIMEOUT", "STRATA_RETRIES")}
    env["HOME"] = str(home)
    return env


@pytest.fixture
def mounts():
    """MountTracker: mounts.track(DIR) / mounts.track_proc(popen); at teardown
    every tracked DIR is unmounted (fusermount3 -u, umount -l) and every
    tracked process killed."""
    t = MountTracker()
    yield t
    t.cleanup()


@pytest.fixture
def mountpoint(tmp_path, mounts):
    """An empty directory to mount on, unmounted at teardown."""
    d = tmp_path / "mnt"
    d.mkdir()
    return mounts.track(str(d))


@pytest.fixture
def strata(strata_bin, store_root, strata_env, mounts):
    """run(*args, root=store_root, timeout=120, env=None, input=None, cwd=None)
    -> Result(rc, out, err).  Runs `strata --root ROOT ARGS...`; root=None
    leaves --root out.  A successful `strata mount ... DIR` is unmounted at
    teardown (`strata umount DIR`, then fusermount3 -u / umount -l).  A run past its timeout is killed and fails the test."""
    def run(*args, root=store_root, timeout=DEFAULT_TIMEOUT, env=None, input=None, cwd=None):
        argv = [strata_bin] + (["--root", str(root)] if root is not None else []) + [str(a) for a in args]
        try:
            p = subprocess.run(argv, input=input.encode() if isinstance(input, str) else input,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env if env is not None else strata_env, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{' '.join(argv)}: no exit within {timeout}s\n--- stdout\n"
                        f"{(e.stdout or b'').decode(errors='replace')}\n--- stderr\n"
                        f"{(e.stderr or b'').decode(errors='replace')}")
        r = Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        check_sanitizer(argv, r.err)
        verb = next((str(a) for a in args if not str(a).startswith("-")), None)
        if verb == "mount" and r.rc == 0 and len(args) >= 2 and not str(args[-1]).startswith("-"):
            d = str(args[-1])
            umount = [strata_bin] + (["--root", str(root)] if root is not None else []) + ["umount", d]
            mounts.track(d, first=lambda: subprocess.run(
                umount, env=env if env is not None else strata_env, timeout=30,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return r
    run.bin = strata_bin
    run.root = store_root
    return run


@pytest.fixture
def strata_popen(strata_bin, store_root, strata_env, mounts):
    """start(*args, root=store_root, env=None, **popen_kw) -> subprocess.Popen
    of `strata --root ROOT ARGS...` with stdout/stderr piped (text).  For
    killing a pull midway or running several at once; killed at teardown."""
    def start(*args, root=store_root, env=None, **kw):
        argv = [strata_bin] + (["--root", str(root)] if root is not None else []) + [str(a) for a in args]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(argv, env=env if env is not None else strata_env, **kw)
        return mounts.track_proc(p)
    return start


@pytest.fixture(scope="session")
def strata_verbs(strata_bin):
    """The verbs `strata --help` lists (those that exist in this build)."""
    out = subprocess.run([strata_bin, "--help"], stdout=subprocess.PIPE, text=True).stdout
    verbs, inside = [], False
    for line in out.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.strip():
                if verbs:
                    break
                continue
            if not line.startswith(" "):
                break
            verbs.append(line.split()[0])
    return verbs


# ================================================================ registries
# A missing tool is a broken set-up, not a reason to skip: scripts/deps.sh
# installs all of them, and a silent skip would let CI pass without testing.
def _need_registry():
    if not registry_bin():
        pytest.fail("no docker-registry binary: run scripts/deps.sh (or set REGISTRY_BIN)")


def _need_tools(*names):
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        pytest.fail("missing " + ", ".join(missing) + ": run scripts/deps.sh")


@pytest.fixture
def make_token_server(tmp_path_factory):
    """make(users={...}, anonymous_pull=True, ttl=300) -> started TokenServer."""
    made = []

    def make(**opts):
        ts = TokenServer(tmp_path_factory.mktemp("token"), **opts).start()
        made.append(ts)
        return ts
    yield make
    for ts in made:
        ts.stop()


@pytest.fixture
def make_registry(tmp_path_factory, make_token_server):
    """make(**opts) -> a started Registry on a free 127.0.0.1 port.

    opts: auth=None|'htpasswd'|'token', users={'name': 'password'} (default
    {'strata': 's3cret'} with auth), token_server=TokenServer (made for you
    with the same users when auth='token'; reachable as reg.token_server),
    anonymous_pull (token only, default True), token_ttl (seconds),
    proxy_remote='http://...' (pull-through cache), proxy_username/password,
    extra_config='yaml appended to config.yml', start=False to only
    configure.  Every registry made is stopped (SIGTERM, then SIGKILL) at
    teardown."""
    _need_registry()
    made = []

    def make(start=True, anonymous_pull=True, token_ttl=300, **opts):
        if opts.get("auth") == "token" and not opts.get("token_server"):
            users = opts.get("users") or {"strata": "s3cret"}
            opts["users"] = users
            opts["token_server"] = make_token_server(users=users, anonymous_pull=anonymous_pull,
                                                     ttl=token_ttl)
        reg = Registry(tmp_path_factory.mktemp("registry"), **opts)
        made.append(reg)
        return reg.start() if start else reg
    yield make
    for reg in made:
        reg.stop()


@pytest.fixture
def registry(make_registry):
    """A plain registry of this test's own (tamper with it, kill it)."""
    return make_registry()


@pytest.fixture(scope="session")
def session_registry(tmp_path_factory):
    """One plain registry for the whole session: for tests that only read.
    Do not tamper with it, stop it or delete from it (use `registry`)."""
    _need_registry()
    reg = Registry(tmp_path_factory.mktemp("session-registry")).start()
    yield reg
    reg.stop()


@pytest.fixture
def make_proxy():
    """make(upstream, bind='127.0.0.1') -> started LoggingProxy in front of
    @upstream (a Registry, anything with .url, or a URL); stopped at
    teardown."""
    made = []

    def make(upstream, **opts):
        url = upstream if isinstance(upstream, str) else upstream.url
        px = LoggingProxy(url, **opts).start()
        made.append(px)
        return px
    yield make
    for px in made:
        px.stop()


@pytest.fixture
def make_blob_store():
    """make(registry, bind='127.0.0.2') -> started BlobStore serving that
    registry's blobs from its storage dir (a redirect target on another
    host); stopped at teardown."""
    made = []

    def make(registry, **opts):
        bs = BlobStore(registry, **opts).start()
        made.append(bs)
        return bs
    yield make
    for bs in made:
        bs.stop()


@pytest.fixture
def silent_server():
    """A TCP server that accepts and never answers (.host = '127.0.0.1:PORT')."""
    s = SilentServer().start()
    yield s
    s.stop()


# ================================================================ images
@pytest.fixture(scope="session")
def image_builder(tmp_path_factory):
    """ImageBuilder (helpers/images.py): build_image, build_index, push_raw,
    push_index_raw, busybox, busybox_entries.  Layouts are cached for the
    session."""
    _need_tools("umoci", "skopeo")
    return ImageBuilder(tmp_path_factory.mktemp("oci-cache"))


@pytest.fixture(scope="session")
def build_image(image_builder):
    """build_image(registry, 'repo:tag', layers=[[entries...], ...], config={...},
    platform='linux/amd64', history=[...], fmt=None|'v2s2') -> Image."""
    return image_builder.build_image


@pytest.fixture(scope="session")
def build_index(image_builder):
    """build_index(registry, 'repo:tag', {'linux/amd64': {'layers': [...],
    'config': {...}}, 'linux/arm64/v8': {...}}, fmt=None|'v2s2') -> Index."""
    return image_builder.build_index


@pytest.fixture(scope="session")
def push_raw(image_builder):
    """push_raw(registry, 'repo:tag', layers=[...], config=None,
    compression='gzip'|'zstd'|None, manifest_media_type=..., layer_media_type=...,
    mutate=fn(manifest)) -> Image.  Blobs written by hand, pushed over HTTP."""
    return image_builder.push_raw


@pytest.fixture(scope="session")
def busybox_image(image_builder, session_registry):
    """The busybox test image on the session registry: test/busybox:latest
    (busybox-static + applet symlinks, /etc/os-release, Cmd /bin/sh)."""
    return image_builder.busybox(session_registry)


@pytest.fixture
def pulled_busybox(strata, busybox_image):
    """busybox_image pulled into this test's store -> its reference."""
    strata("pull", busybox_image.ref).check()
    return busybox_image.ref


@pytest.fixture(scope="session")
def multiplatform_index(image_builder, session_registry):
    """test/multi:latest on the session registry: an OCI index with
    linux/amd64 and linux/arm64/v8; each image has the busybox layer plus a
    layer with /etc/platform holding its platform name."""
    from helpers import File
    bb = image_builder.busybox_entries()
    plats = {}
    for p in ("linux/amd64", "linux/arm64/v8"):
        plats[p] = {"layers": [bb, [File("etc/platform", (p + "\n").encode())]],
                    "config": {"Env": ["PATH=/bin", "PLATFORM=" + p], "Cmd": ["/bin/sh"]}}
    return image_builder.build_index(session_registry, "test/multi:latest", plats)
