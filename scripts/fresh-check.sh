#!/bin/sh
# scripts/fresh-check.sh - the README's set-up commands on a fresh machine.
#
# CI's machine already has every package installed, so it cannot see a set-up
# step that only works the second time.  This script makes a minimal Debian
# bookworm root (mmdebstrap --variant=minbase plus make, which the README
# assumes, and git: no compiler, no -dev packages,
# no pkg-config), copies a clean clone of this checkout's HEAD into it, and runs
# there, each as the very first command on that root:
#
#   make demo                                      (installs, builds, demo)
#   scripts/bench-pull.py --quick --build-only     (the bench corpus builds)
#   make check                                     (only with --check: slow)
#
#   scripts/fresh-check.sh [--check] [--keep]
#
# Needs root, the Debian archive (as the host's apt sources give it) and about
# 2 GB in $FRESH_DIR (default /var/tmp/strata-fresh).  Not part of `make check`:
# it takes several minutes.  --keep leaves the root in place afterwards.
set -eu

run_check=0 keep=0
for a in "$@"; do
  case "$a" in
    --check) run_check=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-check.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "fresh-check.sh: needs root (chroot, mounts)" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${FRESH_DIR:-/var/tmp/strata-fresh}
root=$work/root

if ! command -v mmdebstrap >/dev/null; then
  echo "fresh-check.sh: installing mmdebstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
fi

mounted=""
cleanup() {
  for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
  if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "fresh-check.sh: root kept in $root" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work"

# The host's apt sources, so the new root reaches the same archive.
sources=""
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [ -s "$f" ] && sources="$sources $f"
done
[ -n "$sources" ] || { echo "fresh-check.sh: no apt sources on this host" >&2; exit 1; }

echo "==> mmdebstrap --variant=minbase bookworm $root" >&2
# shellcheck disable=SC2086
mmdebstrap --quiet --variant=minbase --include=make,git,ca-certificates \
  --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$root" $sources

echo "==> a clean clone of $(git -C "$repo" rev-parse --short HEAD) in /src/strata" >&2
git clone --quiet --no-hardlinks "$repo" "$root/src/strata"

cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# On a machine, / is a mount point; in a plain chroot it is not, and a new
# mount namespace cannot make it private (`strata run`, like `unshare -m`,
# would fail).  Make the root a mount of its own, as on a machine.
mount --bind "$root" "$root"
mount --make-private "$root"
mounted="$root"
for d in dev proc sys; do
  mkdir -p "$root/$d"
  mount --rbind "/$d" "$root/$d"
  mount --make-rslave "$root/$d"
  mounted="$root/$d $mounted"
done
mkdir -p "$root/run" "$root/tmp"
mount -t tmpfs tmpfs "$root/run"; mounted="$root/run $mounted"

inroot() {
  echo "==> (fresh root) $*" >&2
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
    LANG=C.UTF-8 /bin/sh -c "cd /src/strata && $*"
}

inroot make demo
inroot scripts/bench-pull.py --quick --build-only
if [ "$run_check" = 1 ]; then
  inroot make check
fi
echo "==> fresh-check.sh: passed" >&2
