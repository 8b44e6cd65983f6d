"""Errors of strata's own at the command line (issue 15): a configuration
file named but missing or ambiguous, bad global options, exit codes."""
import pytest

VERBS_THAT_READ_NO_CONFIG = [["images"], ["ls", "x"], ["umount", "/nonexistent"], ["layers", "x"],
                             ["mount", "-o", "lowerdir=/nonexistent", "/nonexistent"]]


@pytest.mark.parametrize("argv", VERBS_THAT_READ_NO_CONFIG + [["info"]], ids=lambda a: a[0])
def test_missing_config_file_is_an_error(strata, tmp_path, argv):
    """--config FILE names a file that must exist, whatever the verb: one
    line naming it, exit 1, and the verb does not run."""
    missing = tmp_path / "nope.json"
    r = strata("--config", missing, *argv)
    assert r.rc == 1, r
    assert r.out == "" and len(r.err_lines) == 1 and str(missing) in r.err, r
    assert "No such file" in r.err, r


def test_missing_default_config_is_no_error(strata, strata_env):
    """The default path may be absent (the test machine has none)."""
    strata("images").check()


@pytest.mark.parametrize("how", ["option", "env"])
def test_key_given_twice_is_an_error(strata, strata_env, tmp_path, how):
    f = tmp_path / "config.json"
    f.write_text('{\n  "search-index": "https://a.example",\n  "search-index": "https://b.example"\n}\n')
    env = dict(strata_env)
    if how == "option":
        r = strata("--config", f, "images")
    else:
        env["STRATA_CONFIG"] = str(f)
        r = strata("images", env=env)
    assert r.rc == 1, r
    assert r.err_lines == [f'strata: {f}: line 3: "search-index" is given twice'], r
