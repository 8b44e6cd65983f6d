"""TLS (issue 5): verification always on; a registry's CA and client
certificate from certs.d (HOST:PORT/*.crt, client.cert + client.key, as
docker reads /etc/docker/certs.d); clear certificate errors.

The TLS registry is a Distribution registry with `http: tls:` and a CA made
here with openssl; it is a pull-through cache of a plain upstream, so no
image has to be pushed over TLS."""
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from helpers import File, wait_until
from helpers.registry import Registry


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 signed by it, and a client
    certificate signed by it."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=strata test CA", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", "/CN=strata client", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.cert", "-days", "2", cwd=d)
    return d


class TLSRegistry(Registry):
    """A Registry served over https with @pki's server certificate
    (and, with client_ca, requiring client certificates)."""

    def __init__(self, workdir, pki, client_ca=False, **kw):
        super().__init__(workdir, **kw)
        self.pki = pki
        self.client_ca = client_ca

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def _write_config(self):
        super()._write_config()
        with open(self.config_path) as f:
            lines = f.read().split("\n")
        i = next(k for k, l in enumerate(lines) if l.startswith("  secret:"))
        tls = ["  tls:", f"    certificate: {self.pki / 'server.crt'}", f"    key: {self.pki / 'server.key'}"]
        if self.client_ca:
            tls += ["    clientcas:", f"      - {self.pki / 'ca.crt'}"]
        lines[i + 1:i + 1] = tls
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines))

    def _answers(self):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if self.client_ca:
            ctx.load_cert_chain(str(self.pki / "client.cert"), str(self.pki / "client.key"))
        try:
            with urllib.request.urlopen(self.url + "/v2/", timeout=1, context=ctx) as r:
                return r.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401
        except (urllib.error.URLError, OSError):
            return False


@pytest.fixture
def upstream(registry, build_image):
    img = build_image(registry, "tls/img:1", layers=[[File("etc/hello", b"over tls\n")]])
    return registry, img


@pytest.fixture
def tls_registry(tmp_path, pki, upstream):
    regs = []

    def make(client_ca=False):
        r = TLSRegistry(tmp_path / f"tlsreg{len(regs)}", pki, client_ca=client_ca,
                        proxy_remote=upstream[0].url).start()
        regs.append(r)
        return r
    yield make
    for r in regs:
        r.stop()


@pytest.fixture
def env(tmp_path, strata_env):
    """No config files but ours; certs dirs under tmp_path."""
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    cfg = tmp_path / "config.json"
    cfg.write_text("{}")
    strata_env["STRATA_CONFIG"] = str(cfg)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    strata_env["STRATA_CERTS_DIRS"] = str(certs)
    return strata_env, cfg, certs


def skipped(r):
    return [l for l in r.out.splitlines() + r.err_lines if " skipped: " in l]


def test_tls_mirror_without_ca_is_a_clear_error(strata, upstream, tls_registry, env, store_root):
    reg, img = upstream
    tr = tls_registry()
    strata_env, cfg, certs = env
    cfg.write_text(json.dumps({"registries": {reg.host: {"mirrors": [tr.url]}}}))
    reg.stop()                              # only the TLS mirror could serve it
    r = strata("pull", img.ref)
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    line = r.err_lines[0]
    assert "x509: certificate signed by unknown authority" in line, line
    assert tr.host in line and f"certs.d/{tr.host}/ca.crt" in line, line
    assert not os.path.exists(os.path.join(store_root, "images.json"))


def test_tls_mirror_with_certs_d(strata, upstream, tls_registry, env, store_root):
    reg, img = upstream
    tr = tls_registry()
    strata_env, cfg, certs = env
    cfg.write_text(json.dumps({"registries": {reg.host: {"mirrors": [tr.url]}}}))
    (certs / tr.host).mkdir()
    (certs / tr.host / "ca.crt").write_bytes((tr.pki / "ca.crt").read_bytes())
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    assert not skipped(r), str(r)
    # it went through the mirror: Distribution's pull-through cache stores a
    # blob once it has served it, in a goroutine of its own, so under load
    # that comes after strata is done
    digest = img.layers[0].digest
    wait_until(lambda: os.path.exists(tr.blob_data_path(digest)), 30,
               what=f"the TLS mirror to store {digest}")


def test_tls_registry_direct_with_certs_d(strata, upstream, tls_registry, env, store_root):
    """A loopback registry with a certs.d directory is spoken to over https."""
    reg, img = upstream
    tr = tls_registry()
    strata_env, cfg, certs = env
    (certs / tr.host).mkdir()
    (certs / tr.host / "ca.crt").write_bytes((tr.pki / "ca.crt").read_bytes())
    r = strata("pull", f"{tr.host}/tls/img:1")
    assert r.ok, str(r)
    r = strata("info", f"{tr.host}/tls/img:1")
    assert f"registry https://{tr.host}" in r.out and str(certs / tr.host) in r.out


def test_tls_registry_wrong_ca(strata, upstream, tls_registry, env, store_root, tmp_path):
    reg, img = upstream
    tr = tls_registry()
    strata_env, cfg, certs = env
    other = tmp_path / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "o.key", "-out", "o.crt",
            "-days", "1", "-subj", "/CN=another CA", cwd=other)
    (certs / tr.host).mkdir()
    (certs / tr.host / "ca.crt").write_bytes((other / "o.crt").read_bytes())
    r = strata("pull", f"{tr.host}/tls/img:1")
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    assert "x509: certificate signed by unknown authority" in r.err and tr.host in r.err


def test_client_certificate(strata, upstream, tls_registry, env, store_root):
    reg, img = upstream
    tr = tls_registry(client_ca=True)
    strata_env, cfg, certs = env
    d = certs / tr.host
    d.mkdir()
    (d / "ca.crt").write_bytes((tr.pki / "ca.crt").read_bytes())
    r = strata("pull", f"{tr.host}/tls/img:1")
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    assert tr.host in r.err
    (d / "client.cert").write_bytes((tr.pki / "client.cert").read_bytes())
    (d / "client.key").write_bytes((tr.pki / "client.key").read_bytes())
    r = strata("pull", f"{tr.host}/tls/img:1")
    assert r.ok, str(r)


def test_client_cert_without_key_is_refused(strata, upstream, tls_registry, env, store_root):
    reg, img = upstream
    tr = tls_registry()
    strata_env, cfg, certs = env
    d = certs / tr.host
    d.mkdir()
    (d / "ca.crt").write_bytes((tr.pki / "ca.crt").read_bytes())
    (d / "client.cert").write_bytes((tr.pki / "client.cert").read_bytes())
    r = strata("pull", f"{tr.host}/tls/img:1")
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    assert "client.cert" in r.err and "client.key" in r.err
