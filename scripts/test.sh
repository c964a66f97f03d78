#!/usr/bin/env bash
# Runs the whole test suite. Installs first what the tests need and the machine lacks:
# mosquitto, valgrind, protobuf-compiler (the rmqtt cluster nodes' gRPC), and chromium
# with chromium-driver for the dashboard's browser test (Debian packages), cargo-audit (crates.io) and the Python
# interop peer's packages (paho-mqtt, pydantic, jsonschema). Without arguments it first
# audits the dependencies against the RustSec snapshot in ../shared/advisory-db and
# checks that every crate packages (scripts/package-check.sh, with the MSRV), lints the
# workspace with the newest compatible dependencies beside the tests
# (scripts/update-lint.sh), and after the tests checks the benchmark
# (scripts/bench-check.sh: smoke run and cost budgets);
# arguments go to `cargo test` and skip the audit and those checks.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  missing+=(mosquitto)
fi
if ! command -v valgrind >/dev/null 2>&1; then
  missing+=(valgrind)
fi
if ! command -v protoc >/dev/null 2>&1; then
  missing+=(protobuf-compiler)
fi
if ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v chromedriver >/dev/null 2>&1; then
  missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import paho.mqtt, pydantic, jsonschema, faststream.mqtt, prometheus_client" >/dev/null 2>&1; then
  echo "installing the Python interop peer's packages..."
  python3 -m pip install -q -r tests/python/requirements.txt \
    || python3 -m pip install -q --break-system-packages -r tests/python/requirements.txt
fi

if ! command -v cargo-audit >/dev/null 2>&1; then
  echo "installing cargo-audit..."
  cargo install --locked --quiet cargo-audit
fi

if [ $# -eq 0 ]; then
  bash scripts/audit.sh
  # Before the tests, which may leave files behind (cargo package wants a clean tree).
  bash scripts/package-check.sh
  # The tests are built first; then the newest compatible dependencies are linted
  # beside them (the tests wait on brokers and timers more than on the CPU), and the
  # lint's verdict is read at the end.
  cargo test --workspace --no-run --quiet
  mkdir -p target
  nice -n 10 bash scripts/update-lint.sh > target/update-lint.log 2>&1 &
  update_lint=$!
fi

cargo test --workspace "$@"

if [ $# -eq 0 ]; then
  # The protocol tests once more with tars speaking MQTT 5 (the peers stay 3.1.1).
  echo "the protocol tests under MQTT 5..."
  TARS_TEST_MQTT_VERSION=5 cargo test -p tars-tests \
    --test reconnect --test publishing --test at_least_once --test request_reply \
    --test health --test faults --test acks_and_acl \
    --test flow_control --test liveness --test websockets --test services \
    --test shared_subscriptions --test metrics --test broker_list --test failure_recovery --test failure_policies \
    --test bursts --test intake_bound --test batching --test durable_outbox --test dispatch
fi

if [ $# -eq 0 ]; then
  bash scripts/bench-check.sh
  if ! wait "$update_lint"; then
    cat target/update-lint.log
    echo "the workspace does not lint clean with the newest compatible dependencies (scripts/update-lint.sh)" >&2
    exit 1
  fi
  tail -n 1 target/update-lint.log
fi
