# Sourced by scripts/limiter-cost.sh and scripts/request-cost.sh: runs the release server
# under callgrind and counts its instructions. Needs JEKCMS_DATABASE_URL (a seeded database,
# SQLite or PostgreSQL).
#
#   callgrind_requests N CONCURRENCY [VAR=value …] [-- valgrind options …]
# starts the server with the extra environment (JEKCMS_LOG=warn unless given), sends N list requests (first page) with ab
# at the given concurrency (on kept-alive connections unless CG_KEEPALIVE=0), stops it and prints the total
# instruction count. CG_MCP=1: the requests are `tools/call list_posts` (limit 20) on /mcp with
# an mcp_ token instead; CG_GZIP=1: they ask for gzip, as browsers and the SDKs' clients do.
set -euo pipefail
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v ab >/dev/null || apt-get install -y -qq apache2-utils >/dev/null
# PostgreSQL needs the key every instance shares; a measurement may make one up.
case "${JEKCMS_DATABASE_URL:-}" in
  postgres*) export JEKCMS_SECRET_KEY="${JEKCMS_SECRET_KEY:-$(openssl rand -hex 32)}" ;;
esac
cargo build -q --release -p jekcms-server
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/release/jekcms"
cg_work=$(mktemp -d)
trap 'rm -rf "$cg_work" "${cg_mcp_body:-}"' EXIT
# admin: the tier of the bench owner, who already owns the site (keys create adds no second owner).
cg_creds=$("$bin" keys create --user "callgrind-$$@example.com" --role admin --json)
cg_mcp_token=$("$bin" keys create --user "callgrind-$$@example.com" --role admin --family mcp --json | jq -r .token)
cg_mcp_body=$(mktemp)
echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_posts","arguments":{"limit":20}}}' > "$cg_mcp_body"

# Starts the server under callgrind with the extra environment (`VAR=value …`, JEKCMS_LOG=warn
# unless given) [-- valgrind options …]; its profile goes to $cg_work/cg.out.*. Sets cg_pid,
# cg_base and cg_token (an access token of cg_creds). Also used by scripts/events-cost.sh.
cg_serve() {
  local env_vars=() valgrind_opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do env_vars+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  valgrind_opts=("$@")
  # Emptied here, not by the server's redirect: that one runs in the background child, and
  # the wait below could read the previous run's "listening" line (its port) before it.
  : > "$cg_work/out"
  env JEKCMS_LOG=warn "${env_vars[@]}" JEKCMS_BIND=127.0.0.1:0 \
    valgrind -q --tool=callgrind --callgrind-out-file="$cg_work/cg.out" "${valgrind_opts[@]}" "$bin" serve \
    > "$cg_work/out" 2>/dev/null &
  cg_pid=$!
  until grep -q listening "$cg_work/out" 2>/dev/null; do
    kill -0 "$cg_pid" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
    sleep 0.1
  done
  cg_base=$(sed -n 's|^listening on ||p' "$cg_work/out" | head -1)
  cg_token=$(curl -sf -X POST "$cg_base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$cg_creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
}

# Dumps the server's profile, stops the server (waiting for it) and sets cg_dump to the
# dump's path.
cg_stop() {
  callgrind_control -d "$cg_pid" > /dev/null
  kill -INT "$cg_pid"; wait "$cg_pid" 2>/dev/null || true
  cg_dump=$(ls "$cg_work"/cg.out.* 2>/dev/null | sort -V | head -1)
  [ -n "$cg_dump" ] || { echo "callgrind wrote no dump" >&2; exit 1; }
}

callgrind_requests() {
  local requests=$1 concurrency=$2; shift 2
  cg_serve "$@"
  local pid=$cg_pid base=$cg_base token=$cg_token
  # Only the requests' window is counted: the counters are zeroed once the server is up and
  # dumped when the last answer is in, so start-up, shutdown and whatever the background jobs
  # do at either end are not charged to the requests.
  callgrind_control -z "$pid" > /dev/null
  if [ "$requests" -gt 0 ]; then
    # Kept-alive connections by default, as browsers and Node's fetch keep them
    # (CG_KEEPALIVE=0: a connection per request, as this script measured before 2026-12-06).
    local keepalive=(-k)
    [ "${CG_KEEPALIVE:-1}" = 0 ] && keepalive=()
    local extra=()
    [ "${CG_GZIP:-0}" = 1 ] && extra+=(-H "Accept-Encoding: gzip, deflate")
    if [ "${CG_MCP:-0}" = 1 ]; then
      ab -q "${keepalive[@]}" -n "$requests" -c "$concurrency" "${extra[@]}" \
        -H "Authorization: Bearer $cg_mcp_token" -H "Accept: application/json, text/event-stream" \
        -H "MCP-Protocol-Version: 2025-11-25" -T application/json -p "$cg_mcp_body" \
        "$base/mcp" > "$cg_work/ab.txt"
    else
      ab -q "${keepalive[@]}" -n "$requests" -c "$concurrency" "${extra[@]}" \
        -H "Authorization: Bearer $token" "$base/api/v2/posts" > "$cg_work/ab.txt"
    fi
    if grep -q "Non-2xx" "$cg_work/ab.txt"; then echo "non-2xx answers" >&2; exit 1; fi
  fi
  cg_stop
  # CG_KEEP=FILE keeps the profile (for callgrind_annotate).
  [ -n "${CG_KEEP:-}" ] && cp "$cg_dump" "$CG_KEEP"
  grep -E '^(summary|totals):' "$cg_dump" | head -1 | awk '{print $2}'
}
