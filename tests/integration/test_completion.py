"""strata completion bash|zsh|fish and the hidden __complete (issue 16):
the bash function is run in a real bash over COMP_WORDS, as readline would."""
import os
import shutil
import subprocess

import pytest


def complete(strata_bin, strata_env, store_root, script, line):
    """COMPREPLY of the bash function for @line ('strata run bu'; a trailing
    space: a new empty word)."""
    words = line.split(" ")
    env = dict(strata_env, STRATA_ROOT=store_root,
               PATH=os.path.dirname(strata_bin) + ":" + strata_env.get("PATH", "/usr/bin:/bin"))
    prog = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            "_strata; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "-c", prog], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return [l for l in r.stdout.splitlines() if l]


@pytest.fixture
def bash_script(strata):
    out = strata("completion", "bash").check().out
    subprocess.run(["bash", "-n"], input=out, text=True, check=True)
    return out


def test_bash_verbs_and_options(strata_bin, strata_env, store_root, bash_script):
    c = lambda line: complete(strata_bin, strata_env, store_root, bash_script, line)
    assert sorted(c("strata ima")) == ["image", "images"]
    assert c("strata image pr") == ["prune"]
    assert c("strata system ") == ["df", "prune", "check"]
    assert set(c("strata ")) >= {"pull", "images", "run", "version", "completion", "help", "history"}
    assert c("strata --ro") == ["--root"]
    assert c("strata pull --al") == ["--all-tags"]
    assert c("strata pul") == ["pull"] and c("strata pus") == ["push"]
    assert set(c("strata history -")) >= {"-H", "--human", "--no-trunc", "--format", "-q", "--help"}
    assert c("strata images --filter ") == []            # an option's value: no verbs, no images
    assert c("strata completion ") == ["bash", "zsh", "fish"]
    assert c("strata help pul") == ["pull"]
    assert c("strata --root /tmp run -") and "--rm" in c("strata --root /tmp run --r")


def test_bash_image_names_from_the_store(strata_bin, strata_env, store_root, bash_script, pulled_busybox, strata):
    c = lambda line: complete(strata_bin, strata_env, store_root, bash_script, line)
    name = strata("images", "--format", "{{.Repository}}:{{.Tag}}").check().lines[0]
    assert strata("__complete", "images").check().lines == [name]
    assert c("strata run ") == [name]
    assert c(f"strata run {name[:5]}") == [name]
    assert c(f"strata inspect {name} ") == [name]          # image... : every operand
    assert c(f"strata run {name} ") == []                  # the command, not an image
    assert c("strata tag ") == [name] and c(f"strata tag {name} ") == [name]
    # --root on the command line is the store the names come from
    empty = os.path.join(os.path.dirname(store_root), "other")
    assert c(f"strata --root {empty} run ") == []
    assert c(f"strata --root {store_root} run ") == [name]


def test_complete_names_quiet_without_store(strata, store_root):
    r = strata("__complete", "images")
    assert r.rc == 0 and r.out == "" and r.err == ""
    assert not os.path.exists(store_root)
    assert "__complete" not in strata("--help").out


def test_zsh_and_fish(strata):
    z = strata("completion", "zsh").check().out
    assert "bashcompinit" in z and "complete -F _strata strata" in z
    f = strata("completion", "fish").check().out
    assert "complete -c strata -n __fish_use_subcommand -a pull -d 'Download an image from a registry'" in f
    assert "complete -c strata -n '__fish_seen_subcommand_from pull' -s a -l all-tags" in f
    assert "(strata __complete images)" in f
    for sh, exe in (("zsh", "zsh"), ("fish", "fish")):
        if shutil.which(exe):
            subprocess.run([exe, "-n"], input=strata("completion", sh).check().out, text=True, check=True)
    r = strata("completion", "tcsh")
    assert r.rc == 2 and len(r.err_lines) == 1 and "tcsh" in r.err
