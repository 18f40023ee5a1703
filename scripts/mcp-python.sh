#!/usr/bin/env bash
# /mcp driven by the official MCP Python SDK (`mcp` from PyPI), so that an implementation other
# than the server's own agrees with it: scripts/mcp_python_check.py connects, lists the tools,
# calls list_posts, create_post and get_post, and reads the post as a resource, failing on any
# mismatch. The server is the debug build (JEKCMS_BIN=path for another, e.g.
# target/release/jekcms) on a fresh SQLite database, with an mcp_ token made by
# `jekcms keys create --family mcp --json`. The SDK is installed into a venv of its own, every
# package pinned by scripts/mcp-python-requirements.txt.
#   scripts/mcp-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=2.3.0
venv=${MCP_PYTHON_VENV:-$root/.ci/.venv-mcp-python}

. scripts/lib/real-server.sh
pinned_venv "$venv" "$root/scripts/mcp-python-requirements.txt"
[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))')" = "$version" ] \
  || { echo "scripts/mcp-python-requirements.txt does not pin mcp $version" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${JEKCMS_BIN:-}" ]; then
  cargo build -q -p jekcms-server
fi
bin=${JEKCMS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/jekcms}
export JEKCMS_DATABASE_URL="sqlite://$work/jekcms.db" \
  JEKCMS_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
  JEKCMS_MEDIA_DIR="$work/media" JEKCMS_LOG=warn
key=$("$bin" keys create --user owner@example.com --family mcp --json)
start_server "$bin" "$work"

token=$(echo "$key" | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
status=0
JEKCMS_URL="http://$server_addr" JEKCMS_MCP_TOKEN=$token \
  "$venv/bin/python" scripts/mcp_python_check.py || status=$?
if server_panicked "$work"; then status=1; fi
[ "$status" = 0 ] || { echo "server log:" >&2; cat "$work/server.log" >&2; }
exit "$status"
