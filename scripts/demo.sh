#!/usr/bin/env bash
# The main-job demo (`make demo`, which installs the deps and builds first):
#   1. start a loopback Distribution registry (Debian's docker-registry) on a free port
#   2. build a small real image from busybox-static with umoci
#      (/bin/busybox + applet symlinks, /etc/os-release) and push it with skopeo
#   3. strata pull it
#   4. strata images, history; strata mount it, write into it, strata diff the
#      mount, strata run /bin/sh -c 'cat /etc/os-release || echo hello', umount
#      (without /dev/fuse: strata unpack + strata run --rootfs instead)
# Everything it started is stopped on exit (trap).  State lives under
# $STRATA_DEMO_DIR (default /var/tmp/strata-demo) and is reset on each run.
#
# Env: STRATA (default build/strata), STRATA_DEMO_DIR, REGISTRY_BIN.
set -euo pipefail

cd "$(dirname "$0")/.."
STRATA=${STRATA:-build/strata}
DEMO=${STRATA_DEMO_DIR:-/var/tmp/strata-demo}
REG_BIN=${REGISTRY_BIN:-$(command -v docker-registry || command -v registry || true)}
PY=/usr/bin/python3
export SOURCE_DATE_EPOCH=1700000000

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
run() { # print the command, shell-quoted where needed, then run it
  local a out='$' q="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=" $a"; else out+=" '${a//$q/$q\\$q$q}'"; fi
  done
  printf '%s\n' "$out"
  "$@"
}
have_verb() { "$STRATA" --help 2>/dev/null | awk '/^Commands:/ {c=1; next} c && /^  [a-z]/ {print $1}' | grep -qx "$1"; }

[[ -x $STRATA ]] || die "$STRATA not built (run: make)"
[[ -n $REG_BIN ]] || die "no docker-registry (run: scripts/deps.sh)"
for c in umoci skopeo busybox curl tar; do
  command -v "$c" >/dev/null || die "missing $c (run: scripts/deps.sh)"
done
BB=$(command -v busybox)
if ldd "$BB" >/dev/null 2>&1; then die "$BB is dynamically linked (apt-get install busybox-static)"; fi

REG_PID=
MNT=
cleanup() {
  local rc=$?
  set +e
  if [[ -n $MNT ]] && mountpoint -q "$MNT" 2>/dev/null; then
    if have_verb umount; then "$STRATA" --root "$DEMO/store" umount "$MNT" >/dev/null 2>&1; fi
    mountpoint -q "$MNT" && { fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"; }
  fi
  if [[ -n $REG_PID ]] && kill -0 "$REG_PID" 2>/dev/null; then
    kill "$REG_PID"
    for _ in $(seq 50); do kill -0 "$REG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$REG_PID" 2>/dev/null
  fi
  [[ $rc == 0 ]] && printf '\n==> demo done (state in %s)\n' "$DEMO"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ registry
# If anything under $DEMO is still mounted from an interrupted run, let go of it.
if [[ -d $DEMO ]]; then
  awk -v d="$DEMO/" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/registry" "$DEMO/store" "$DEMO/src"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
cat >"$DEMO/registry/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DEMO/registry/storage
  delete:
    enabled: true
http:
  addr: $HOST
YML
say "starting a Distribution registry on $HOST ($REG_BIN)"
"$REG_BIN" serve "$DEMO/registry/config.yml" >"$DEMO/registry/registry.log" 2>&1 </dev/null &
REG_PID=$!
for _ in $(seq 200); do
  curl -fsS -o /dev/null --max-time 1 "http://$HOST/v2/" 2>/dev/null && break
  kill -0 "$REG_PID" 2>/dev/null || { cat "$DEMO/registry/registry.log" >&2; die "registry exited"; }
  sleep 0.05
done
curl -fsS -o /dev/null "http://$HOST/v2/" || die "registry did not answer on $HOST"

# ------------------------------------------------------------------ image
say "building demo/busybox:latest from busybox-static with umoci"
S=$DEMO/src/rootfs
mkdir -p "$S"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var}
chmod 1777 "$S/tmp"; chmod 700 "$S/root"
cp "$BB" "$S/bin/busybox"
while read -r a; do
  [[ -e $S/$a || -L $S/$a ]] && continue
  case $a in
    bin/*) ln -s busybox "$S/$a" ;;
    *) ln -s /bin/busybox "$S/$a" ;;
  esac
done < <("$BB" --list-full)
cat >"$S/etc/os-release" <<'OS'
NAME="strata demo"
ID=strata-demo
PRETTY_NAME="BusyBox on strata (make demo)"
OS
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$S/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$S/etc/group"
# A clean tar (end blocks included) added verbatim; `umoci insert` would not close it.
tar --numeric-owner --format=pax --pax-option=delete=atime,delete=ctime --sort=name \
  --mtime="@$SOURCE_DATE_EPOCH" -C "$S" -cf "$DEMO/src/layer.tar" $(cd "$S" && ls -A)
L=$DEMO/src/oci
umoci init --layout "$L"
umoci new --image "$L:latest"
umoci raw add-layer --image "$L:latest" --history.created_by "busybox-static + applet symlinks" "$DEMO/src/layer.tar"
umoci config --image "$L:latest" --os linux --architecture "$(dpkg --print-architecture 2>/dev/null || echo amd64)" \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.cmd /bin/sh --history.created_by "config"
echo "$(find "$S" | wc -l) entries, $(du -sh "$DEMO/src/layer.tar" | cut -f1) tar"
say "pushing it with skopeo"
run skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false \
  "oci:$L:latest" "docker://$HOST/demo/busybox:latest"

# ------------------------------------------------------------------ strata
REF=$HOST/demo/busybox:latest
have_verb pull || die "this build of strata has no 'pull' verb yet"
say "strata pull $REF"
run "$STRATA" --root "$DEMO/store" pull "$REF"
say "a second pull downloads nothing"
run "$STRATA" --root "$DEMO/store" pull "$REF"

if have_verb images; then
  say "strata images"
  run "$STRATA" --root "$DEMO/store" images
fi
if have_verb history; then
  say "strata history"
  run "$STRATA" --root "$DEMO/store" history "$REF"
fi

if have_verb mount && [[ -c /dev/fuse ]]; then
  MNT=$DEMO/mnt
  mkdir -p "$MNT"
  say "strata mount $REF $MNT"
  run "$STRATA" --root "$DEMO/store" mount "$REF" "$MNT"
  run ls -C "$MNT"
  run ls -l "$MNT/bin" | sed -n 1,6p
  say "write into the mount: the change lands in its writable layer"
  printf '$ echo hello > %s/root/hello.txt; rm %s/etc/group\n' "$MNT" "$MNT"
  echo hello >"$MNT/root/hello.txt"
  rm "$MNT/etc/group"
  if have_verb diff; then
    run "$STRATA" --root "$DEMO/store" diff "$MNT"
  fi
  if have_verb run; then
    say "strata run $REF /bin/sh -c 'cat /etc/os-release || echo hello'"
    run "$STRATA" --root "$DEMO/store" run --rm "$REF" /bin/sh -c 'cat /etc/os-release || echo hello'
  else
    say "chroot $MNT /bin/sh -c 'cat /etc/os-release || echo hello'"
    run chroot "$MNT" /bin/sh -c 'cat /etc/os-release || echo hello'
  fi
  if have_verb umount; then
    say "strata umount $MNT"
    run "$STRATA" --root "$DEMO/store" umount "$MNT"
  else
    say "fusermount3 -u $MNT"
    run fusermount3 -u "$MNT"
  fi
else
  if have_verb mount; then
    say "no /dev/fuse here (a container without FUSE?): no mount, a flattened copy instead"
  fi
  if have_verb unpack; then
    say "strata unpack $REF $DEMO/rootfs"
    run "$STRATA" --root "$DEMO/store" unpack "$REF" "$DEMO/rootfs"
  else
    # No unpack verb in this build: the demo image has a single layer, so a
    # copy of its extracted directory is the whole root filesystem.
    say "a copy of the image's one extracted layer as a rootfs"
    LAYER=$(find "$DEMO/store/layers" -mindepth 2 -maxdepth 2 -name diff | head -n 1)
    [[ -n $LAYER ]] || die "no extracted layer in $DEMO/store/layers"
    run cp -a "$LAYER" "$DEMO/rootfs"
  fi
  run ls -C "$DEMO/rootfs"
  if have_verb run && "$STRATA" help run 2>/dev/null | grep -q -- --rootfs; then
    say "strata run --rootfs $DEMO/rootfs /bin/sh -c 'cat /etc/os-release || echo hello'"
    run "$STRATA" --root "$DEMO/store" run --rootfs "$DEMO/rootfs" /bin/sh -c 'cat /etc/os-release || echo hello'
  else
    say "chroot $DEMO/rootfs /bin/sh -c 'cat /etc/os-release || echo hello'"
    run chroot "$DEMO/rootfs" /bin/sh -c 'cat /etc/os-release || echo hello'
  fi
fi
