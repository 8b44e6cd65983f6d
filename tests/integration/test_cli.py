"""The frame: --help, --version, help VERB, unknown verbs and options.
SPEC "Commands" and "Errors": one clear line on stderr, non-zero exit."""
import os
import re

import pytest


def test_help(strata):
    r = strata("--help").check()
    assert r.out.startswith("Usage: strata")
    assert "Commands:" in r.out
    for opt in ("--root", "--config", "--debug", "--help", "--version"):
        assert opt in r.out, f"--help does not mention {opt}"
    assert r.err == ""
    assert strata("-h").out == r.out
    assert strata("help").out == r.out


def test_version(strata):
    for argv in (["--version"], ["-v"]):
        r = strata(*argv).check()
        # docker's "Docker version 24.0.7, build afdd53b": the commit the Makefile passed
        assert re.fullmatch(r"strata version \d+\.\d+\.\d+\S*, build ([0-9a-f]{7,}|unknown)\n", r.out), r.out
        assert r.err == ""


def test_help_and_version_do_not_touch_the_store(strata, store_root):
    strata("--help").check()
    strata("--version").check()
    strata("help").check()
    assert not os.path.exists(store_root)


def test_no_command_is_a_usage_error(strata):
    r = strata()
    assert r.rc == 2
    assert "Usage: strata" in r.err
    assert r.out == ""


def test_help_for_each_verb(strata, strata_verbs):
    for verb in strata_verbs:
        r = strata("help", verb)
        assert r.rc == 0, f"strata help {verb}: {r}"
        assert r.out.startswith(f"Usage: strata {verb}"), f"strata help {verb}:\n{r.out}"
        assert r.err == ""
        r2 = strata(verb, "--help")
        assert r2.rc == 0 and r2.out == r.out, f"strata {verb} --help differs from strata help {verb}"
        assert strata(verb, "-h").out == r.out


@pytest.mark.parametrize("argv", [["frobnicate"], ["help", "frobnicate"], ["frobnicate", "--help"]])
def test_unknown_verb_is_one_line_exit_2(strata, argv):
    r = strata(*argv)
    assert r.rc == 2, r
    assert r.out == ""
    assert len(r.err_lines) == 1, r.err
    assert "frobnicate" in r.err


@pytest.mark.parametrize("argv,opt", [(["--frobnicate", "help"], "--frobnicate"), (["-x", "images"], "-x"),
                                      (["--root"], "--root")])
def test_unknown_global_option(strata, argv, opt):
    """One line, as the README promises: not getopt's (with the binary's
    path) and 30 lines of usage."""
    r = strata(*argv, root=None)
    assert r.rc == 2, r
    assert r.out == ""
    assert r.err_lines == [f"strata: bad option '{opt}' (or its argument is missing) (see 'strata --help')"], r


def test_bad_option_of_each_verb_is_one_line(strata, strata_verbs):
    """SPEC Errors: every failure is one clear line on stderr, non-zero exit."""
    bad = []
    for verb in strata_verbs:
        r = strata(verb, "--no-such-option-xyz")
        if r.rc == 0 or r.out != "" or len(r.err_lines) != 1 or "no-such-option-xyz" not in r.err:
            bad.append(f"strata {verb} --no-such-option-xyz: exit {r.rc}, stderr:\n{r.err}")
    assert not bad, "\n".join(bad)


def test_readme_has_a_section_with_an_example_per_verb(strata_verbs):
    """README: 'each command that exists, with an example' (issue 2)."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    sections = re.split(r"(?m)^### ", readme)[1:]
    missing = []
    for verb in strata_verbs:
        sec = [s for s in sections if re.match(rf"[^\n]*`strata {re.escape(verb)}[ `]", s)]
        if not sec or not any(f"$ strata {verb}" in s or f"strata {verb} " in s.split("\n", 1)[1]
                              for s in sec):
            missing.append(verb)
    assert not missing, f"README has no section with an example for: {', '.join(missing)}"


def test_readme_names_every_environment_variable():
    """Each STRATA_* variable the C sources read has its row in the README's
    Environment table (name, default, what it does), and each row names one
    they still read.  A name counts when it is a whole string literal:
    getenv("STRATA_X"), or a helper's argument (env_seconds("STRATA_X", 0))."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    read = {}
    tops = [t for t in sorted(os.listdir(repo)) if t not in ("tests", "scripts", "build", "build-san", "build-fuzz")
            and os.path.isdir(os.path.join(repo, t)) and not t.startswith(".")]
    for top in tops:
        for dp, _, fns in os.walk(os.path.join(repo, top)):
            for fn in fns:
                if fn.endswith((".c", ".h")):
                    with open(os.path.join(dp, fn), errors="replace") as f:
                        for name in re.findall(r'"(STRATA_[A-Z0-9_]+)"', f.read()):
                            read.setdefault(name, os.path.relpath(os.path.join(dp, fn), repo))
    assert "STRATA_ROOT" in read and "STRATA_MAX_LAYER_BYTES" in read, read   # the scan itself works
    readme = open(os.path.join(repo, "README.md")).read()
    section = re.search(r"(?ms)^## Environment\n(.*?)(?=^## )", readme)
    assert section, "README has no '## Environment' section"
    rows = {}
    for m in re.finditer(r"(?m)^\| `(STRATA_[A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|$", section.group(1)):
        rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    missing = sorted(f"{n} ({where})" for n, where in read.items() if n not in rows)
    assert not missing, "README's Environment table lacks: " + ", ".join(missing)
    stale = sorted(n for n in rows if n not in read)
    assert not stale, "README's Environment table names variables nothing reads: " + ", ".join(stale)
    empty = sorted(n for n, (dflt, what) in rows.items() if not dflt or not what)
    assert not empty, "rows without a default or a description: " + ", ".join(empty)


def test_readme_exit_status_table_names_every_verb(strata_verbs):
    """README: which exit codes each verb uses — a new verb gets its place."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    table = re.search(r"(?m)^\| command \| exit status \|\n((?:\|.*\|\n)+)", readme)
    assert table, "README has no '| command | exit status |' table"
    named = set(re.findall(r"`([a-z-]+)`", table.group(1)))
    missing = [v for v in strata_verbs if v not in named]
    assert not missing, f"README's exit-status table lacks: {', '.join(missing)}"


@pytest.mark.parametrize("verb", ["pull", "push"])
@pytest.mark.parametrize("jobs", ["0", "17", "abc", "3x", ""])
def test_jobs_out_of_range_is_a_usage_error(strata, verb, jobs):
    """-j takes 1..16 for both verbs (pull took atoi's guess: "abc" ran with 3)."""
    r = strata(verb, "-j", jobs, "example.com/x:1", "example.com/y:1")
    assert r.rc == 2 and len(r.err_lines) == 1, str(r)
    assert "-j takes a number from 1 to 16" in r.err, r.err
