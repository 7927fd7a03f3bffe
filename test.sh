#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (redis-cli from Debian's redis-tools, redis-server for the differential
# test, iproute2 for the protected-mode
# test's network namespaces, the Node packages in tests/node and the Python
# packages in tests/python), checks formatting and lints, then runs the Rust
# tests, units of Redis's own test suite, the Node client tests and the
# Python client tests against the freshly built server.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# tests/differential.rs compares pubsubd with Debian's redis-server, which it
# starts itself on a free port (never a system service on 6379).
[ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the TLS tests make their certificates
# tests/cluster.rs starts its own NATS servers.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings

echo "== Rust tests"
cargo test -q
# The load generator's own checks (its RESP readers and encoders, its
# scenario table, its /proc readings); bench targets run no #[test]s.
cargo test -q --bench loadgen -- selftest

# The Node and Python suites start the server binary cargo just built,
# wherever the target directory is (CARGO_TARGET_DIR may move it).
if [ -z "${PUBSUBD_TEST_BIN:-}" ]; then
  target_dir=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  export PUBSUBD_TEST_BIN="$target_dir/debug/pubsubd"
fi

# Redis's own Tcl suite for the units named in tests/redis-suite/skip.txt
# (it installs tcl and downloads the suite once, into target/redis-suite).
echo "== Redis's test suite (the units named in tests/redis-suite/skip.txt)"
tests/redis-suite/run.sh

echo "== Node client tests (socket.io, ioredis, node-redis)"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
npm test --prefix tests/node

echo "== Python client tests (redis-py)"
if [ ! -x tests/python/.venv/bin/python ]; then
  python3 -m venv tests/python/.venv
fi
tests/python/.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
tests/python/.venv/bin/python -m pytest -q tests/python
