#!/usr/bin/env bash
# What a list request costs the server against the "bound" (the store's list query), in
# instructions: callgrind counts them exactly, so the ratio does not move with machine load
# as the timed one does on 2 shared cores. Runs the release server under callgrind with 0
# and N requests (first page, limit 20, one connection); per request = (Ir(N) - Ir(0)) / N.
# The bound: N requests again, counting only inside the store's `PostRepository::list_posts`
# (callgrind --toggle-collect; SQLite runs the query on the calling thread, inside it), / N.
# Needs a seeded SQLite database:
#   JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/request-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
: "${JEKCMS_DATABASE_URL:?set JEKCMS_DATABASE_URL to a seeded SQLite database (just bench makes one)}"
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v ab >/dev/null || apt-get install -y -qq apache2-utils >/dev/null
cargo build -q --release -p jekcms-server
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/release/jekcms"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
creds=$("$bin" keys create --user "request-cost-$$@example.com" --json)

measure() { # requests [valgrind options]
  local requests=$1; shift
  JEKCMS_BIND=127.0.0.1:0 JEKCMS_LOG=warn \
    JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s \
    valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" "$bin" serve > "$work/out" 2>/dev/null &
  local pid=$!
  until grep -q listening "$work/out" 2>/dev/null; do sleep 0.1; done
  local base token
  base=$(sed -n 's|^listening on ||p' "$work/out" | head -1)
  token=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
  if [ "$requests" -gt 0 ]; then
    ab -q -n "$requests" -c 1 -H "Authorization: Bearer $token" "$base/api/v2/posts" > "$work/ab.txt"
    if grep -q "Non-2xx" "$work/ab.txt"; then echo "non-2xx answers" >&2; exit 1; fi
  fi
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$work/cg.out" | head -1 | awk '{print $2}'
}

idle=$(measure 0)
busy=$(measure "$n")
bound=$(measure "$n" --collect-atstart=no \
  '--toggle-collect=jekcms_store::posts::<impl jekcms_content::repo::PostRepository for jekcms_store::Store>::list_posts::*')
awk -v a="$idle" -v b="$busy" -v q="${bound:-0}" -v n="$n" 'BEGIN {
  req = (b - a) / n; bnd = q / n
  if (bnd == 0) { print "list_posts not found in the profile" > "/dev/stderr"; exit 1 }
  printf "instructions per list request (first page, limit 20): %.0f; of which the store list query (the bound): %.0f; server/bound = %.2f\n", req, bnd, req / bnd }'
