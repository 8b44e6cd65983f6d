"""docker's management form of the image verbs: image ls / rm / prune /
inspect / history / tag / pull (issue 16)."""
import json

import pytest

from test_format import fmt_images, short  # noqa: F401 (a fixture)


@pytest.fixture
def two(strata, fmt_images):
    reg, imgs = fmt_images
    strata("pull", imgs["old"].ref).check()
    strata("pull", imgs["dig"].pinned_ref).check()     # dangling: a digest name only
    return reg, imgs


def test_image_ls_rm_are_the_flat_verbs(strata, two):
    reg, imgs = two
    assert strata("image", "ls").check().out == strata("images").check().out
    assert strata("image", "ls", "-q", "--filter", "dangling=true").check().lines == [short(imgs["dig"])]
    assert strata("image", "inspect", "-f", "{{.Id}}", imgs["old"].ref).check().lines == [imgs["old"].config_digest]
    assert strata("image", "history", "-q", imgs["old"].ref).check().lines[0] == short(imgs["old"])
    strata("image", "tag", imgs["old"].ref, f"{reg.host}/fmt/copy:9").check()
    r = strata("image", "rm", f"{reg.host}/fmt/copy:9").check()
    assert r.lines == [f"Untagged: {reg.host}/fmt/copy:9"]
    assert "Usage: strata images" in strata("image", "ls", "--help").check().out
    assert "prune" in strata("image", "--help").check().out
    r = strata("image", "ls", "--bogus")
    assert r.rc == 2 and len(r.err_lines) == 1 and "strata images: bad option '--bogus'" in r.err, str(r)
    for argv, needle in ((["image", "frob"], "frob"), (["image"], "requires a command")):
        r = strata(*argv)
        assert r.rc == 2 and len(r.err_lines) == 1 and needle in r.err, str(r)


def test_image_prune(strata, two):
    reg, imgs = two
    # asked first; anything but y leaves the store alone
    r = strata("image", "prune", input="n\n").check()
    assert "WARNING! This will remove all dangling images." in r.out
    assert len(strata("images", "-q").check().lines) == 2
    r = strata("image", "prune", "-f").check()
    assert r.lines[0] == "Deleted Images:"
    assert f"untagged: {reg.host}/fmt/dig@{imgs['dig'].digest}" in r.lines
    assert f"deleted: {imgs['dig'].config_digest}" in r.lines
    assert r.lines[-1].startswith("Total reclaimed space: ")
    assert strata("images", "-q").check().lines == [short(imgs["old"])]     # the tagged one stays
    assert strata("image", "prune", "-f").check().lines == ["Total reclaimed space: 0B"]
    r = strata("image", "prune", "-a", "-f").check()
    assert f"untagged: {reg.host}/fmt/old:1" in r.lines
    assert strata("images", "-q").check().lines == []
    r = strata("image", "prune", "-f", "extra")
    assert r.rc == 2 and len(r.err_lines) == 1, str(r)
