#!/usr/bin/env bash
# Runs units of Redis's own Tcl test suite (Redis 7.0.15, the release Debian
# bookworm ships) against pubsubd: a fresh server on a free 127.0.0.1 port
# per unit, `runtest --host --port --clients 1 --durable --single UNIT`, with
# the tests listed in skip.txt skipped. Exits non-zero if any test fails.
#
#   tests/redis-suite/run.sh                            # units named in skip.txt
#   UNITS="unit/type/string" tests/redis-suite/run.sh   # other units
#
# Redis's suite is downloaded once (Debian's `redis` source package, checked
# against a pinned sha256) into a cache outside git and never committed.
# The server is PUBSUBD_TEST_BIN, else target/debug/pubsubd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# The pinned release: Debian's orig tarball is Redis's own release tarball.
REDIS_VERSION=7.0.15
ORIG_TARBALL=redis_${REDIS_VERSION}.orig.tar.gz
ORIG_SHA256=4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982
# Seconds one unit may take (runtest has its own per-test watchdog, but a
# server that stops answering must not hang the whole run).
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}

cache=${REDIS_SUITE_CACHE:-$repo/target/redis-suite}
skip_file=$here/skip.txt
bin=${PUBSUBD_TEST_BIN:-$repo/target/debug/pubsubd}

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    "${sudo_cmd[@]}" apt-get update -qq
    apt_updated=1
  fi
}

# runtest wants tclsh8.5, 8.6 or 8.7.
if ! command -v tclsh8.6 >/dev/null 2>&1 && ! command -v tclsh8.5 >/dev/null 2>&1 \
  && ! command -v tclsh8.7 >/dev/null 2>&1; then
  echo "redis-suite: installing tcl"
  apt_update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq tcl >/dev/null
fi

src_dir=$cache/redis-$REDIS_VERSION
if [ ! -f "$src_dir/.unpacked" ]; then
  mkdir -p "$cache"
  if [ ! -f "$cache/$ORIG_TARBALL" ]; then
    # apt-get source needs a deb-src entry for bookworm; add one unless some
    # source list already has it (one-line or deb822 format).
    if ! grep -rqsE '^[[:space:]]*deb-src[[:space:]].*debian.*bookworm|^Types:.*deb-src' \
      /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "redis-suite: adding a deb-src entry for Debian bookworm"
      echo 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main' \
        | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/redis-suite-src.list >/dev/null
      apt_updated=0
    fi
    apt_update
    echo "redis-suite: downloading Debian's redis source package"
    # As root, apt cannot hand the download to its _apt user here; say so.
    apt_opts=()
    [ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
    (cd "$cache" && apt-get source "${apt_opts[@]}" --download-only -qq redis >/dev/null)
  fi
  echo "$ORIG_SHA256  $cache/$ORIG_TARBALL" | sha256sum -c --quiet - || {
    echo "redis-suite: $ORIG_TARBALL does not match the pinned sha256" >&2
    exit 1
  }
  rm -rf "$src_dir"
  tar -xzf "$cache/$ORIG_TARBALL" -C "$cache"
  touch "$src_dir/.unpacked"
fi

# runtest reads every line of a skip file as a test name (or /regexp), so
# the reasons (comment lines) are left out of the copy it is given.
effective_skip=$cache/skip.effective
grep -vE '^[[:space:]]*(#|$)' "$skip_file" >"$effective_skip" || true

if [ -z "${UNITS:-}" ]; then
  UNITS=$(sed -n 's/^# units:[[:space:]]*//p' "$skip_file" | head -n1)
fi

[ -x "$bin" ] || {
  echo "redis-suite: no server binary at $bin (build it or set PUBSUBD_TEST_BIN)" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

failed=()
for unit in $UNITS; do
  port=$(free_port)
  log=$cache/$(echo "$unit" | tr / _).log
  # As in the suite's own server config (tests/assets/default.conf): its
  # tests use DEBUG.
  "$bin" --port "$port" --enable-debug-command yes >"$log.server" 2>&1 &
  server_pid=$!
  # Up to 10 s for the server to listen.
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "== Redis $REDIS_VERSION suite: $unit (pubsubd on port $port)"
  # A `# tags UNIT: -tag ...` line in skip.txt hands runtest tags to leave
  # out for that unit: whole blocks whose setup needs what pubsubd lacks
  # (a failure there has no test name that skip.txt could list).
  tags=$(sed -n "s|^# tags $unit:[[:space:]]*||p" "$skip_file" | head -n1)
  rc=0
  (cd "$src_dir" && timeout "$UNIT_TIMEOUT" ./runtest --host 127.0.0.1 --port "$port" \
    --clients 1 --durable --single "$unit" --skipfile "$effective_skip" \
    ${tags:+--tags "$tags"}) >"$log" 2>&1 || rc=$?
  stop_server
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  ok=$(grep -c '^\[ok\]:' <<<"$plain" || true)
  skipped=$(grep -c '^\[skip\]:' <<<"$plain" || true)
  ignored=$(grep -c '^\[ignore\]:' <<<"$plain" || true)
  bad=$(grep -E '^\[(err|exception|timeout)\]' <<<"$plain" || true)
  echo "   $ok passed, $skipped skipped (skip.txt), $ignored not run (tagged external:skip etc.)"
  if [ "$rc" -ne 0 ] || [ -n "$bad" ] || [ "$ok" -eq 0 ]; then
    echo "   FAILED (runtest exit $rc); log: $log" >&2
    grep -E -A12 '^\[(err|exception|timeout)\]|^\*\*\*' <<<"$plain" | head -n 80 >&2 || true
    failed+=("$unit")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "redis-suite: failed units: ${failed[*]}" >&2
  exit 1
fi
