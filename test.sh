#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (redis-cli from Debian's redis-tools, iproute2 for the protected-mode test's
# network namespaces), checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings
cargo test -q 2>&1 | tee /tmp/pubsubd-test-output.txt
