"""--format (docker's Go templates) on images, inspect, history, version and
info; images --filter and wildcards; history -H (issue 16).  The images are
pushed by hand (push_raw) with chosen creation times and labels."""
import json
import re

import pytest


def config(created, labels=None, history=("layer 0",)):
    return {"architecture": "amd64", "os": "linux", "created": created,
            "config": {"Env": ["PATH=/bin"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": created, "created_by": h, "empty_layer": True} for h in history]}


@pytest.fixture(scope="module")
def fmt_images(tmp_path_factory, image_builder):
    from helpers import Registry
    reg = Registry(str(tmp_path_factory.mktemp("reg-format")))
    reg.start()
    imgs = {
        "old": image_builder.push_raw(reg, "fmt/old:1", config=config("2020-01-01T00:00:00Z", {"team": "a", "tier": "web"})),
        "mid": image_builder.push_raw(reg, "fmt/mid:1", config=config("2021-01-01T00:00:00Z", {"team": "b"})),
        "new": image_builder.push_raw(reg, "fmt/new:1", config=config("2022-01-01T00:00:00Z",
                                      history=("RUN\tapt-get install -y a-long-list-of-packages-here", "CMD x"))),
        "dig": image_builder.push_raw(reg, "fmt/dig:1", config=config("2019-01-01T00:00:00Z")),
    }
    yield reg, imgs
    reg.stop()


@pytest.fixture
def pulled(strata, fmt_images):
    reg, imgs = fmt_images
    for k in ("old", "mid", "new"):
        strata("pull", imgs[k].ref).check()
    strata("pull", imgs["dig"].pinned_ref).check()     # by digest only: dangling (<none> tag)
    return reg, imgs


def short(img):
    return img.config_digest[7:19]


def test_images_format_template(strata, pulled):
    reg, imgs = pulled
    r = strata("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").check()
    assert f"{reg.host}/fmt/old:1 {short(imgs['old'])}" in r.lines
    assert f"{reg.host}/fmt/dig:<none> {short(imgs['dig'])}" in r.lines
    r = strata("images", "--format", "table {{.Repository}}\\t{{.Tag}}", f"{reg.host}/fmt/old").check()
    repo = f"{reg.host}/fmt/old"
    assert r.lines == [f"{'REPOSITORY':<{len(repo) + 3}}TAG", f"{repo}   1"]
    # docker's default table: "table" alone; columns at least 10 wide plus 3
    r = strata("images", "--format", "table", f"{reg.host}/fmt/old").check()
    assert r.lines[0].startswith("REPOSITORY") and "IMAGE ID" in r.lines[0]
    assert re.search(r"   1         " + short(imgs["old"]) + "   ", r.lines[1]), r.lines[1]
    assert r.out == strata("images", f"{reg.host}/fmt/old").check().out


def test_images_format_json_fields(strata, pulled):
    reg, imgs = pulled
    for fmt in ("json", "{{json .}}"):
        r = strata("images", "--format", fmt, f"{reg.host}/fmt/mid").check()
        o = json.loads(r.out)
        assert {"Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
                "Size", "Tag", "UniqueSize", "VirtualSize"} <= set(o)
        assert o["ID"] == short(imgs["mid"]) and o["Tag"] == "1" and o["Digest"] == imgs["mid"].digest
        assert o["CreatedAt"].startswith("2021-01-01 00:00:00 ")
    r = strata("images", "--format", "{{json .Repository}}|{{.Size | upper}}|{{len .Tag}}", f"{reg.host}/fmt/mid").check()
    assert r.lines == [f'"{reg.host}/fmt/mid"|0B|1']


def test_images_format_errors(strata, pulled):
    r = strata("images", "--format", "{{.Nope}}")
    assert r.rc != 0 and len(r.err_lines) == 1 and "Nope" in r.err and "Repository" in r.err, str(r)
    assert r.out == ""
    r = strata("images", "--format", "{{.Tag")
    assert r.rc != 0 and len(r.err_lines) == 1 and "unclosed action" in r.err, str(r)
    r = strata("images", "--format", "{{nosuch .Tag}}")
    assert r.rc != 0 and len(r.err_lines) == 1 and '"nosuch" not defined' in r.err, str(r)


def names(strata, *args):
    r = strata("images", "--format", "{{.Repository}}:{{.Tag}}", *args).check()
    return sorted(l.split("/", 1)[1] for l in r.lines)


def test_images_filters(strata, pulled):
    reg, imgs = pulled
    assert names(strata, "--filter", "dangling=true") == ["fmt/dig:<none>"]
    assert names(strata, "-f", "dangling=false") == ["fmt/mid:1", "fmt/new:1", "fmt/old:1"]
    assert names(strata, "--filter", f"reference={reg.host}/fmt/o*") == ["fmt/old:1"]
    assert names(strata, "--filter", f"reference={reg.host}/fmt/*:1") == ["fmt/mid:1", "fmt/new:1", "fmt/old:1"]
    assert names(strata, "--filter", "reference=*") == []          # * never crosses a '/'
    assert names(strata, "--filter", f"reference={reg.host}/fmt/o*",
                 "--filter", f"reference={reg.host}/fmt/n*") == ["fmt/new:1", "fmt/old:1"]   # any of them
    assert names(strata, "--filter", f"before={imgs['new'].ref}") == ["fmt/dig:<none>", "fmt/mid:1", "fmt/old:1"]
    assert names(strata, "--filter", f"since={short(imgs['old'])}") == ["fmt/mid:1", "fmt/new:1"]
    assert names(strata, "--filter", "label=team") == ["fmt/mid:1", "fmt/old:1"]
    assert names(strata, "--filter", "label=team=a") == ["fmt/old:1"]
    assert names(strata, "--filter", "label=team", "--filter", "label=tier=web") == ["fmt/old:1"]   # all of them
    assert names(strata, "--filter", "label=team", "-f", "since=" + imgs["old"].ref) == ["fmt/mid:1"]
    # docker: `images REPO` with wildcards is a reference filter
    assert names(strata, f"{reg.host}/fmt/[mn]*") == ["fmt/mid:1", "fmt/new:1"]
    assert strata("images", "-q", "--filter", "dangling=true").check().lines == [short(imgs["dig"])]


@pytest.mark.parametrize("flt,needle", [
    ("colour=blue", "invalid filter 'colour'"),
    ("dangling=maybe", "dangling=maybe"),
    ("nokey", "nokey"),
    ("before=no/such:image", "no/such:image"),
])
def test_images_bad_filter(strata, pulled, flt, needle):
    r = strata("images", "--filter", flt)
    assert r.rc != 0 and len(r.err_lines) == 1 and needle in r.err and r.out == "", str(r)


def test_inspect_format(strata, pulled):
    reg, imgs = pulled
    old = imgs["old"]
    r = strata("inspect", "-f", "{{.Id}} {{index .Config.Labels \"team\"}} {{json .Config.Labels}}", old.ref).check()
    assert r.lines == [f'{old.config_digest} a {{"team":"a","tier":"web"}}']
    r = strata("inspect", "--format", "{{range .RepoTags}}{{.}}{{end}}|{{.Nope}}", old.ref, imgs["mid"].ref).check()
    assert r.lines == [f"{old.ref}|<no value>", f"{imgs['mid'].ref}|<no value>"]   # docker inspect: a map
    r = strata("inspect", "--format", "json", old.ref).check()
    assert json.loads(r.out)["Id"] == old.config_digest
    r = strata("inspect", "-f", "{{.Id}}", old.ref, "no/such:thing")
    assert r.rc == 1 and r.lines == [old.config_digest] and len(r.err_lines) == 1 and "no/such" in r.err
    r = strata("inspect", "-f", "{{if}}", old.ref)
    assert r.rc != 0 and len(r.err_lines) == 1 and "missing value" in r.err and r.out == "", str(r)


def test_history_format_and_human(strata, pulled):
    reg, imgs = pulled
    ref = imgs["new"].ref
    r = strata("history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", ref).check()
    assert r.lines == [f"{short(imgs['new'])}|CMD x|0B",
                       "<missing>|RUN apt-get install -y a-long-list-of-packag…|0B"]   # tab as a space, 45 characters
    r = strata("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).check()
    assert r.lines[1] == "RUN apt-get install -y a-long-list-of-packages-here"
    r = strata("history", "--format", "table {{.ID}}\\t{{.CreatedAt}}", ref).check()
    assert r.lines[0] == "IMAGE          CREATED AT"
    assert r.lines[2] == "<missing>      2022-01-01T00:00:00Z"
    # -H/--human=false: RFC 3339 times and byte counts, as docker
    human = strata("history", ref).check()
    assert "ago" in human.lines[1] and "0B" in human.lines[1]
    for flag in ("--human=false", "-H=false", "-Hfalse", "--human=0"):
        r = strata("history", flag, ref).check()
        assert "2022-01-01T00:00:00Z" in r.lines[1] and "ago" not in r.out, (flag, r.out)
        assert r.lines[1].split()[-1] == "0", (flag, r.lines[1])
    assert strata("history", "-H", ref).check().lines[1:] == human.lines[1:]
    r = strata("history", "--human=maybe", ref)
    assert r.rc == 2 and len(r.err_lines) == 1 and "maybe" in r.err, str(r)


def test_version_verb_and_format(strata):
    r = strata("version").check()
    assert r.lines[0] == "Client:" and re.match(r" Version: +\d+\.\d+\.\d+", r.lines[1]), r.out
    commit = strata("version", "--format", "{{.Client.GitCommit}}").check().out.strip()
    assert re.fullmatch(r"[0-9a-f]{7,}|unknown", commit)
    assert strata("--version").check().out == f"strata version {strata('version', '-f', '{{.Client.Version}}').check().out.strip()}, build {commit}\n"
    o = json.loads(strata("version", "--format", "json").check().out)
    assert o["Client"]["Os"] == "linux" and o["Client"]["Arch"]
    assert "version" in strata("--help").check().out.split("Commands:")[1]
    r = strata("version", "-f", "{{.Server.Version}}")
    assert r.rc == 1 and len(r.err_lines) == 1 and "Server" in r.err and "Client" in r.err, str(r)


def test_info_format(strata, pulled, store_root):
    r = strata("info", "--format", "{{.DockerRootDir}}|{{.Images}}|{{.OSType}}").check()
    assert r.lines == [f"{store_root}|4|linux"]
    o = json.loads(strata("info", "--format", "{{json .}}").check().out)
    assert o["Layers"] == 0 and o["Blobs"] >= 4 and "Mirrors" in o["RegistryConfig"] and o["KernelVersion"]
    r = strata("info", "-f", "{{.Nope}}")
    assert r.rc == 1 and len(r.err_lines) == 1 and "Nope" in r.err and "DockerRootDir" in r.err, str(r)


def test_pull_all_tags(strata, fmt_images, image_builder):
    """pull -a REPO: every tag of the registry's tags list (issue 16)."""
    reg, imgs = fmt_images
    for t in ("1", "2", "3"):
        image_builder.push_raw(reg, f"fmt/many:{t}", config=config(f"202{t}-01-01T00:00:00Z"))
    r = strata("pull", "--all-tags", f"{reg.host}/fmt/many").check()
    assert names(strata) == ["fmt/many:1", "fmt/many:2", "fmt/many:3"]
    r = strata("pull", "-a", "-q", f"{reg.host}/fmt/many").check()
    assert sorted(r.lines) == [f"{reg.host}/fmt/many:{t}" for t in ("1", "2", "3")]
    for bad, needle in ((f"{reg.host}/fmt/many:1", "tag can't be used with --all-tags"),
                        (f"{reg.host}/fmt/nosuchrepo", "fmt/nosuchrepo")):
        r = strata("pull", "-a", bad)
        assert r.rc == 1 and len(r.err_lines) == 1 and needle in r.err, str(r)


def test_system_df_format(strata, pulled):
    r = strata("system", "df", "--format", "{{.Type}}={{.TotalCount}}").check()
    assert [l.split("=")[0] for l in r.lines] == ["Images", "Layers", "Blobs", "Mounts", "Leftovers",
                                                      "Build Cache"]
    assert r.lines[0] == "Images=4" and r.lines[3] == "Mounts=0", r.out
    o = json.loads(strata("system", "df", "--format", "json").check().lines[0])
    assert o == {"Type": "Images", "TotalCount": "4", "Active": "0", "Size": o["Size"], "Reclaimable": o["Reclaimable"]}
    r = strata("system", "df", "--format", "table {{.Type}}\\t{{.Active}}").check()
    assert r.lines[0] == "TYPE          ACTIVE" and r.lines[1] == "Images        0"
    r = strata("system", "df", "--format", "{{.Nope}}")
    assert r.rc == 1 and len(r.err_lines) == 1 and "TotalCount" in r.err, str(r)
    r = strata("system", "df", "-v", "--format", "json")
    assert r.rc == 2 and len(r.err_lines) == 1, str(r)
