"""strata info [REF] (issues 5 and 6): the store and its usage, the
configuration in force and where each part came from, and the sources a pull
of REF would try, with their credentials — without touching the network."""
import json
import os
import re

import pytest

from helpers import File
from helpers.util import write_docker_config


@pytest.fixture
def env(tmp_path, strata_env):
    cfg = tmp_path / "config.json"
    cfg.write_text("{}")
    strata_env["STRATA_CONFIG"] = str(cfg)
    dj = tmp_path / "daemon.json"
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = str(dj)
    certs = tmp_path / "certs.d"
    (certs / "reg.example:5000").mkdir(parents=True)
    strata_env["STRATA_CERTS_DIRS"] = f"{certs}:{tmp_path / 'nowhere'}"
    return strata_env, cfg, dj, certs


def test_info_empty_store(strata, env, store_root):
    strata_env, cfg, dj, certs = env
    r = strata("info")
    assert r.ok, str(r)
    assert f"Root Dir: {store_root}" in r.out
    assert "not created yet" in r.out
    assert not os.path.exists(store_root)     # info does not create the store
    assert re.search(r"^Kernel Version: \S+", r.out, re.M)
    assert re.search(r"^FUSE: \S+", r.out, re.M)
    assert f" strata: {cfg}\n" in r.out
    assert f" docker: {dj} (absent)" in r.out


def test_info_usage(strata, registry, build_image, env, store_root):
    img = build_image(registry, "info/img:1", layers=[[File("a", b"a" * 5000)], [File("b", b"b")]])
    strata("pull", img.ref).check()
    strata("tag", img.ref, f"{registry.host}/info/other:2").check()
    r = strata("info")
    assert " Images: 1 (3 names)" in r.out, r.out      # two tags and the digest name
    assert " Layers: 2 (5kB unpacked)" in r.out, r.out
    assert re.search(r" Blobs: 4 \(\S+\)", r.out), r.out   # 2 layers, config, manifest


def test_info_config_in_force(strata, env):
    strata_env, cfg, dj, certs = env
    cfg.write_text(json.dumps({
        "insecure-registries": ["myreg.local:5000"],
        "registries": {"reg.example:5000": {"mirrors": ["https://m1.example", "https://m2.example"]},
                       "plain.example": {"insecure": True}},
        "mirror-connect-timeout": 4, "mirror-stall-timeout": 7,
    }))
    dj.write_text(json.dumps({"registry-mirrors": ["https://hub-mirror.example"],
                              "insecure-registries": ["ignored.example"]}))
    r = strata("info")
    assert r.ok, str(r)
    out = r.out
    assert f" https://hub-mirror.example (from {dj})" in out          # daemon.json fallback
    assert f" myreg.local:5000 (from {cfg})" in out                    # strata's own wins
    assert "ignored.example" not in out
    assert "Mirror Timeouts: connect 4s, stall 7s" in out
    assert "Mirror Min Speed: 10240 bytes/s over 7s (a slower mirror is dropped)" in out   # the default
    assert f"  mirror https://m1.example (from {cfg})" in out
    assert " plain.example (insecure: plain HTTP)" in out
    assert f" {certs}\n" in out and "nowhere (absent)" in out
    # --registry-mirror / STRATA_REGISTRY_MIRRORS are named as the source
    strata_env["STRATA_REGISTRY_MIRRORS"] = "https://env-mirror.example"
    r = strata("info")
    assert " https://env-mirror.example (from STRATA_REGISTRY_MIRRORS)" in r.out


def test_info_ref_sources(strata, env):
    strata_env, cfg, dj, certs = env
    cfg.write_text(json.dumps({
        "registry-mirrors": ["https://hub-mirror.example"],
        "registries": {"reg.example:5000": {"mirrors": ["https://m1.example", "http://127.0.0.1:9"]},
                       "docker.io": {"mirrors": ["https://second.example"]}},
        "mirror-connect-timeout": 4, "mirror-stall-timeout": 7,
    }))
    write_docker_config(strata_env["HOME"], {"reg.example:5000": ("bob", "pw"),
                                             "m1.example": ("mirroruser", "x")})
    r = strata("info", "reg.example:5000/team/app:2")
    assert r.ok, str(r)
    text = r.out[r.out.index("Sources for"):]
    assert text.splitlines()[0] == "Sources for reg.example:5000/team/app:2, in order:"
    dc = os.path.join(strata_env["HOME"], ".docker", "config.json")
    expect = [
        " 1. mirror https://m1.example",
        "    timeouts: connect 4s, stall 7s",
        "    min speed: 10240 bytes/s over 7s",
        f"    credentials: basic (user mirroruser) from {dc}",
        " 2. mirror http://127.0.0.1:9",
        "    timeouts: connect 4s, stall 7s",
        "    min speed: 10240 bytes/s over 7s",
        "    credentials: none (anonymous)",
        " 3. registry https://reg.example:5000",
        f"    credentials: basic (user bob) from {dc}",
        f"    certificates: {certs}/reg.example:5000",
    ]
    assert text.splitlines()[1:] == expect, text
    r = strata("info", "ubuntu")
    text = r.out[r.out.index("Sources for"):]
    assert "Sources for docker.io/library/ubuntu:latest" in text
    urls = re.findall(r"^ \d\. \w+ (\S+)", text, re.M)
    assert urls == ["https://hub-mirror.example", "https://second.example", "https://registry-1.docker.io"]


def test_info_bad_ref_and_config(strata, env, tmp_path):
    strata_env, cfg, dj, certs = env
    r = strata("info", "UPPER/case")
    assert r.rc != 0 and len(r.err_lines) == 1 and "UPPER/case" in r.err
    cfg.write_text('{\n "registries": {"x": {"insecure": "yes"}}\n}\n')
    r = strata("info")
    assert r.rc != 0 and len(r.err_lines) == 1
    assert str(cfg) in r.err and "line 2" in r.err and "insecure" in r.err


def test_info_mirror_min_speed(strata, env):
    """mirror-min-speed: set, turned off with 0, refused when not a count."""
    strata_env, cfg, dj, certs = env
    cfg.write_text(json.dumps({"mirror-min-speed": 5000, "mirror-stall-timeout": 3,
                               "registries": {"reg.example": {"mirrors": ["https://m.example"]}}}))
    r = strata("info", "reg.example/a:1").check()
    assert "Mirror Min Speed: 5000 bytes/s over 3s (a slower mirror is dropped)" in r.out
    assert "    min speed: 5000 bytes/s over 3s" in r.lines
    cfg.write_text(json.dumps({"mirror-min-speed": 0,
                               "registries": {"reg.example": {"mirrors": ["https://m.example"]}}}))
    r = strata("info", "reg.example/a:1").check()
    assert "Mirror Min Speed: none (mirror-min-speed is 0)" in r.out
    assert not [l for l in r.lines if "min speed:" in l]
    cfg.write_text('{\n  "mirror-min-speed": "fast"\n}\n')
    r = strata("info")
    assert r.rc != 0 and len(r.err_lines) == 1, str(r)
    assert str(cfg) in r.err and "line 2" in r.err and "mirror-min-speed" in r.err
