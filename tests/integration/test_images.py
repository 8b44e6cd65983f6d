"""images, tag, rmi, inspect, history, layers, ls, which, diff over real
images pushed to a loopback registry (issue 6)."""
import json
import os
import re

import pytest

from helpers import Dir, File, Opaque, Symlink, Whiteout, snapshot

# An image whose layers add, change, delete and make a directory opaque.
LAYERS = [
    [Dir("etc"), File("etc/motd", b"hello\n"), File("etc/keep", b"keep\n"),
     Dir("app"), File("app/a", b"a"), File("app/b", b"b"), Dir("app/sub"), File("app/sub/c", b"c"),
     Symlink("link", "etc/motd")],
    [Dir("etc"), File("etc/keep", b"changed\n", mode=0o600), Whiteout("etc/motd"),
     File("etc/new", b"new\n")],
    [Dir("app"), Opaque("app"), File("app/only", b"only")],
]
HISTORY = ["ADD base", "RUN change etc", "RUN replace app"]


@pytest.fixture(scope="module")
def layered(tmp_path_factory, image_builder):
    from helpers import Registry
    reg = Registry(str(tmp_path_factory.mktemp("reg-images")))
    reg.start()
    img = image_builder.build_image(reg, "test/layered:1", layers=LAYERS,
                                    config={"Env": ["A=1"], "Cmd": ["/bin/sh"]}, history=HISTORY)
    yield reg, img
    reg.stop()


def pull(strata, ref):
    strata("pull", ref).check()


def test_images_lists_pulled_image(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("images").check()
    assert r.lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = r.lines[1].split()
    assert row[0] == f"{reg.host}/test/layered" and row[1] == "1"
    assert row[2] == img.config_digest[7:19]


def test_two_tags_one_id(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    strata("tag", img.ref, f"{reg.host}/test/other:2").check()
    r = strata("images").check()
    rows = [l.split() for l in r.lines[1:]]
    assert len(rows) == 2
    assert rows[0][2] == rows[1][2] == img.config_digest[7:19]
    assert strata("images", "-q").check().lines == [img.config_digest[7:19]]
    assert strata("images", "--no-trunc", "-q").check().lines == [img.config_digest]
    # filter by repository
    r = strata("images", f"{reg.host}/test/other").check()
    assert len(r.lines) == 2 and r.lines[1].split()[1] == "2"


def test_images_digests_and_json(strata, layered):
    reg, img = layered
    pull(strata, img.pinned_ref)
    pull(strata, img.ref)
    r = strata("images", "--digests").check()
    assert "DIGEST" in r.lines[0]
    assert img.digest in r.out
    r = strata("images", "--format", "json").check()
    objs = [json.loads(l) for l in r.lines]
    assert objs[0]["ID"] == img.config_digest[7:19]
    assert objs[0]["Repository"] == f"{reg.host}/test/layered"
    assert objs[0]["Digest"] == img.digest


def test_inspect(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("inspect", img.ref).check()
    j = json.loads(r.out)
    assert len(j) == 1
    o = j[0]
    assert o["Id"] == img.config_digest
    assert o["RepoTags"] == [f"{reg.host}/test/layered:1"]
    assert o["RootFS"]["Layers"] == img.diff_ids
    assert o["Config"]["Env"] == ["A=1"]
    assert [l["Digest"] for l in o["Manifest"]["Layers"]] == [b.digest for b in img.layers]
    assert o["Manifest"]["Digest"] == img.digest
    # by ID prefix too
    assert json.loads(strata("inspect", img.config_digest[7:15]).check().out)[0]["Id"] == img.config_digest


def test_history(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("history", img.ref).check()
    assert r.lines[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert len(r.lines) == 1 + len(img.config.get("history", []))
    assert r.lines[1].startswith(img.config_digest[7:19])
    assert all(l.startswith("<missing>") for l in r.lines[2:])
    # newest first: the builder's config step, then the layers top down
    row = next(l for l in r.lines if "RUN replace app" in l)
    assert r.lines.index(row) == 2
    assert row.split()[-1] == "4B"          # app/only: 4 bytes


def test_layers_counts(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("layers", img.ref).check()
    rows = [l.split() for l in r.lines[1:]]
    assert len(rows) == 3
    # columns: LAYER DIGEST DIFFID SIZE UNPACKED ADDED CHANGED DELETED
    added, changed, deleted = (int(x) for x in rows[1][-3:])
    assert (added, changed, deleted) == (1, 2, 1)        # etc/new; etc, etc/keep; etc/motd
    added, changed, deleted = (int(x) for x in rows[2][-3:])
    assert (added, changed, deleted) == (1, 1, 4)        # app/only; app; a, b, sub, sub/c


def test_ls_merged_and_layer(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("ls", img.ref, "/etc").check()
    got = {l.split()[1]: int(l.split()[0]) for l in r.lines}
    assert got == {"/etc/keep": 1, "/etc/new": 1}
    r = strata("ls", img.ref, "/app").check()
    assert [l.split()[1] for l in r.lines] == ["/app/only"]
    r = strata("ls", "--layer", "0", img.ref, "/etc").check()
    assert sorted(l.split()[1] for l in r.lines) == ["/etc/keep", "/etc/motd"]
    r = strata("ls", "-l", img.ref, "/etc/keep").check()
    assert r.lines[0].split()[1] == "-rw-------"
    r = strata("ls", "-R", img.ref).check()
    assert "/app/sub/c" not in r.out and "/link" in r.out
    r = strata("ls", img.ref, "/nope")
    assert r.rc != 0 and len(r.err_lines) == 1 and "/nope" in r.err


def test_which(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("which", img.ref, "/etc/keep").check()
    assert "wins: layer 1" in r.out
    r = strata("which", img.ref, "/etc/motd").check()
    assert "whiteout" in r.out and "deleted" in r.out
    r = strata("which", img.ref, "/app/a").check()
    assert "opaque" in r.out and "deleted" in r.out
    r = strata("which", img.ref, "/absent")
    assert r.rc != 0 and len(r.err_lines) == 1


def test_diff_image(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("diff", img.ref).check()
    sections = re.split(r"^# layer \d+ .*$", r.out, flags=re.M)[1:]
    assert len(sections) == 3
    l1 = set(sections[1].split("\n")) - {""}
    assert l1 == {"C /etc", "C /etc/keep", "D /etc/motd", "A /etc/new"}
    l2 = set(sections[2].split("\n")) - {""}
    assert l2 == {"C /app", "A /app/only", "D /app/a", "D /app/b", "D /app/sub", "D /app/sub/c"}


def test_rmi_shared_layers(strata, layered, build_image):
    reg, img = layered
    other = build_image(reg, "test/sharing:1", layers=LAYERS[:2])   # shares layers 0 and 1
    pull(strata, img.ref)
    pull(strata, other.ref)
    layers_dir = os.path.join(strata.root, "layers")
    assert len(os.listdir(layers_dir)) == 3
    r = strata("rmi", img.ref).check()
    assert f"Untagged: {reg.host}/test/layered:1" in r.lines
    assert f"Deleted: {img.config_digest}" in r.lines
    assert f"Deleted: {img.diff_ids[2]}" in r.lines
    assert len(os.listdir(layers_dir)) == 2, "shared layers survive while another image uses them"
    r = strata("rmi", other.ref).check()
    assert os.listdir(layers_dir) == []
    blobs = os.listdir(os.path.join(strata.root, "blobs", "sha256"))
    assert blobs == [], "the store is empty of the images' files"
    assert strata("images", "-q").check().out == ""


def test_rmi_one_of_two_tags_untags_only(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    strata("tag", img.ref, f"{reg.host}/test/alias:1").check()
    r = strata("rmi", f"{reg.host}/test/alias:1").check()
    assert r.lines == [f"Untagged: {reg.host}/test/alias:1"]
    assert strata("images", "-q").check().lines == [img.config_digest[7:19]]
    # by ID with two tags: refused unless forced
    strata("tag", img.ref, f"{reg.host}/test/alias:1").check()
    r = strata("rmi", img.config_digest[7:19])
    assert r.rc != 0 and "must be forced" in r.err and len(r.err_lines) == 1
    r = strata("rmi", "-f", img.config_digest[7:19]).check()
    assert f"Deleted: {img.config_digest}" in r.lines


def test_rmi_unknown_and_others_proceed(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("rmi", "nosuch:1", img.ref, "Bad_Ref")
    assert r.rc != 0
    assert len(r.err_lines) == 2, r.err
    assert "nosuch" in r.err_lines[0] and "Bad_Ref" in r.err_lines[1]
    assert f"Deleted: {img.config_digest}" in r.lines


@pytest.mark.parametrize("verb", ["inspect", "history", "layers", "ls", "diff", "rmi"])
@pytest.mark.parametrize("ref", ["nosuch:latest", "UPPER/case", "a@sha256:123", ":x"])
def test_unknown_or_malformed_reference(strata, layered, verb, ref):
    reg, img = layered
    pull(strata, img.ref)
    before = snapshot(strata.root)
    r = strata(verb, ref)
    assert r.rc != 0
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith("strata: "), r.err
    assert snapshot(strata.root) == before


def test_tag_errors(strata, layered):
    reg, img = layered
    pull(strata, img.ref)
    r = strata("tag", img.ref, "x@sha256:" + "0" * 64)
    assert r.rc != 0 and len(r.err_lines) == 1
    r = strata("tag", "nosuch:1", "y:1")
    assert r.rc != 0 and "no such image" in r.err
