#!/usr/bin/env bash
# Cluster mode's cost, one command: same-node vs cross-node publish->deliver
# latency (p50/p99) at a fixed rate, and cross-node throughput beside a
# single node.
#
#   benches/cluster.sh [--quick] [--out DIR]
#
# Builds pubsubd (cargo build --release) and the load generator, then:
#   1. one pubsubd without cluster mode: loadgen scenario c1, whose cases then
#      all run on that one node (label "single");
#   2. two nats-servers routed to each other and two pubsubd nodes, A on the
#      first and B on the second: c1 with --addr A --peer-addr B (label
#      "cluster"). Its "same" cases publish and subscribe on A; its "cross"
#      cases subscribe on B, so every message goes A -> NATS -> NATS -> B.
# Everything listens on 127.0.0.1 (ports from CLUSTER_BASE_PORT, default
# 7411, upward) and is stopped on exit. --quick: a lower rate and shorter
# windows (under a minute of runs). nats-server comes from PATH or Debian's
# /usr/sbin (apt-get install nats-server). PUBSUBD_BIN and LOADGEN_BIN name
# binaries already built, instead of building them here.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=""
OUT=""
BASE="${CLUSTER_BASE_PORT:-7411}"

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK="--quick" ;;
    --out) OUT="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cluster.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

NATS=$(command -v nats-server || true)
[ -n "$NATS" ] || { [ -x /usr/sbin/nats-server ] && NATS=/usr/sbin/nats-server; }
if [ -z "$NATS" ]; then
  echo "cluster.sh: nats-server not found (apt-get install nats-server)" >&2
  exit 1
fi

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="${OUT:-$TARGET_DIR/cluster-bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
START=$(date +%s)
log() { echo "[cluster $(( $(date +%s) - START ))s] $*"; }

PUBSUBD="${PUBSUBD_BIN:-}"
if [ -z "$PUBSUBD" ]; then
  log "building pubsubd (cargo build --release)"
  cargo build --release -q
  PUBSUBD="$TARGET_DIR/release/pubsubd"
fi
LOADGEN="${LOADGEN_BIN:-}"
if [ -z "$LOADGEN" ]; then
  log "building the load generator (cargo bench --bench loadgen --no-run)"
  LOADGEN=$(cargo bench --bench loadgen --no-run --message-format=json -q 2>/dev/null \
    | grep -o '"executable":"[^"]*/loadgen-[^"]*"' | tail -1 | cut -d'"' -f4)
fi
if [ -z "$LOADGEN" ] || [ ! -x "$LOADGEN" ]; then
  echo "cluster.sh: could not find the loadgen executable" >&2
  exit 1
fi
"$LOADGEN" selftest >/dev/null

# Ports: pubsubd single, A, B; NATS client 1, 2; NATS routes 1, 2.
P_SINGLE=$BASE P_A=$((BASE + 1)) P_B=$((BASE + 2))
N1=$((BASE + 3)) N2=$((BASE + 4)) R1=$((BASE + 5)) R2=$((BASE + 6))
for port in $P_SINGLE $P_A $P_B $N1 $N2 $R1 $R2; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "cluster.sh: 127.0.0.1:$port is in use; set CLUSTER_BASE_PORT" >&2
    exit 1
  fi
done

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

# pubsubd PORT LOG [ARGS...]: starts a node, sets PID.
pubsubd() {
  local port="$1" logfile="$2"
  shift 2
  "$PUBSUBD" --port "$port" --bind 127.0.0.1 --loglevel warning "$@" >"$logfile" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  if ! "$LOADGEN" wait --addr "127.0.0.1:$port" --timeout 10; then
    echo "cluster.sh: pubsubd on $port did not start; its log:" >&2
    cat "$logfile" >&2
    exit 1
  fi
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "nproc: $(nproc)"
  echo "nats-server: $("$NATS" --version)"
  echo "mode: ${QUICK:-full}"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

FAILED=()
# run LABEL ARGS...: one loadgen run of c1, its table to stdout and OUT.
run() {
  local label="$1"
  shift
  local rc=0
  "$LOADGEN" run --label "$label" --json "$OUT/$label.json" $QUICK "$@" c1 \
    2>&1 | tee "$OUT/$label.txt" || rc=$?
  [ "$rc" -eq 0 ] || FAILED+=("$label: loadgen exited $rc (see $OUT/$label.txt)")
}

log "single node (no cluster mode)"
pubsubd "$P_SINGLE" "$OUT/single.log"
run single --addr "127.0.0.1:$P_SINGLE" --pid "$PID"
stop_all

log "two nats-servers, two pubsubd nodes"
for i in 1 2; do
  if [ "$i" = 1 ]; then port=$N1 route=$R1 other=$R2; else port=$N2 route=$R2 other=$R1; fi
  cat >"$OUT/nats$i.conf" <<EOF
listen: 127.0.0.1:$port
server_name: bench$i
cluster {
  name: bench
  listen: 127.0.0.1:$route
  routes: ["nats-route://127.0.0.1:$other"]
}
EOF
  "$NATS" -c "$OUT/nats$i.conf" >"$OUT/nats$i.log" 2>&1 &
  PIDS+=("$!")
done
name="bench$$"
pubsubd "$P_A" "$OUT/node-a.log" --cluster-nats "nats://127.0.0.1:$N1,nats://127.0.0.1:$N2" --cluster-name "$name"
PID_A=$PID
pubsubd "$P_B" "$OUT/node-b.log" --cluster-nats "nats://127.0.0.1:$N2,nats://127.0.0.1:$N1" --cluster-name "$name"
# The generator waits until a message crosses from A to B before the cross
# cases; the CPU figures are node A's.
run cluster --addr "127.0.0.1:$P_A" --peer-addr "127.0.0.1:$P_B" --pid "$PID_A"
stop_all

echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
log "done; results in $OUT"
echo
"$LOADGEN" report --dir "$OUT" --labels cluster,single --out "$OUT/table.md"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "Runs with problems:"
  printf -- '- %s\n' "${FAILED[@]}"
  exit 3
fi
