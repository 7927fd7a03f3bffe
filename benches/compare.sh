#!/usr/bin/env bash
# pubsubd vs Redis on this machine, one command.
#
#   benches/compare.sh [--quick] [--repeats N] [--scenarios "s1 s3"] [--window N]
#                      [--filter TEXT] [--timeline] [--candidate PATH] [--pin] [--tls]
#                      [--out DIR]
#
# Installs Debian's redis-server if missing, builds pubsubd (cargo build
# --release) and the load generator, then for every repeat and scenario
# starts a fresh pubsubd and a fresh Redis (alternating which goes first),
# runs `loadgen run <scenario>` against each, and stops it. Both servers get
# the same limits. At the end it prints each case's verdict per server
# first (FAILED when the server cut a checked subscriber or lost a message,
# whatever its throughput), then, per case and headline metric, the median
# of each server over the repeats and the ratio pubsubd/Redis.
#
# --quick: smaller scenarios, 1 repeat unless --repeats is given (about 90 s
# of runs once built). Full run (3 repeats): about 12 minutes of runs.
# --window: saturating publishers' unanswered PUBLISHes (loadgen's default
# unless given: 32 in S1, 1024 elsewhere).
# --filter: only the cases whose names contain TEXT (e.g. /sat, /half).
# --timeline: every case's deliveries, connected subscribers and server
# RSS every 100 ms, in the per-run .txt files (best with one case).
# --candidate: another pubsubd binary (say, a change under test, built and
# copied aside) run in the same rotation as "candidate": the machine's speed
# drifts, so only runs alternated like this compare two builds; the end
# also prints candidate/pubsubd.
# --pin: every server on CPU 0 and the load generator on CPU 1 (taskset), so
# neither takes CPU from the other: a diagnostic of the servers' own cost
# and latency, not the issue's measurement (which lets them share the cores).
# --tls: every load connection over TLS (scenarios s1 s2 unless
# --scenarios is given): a CA and a server certificate for 127.0.0.1 are
# made with openssl in the output directory, each server also listens on a
# TLS port with them (client certificates not asked for), and the load
# generator trusts that CA.
# Only 127.0.0.1 is used. Every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=""
REPEATS=""
SCENARIOS="s1 s2 s3 s4 s5 s6 s7"
OUT=""
WINDOW=()
FILTER=()
TIMELINE=()
CANDIDATE=""
# Command prefixes that pin the servers and the generator (--pin).
SERVER_CPU=()
LOADGEN_CPU=()
PUBSUBD_PORT="${PUBSUBD_PORT:-7301}"
REDIS_PORT="${REDIS_PORT:-7302}"
CANDIDATE_PORT="${CANDIDATE_PORT:-7303}"
PUBSUBD_TLS_PORT="${PUBSUBD_TLS_PORT:-7311}"
REDIS_TLS_PORT="${REDIS_TLS_PORT:-7312}"
CANDIDATE_TLS_PORT="${CANDIDATE_TLS_PORT:-7313}"
TLS=""
SCENARIOS_GIVEN=""
# 10,000 idle subscribers (S4) plus the control and publisher connections.
MAXCLIENTS=10100

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK="--quick" ;;
    --repeats) REPEATS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; SCENARIOS_GIVEN=1; shift ;;
    --out) OUT="$2"; shift ;;
    --window) WINDOW=(--window "$2"); shift ;;
    --filter) FILTER=(--filter "$2"); shift ;;
    --timeline) TIMELINE=(--timeline) ;;
    --candidate) CANDIDATE="$2"; shift ;;
    --pin) SERVER_CPU=(taskset -c 0); LOADGEN_CPU=(taskset -c 1) ;;
    --tls) TLS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$CANDIDATE" ] && [ ! -x "$CANDIDATE" ]; then
  echo "compare.sh: --candidate $CANDIDATE is not an executable file" >&2
  exit 2
fi
if [ ${#SERVER_CPU[@]} -gt 0 ]; then
  if ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; then
    echo "compare.sh: --pin needs taskset and two CPUs" >&2
    exit 2
  fi
fi
if [ -n "$TLS" ] && [ -z "$SCENARIOS_GIVEN" ]; then
  SCENARIOS="s1 s2"
fi
LABELS=(pubsubd redis)
[ -z "$CANDIDATE" ] || LABELS=(pubsubd candidate redis)
if [ -z "$REPEATS" ]; then
  if [ -n "$QUICK" ]; then REPEATS=1; else REPEATS=3; fi
fi
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="${OUT:-$TARGET_DIR/compare/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
START=$(date +%s)

log() { echo "[compare $(( $(date +%s) - START ))s] $*"; }

# --- Redis -------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (Debian)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq redis-server >/dev/null
fi
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
case "$REDIS_VERSION" in
  7.*) ;;
  *) log "warning: redis-server is $REDIS_VERSION, not Redis 7" ;;
esac

# --- Builds ------------------------------------------------------------------
log "building pubsubd (cargo build --release)"
cargo build --release -q
PUBSUBD="$TARGET_DIR/release/pubsubd"
log "building the load generator (cargo bench --bench loadgen --no-run)"
LOADGEN=$(cargo bench --bench loadgen --no-run --message-format=json -q 2>/dev/null \
  | grep -o '"executable":"[^"]*/loadgen-[^"]*"' | tail -1 | cut -d'"' -f4)
if [ -z "$LOADGEN" ] || [ ! -x "$LOADGEN" ]; then
  echo "compare.sh: could not find the loadgen executable" >&2
  exit 1
fi
"$LOADGEN" selftest >/dev/null

# 10,000 connections need file descriptors on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((MAXCLIENTS + 200)) ]; then
  log "warning: open-file limit $(ulimit -n) is below what S4 needs ($((MAXCLIENTS + 200)))"
fi

# --- TLS certificates (--tls) ------------------------------------------------
# Made for this run only: a CA, and a server certificate for 127.0.0.1 it
# signs. Both servers use the same pair; the generator trusts the CA.
SERVER_TLS=()
LOADGEN_TLS=()
if [ -n "$TLS" ]; then
  tls_dir="$OUT/tls"
  mkdir -p "$tls_dir"
  log "making TLS certificates in $tls_dir"
  (
    cd "$tls_dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=compare-ca -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
  )
  SERVER_TLS=(--tls-cert-file "$tls_dir/server.crt" --tls-key-file "$tls_dir/server.key"
    --tls-ca-cert-file "$tls_dir/ca.crt" --tls-auth-clients no)
  LOADGEN_TLS=(--tls-ca "$tls_dir/ca.crt")
fi

# --- Servers -----------------------------------------------------------------
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

for port in "$PUBSUBD_PORT" "$REDIS_PORT" "$CANDIDATE_PORT" "$PUBSUBD_TLS_PORT" "$REDIS_TLS_PORT" \
  "$CANDIDATE_TLS_PORT"; do
  if "$LOADGEN" wait --addr "127.0.0.1:$port" --timeout 0.3 2>/dev/null; then
    echo "compare.sh: something already answers on 127.0.0.1:$port; set PUBSUBD_PORT/REDIS_PORT/CANDIDATE_PORT" >&2
    exit 1
  fi
done

# start_server LABEL LOGFILE: starts a fresh server, sets SERVER_PID, PORT
# (plain, for readiness) and LOAD_PORT (where the load goes: the TLS port
# with --tls).
start_server() {
  local label="$1" logfile="$2" tls_port tls_args=()
  case "$label" in
    pubsubd | candidate)
      local bin="$PUBSUBD"
      PORT="$PUBSUBD_PORT"
      tls_port="$PUBSUBD_TLS_PORT"
      if [ "$label" = candidate ]; then
        bin="$CANDIDATE"; PORT="$CANDIDATE_PORT"; tls_port="$CANDIDATE_TLS_PORT"
      fi
      [ -z "$TLS" ] || tls_args=(--tls-port "$tls_port" "${SERVER_TLS[@]}")
      "${SERVER_CPU[@]}" "$bin" --port "$PORT" --bind 127.0.0.1 --maxclients "$MAXCLIENTS" \
        --client-output-buffer-limit pubsub 32mb 8mb 60 --loglevel warning "${tls_args[@]}" \
        >"$logfile" 2>&1 &
      ;;
    redis)
      PORT="$REDIS_PORT"
      tls_port="$REDIS_TLS_PORT"
      [ -z "$TLS" ] || tls_args=(--tls-port "$tls_port" "${SERVER_TLS[@]}")
      "${SERVER_CPU[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --maxclients "$MAXCLIENTS" \
        --client-output-buffer-limit pubsub 32mb 8mb 60 --save '' --appendonly no \
        --loglevel warning --daemonize no "${tls_args[@]}" >"$logfile" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  LOAD_PORT="$PORT"
  [ -z "$TLS" ] || LOAD_PORT="$tls_port"
  if ! "$LOADGEN" wait --addr "127.0.0.1:$PORT" --timeout 10; then
    echo "compare.sh: $label did not start; its log:" >&2
    cat "$logfile" >&2
    exit 1
  fi
}

# --- Runs --------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if commit=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff --quiet HEAD -- src 2>/dev/null || commit="$commit (src modified)"
  else
    commit=unknown
  fi
  echo "commit: $commit"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "kernel: $(uname -r)"
  echo "redis: $(redis-server --version)"
  echo "mode: ${QUICK:-full}, repeats $REPEATS, scenarios $SCENARIOS, window ${WINDOW[1]:-default (32 in S1, 1024 elsewhere)}, filter ${FILTER[1]:-none}"
  [ -z "$TLS" ] || echo "tls: every load connection over TLS (certificates in $OUT/tls)"
  [ -z "$CANDIDATE" ] || echo "candidate: $CANDIDATE"
  [ ${#SERVER_CPU[@]} -eq 0 ] || echo "pinned: servers on CPU 0, load generator on CPU 1"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

FAILED=()
# S1's fixed-rate cases run at half of Redis's saturated rate, as the issue
# asks: one calibration run of Redis's saturated S1 cases first, and every
# S1 run (both servers) then publishes at half of those deliveries/s.
# A filter on the saturated cases (/sat) runs no fixed-rate case: no
# calibration then.
HALF_OF=()
if [[ " $SCENARIOS " == *" s1 "* ]] && [[ "${FILTER[1]:-}" != */sat* ]]; then
  calib="$OUT/calibration-redis-s1"
  start_server redis "$calib.log"
  log "calibration: Redis's saturated S1 rates (pid $SERVER_PID)"
  if "${LOADGEN_CPU[@]}" "$LOADGEN" run --addr "127.0.0.1:$LOAD_PORT" --pid "$SERVER_PID" --label redis-calibration \
      --json "$calib.json" $QUICK "${WINDOW[@]}" "${LOADGEN_TLS[@]}" --filter /sat s1 >"$calib.txt" 2>&1; then
    HALF_OF=(--half-of "$calib.json")
  else
    FAILED+=("calibration run failed (see $calib.txt); S1 fixed rates are the defaults")
  fi
  stop_server
fi

for rep in $(seq 1 "$REPEATS"); do
  i=0
  for scen in $SCENARIOS; do
    # Each repeat and scenario starts with the next server in turn.
    n=${#LABELS[@]}
    order=()
    for k in $(seq 0 $((n - 1))); do order+=("${LABELS[$(( (rep + i + k) % n ))]}"); done
    i=$((i + 1))
    for label in "${order[@]}"; do
      base="$OUT/$label-$scen-r$rep"
      start_server "$label" "$base.log"
      log "repeat $rep/$REPEATS $scen $label (pid $SERVER_PID)"
      rc=0
      half=()
      [ "$scen" = s1 ] && half=("${HALF_OF[@]}")
      "${LOADGEN_CPU[@]}" "$LOADGEN" run --addr "127.0.0.1:$LOAD_PORT" --pid "$SERVER_PID" --label "$label" \
        --json "$base.json" $QUICK "${WINDOW[@]}" "${FILTER[@]}" "${TIMELINE[@]}" "${half[@]}" \
        "${LOADGEN_TLS[@]}" "$scen" >"$base.txt" 2>&1 || rc=$?
      case $rc in
        0) ;;
        3) FAILED+=("$label $scen repeat $rep: FAILED cases: $(grep -c ' FAILED: ' "$base.txt" || true) (see $base.txt)") ;;
        *) FAILED+=("$label $scen repeat $rep: loadgen exited $rc (see $base.txt)") ;;
      esac
      stop_server
    done
  done
done

echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
log "done; results in $OUT"
echo
"$LOADGEN" report --dir "$OUT" --labels pubsubd,redis --out "$OUT/table.md"
if [ -n "$CANDIDATE" ]; then
  echo
  echo "The candidate against pubsubd ($CANDIDATE):"
  "$LOADGEN" report --dir "$OUT" --labels candidate,pubsubd --out "$OUT/candidate.md"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "Runs with problems:"
  printf -- '- %s\n' "${FAILED[@]}"
fi
log "total $(( $(date +%s) - START ))s"
