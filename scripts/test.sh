#!/usr/bin/env bash
# Runs the whole test suite. Installs first what the tests need and the machine lacks:
# mosquitto (Debian package) and the Python interop peer's packages (paho-mqtt, pydantic).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "installing mosquitto..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi

if ! python3 -c "import paho.mqtt, pydantic, jsonschema" >/dev/null 2>&1; then
  echo "installing the Python interop peer's packages..."
  python3 -m pip install -q -r tests/python/requirements.txt \
    || python3 -m pip install -q --break-system-packages -r tests/python/requirements.txt
fi

cargo test --workspace "$@"
