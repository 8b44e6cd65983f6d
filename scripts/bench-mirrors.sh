#!/usr/bin/env bash
# Mirror figures for issue 5, in one run, on loopback:
#   - a cold pull of bench/debian:bookworm direct from the upstream registry,
#   - the same cold pull through a warm pull-through cache (the mirror),
#   - the same cold pull with a dead mirror first (a server that accepts and
#     never answers, mirror-stall-timeout T): the time it loses, and how many
#     connections the dead mirror got (aim: one, and under T + a little).
# Uses /work/shared/bench's registry.sh and make-images.sh (their cache) on
# ports of its own (BENCH_PORT, +1 for the mirror); stops only what it started.
#   scripts/bench-mirrors.sh [RUNS]     (default 3)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
STRATA=${STRATA:-$here/build/strata}
BENCH=${BENCH:-/work/shared/bench}
PORT=${BENCH_PORT:-5610}
MPORT=$((PORT + 1))
RUNS=${1:-3}
T=${DEAD_TIMEOUT:-3}
REF=127.0.0.1:$PORT/bench/debian:bookworm
work=$(mktemp -d /var/tmp/strata-bench-mirrors.XXXXXX)
started=()
silent_pid=
cleanup() {
  [[ -n $silent_pid ]] && kill "$silent_pid" 2>/dev/null || true
  for p in "${started[@]}"; do "$BENCH/registry.sh" stop "$p" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [[ $("$BENCH/registry.sh" status "$PORT") != running ]]; then
  "$BENCH/registry.sh" start "$PORT" >/dev/null; started+=("$PORT")
fi
IMAGES="debian busybox" "$BENCH/make-images.sh" "127.0.0.1:$PORT" >/dev/null
if [[ $("$BENCH/registry.sh" status "$MPORT") != running ]]; then
  "$BENCH/registry.sh" start-mirror "$MPORT" "http://127.0.0.1:$PORT" >/dev/null; started+=("$MPORT")
fi

# the small image: its pull time is short, so the dead mirror's cost shows
SMALL=127.0.0.1:$PORT/bench/busybox:latest

# a mirror that accepts connections and never answers; counts them
cat >"$work/silent.py" <<'PY'
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
conns = []
n = 0
while True:
    c, _ = s.accept(); conns.append(c); n += 1
    open(sys.argv[1], "w").write(str(n))
PY
python3 "$work/silent.py" "$work/silent.count" >"$work/silent.port" &
silent_pid=$!
for _ in $(seq 50); do [[ -s $work/silent.port ]] && break; sleep 0.1; done
SPORT=$(<"$work/silent.port")

conf() { # NAME MIRROR-URL...
  local f=$work/$1.json; shift
  local list; list=$(printf '"%s",' "$@"); list=${list%,}
  printf '{"registries": {"127.0.0.1:%s": {"mirrors": [%s]}}, "mirror-connect-timeout": %s, "mirror-stall-timeout": %s}\n' \
    "$PORT" "$list" "$T" "$T" >"$f"
  echo "$f"
}
printf '{}\n' >"$work/direct.json"
MIRROR=$(conf mirror "http://127.0.0.1:$MPORT")
DEAD=$(conf dead "http://127.0.0.1:$SPORT")

pull() { # CONFIG [REF] -> seconds
  local root=$work/store t0 t1 ref=${2:-$REF}
  rm -rf "$root"; sync
  t0=$(date +%s.%N)
  STRATA_CONFIG=$1 STRATA_DOCKER_DAEMON_JSON= "$STRATA" --root "$root" pull -q "$ref" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  [[ -e $root/images.json ]] || { echo "no image recorded in $root" >&2; exit 1; }
  echo "$t1 - $t0" | bc
}

pull "$MIRROR" >/dev/null            # warm the mirror (its storage now holds the blobs)
declare -a d m x
for i in $(seq "$RUNS"); do
  d+=("$(pull "$work/direct.json")")
  m+=("$(pull "$MIRROR")")
  c0=$(cat "$work/silent.count" 2>/dev/null || echo 0)
  x+=("$(pull "$DEAD")")
  c1=$(cat "$work/silent.count" 2>/dev/null || echo 0)
  echo "run $i: direct ${d[-1]} s, warm mirror ${m[-1]} s, dead mirror first ${x[-1]} s" \
       "(dead mirror connections: $((c1 - c0)); load $(cut -d' ' -f1 /proc/loadavg))"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
D=$(med "${d[@]}"); M=$(med "${m[@]}"); X=$(med "${x[@]}")
echo "median of $RUNS: direct $D s; through the warm mirror $M s; with a dead mirror (stall timeout $T s) $X s: lost $(echo "$X - $D" | bc) s"
declare -a sd sx
for i in $(seq "$RUNS"); do
  sd+=("$(pull "$work/direct.json" "$SMALL")")
  c0=$(cat "$work/silent.count" 2>/dev/null || echo 0)
  sx+=("$(pull "$DEAD" "$SMALL")")
  c1=$(cat "$work/silent.count" 2>/dev/null || echo 0)
  echo "busybox run $i: direct ${sd[-1]} s, dead mirror first ${sx[-1]} s (dead mirror connections: $((c1 - c0)))"
done
SD=$(med "${sd[@]}"); SX=$(med "${sx[@]}")
echo "busybox, median of $RUNS: direct $SD s; with a dead mirror (stall timeout $T s) $SX s: lost $(echo "$SX - $SD" | bc) s"
