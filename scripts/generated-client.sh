#!/usr/bin/env bash
# A Python client generated from openapi/openapi.json by openapi-python-client, used against
# the real server: scripts/generated_client_check.py creates posts, walks the list with a
# cursor (two pages of one), gets a post by id (and 304 with its ETag), and reads a 422 and a
# 404, each as the generated type of its declared response. Fails if the generator warns
# (a part of the document it cannot turn into client code) or if any answer is not what the
# document declares.
# The server is the debug build (JEKCMS_BIN=path for another, e.g. target/release/jekcms) on a
# fresh SQLite database, with an owner key made by `jekcms keys create --json`.
# openapi-python-client is installed from PyPI into a venv of its own, every package pinned by
# scripts/generated-client-requirements.txt.
#   scripts/generated-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=0.29.1
venv=${GC_VENV:-$root/.ci/.venv-generated-client}

. scripts/lib/real-server.sh
pinned_venv "$venv" "$root/scripts/generated-client-requirements.txt"
[ "$("$venv/bin/openapi-python-client" --version)" = "openapi-python-client version: $version" ] \
  || { echo "scripts/generated-client-requirements.txt does not pin openapi-python-client $version" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

# The generator formats its output with ruff from the same venv.
PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate \
  --path openapi/openapi.json --config scripts/generated-client.yaml \
  --meta none --output-path "$work/jekcms_client" >"$work/generate.log" 2>&1 \
  || { cat "$work/generate.log" >&2; echo "openapi-python-client failed" >&2; exit 1; }
if grep -qi 'warning' "$work/generate.log"; then
  cat "$work/generate.log" >&2
  echo "openapi-python-client warned: part of openapi/openapi.json did not become client code" >&2
  exit 1
fi

if [ -z "${JEKCMS_BIN:-}" ]; then
  cargo build -q -p jekcms-server
fi
bin=${JEKCMS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/jekcms}
export JEKCMS_DATABASE_URL="sqlite://$work/jekcms.db" \
  JEKCMS_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
  JEKCMS_MEDIA_DIR="$work/media" JEKCMS_LOG=warn
key=$("$bin" keys create --user owner@example.com --json)
start_server "$bin" "$work"
addr=$server_addr

field() { echo "$key" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
status=0
JEKCMS_URL="http://$addr" JEKCMS_API_KEY=$(field api_key) JEKCMS_API_SECRET=$(field api_secret) \
  PYTHONPATH="$work" "$venv/bin/python" scripts/generated_client_check.py || status=$?
if server_panicked "$work"; then status=1; fi
[ "$status" = 0 ] || { echo "server log:" >&2; cat "$work/server.log" >&2; }
exit "$status"
