"""make install / uninstall into a DESTDIR, and strata(1) against --help
(issue 16)."""
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir(strata_bin):
    """The BUILD of the binary under test, relative to the repository (or skip)."""
    d = os.path.dirname(os.path.realpath(strata_bin))
    if os.path.dirname(d) != REPO:
        pytest.skip(f"{strata_bin} was not built in this checkout")
    return os.path.basename(d)


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            pytest.skip(f"{t} is not installed (scripts/deps.sh installs it)")


def man_text(page):
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "-l", page], capture_output=True, text=True, env=env, check=True)
    # groff's hyphens and minus signs back to '-'; no overstrike
    return re.sub(r".\x08", "", r.stdout).replace("\u2010", "-").replace("\u2212", "-")


def test_make_install_and_uninstall(strata_bin, tmp_path, strata_env):
    need("scdoc", "man")
    build = build_dir(strata_bin)
    dest = tmp_path / "dest"
    run = lambda *a: subprocess.run(["make", "--no-print-directory", "-C", REPO, f"BUILD={build}",
                                     f"DESTDIR={dest}", "PREFIX=/opt/st", *a],
                                    capture_output=True, text=True, timeout=600)
    r = run("install")
    assert r.returncode == 0, r.stderr
    root = dest / "opt/st"
    exe = root / "bin/strata"
    v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=strata_env)
    assert v.returncode == 0 and v.stdout.startswith("strata version "), v
    assert os.readlink(root / "bin/strata-overlayfs") == "strata"
    assert os.access(root / "bin/strata-fsd", os.X_OK)
    comp = root / "share/bash-completion/completions/strata"
    prog = f"source {comp}; COMP_WORDS=(strata versi); COMP_CWORD=1; _strata; echo \"${{COMPREPLY[@]}}\""
    c = subprocess.run(["bash", "-c", prog], capture_output=True, text=True)
    assert c.stdout.strip() == "version", c
    assert (root / "share/fish/vendor_completions.d/strata.fish").read_text().startswith("# fish completion")
    text = man_text(str(root / "share/man/man1/strata.1"))
    assert text.startswith("strata(1)") and "strata pull [OPTIONS]" in text
    r = run("uninstall")
    assert r.returncode == 0, r.stderr
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert left == [] and not os.path.lexists(root / "bin/strata-overlayfs"), left


def option_words(lines):
    """The -x and --long options named in the option specs of @lines (the
    text before a run of two spaces): "-q, --quiet  desc", "--format T  desc",
    "prune [-a] [-f]  desc" (a subcommand's)."""
    words = set()
    for l in lines:
        if not re.match(r"(-|[a-z][\w-]* \[-)", l.strip()):
            continue
        spec = re.split(r" {2,}", l.strip())[0]
        words |= set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)(?=[\],\[=\s]|$)", spec))
    return words


def test_man_page_options_agree_with_help(strata, strata_bin):
    """Every verb of --help has a section in strata(1) whose options are the
    ones `strata help VERB` lists, and the other way round."""
    need("scdoc", "man")
    page = os.path.join(os.path.dirname(strata_bin), "strata.1")
    build = build_dir(strata_bin)
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, f"BUILD={build}", "man"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = man_text(page)
    helptext = strata("--help").check().out
    verbs = [l.split()[0] for l in helptext.split("Commands:\n")[1].split("\n\n")[0].splitlines()]
    sections = {}
    for m in re.finditer(r"(?m)^   strata (\S+)[^\n]*\n((?:(?!   strata |\S).*\n|\n)*)", text):
        sections[m.group(1)] = m.group(2).splitlines()
    assert set(sections) == set(verbs), (set(sections) ^ set(verbs))
    for v in verbs:
        h = strata("help", v).check().out
        want = option_words(h.split("Options:\n", 1)[1].splitlines()) if "Options:\n" in h else set()
        assert option_words(sections[v]) == want, v
    # the global options too
    glob = option_words(helptext.split("Global options:\n", 1)[1].splitlines())
    man_glob = option_words(text.split("\nGLOBAL OPTIONS\n", 1)[1].split("\nCOMMANDS\n", 1)[0].splitlines())
    assert man_glob == glob


def test_version_commit_from_git_else_unknown(tmp_path):
    """The Makefile passes `git rev-parse --short=7 HEAD` to cmd-version.c,
    and "unknown" outside a checkout (a tarball of the sources)."""
    need("git")
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True)
    r = subprocess.run(["make", "-n", "-B", "-C", REPO, "BUILD=build-dry", "build-dry/cli/cmd-version.o"],
                       capture_output=True, text=True)
    assert f"-DSTRATA_GIT_COMMIT='\"{head.stdout.strip()}\"'" in r.stdout, r.stdout + r.stderr
    (tmp_path / "cli").mkdir()
    shutil.copy(os.path.join(REPO, "Makefile"), tmp_path)
    shutil.copy(os.path.join(REPO, "cli/cmd-version.c"), tmp_path / "cli")
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tmp_path.parent))
    r = subprocess.run(["make", "-n", "-C", str(tmp_path), "build/cli/cmd-version.o"], capture_output=True,
                       text=True, env=env)
    assert "-DSTRATA_GIT_COMMIT='\"unknown\"'" in r.stdout, r.stdout + r.stderr
