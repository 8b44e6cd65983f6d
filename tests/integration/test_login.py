"""Credentials (issue 5): strata login / logout into strata's own auth file
(docker's "auths" format, mode 0600, atomic), docker's config.json with its
credential helpers, the order of the sources, and FETCH INVARIANT (3):
credentials never leave their host (mirror, redirect)."""
import base64
import json
import os
import stat

import pytest

from helpers import File
from helpers.util import write_docker_config

USER, PASSWORD = "alice", "wonder land"


@pytest.fixture
def env(tmp_path, strata_env):
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    cfg = tmp_path / "config.json"
    cfg.write_text("{}")
    strata_env["STRATA_CONFIG"] = str(cfg)
    return strata_env


@pytest.fixture
def locked(make_registry, build_image):
    reg = make_registry(auth="htpasswd", users={USER: PASSWORD})
    img = build_image(reg, "priv/img:1", layers=[[File("p", b"private\n")]])
    return reg, img


def auth_file(env):
    return os.path.join(env["HOME"], ".config", "strata", "auth.json")


def test_login_then_pull_then_logout(strata, locked, env, store_root):
    reg, img = locked
    r = strata("pull", img.ref)
    assert r.rc != 0 and len(r.err_lines) == 1 and "login" in r.err, str(r)
    r = strata("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD + "\n")
    assert r.ok and r.out.strip() == "Login Succeeded", str(r)
    path = auth_file(env)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        j = json.load(f)
    assert base64.b64decode(j["auths"][reg.host]["auth"]).decode() == f"{USER}:{PASSWORD}"
    assert [n for n in os.listdir(os.path.dirname(path))] == ["auth.json"]   # no temporary left
    r = strata("info", img.ref)
    assert f"basic (user {USER}) from {path}" in r.out, r.out
    strata("pull", img.ref).check()
    r = strata("logout", reg.host)
    assert r.ok and r.out.strip() == f"Removing login credentials for {reg.host}", str(r)
    with open(path) as f:
        assert json.load(f)["auths"] == {}
    r = strata("logout", reg.host)
    assert r.ok and "Not logged in" in r.out


def test_login_wrong_password(strata, locked, env):
    reg, img = locked
    r = strata("login", "-u", USER, "--password-stdin", reg.host, input="nope\n")
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    assert "incorrect username or password" in r.err and reg.host in r.err
    assert not os.path.exists(auth_file(env))


def test_login_token_registry(strata, make_registry, build_image, env, store_root):
    reg = make_registry(auth="token", users={USER: PASSWORD}, anonymous_pull=False)
    img = build_image(reg, "tok/img:1", layers=[[File("t", b"t")]])
    r = strata("login", "-u", USER, "-p", "bad", reg.host)
    assert r.rc != 0 and "incorrect username or password" in r.err, str(r)
    r = strata("login", "-u", USER, "-p", PASSWORD, reg.host)
    assert r.ok, str(r)
    assert "WARNING! Using --password via the CLI is insecure" in r.err
    strata("pull", img.ref).check()


def test_login_keeps_other_entries_and_env_path(strata, locked, env, tmp_path):
    reg, img = locked
    p = tmp_path / "auth" / "mine.json"
    env["STRATA_AUTH_FILE"] = str(p)
    p.parent.mkdir()
    p.write_text(json.dumps({"auths": {"other.example": {"auth": "eDp5"}}, "extra": 1}))
    strata("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD).check()
    j = json.loads(p.read_text())
    assert set(j["auths"]) == {"other.example", reg.host} and j["extra"] == 1


def test_login_needs_a_tty_or_password(strata, locked, env):
    reg, img = locked
    r = strata("login", reg.host, input="")
    assert r.rc != 0 and len(r.err_lines) == 1 and "non TTY" in r.err, str(r)


def test_strata_file_before_docker_config(strata, locked, env, store_root, tmp_path):
    reg, img = locked
    write_docker_config(env["HOME"], {reg.host: (USER, "wrong")})
    strata("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD).check()
    strata("pull", img.ref).check()


def test_docker_config_auths(strata, locked, env, store_root):
    reg, img = locked
    write_docker_config(env["HOME"], {reg.host: (USER, PASSWORD)})
    strata("pull", img.ref).check()


def helper_script(bindir, name, user, password, log):
    """A docker-credential-NAME that answers `get` like docker's helpers."""
    p = bindir / f"docker-credential-{name}"
    p.write_text(f"""#!/bin/sh
[ "$1" = get ] || exit 1
read server
echo "$server" >> {log}
case "$server" in
  *{'{HOST}'}*) printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
""")
    p.chmod(0o755)
    return p


@pytest.mark.parametrize("how", ["credsStore", "credHelpers"])
def test_credential_helper(strata, locked, env, store_root, tmp_path, how):
    reg, img = locked
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    p = helper_script(bindir, "fake", USER, PASSWORD, log)
    p.write_text(p.read_text().replace("{HOST}", reg.host))
    env["PATH"] = f"{bindir}:{env['PATH']}"
    extra = {"credsStore": "fake"} if how == "credsStore" else {"credHelpers": {reg.host: "fake"}}
    write_docker_config(env["HOME"], {}, extra=extra)
    r = strata("info", img.ref)
    assert "helper fake" in r.out, r.out
    strata("pull", img.ref).check()
    assert log.read_text().split() == [reg.host]     # asked once, for this host


def test_missing_helper_falls_back_to_auths(strata, locked, env, store_root):
    reg, img = locked
    write_docker_config(env["HOME"], {reg.host: (USER, PASSWORD)}, extra={"credsStore": "absent-helper"})
    strata("pull", img.ref).check()


def test_redirect_to_another_host_drops_logged_in_credentials(strata, locked, env, make_proxy,
                                                              make_blob_store, store_root):
    """FETCH (3): the blob redirect to 127.0.0.2 gets no Authorization."""
    reg, img = locked
    px = make_proxy(reg)
    bs = make_blob_store(reg)
    px.redirect("/blobs/sha256:", bs.url)
    strata("login", "-u", USER, "--password-stdin", px.host, input=PASSWORD).check()
    strata("pull", f"{px.host}/priv/img:1").check()
    assert any(q.authorization for q in px.requests)
    assert bs.requests and all(q.authorization is None for q in bs.requests)


def test_logged_in_credentials_never_reach_a_mirror(strata, locked, env, make_registry, make_proxy,
                                                    store_root, tmp_path):
    reg, img = locked
    cache = make_registry(proxy_remote=reg.url, proxy_username=USER, proxy_password=PASSWORD)
    px = make_proxy(cache)
    (tmp_path / "config.json").write_text(json.dumps({"registries": {reg.host: {"mirrors": [px.url]}}}))
    strata("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD).check()
    strata("pull", img.ref).check()
    assert px.requests and all(q.authorization is None for q in px.requests)
